//! The shape of an in-memory network and the rates it runs at.

use super::link::DEFAULT_LINK_LATENCY;
use std::time::Duration;
use wesh_mix::ClientTrafficConfig;
use wesh_mix::params::{DEFAULT_MEAN_HOP_DELAY, DEFAULT_MIX_LOOP_RATE};

/// How often a provider's own-mailbox workers run (the node's `WORKER_EVERY` of the
/// rendezvous desk and the replication service).
pub const PROVIDER_ROUND: Duration = Duration::from_millis(200);

/// Everything a run is made from; the same config (seed included) gives the same run.
#[derive(Debug, Clone)]
pub struct MemNetConfig {
    /// Seeds every node's keys and every core's RNG.
    pub seed: u64,
    /// Mixes in each of the three layers.
    pub mixes_per_layer: usize,
    pub providers: usize,
    /// One-way latency of every link (client to provider included).
    pub link_latency: Duration,
    /// Loop cover rate of each mix (λ_M), packets per second.
    pub mix_loop_rate: f64,
    /// Mean per-hop delay mixes' loops draw (clients draw theirs from `client_traffic`).
    pub mix_mean_hop_delay: Duration,
    /// Rates and mean hop delay of every client.
    pub client_traffic: ClientTrafficConfig,
}

impl Default for MemNetConfig {
    /// The node's defaults: 2 mixes per layer, 2 providers, Loopix rates of `params`.
    fn default() -> Self {
        MemNetConfig {
            seed: 1,
            mixes_per_layer: 2,
            providers: 2,
            link_latency: DEFAULT_LINK_LATENCY,
            mix_loop_rate: DEFAULT_MIX_LOOP_RATE,
            mix_mean_hop_delay: DEFAULT_MEAN_HOP_DELAY,
            client_traffic: ClientTrafficConfig::default(),
        }
    }
}
