//! Counters a relay keeps (atomics: workers and link tasks update them without locks),
//! and how they are exposed.

use crate::exposition::{MetricSource, Sample};
use prometheus_client::metrics::histogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use wesh_mix::DropReason;

/// Upper bounds of the per-hop hold-time histogram, seconds: around the 200 ms mean of
/// the exponential delay (Loopix 1/μ), up to the 30 s clamp (`MAX_HOP_DELAY`).
pub const HOLD_BUCKETS_SECONDS: [f64; 10] = [0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

/// How long packets were held at this hop (a Prometheus histogram; cloning shares it).
#[derive(Debug, Clone)]
pub struct HoldHistogram(pub Histogram);

impl Default for HoldHistogram {
    fn default() -> Self {
        HoldHistogram(Histogram::new(HOLD_BUCKETS_SECONDS))
    }
}

#[derive(Default, Debug)]
pub struct RelayMetrics {
    /// Replay tags the Sphinx workers hold now, over every live key (a gauge).
    pub replay_tags: AtomicU64,
    pub received: AtomicU64,
    pub forwarded: AtomicU64,
    pub final_hops: AtomicU64,
    /// Final-hop payloads durably stored in a mailbox (provider).
    pub mailbox_stored: AtomicU64,
    /// SURB-acks released after their fragment was stored.
    pub acks_released: AtomicU64,
    /// Payloads refused because their mailbox is at its quota.
    pub mailbox_full: AtomicU64,
    /// Payloads the store refused for another reason (empty, too large).
    pub mailbox_refused: AtomicU64,
    /// Payloads lost because a whole synced write failed (not acked: senders retransmit).
    pub mailbox_store_failed: AtomicU64,
    /// Client frames dropped at a provider because the client had no credit.
    pub drop_no_credit: AtomicU64,
    /// Frames refused at admission because the sender is not the hop before this relay
    /// (at a mix: not of the previous layer; a client skipping its provider).
    pub drop_not_previous_hop: AtomicU64,
    /// Payloads dropped because the store writer's queue was full.
    pub drop_store_backlog: AtomicU64,
    /// Mailbox requests refused (bad signature, unknown mailbox, ...).
    pub mailbox_refusals: AtomicU64,
    /// Pull answers sent.
    pub mailbox_pulls: AtomicU64,
    pub cover_discarded: AtomicU64,
    pub undeliverable: AtomicU64,
    /// Final hops addressed to a provider-internal mailbox (refused: an attack).
    pub internal_refused: AtomicU64,
    pub mix_loops_sent: AtomicU64,
    pub mix_loops_returned: AtomicU64,
    pub delay_clamped: AtomicU64,
    pub held_ns_sum: AtomicU64,
    pub held_count: AtomicU64,
    pub replays_injected: AtomicU64,
    /// Packets dropped on purpose (testnet fault injection, `--dropping-mix`).
    pub faults_dropped: AtomicU64,
    pub drop_wrong_size: AtomicU64,
    pub drop_malformed_header: AtomicU64,
    pub drop_bad_mac: AtomicU64,
    pub drop_replay: AtomicU64,
    pub drop_bad_payload: AtomicU64,
    pub drop_unknown_next_hop: AtomicU64,
    /// Packets on SURBs whose first hop is not this node (refused, item 12 of the review).
    pub drop_surb_elsewhere: AtomicU64,
    pub drop_link_overflow: AtomicU64,
    /// Shared with the node's outbound links, which count frames lost to dead peers.
    pub drop_link_failed: Arc<AtomicU64>,
    pub build_errors: AtomicU64,
    pub hold_seconds: HoldHistogram,
}

impl RelayMetrics {
    pub fn count_drop(&self, reason: DropReason) {
        let c = match reason {
            DropReason::WrongSize(_) => &self.drop_wrong_size,
            DropReason::MalformedHeader => &self.drop_malformed_header,
            DropReason::BadMac => &self.drop_bad_mac,
            DropReason::Replay => &self.drop_replay,
            DropReason::BadPayload => &self.drop_bad_payload,
        };
        c.fetch_add(1, Relaxed);
    }

    pub fn record_held(&self, held: std::time::Duration) {
        self.held_ns_sum
            .fetch_add(u64::try_from(held.as_nanos()).unwrap_or(u64::MAX), Relaxed);
        self.held_count.fetch_add(1, Relaxed);
        self.hold_seconds.0.observe(held.as_secs_f64());
    }

    /// Drops by reason, with stable names (for summaries and the `reason` label).
    pub fn drops(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("wrong_size", self.drop_wrong_size.load(Relaxed)),
            ("malformed_header", self.drop_malformed_header.load(Relaxed)),
            ("bad_mac", self.drop_bad_mac.load(Relaxed)),
            ("replay", self.drop_replay.load(Relaxed)),
            ("bad_payload", self.drop_bad_payload.load(Relaxed)),
            ("unknown_next_hop", self.drop_unknown_next_hop.load(Relaxed)),
            ("surb_elsewhere", self.drop_surb_elsewhere.load(Relaxed)),
            ("link_overflow", self.drop_link_overflow.load(Relaxed)),
            ("link_failed", self.drop_link_failed.load(Relaxed)),
            ("store_backlog", self.drop_store_backlog.load(Relaxed)),
            ("no_credit", self.drop_no_credit.load(Relaxed)),
            ("not_previous_hop", self.drop_not_previous_hop.load(Relaxed)),
        ]
    }
}

