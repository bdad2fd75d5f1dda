//! A client's traffic profile as samples: what its links cost is set by these values.

use crate::exposition::{MetricSource, Sample};
use wesh_mix::ClientProfile;

/// The profile a client runs with (constant for the process).
pub struct ProfileSource(pub ClientProfile);

impl MetricSource for ProfileSource {
    fn collect(&self, out: &mut Vec<Sample>) {
        let p = &self.0;
        let t = &p.traffic;
        let name = p.name.clone();
        out.extend([
            Sample::gauge("wesh_client_real_rate", "λ_P, packets per second.", t.real_rate)
                .label("profile", name.clone()),
            Sample::gauge("wesh_client_loop_rate", "λ_L, packets per second.", t.loop_rate)
                .label("profile", name.clone()),
            Sample::gauge("wesh_client_drop_rate", "λ_D, packets per second.", t.drop_rate)
                .label("profile", name.clone()),
            Sample::gauge(
                "wesh_client_pull_interval_seconds",
                "Time between two mailbox pulls.",
                p.pull_interval.as_secs_f64(),
            )
            .label("profile", name.clone()),
            Sample::gauge(
                "wesh_client_pull_slots",
                "Slots in every pull answer.",
                p.pull_slots as f64,
            )
            .label("profile", name.clone()),
            Sample::gauge(
                "wesh_client_modelled_bytes_per_day",
                "What the profile costs on the links by its model (the transport counter measures it).",
                p.modelled_bytes_per_day(),
            )
            .label("profile", name),
        ]);
    }
}
