//! The simulator's own defaults (the protocol's parameters come from `wesh_mix::params` and
//! the client profiles). Each says where its value comes from and its unit.

/// Clients simulated unless `--clients` says otherwise. Source: our choice, a run of a few
/// seconds on a laptop.
pub const DEFAULT_CLIENTS: u32 = 1_000;

/// Mixes per layer. Source: our choice, the testnet's deployments are 2–10 wide.
pub const DEFAULT_WIDTH: u32 = 3;

/// Providers. Source: our choice.
pub const DEFAULT_PROVIDERS: u32 = 2;

/// Real messages each client writes per second. Source: our choice: a quarter of the
/// default λ_P (2/s), so the real stream mostly carries drops, as in the Loopix
/// evaluation where cover dominates.
pub const DEFAULT_MESSAGE_RATE: f64 = 0.5;

/// Target messages whose entropy is measured. Source: our choice; the mean over 100
/// targets has a standard error of a few hundredths of a bit.
pub const DEFAULT_TARGETS: u32 = 100;

/// Seconds simulated before the measured phase, so pools and queues reach their steady
/// state. Source: our choice; pools fill within a few mean delays.
pub const DEFAULT_BURN_IN_SECONDS: f64 = 20.0;

/// Seconds measured (targets are sent, bandwidth and latency counted). Source: our choice.
pub const DEFAULT_SECONDS: f64 = 60.0;

/// Seconds simulated after the measured phase so that the targets' probability mass
/// leaves the mixnet. Source: our choice; the mass left after it is reported.
pub const DEFAULT_COOLDOWN_SECONDS: f64 = 10.0;

/// Latency of every link, in milliseconds. Source: our choice: the simulator measures the
/// mixing, not the network; a real link adds its latency to every hop alike.
pub const DEFAULT_LINK_LATENCY_MS: f64 = 0.0;

/// A probability below this is dropped from a packet's target vector. Source: our choice:
/// its entropy term, −p·log2 p, is under 4·10⁻¹¹ bits, and dropping it keeps vectors as
/// short as the number of targets still in the mixnet.
pub const PROBABILITY_FLOOR: f64 = 1e-12;

/// Most clients a run may have. Source: our choice (the issue asks for 10⁶; 10⁷ still
/// fits the 8 GiB target at about 400 bytes a client).
pub const MAX_CLIENTS: u32 = 10_000_000;

/// Most mixes per layer and providers. Source: our choice; node indices are u16.
pub const MAX_RELAYS: u32 = 10_000;

/// Most targets. Source: our choice; vectors are sparse, the per-target sums dense.
pub const MAX_TARGETS: u32 = 100_000;

/// Most clients of a `--real-sphinx` run. Source: our choice: a packet's building and
/// unwrapping cost about 0.3 ms a hop (BENCHMARKS.md), so 300 clients at the default rates
/// already take longer than they simulate and 10,000 would take half an hour a minute.
pub const MAX_REAL_SPHINX_CLIENTS: u32 = 10_000;
