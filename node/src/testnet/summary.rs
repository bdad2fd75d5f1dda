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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pki: Option<PkiSection>,
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
            "  real messages    {:>6} sent  {:>6} delivered\n",
            p.real_sent, p.real_delivered
        ));
        s.push_str(&format!(
            "  client loops     {:>6} sent  {:>6} returned\n",
            p.client_loop_sent, p.client_loop_returned
        ));
        s.push_str(&format!(
            "  mix loops        {:>6} sent  {:>6} returned\n",
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
        s.push_str("Latency of real messages (injection to delivery)\n");
        s.push_str(&format!(
            "  p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms  max {:.0} ms\n",
            l.p50, l.p90, l.p99, l.max
        ));
        s.push_str(&format!(
            "  mean {:.0} ms, of which the senders' drawn delays {:.0} ms, overhead {:.1} ms\n\n",
            l.mean, l.sampled_mean, l.overhead_mean
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
