//! What a testnet run measured, as a readable story or one JSON object.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub nodes: NodesSection,
    pub seconds: u64,
    pub drain_ms: u64,
    pub drained: bool,
    pub packets: PacketsSection,
    pub latency_ms: LatencySection,
    pub mixing_delay_ms: MixingDelaySection,
    pub mixing: MixingSection,
    /// What a global passive observer of the links learns (issue 16), and the
    /// simulator's figure for the same network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymity: Option<super::link_observer::AnonymitySection>,
    pub messages: MessagesSection,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pki: Option<PkiSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payments: Option<PaymentsSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wesh: Option<WeshSection>,
    /// `--attacks`: per attack, refused or not and what was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attacks: Option<BTreeMap<String, super::attacks::AttackReport>>,
}

/// The Wesh story: contacts, a replicated group, an offline member catching up.
#[derive(Debug, Default, Serialize)]
pub struct WeshSection {
    pub accounts: u64,
    /// The three clients' traffic profile (`wesh client --profile`).
    pub client_profile: String,
    /// λ_P of the three clients, packets/s.
    pub real_rate: f64,
    pub contact_requests_sent: u64,
    /// What the providers' rendezvous desks did (summed): requesters' handshake messages
    /// dropped there, forwards sent on the responders' reply SURBs, forwards the
    /// responders acked.
    pub rendezvous_drops: u64,
    pub rendezvous_forwards: u64,
    pub rendezvous_acked: u64,
    /// Contact pairs usable both ways (each side knows the other's device mailbox).
    pub contacts_established: u64,
    pub contacts_after_s: f64,
    pub group_members: u64,
    pub group_after_s: f64,
    /// First bytes of the replication provider's node ID, hex.
    pub replication_provider: String,
    pub group_messages_sent: u64,
    /// Messages every other member opened.
    pub group_messages_delivered: u64,
    /// App send → open at each online recipient.
    pub latency_ms: WeshLatency,
    pub offline_seconds: f64,
    /// Messages written while carol was offline.
    pub offline_missed: u64,
    /// Entries carol fetched from the replication provider when she came back.
    pub history_entries_fetched: u64,
    pub offline_caught_up: bool,
    pub carol_messages: u64,
    /// Entries the replication provider verified and kept (it cannot read them).
    pub replica_entries_kept: u64,
    pub replica_refused: u64,
    /// Bytes of the group's entries the replication provider stores.
    pub replica_bytes: u64,
    /// How many of the group's message texts appear in those bytes (must be 0: it keeps
    /// ciphertext only). Absent if the story stopped before the check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_plaintext_hits: Option<u64>,
    pub entries_duplicate: u64,
    pub entries_refused: u64,
    /// Bob's app was driven through the local API socket (JSON lines): a bad argument got
    /// a typed error, and this many messages were listed through it at the end.
    pub api_bad_argument_refused: bool,
    pub api_bob_messages: u64,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct WeshLatency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub samples: u64,
}

