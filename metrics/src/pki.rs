//! The PKI view a node follows (`FollowerStatus`) as samples.

use crate::exposition::{MetricSource, Sample};
use std::sync::{Arc, Mutex};
use wesh_pki::FollowerStatus;

/// A node's PKI view, read at scrape time from the status its PKI agent keeps.
pub struct PkiSource(pub Arc<Mutex<FollowerStatus>>);

impl MetricSource for PkiSource {
    fn collect(&self, out: &mut Vec<Sample>) {
        // a poisoned lock (a panicked writer) leaves the view out rather than the scrape
        if let Ok(status) = self.0.lock() {
            collect(&status, out);
        }
    }
}

pub fn collect(s: &FollowerStatus, out: &mut Vec<Sample>) {
    out.extend([
        Sample::gauge("wesh_pki_epoch", "Current PKI epoch.", s.epoch as f64),
        Sample::gauge(
            "wesh_pki_descriptors",
            "Descriptors valid for the current epoch.",
            s.descriptors as f64,
        ),
        Sample::gauge(
            "wesh_pki_view_confirmed",
            "1 when enough sampled peers reported this node's directory digest.",
            if s.view_confirmed { 1.0 } else { 0.0 },
        ),
        Sample::counter(
            "wesh_pki_view_disagreements",
            "Sampled peers whose directory differed from this node's.",
            s.view_disagreements,
        ),
        Sample::counter(
            "wesh_pki_view_checks",
            "Directory digest checks.",
            s.view_checks,
        ),
        Sample::gauge(
            "wesh_pki_equivocation_proofs",
            "Equivocation proofs kept (each excludes one node).",
            s.proofs_kept as f64,
        ),
        Sample::counter(
            "wesh_pki_published",
            "Own descriptors gossiped.",
            s.published,
        ),
    ]);
    for (reason, n) in &s.rejected {
        out.push(
            Sample::counter(
                "wesh_pki_rejected",
                "Descriptors and proofs refused, by reason.",
                *n,
            )
            .label("reason", reason.clone()),
        );
    }
}
