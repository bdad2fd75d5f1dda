//! The testnet's global passive observer (issue 16): every relay's hook reports the
//! packets it pools and sends on, every client's `Sent` event the packets it puts on its
//! link, each by its link identity ([`wesh_mix::frame_tag`]). At the end the trace is
//! replayed through the simulator's pools ([`wesh_sim::link_trace`]) for the entropy of
//! target messages, and `wesh sim` runs on the rates the testnet really had, for the
//! same metric from the model.

use serde::Serialize;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wesh_mix::{NodeId, TrafficKind};
use wesh_shell::drivers::packet_path::{FaultAction, RelayHook};
use wesh_sim::SimConfig;
use wesh_sim::link_trace::{LinkEvent, LinkTrace};
use wesh_sim::report::round3;

/// Targets the live observer follows. Source: our choice; at the testnet's defaults a
/// 40 s run has about 30 s of window, a target every half second.
pub const LIVE_TARGETS: u32 = 60;
/// The target window leaves this much at each end of the traffic phase: pools fill first,
/// and the last targets have time to leave the mixnet before the streams stop.
const WINDOW_MARGIN: Duration = Duration::from_secs(5);
/// Targets of the simulator's run (cheap: the testnet has a handful of clients).
const SIM_TARGETS: u32 = 400;
const SIM_BURN_IN_SECONDS: f64 = 10.0;
const SIM_COOLDOWN_SECONDS: f64 = 10.0;

/// What the observer saw, before the run's relays are all known.
enum Seen {
    Sent { tag: u64, eligible: bool },
    Pooled { relay: u32, tag: u64 },
    Departed { relay: u32, tag: u64, next: NodeId },
}

pub struct LinkObserver {
    origin: Instant,
    seen: Mutex<Vec<(Instant, Seen)>>,
}

/// The `anonymity` section: the live metric and the simulator's on the same parameters.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AnonymitySection {
    /// Mean entropy of the live targets, in bits (spec/anonymity.md, metric 1).
    pub entropy_bits: f64,
    pub entropy_bits_p5: f64,
    pub targets: u64,
    /// Mean probability mass of a target seen leaving the last layer (1: all of it).
    pub mass_accounted: f64,
    /// `wesh sim` on the testnet's topology, delays and measured client rates.
    pub sim_entropy_bits: f64,
    pub sim_entropy_bits_p5: f64,
    pub sim_mass_accounted: f64,
    /// Client packets per second in the window (all clients), what the simulator got.
    pub client_packets_per_s: f64,
    /// Packets entering each mix per second, live and in the simulator.
    pub mix_load_pps: f64,
    pub sim_mix_load_pps: f64,
    pub trace_events: u64,
    pub sim: SimConfig,
}

/// The testnet's shape and rates, for the simulator.
pub struct LiveShape {
    pub clients: u32,
    pub width: u32,
    pub providers: u32,
    pub mean_delay: Duration,
    pub mix_loop_rate: f64,
    /// Relays with an index below this are mixes, the rest providers.
    pub mixes: u32,
    pub provider_ids: HashSet<NodeId>,
}

impl LinkObserver {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            origin: Instant::now(),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn note(&self, at: Instant, what: Seen) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((at, what));
    }

    /// The hook of relay `relay`, passing forwarding decisions to its `fault`, if any.
    pub fn hook(
        self: &Arc<Self>,
        relay: u32,
        fault: Option<Arc<dyn RelayHook>>,
    ) -> Arc<dyn RelayHook> {
        Arc::new(ObservedRelay {
            relay,
            observer: self.clone(),
            fault,
        })
    }

    /// A client put a packet on its link at `at`.
    pub fn client_sent(&self, at: Instant, tag: u64, kind: &TrafficKind) {
        let eligible = !matches!(kind, TrafficKind::Loop { .. });
        self.note(at, Seen::Sent { tag, eligible });
    }

    /// The live metric over targets sent in `[from + margin, to − margin)`, and the
    /// simulator's on `shape` with the client rates measured over that window.
    pub fn measure(&self, shape: &LiveShape, from: Instant, to: Instant) -> AnonymitySection {
        let ns = |t: Instant| t.saturating_duration_since(self.origin).as_nanos() as u64;
        let (mut from_ns, mut to_ns) = (ns(from), ns(to));
        if to_ns.saturating_sub(from_ns) > 4 * WINDOW_MARGIN.as_nanos() as u64 {
            from_ns += WINDOW_MARGIN.as_nanos() as u64;
            to_ns -= WINDOW_MARGIN.as_nanos() as u64;
        }
        let mut trace = LinkTrace::default();
        let mut count = Counts::default();
        {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            // what entered the mixnet from a client or left a relay; anything else pooled
            // at a provider is the provider's own (the ack of a stored payload)
            let known: HashSet<u64> = seen
                .iter()
                .filter_map(|(_, s)| match *s {
                    Seen::Sent { tag, .. } | Seen::Departed { tag, .. } => Some(tag),
                    Seen::Pooled { .. } => None,
                })
                .collect();
            for (at, s) in seen.iter() {
                let at = ns(*at);
                let window = (from_ns..to_ns).contains(&at);
                let event = match *s {
                    Seen::Sent { tag, eligible } => {
                        if window {
                            *if eligible {
                                &mut count.client_real
                            } else {
                                &mut count.client_loops
                            } += 1;
                        }
                        LinkEvent::Sent { tag, eligible }
                    }
                    Seen::Pooled { relay, tag } => {
                        if window && relay < shape.mixes {
                            count.mix_arrivals += 1;
                        } else if window && !known.contains(&tag) {
                            count.provider_originated += 1;
                        }
                        LinkEvent::Pooled { relay, tag }
                    }
                    Seen::Departed { relay, tag, next } => LinkEvent::Departed {
                        relay,
                        tag,
                        exit: relay < shape.mixes && shape.provider_ids.contains(&next),
                    },
                };
                trace.record(at, event);
            }
        }
        let live = trace.analyse(from_ns, to_ns, LIVE_TARGETS);
        let window_s = (to_ns.saturating_sub(from_ns) as f64 / 1e9).max(1e-3);
        let per_client = |n: u64| n as f64 / window_s / f64::from(shape.clients.max(1));
        let cfg = SimConfig {
            clients: shape.clients,
            width: shape.width,
            providers: shape.providers,
            // the real stream and the drop stream both end at a provider; what providers
            // send of their own (acks of stored payloads, stored acks' cover) is the
            // model's acks of real messages
            lambda_p: per_client(count.client_real).max(0.01),
            lambda_l: per_client(count.client_loops),
            lambda_d: 0.0,
            lambda_m: shape.mix_loop_rate,
            mean_delay_ms: shape.mean_delay.as_secs_f64() * 1e3,
            message_rate: per_client(count.provider_originated).min(per_client(count.client_real)),
            targets: SIM_TARGETS,
            burn_in_seconds: SIM_BURN_IN_SECONDS,
            seconds: window_s,
            cooldown_seconds: SIM_COOLDOWN_SECONDS,
            ..SimConfig::default()
        };
        let mut section = AnonymitySection {
            entropy_bits: round3(live.entropy.mean_bits),
            entropy_bits_p5: round3(live.entropy.p5_bits),
            targets: live.entropy.targets as u64,
            mass_accounted: round3(live.entropy.mass),
            client_packets_per_s: round3(live.client_packets as f64 / window_s),
            mix_load_pps: round3(
                count.mix_arrivals as f64 / window_s / f64::from(shape.mixes.max(1)),
            ),
            trace_events: trace.len() as u64,
            sim: cfg.clone(),
            ..Default::default()
        };
        match wesh_sim::run(&cfg, &mut |_| {}) {
            Ok(r) => {
                section.sim_entropy_bits = r.anonymity.entropy_bits;
                section.sim_entropy_bits_p5 = r.anonymity.entropy_bits_p5;
                section.sim_mass_accounted = r.anonymity.mass_accounted;
                section.sim_mix_load_pps = r.mix.load_pps;
            }
            Err(e) => tracing::warn!(error = %e, "the simulator cannot run the testnet's shape"),
        }
        section
    }
}