/// Tokens: issued by the issuer, spent at providers, redeemed; double spends refused.
#[derive(Debug, Default, Serialize)]
pub struct PaymentsSection {
    pub tokens_issued: u64,
    pub tokens_fetched_by_clients: u64,
    /// Accepted by providers for sending credit.
    pub tokens_spent: u64,
    pub tokens_redeemed: u64,
    pub tokens_refused_by_providers: u64,
    /// Refused as already spent: by the provider that saw it before, or by the issuer
    /// when a second provider redeemed it.
    pub double_spends_rejected: u64,
    /// Client frames dropped for lack of credit.
    pub frames_without_credit: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack: Option<AttackSection>,
    /// One scored entry per mix and provider (secret-shopper score × work).
    pub rewards: Vec<RewardRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward_epoch: Option<u64>,
    /// Relays whose second claim of the same entry was refused (all of them, or a bug).
    pub second_claims_refused: u64,
    /// The issuer's ledger for that epoch, as `wesh rewards` prints it.
    #[serde(skip)]
    pub reward_table: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct AttackSection {
    pub first_spend_accepted: bool,
    pub same_provider_refused: bool,
    pub other_provider_accepted_locally: bool,
    pub caught_at_redemption: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct RewardRow {
    pub node: String,
    pub role: String,
    pub loops_sent: u64,
    pub loops_returned: u64,
    pub score: f64,
    pub work: u64,
    /// Paid replication registrations counted in the relay's weight (providers).
    pub replicas: u64,
    pub units: u64,
    /// Units the relay claimed from the issuer over `/wesh/issuer/claim/1`.
    pub claimed: u64,
}

/// Reliable messages (fragments, SURB-acks, retransmission, mailboxes).
#[derive(Debug, Default, Serialize)]
pub struct MessagesSection {
    pub sent: u64,
    /// Reassembled by their recipients, byte for byte as sent.
    pub delivered: u64,
    /// Sent and neither delivered nor failed at the end of the run.
    pub lost: u64,
    /// Given up by their senders (retries exhausted).
    pub failed: u64,
    /// Fully acked to their senders (every fragment stored at the recipient's provider).
    pub acked: u64,
    /// Delivered messages whose bytes differed from what was sent (must be 0).
    pub corrupted: u64,
    pub fragments_sent: u64,
    pub retransmissions: u64,
    /// Messages sent to a client while it was offline, and how many of those it received
    /// from its mailbox after coming back.
    pub offline_sent: u64,
    pub offline_delivered: u64,
    pub max_message_bytes: u64,
    /// Send to reassembly, per message.
    pub latency_ms: MessageLatency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk: Option<BulkSection>,
    /// The mix killed mid-run (`--kill-mix-at`), if any: second and mix layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub killed_mix_at_s: Option<u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct MessageLatency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// The large transfer of the run.
#[derive(Debug, Default, Serialize)]
pub struct BulkSection {
    pub bytes: u64,
    pub fragments: u64,
    pub delivered: bool,
    pub seconds: f64,
    /// Application bytes per second, send to reassembly.
    pub goodput_kib_s: f64,
    /// The sender's real-stream rate λ_P during the transfer (packets/s).
    pub sender_real_rate: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct PkiSection {
    pub mode: String,
    pub epoch_seconds: u64,
    /// Every relay holds every relay's descriptor and all directory digests agree.
    pub converged: bool,
    pub converged_after_ms: u64,
    /// Epoch changes every relay went through during the run.
    pub epochs_rotated: u64,
    pub descriptors: usize,
    pub descriptors_published: u64,
    /// Descriptors refused, by reason, summed over relays ("duplicate" is harmless re-gossip).
    pub descriptors_rejected: BTreeMap<String, u64>,
    pub directory_digest: String,
    /// Relays whose digest enough sampled peers confirmed (route-building gate).
    pub views_confirmed: usize,
    /// Sampled peers whose directory differed (they then sent theirs), summed over relays.
    pub view_disagreements: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct NodesSection {
    pub layers: usize,
    pub mixes_per_layer: usize,
    pub providers: usize,
    pub clients: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct PacketsSection {
    pub real_sent: u64,
    pub real_delivered: u64,
    pub loop_sent: u64,
    pub loop_returned: u64,
    pub client_loop_sent: u64,
    pub client_loop_returned: u64,
    /// Relays' own loops (λ_M): mixes' and providers'.
    pub mix_loop_sent: u64,
    pub mix_loop_returned: u64,
    pub drop_sent: u64,
    pub replays_injected: u64,
    pub replays_dropped: u64,
    pub forwarded: u64,
    pub delay_clamped: u64,
    pub client_send_failures: u64,
    pub dropped: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct LatencySection {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
    /// Mean of the delays the senders drew for the same packets.
    pub sampled_mean: f64,
    /// mean − sampled_mean: what the network, the code and the timers add.
    pub overhead_mean: f64,
    /// Per packet, measured − drawn delay (network, code, and the wait for the next pull:
    /// up to one pull interval).
    pub overhead_p50: f64,
    pub overhead_p99: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct MixingDelaySection {
    pub configured_mean_per_hop: f64,
    /// Time packets actually spent inside nodes, from arrival to departure, per hop.
    pub measured_mean_per_hop: f64,
    pub samples: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct MixingSection {
    /// λ/μ per mix: arrival rate × mean hop delay = packets a mix holds on average.
    /// Loopix asks for at least 2.
    pub lambda_over_mu_min: f64,
    pub lambda_over_mu_mean: f64,
}

/// Percentile of sorted values (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Summary {
    pub fn to_text(&self) -> String {
        let p = &self.packets;
        let l = &self.latency_ms;
        let d = &self.mixing_delay_ms;
        let mut s = String::new();
        s.push_str(&format!(
            "wesh testnet: {} layers x {} mixes, {} providers, {} clients, {} s of traffic (drained in {} ms{})\n\n",
            self.nodes.layers, self.nodes.mixes_per_layer, self.nodes.providers, self.nodes.clients,
            self.seconds, self.drain_ms, if self.drained { "" } else { ", NOT fully drained" }
        ));
        s.push_str("Traffic (every packet crossed provider -> 3 mix layers -> provider as a Sphinx packet)\n");
        s.push_str(&format!(
            "  probe packets    {:>6} sent  {:>6} delivered\n",
            p.real_sent, p.real_delivered
        ));
        s.push_str(&format!(
            "  client loops     {:>6} sent  {:>6} returned\n",
            p.client_loop_sent, p.client_loop_returned
        ));
        s.push_str(&format!(
            "  relay loops      {:>6} sent  {:>6} returned (mixes and providers)\n",
            p.mix_loop_sent, p.mix_loop_returned
        ));
        s.push_str(&format!(
            "  drop cover       {:>6} sent  (discarded by the last provider)\n",
            p.drop_sent
        ));
        s.push_str(&format!(
            "  forwarded by nodes {:>6}, replays dropped {} (injected {})\n",
            p.forwarded, p.replays_dropped, p.replays_injected
        ));
        let dropped: Vec<String> = p
            .dropped
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        s.push_str(&format!(
            "  dropped by reason: {}\n\n",
            if dropped.is_empty() {
                "none".to_string()
            } else {
                dropped.join(", ")
            }
        ));
        s.push_str("Latency of probe packets (injection to delivery, including the wait for the next pull)\n");
        s.push_str(&format!(
            "  p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms  max {:.0} ms\n",
            l.p50, l.p90, l.p99, l.max
        ));
        s.push_str(&format!(
            "  mean {:.0} ms, of which the senders' drawn delays {:.0} ms, overhead {:.1} ms\n",
            l.mean, l.sampled_mean, l.overhead_mean
        ));
        s.push_str(&format!(
            "  overhead per packet (measured - drawn): p50 {:.1} ms, p99 {:.1} ms\n\n",
            l.overhead_p50, l.overhead_p99
        ));
        s.push_str("Mixing\n");
        s.push_str(&format!(
            "  per-hop delay: configured mean {:.1} ms, measured {:.1} ms over {} hops\n",
            d.configured_mean_per_hop, d.measured_mean_per_hop, d.samples
        ));
        s.push_str(&format!(
            "  packets held per mix (lambda/mu): min {:.2}, mean {:.2} (Loopix asks >= 2)\n",
            self.mixing.lambda_over_mu_min, self.mixing.lambda_over_mu_mean
        ));
        if let Some(a) = &self.anonymity {
            s.push_str(&format!(
                "  a global passive observer of the links: {:.2} bits of entropy per target message (p5 {:.2}, {} targets, mass {:.2}); wesh sim on the same network and rates: {:.2} bits\n",
                a.entropy_bits, a.entropy_bits_p5, a.targets, a.mass_accounted, a.sim_entropy_bits
            ));
        }
        s.push_str(&self.messages_text());
        s.push_str(&self.wesh_text());
        if let Some(p) = &self.payments {
            s.push_str(&payments_text(p));
        }
        if let Some(pki) = &self.pki {
            s.push_str(&format!(
                "\nGossip PKI ({} s epochs)\n  {} descriptors, directories {} (first in {} ms), {} epoch rotations, {} publications\n",
                pki.epoch_seconds,
                pki.descriptors,
                if pki.converged { "converged" } else { "NOT converged" },
                pki.converged_after_ms,
                pki.epochs_rotated,
                pki.descriptors_published
            ));
            let r: Vec<String> = pki
                .descriptors_rejected
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            s.push_str(&format!(
                "  descriptors refused: {}\n",
                if r.is_empty() {
                    "none".into()
                } else {
                    r.join(", ")
                }
            ));
        }
        s
    }
}

fn payments_text(p: &PaymentsSection) -> String {
    let mut s = String::from("\nPayments (blind-signed tokens, provider admission, rewards)\n");
    s.push_str(&format!(
        "  {} tokens issued, {} spent at providers, {} redeemed at the issuer; {} double spends refused; {} frames dropped for lack of credit\n",
        p.tokens_issued, p.tokens_spent, p.tokens_redeemed, p.double_spends_rejected, p.frames_without_credit
    ));
    if let Some(a) = &p.attack {
        s.push_str(&format!(
            "  double-spend attack: first spend accepted {}, same provider refused {}, second provider accepted locally {}, caught at redemption {}\n",
            a.first_spend_accepted, a.same_provider_refused, a.other_provider_accepted_locally, a.caught_at_redemption
        ));
    }
    if let (Some(epoch), Some(table)) = (p.reward_epoch, &p.reward_table) {
        s.push_str(&format!(
            "  rewards for epoch {epoch} (secret-shopper score x work):\n"
        ));
        for line in table.lines() {
            s.push_str(&format!("    {line}\n"));
        }
    }
    s
}

impl Summary {
    fn wesh_text(&self) -> String {
        let Some(w) = &self.wesh else {
            return String::new();
        };
        let mut s = String::from(
            "\nWesh over the mixnet (alice, bob and carol, each a client of a provider)\n",
        );
        s.push_str(&format!(
            "  clients at the {} profile (λ_P = {}/s); every step below goes through the app API and the mixnet\n",
            w.client_profile, w.real_rate
        ));
        s.push_str(&format!(
            "  1. contacts: {} requests sent to rendezvous mailboxes, {} contacts established after {:.1} s\n",
            w.contact_requests_sent, w.contacts_established, w.contacts_after_s
        ));
        s.push_str(&format!(
            "     the rendezvous providers took {} handshake messages and forwarded them {} times on the responders' reply SURBs ({} acked), never learning where the responders live\n",
            w.rendezvous_drops, w.rendezvous_forwards, w.rendezvous_acked
        ));
        s.push_str(&format!(
            "  2. group: alice created it, registered it at replication provider {}, invited bob and carol through their contact groups; {} members after {:.1} s\n",
            w.replication_provider, w.group_members, w.group_after_s
        ));
        s.push_str(&format!(
            "  3. messages: {} written, {} opened by every other member (latency p50 {:.0} ms, p99 {:.0} ms)\n",
            w.group_messages_sent, w.group_messages_delivered, w.latency_ms.p50, w.latency_ms.p99
        ));
        s.push_str(&format!(
            "  4. carol offline for {:.1} s, missed {} messages; back online: {} entries from the replication provider + her mailbox -> {}\n",
            w.offline_seconds,
            w.offline_missed,
            w.history_entries_fetched,
            if w.offline_caught_up { "caught up" } else { "NOT caught up" }
        ));
        s.push_str(&format!(
            "  replication provider: {} entries verified and kept ({} bytes, {} refused), plaintext found in them: {}\n",
            w.replica_entries_kept,
            w.replica_bytes,
            w.replica_refused,
            w.replica_plaintext_hits
                .map_or("not checked".to_string(), |h| h.to_string())
        ));
        if let Some(e) = &w.error {
            s.push_str(&format!("  stopped early: {e}\n"));
        }
        s
    }

    fn messages_text(&self) -> String {
        let m = &self.messages;
        let mut s = String::from("\nReliable messages (fragments + SURB-acks + mailboxes)\n");
        s.push_str(&format!(
            "  {} sent, {} delivered intact, {} lost, {} failed, {} acked to their senders\n",
            m.sent, m.delivered, m.lost, m.failed, m.acked
        ));
        s.push_str(&format!(
            "  {} fragments sent, {} of them retransmissions{}\n",
            m.fragments_sent,
            m.retransmissions,
            match m.killed_mix_at_s {
                Some(at) => format!(" (one mix killed at {at} s)"),
                None => String::new(),
            }
        ));
        s.push_str(&format!(
            "  offline recipients: {} of {} messages sent while they were away arrived from their mailboxes\n",
            m.offline_delivered, m.offline_sent
        ));
        s.push_str(&format!(
            "  latency p50 {:.0} ms, p99 {:.0} ms; largest message {} bytes\n",
            m.latency_ms.p50, m.latency_ms.p99, m.max_message_bytes
        ));
        if let Some(b) = &self.messages.bulk {
            s.push_str(&format!(
                "  bulk: {} bytes in {} fragments, {} after {:.1} s ({:.0} KiB/s at λ_P = {}/s)\n",
                b.bytes,
                b.fragments,
                if b.delivered {
                    "delivered"
                } else {
                    "NOT delivered"
                },
                b.seconds,
                b.goodput_kib_s,
                b.sender_real_rate
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