impl MetricSource for RelayMetrics {
    fn collect(&self, out: &mut Vec<Sample>) {
        let c = Sample::counted;
        out.extend([
            c(
                "wesh_packets_received",
                "Sphinx frames received from links.",
                &self.received,
            ),
            c(
                "wesh_packets_forwarded",
                "Packets sent on to their next hop.",
                &self.forwarded,
            ),
            c(
                "wesh_packets_final_hop",
                "Packets that ended at this node.",
                &self.final_hops,
            ),
            c(
                "wesh_mailbox_stored_payloads",
                "Payloads durably stored in mailboxes.",
                &self.mailbox_stored,
            ),
            c(
                "wesh_mailbox_full",
                "Payloads refused: their mailbox was at its quota.",
                &self.mailbox_full,
            ),
            c(
                "wesh_mailbox_refused",
                "Payloads the store refused (empty, too large).",
                &self.mailbox_refused,
            ),
            c(
                "wesh_internal_refused",
                "Final hops addressed to a provider-internal mailbox (an attack).",
                &self.internal_refused,
            ),
            c(
                "wesh_mailbox_store_failed",
                "Payloads lost to a failed store write (senders retransmit).",
                &self.mailbox_store_failed,
            ),
            c(
                "wesh_mailbox_refusals",
                "Mailbox requests refused (bad signature, unknown mailbox, ...).",
                &self.mailbox_refusals,
            ),
            c(
                "wesh_mailbox_pulls",
                "Pull answers sent.",
                &self.mailbox_pulls,
            ),
            c(
                "wesh_acks_released",
                "SURB-ack slots fired after their payload was stored.",
                &self.acks_released,
            ),
            c(
                "wesh_cover_discarded",
                "Drop-cover packets discarded at their final hop.",
                &self.cover_discarded,
            ),
            c(
                "wesh_undeliverable",
                "Final hops with no mailbox to store in.",
                &self.undeliverable,
            ),
            c(
                "wesh_relay_loops_sent",
                "Loop cover packets this relay sent (λ_M: mixes and providers alike).",
                &self.mix_loops_sent,
            ),
            c(
                "wesh_relay_loops_returned",
                "This relay's loops that came back.",
                &self.mix_loops_returned,
            ),
            c(
                "wesh_hop_delay_clamped",
                "Headers asking for more than the longest hop delay.",
                &self.delay_clamped,
            ),
            c(
                "wesh_build_errors",
                "Packets this node failed to build.",
                &self.build_errors,
            ),
        ]);
        for (reason, n) in self.drops() {
            out.push(
                Sample::counter("wesh_packets_dropped", "Packets dropped, by reason.", n)
                    .label("reason", reason),
            );
        }
        out.push(Sample::gauge(
            "wesh_replay_filter_tags",
            "Replay tags held, over every live Sphinx key.",
            self.replay_tags.load(Relaxed) as f64,
        ));
    }
}

/// A provider's mailbox store at one scrape: mailboxes registered, payloads and payload
/// bytes held.
pub fn store_samples(mailboxes: u64, payloads: u64, bytes: u64) -> [Sample; 3] {
    [
        Sample::gauge(
            "wesh_mailbox_registered",
            "Mailboxes registered at this provider.",
            mailboxes as f64,
        ),
        Sample::gauge(
            "wesh_mailbox_held_payloads",
            "Payloads held in mailboxes (expired ones not yet removed included).",
            payloads as f64,
        ),
        Sample::gauge(
            "wesh_mailbox_held_bytes",
            "Payload bytes held in mailboxes.",
            bytes as f64,
        ),
    ]
}

/// Shorthand for reading a counter.
pub fn get(c: &AtomicU64) -> u64 {
    c.load(Relaxed)
}

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}
