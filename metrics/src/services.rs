//! A provider's replication and rendezvous-desk counters (issue 18, item 3): what the
//! replication provider keeps and refuses, and what the desk holds, forwards and refuses.

use crate::exposition::{MetricSource, Sample};
use wesh_client::messenger::rendezvous_desk::DeskStats;
use wesh_client::messenger::replica::ReplicaStats;

/// What a provider's services report at one scrape.
#[derive(Debug, Clone, Default)]
pub struct ServiceStats {
    pub replication: ReplicaStats,
    /// Replication exchanges dropped unread by the gate (too many at once, or per peer).
    pub replication_exchanges_refused: u64,
    pub desk: DeskStats,
}

/// A source that reads the services' stats at each scrape.
pub struct ServicesSource<F>(pub F);

impl<F: Fn() -> ServiceStats + Send + Sync + 'static> MetricSource for ServicesSource<F> {
    fn collect(&self, out: &mut Vec<Sample>) {
        out.extend(service_samples(&(self.0)()));
    }
}

/// The samples of one reading.
pub fn service_samples(s: &ServiceStats) -> Vec<Sample> {
    let r = &s.replication;
    let d = &s.desk;
    let refused = "wesh_replication_refused";
    let refused_help = "Replication inputs refused, by reason.";
    vec![
        Sample::gauge(
            "wesh_replication_groups",
            "Groups this provider keeps for replication.",
            r.groups as f64,
        ),
        Sample::counter(
            "wesh_replication_entries_kept",
            "Group entries kept for replication.",
            r.entries_kept,
        ),
        Sample::gauge(
            "wesh_replication_bytes_kept",
            "Entry bytes kept for replication, over all groups.",
            r.bytes_kept as f64,
        ),
        Sample::counter(
            "wesh_replication_entries_duplicate",
            "Entries received again (retransmissions, several senders).",
            r.entries_duplicate,
        ),
        Sample::counter(
            "wesh_replication_renewals",
            "Group registrations renewed for a new paid term.",
            r.renewals,
        ),
        Sample::counter(
            "wesh_replication_groups_expired",
            "Groups deleted because their term ended unrenewed.",
            r.groups_expired,
        ),
        Sample::counter(refused, refused_help, r.refused_unknown_group)
            .label("reason", "unknown_group"),
        Sample::counter(refused, refused_help, r.refused_invalid_entry)
            .label("reason", "invalid_entry"),
        Sample::counter(refused, refused_help, r.refused_envelope).label("reason", "envelope"),
        Sample::counter(refused, refused_help, r.refused_registration_proof)
            .label("reason", "registration_proof"),
        Sample::counter(refused, refused_help, r.refused_registration_cap)
            .label("reason", "registration_cap"),
        Sample::counter(refused, refused_help, r.refused_over_quota).label("reason", "over_quota"),
        Sample::counter(refused, refused_help, s.replication_exchanges_refused)
            .label("reason", "exchange_gate"),
        Sample::gauge(
            "wesh_rendezvous_registrations",
            "Rendezvous points registered at this provider's desk.",
            d.registrations as f64,
        ),
        Sample::gauge(
            "wesh_rendezvous_held",
            "Contact requests the desk holds until they are acked.",
            d.held as f64,
        ),
        Sample::counter(
            "wesh_rendezvous_updates",
            "Registration updates (reply blocks, acks) received.",
            d.updates,
        ),
        Sample::counter(
            "wesh_rendezvous_drops",
            "Contact requests dropped at the desk.",
            d.drops,
        ),
        Sample::counter(
            "wesh_rendezvous_forwards",
            "Forwards of held requests on a reply block.",
            d.forwards,
        ),
        Sample::counter(
            "wesh_rendezvous_acked",
            "Held requests the responder acked.",
            d.acked,
        ),
        Sample::counter("wesh_rendezvous_refused", "Desk inputs refused.", d.refused),
        Sample::counter(
            "wesh_rendezvous_expired",
            "Registrations and held requests that expired.",
            d.expired,
        ),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Exposition;
    use crate::scrape::Scraped;

    #[test]
    fn every_service_counter_is_exposed_and_read_back() {
        let stats = ServiceStats {
            replication: ReplicaStats {
                groups: 2,
                entries_kept: 24,
                refused_over_quota: 3,
                ..Default::default()
            },
            replication_exchanges_refused: 5,
            desk: DeskStats {
                registrations: 4,
                forwards: 9,
                ..Default::default()
            },
        };
        let mut e = Exposition::new("provider");
        e.add_source(ServicesSource(move || stats.clone()));
        let text = e.encode().unwrap();
        let s = Scraped::parse(&text).unwrap();
        assert_eq!(s.value("wesh_replication_groups", &[]), Some(2.0));
        assert_eq!(
            s.value("wesh_replication_entries_kept_total", &[]),
            Some(24.0)
        );
        assert_eq!(s.value("wesh_rendezvous_registrations", &[]), Some(4.0));
        assert_eq!(s.value("wesh_rendezvous_forwards_total", &[]), Some(9.0));
        let refused = |r: &str| s.value("wesh_replication_refused_total", &[("reason", r)]);
        assert_eq!(refused("over_quota"), Some(3.0));
        assert_eq!(refused("exchange_gate"), Some(5.0));
    }
}