/// What the observer counted in the target window.
#[derive(Default)]
struct Counts {
    client_real: u64,
    client_loops: u64,
    provider_originated: u64,
    mix_arrivals: u64,
}

struct ObservedRelay {
    relay: u32,
    observer: Arc<LinkObserver>,
    fault: Option<Arc<dyn RelayHook>>,
}

impl RelayHook for ObservedRelay {
    fn on_forward(&self) -> FaultAction {
        self.fault
            .as_ref()
            .map_or(FaultAction::Pass, |f| f.on_forward())
    }

    fn on_pooled(&self, frame: &[u8]) {
        let tag = wesh_mix::frame_tag(frame);
        let relay = self.relay;
        self.observer
            .note(Instant::now(), Seen::Pooled { relay, tag });
    }

    fn on_departure(&self, packet: &[u8], next_hop: &NodeId) {
        let tag = wesh_mix::frame_tag(packet);
        let (relay, next) = (self.relay, *next_hop);
        self.observer
            .note(Instant::now(), Seen::Departed { relay, tag, next });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A frame whose link identity is `tag`.
    fn frame(tag: u64) -> Vec<u8> {
        let mut f = tag.to_le_bytes().to_vec();
        f.resize(64, 0);
        f
    }

    #[test]
    fn hooks_feed_the_trace_and_only_mix_to_provider_departures_are_exits() {
        let obs = LinkObserver::new();
        let start = Instant::now();
        let provider = NodeId([7; 32]);
        let mix = NodeId([1; 32]);
        // relay 0 is the only mix, relay 1 the provider
        let (m, p) = (obs.hook(0, None), obs.hook(1, None));
        // two clients' packets enter the provider, which sends them to the mix; the mix
        // holds both and sends them to the provider: the target leaves with half its mass
        // on each of the two exits (1 bit); the provider's hop to the mix is no exit
        obs.client_sent(Instant::now(), 1, &TrafficKind::Drop);
        p.on_pooled(&frame(1));
        obs.client_sent(Instant::now(), 2, &TrafficKind::Loop { id: 0 });
        p.on_pooled(&frame(2));
        p.on_departure(&frame(11), &mix);
        p.on_departure(&frame(12), &mix);
        m.on_pooled(&frame(11));
        m.on_pooled(&frame(12));
        m.on_departure(&frame(21), &provider);
        m.on_departure(&frame(22), &provider);
        let end = Instant::now() + Duration::from_millis(1);
        let shape = LiveShape {
            clients: 2,
            width: 1,
            providers: 1,
            mean_delay: Duration::from_millis(200),
            mix_loop_rate: 1.0,
            mixes: 1,
            provider_ids: [provider].into_iter().collect(),
        };
        let a = obs.measure(&shape, start, end);
        assert_eq!(a.targets, 1, "the loop is no target");
        // the provider pooled both before sending: the target is either of its two
        // departures, then either of the mix's two: mass 1/2 on each exit
        assert!((a.entropy_bits - 1.0).abs() < 1e-9, "{a:?}");
        assert!((a.mass_accounted - 1.0).abs() < 1e-9);
        assert_eq!(a.trace_events, 10);
        assert!(a.sim_entropy_bits > 0.0, "the simulator ran on the shape");
    }
}
