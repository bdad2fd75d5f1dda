//! `wesh status --metrics ADDR`: what a running node's `/metrics` says, for a human.

use clap::Args;
use thiserror::Error;
use wesh_metrics::Scraped;
use wesh_shell::net::metrics_http::{
    FetchError, MetricsServeError, fetch_metrics, parse_metrics_addr,
};

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Where the node serves its metrics (its `--metrics` address).
    #[arg(long, value_name = "IP:PORT", default_value = wesh_shell::net::metrics_http::DEFAULT_METRICS_ADDR)]
    pub metrics: String,
}

#[derive(Debug, Error)]
pub enum StatusError {
    #[error(transparent)]
    Addr(#[from] MetricsServeError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("the answer is not Prometheus text: {0}")]
    Parse(#[from] wesh_metrics::ScrapeError),
}

pub async fn status(args: StatusArgs) -> Result<(), StatusError> {
    let body = fetch_metrics(parse_metrics_addr(&args.metrics)?).await?;
    print!("{}", summary(&Scraped::parse(&body)?));
    Ok(())
}

/// The summary `wesh status` prints: the lines whose series the node exposes.
pub fn summary(s: &Scraped) -> String {
    let v = |name: &str| s.value(name, &[]);
    let n = |x: f64| format!("{}", x.round() as i64);
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    if let Some(info) = s.series.iter().find(|x| x.name == "wesh_build_info") {
        let get = |k: &str| info.labels.get(k).cloned().unwrap_or_default();
        line(format!("wesh {} ({})", get("version"), get("role")));
    }
    if let Some(r) = v("wesh_packets_received_total") {
        let fwd = v("wesh_packets_forwarded_total").unwrap_or(0.0);
        let fin = v("wesh_packets_final_hop_total").unwrap_or(0.0);
        line(format!(
            "packets: {} received, {} forwarded, {} ended here",
            n(r),
            n(fwd),
            n(fin)
        ));
        let mut drops: Vec<_> = s
            .by_label("wesh_packets_dropped_total", "reason")
            .into_iter()
            .filter(|(_, c)| *c > 0.0)
            .map(|(reason, c)| format!("{reason} {}", n(c)))
            .collect();
        if drops.is_empty() {
            drops.push("none".into());
        }
        line(format!("dropped: {}", drops.join(", ")));
    }
    if let (Some(sum), Some(count)) = (
        v("wesh_hop_hold_seconds_sum"),
        v("wesh_hop_hold_seconds_count"),
    ) && count > 0.0
    {
        line(format!(
            "mean hold per hop: {:.0} ms over {} packets",
            sum / count * 1000.0,
            n(count)
        ));
    }
    if let Some(stored) = v("wesh_mailbox_stored_payloads_total") {
        let pulls = v("wesh_mailbox_pulls_total").unwrap_or(0.0);
        line(format!(
            "mailboxes: {} payloads stored, {} pulls answered",
            n(stored),
            n(pulls)
        ));
    }
    if let Some(held) = v("wesh_mailbox_held_payloads") {
        line(format!(
            "mailbox store: {} mailboxes, {} payloads held ({} bytes)",
            n(v("wesh_mailbox_registered").unwrap_or(0.0)),
            n(held),
            n(v("wesh_mailbox_held_bytes").unwrap_or(0.0))
        ));
    }
    if let Some(sent) = v("wesh_relay_loops_sent_total") {
        line(format!(
            "loops: {} sent, {} came back; replay filter {} tags",
            n(sent),
            n(v("wesh_relay_loops_returned_total").unwrap_or(0.0)),
            n(v("wesh_replay_filter_tags").unwrap_or(0.0))
        ));
    }
    if let Some(groups) = v("wesh_replication_groups") {
        line(format!(
            "replication: {} groups, {} entries kept, {} refused, {} renewed, {} expired",
            n(groups),
            n(v("wesh_replication_entries_kept_total").unwrap_or(0.0)),
            n(v("wesh_replication_refused_total").unwrap_or(0.0)),
            n(v("wesh_replication_renewals_total").unwrap_or(0.0)),
            n(v("wesh_replication_groups_expired_total").unwrap_or(0.0))
        ));
    }
    if let Some(registrations) = v("wesh_rendezvous_registrations") {
        line(format!(
            "rendezvous desk: {} registrations, {} requests held, {} forwarded",
            n(registrations),
            n(v("wesh_rendezvous_held").unwrap_or(0.0)),
            n(v("wesh_rendezvous_forwards_total").unwrap_or(0.0))
        ));
    }
    if let Some(epoch) = v("wesh_pki_epoch") {
        let descriptors = v("wesh_pki_descriptors").unwrap_or(0.0);
        let agreed = v("wesh_pki_view_confirmed") == Some(1.0);
        line(format!(
            "PKI: epoch {}, {} descriptors, view {}",
            n(epoch),
            n(descriptors),
            if agreed {
                "confirmed by peers"
            } else {
                "not yet confirmed"
            }
        ));
    }
    if let Some(spent) = v("wesh_credit_tokens_spent_total") {
        let redeemed = v("wesh_credit_tokens_redeemed_total").unwrap_or(0.0);
        line(format!(
            "credit: {} tokens spent here, {} redeemed",
            n(spent),
            n(redeemed)
        ));
    }
    if let Some(issued) = v("wesh_issuer_tokens_issued_total") {
        let redeemed = v("wesh_issuer_tokens_redeemed_total").unwrap_or(0.0);
        line(format!(
            "issuer: {} tokens issued, {} redeemed",
            n(issued),
            n(redeemed)
        ));
    }
    if let Some(rate) = v("wesh_client_real_rate") {
        let profile = s
            .series
            .iter()
            .find(|x| x.name == "wesh_client_real_rate")
            .and_then(|x| x.labels.get("profile").cloned())
            .unwrap_or_default();
        line(format!(
            "client profile {profile}: λ_P {rate}/s, λ_L {}/s, λ_D {}/s, {} slots every {} s",
            v("wesh_client_loop_rate").unwrap_or(0.0),
            v("wesh_client_drop_rate").unwrap_or(0.0),
            n(v("wesh_client_pull_slots").unwrap_or(0.0)),
            v("wesh_client_pull_interval_seconds").unwrap_or(0.0)
        ));
    }
    let sent = s.value("wesh_transport_bytes_total", &[("direction", "sent")]);
    let received = s.value("wesh_transport_bytes_total", &[("direction", "received")]);
    if let (Some(up), Some(down)) = (sent, received) {
        line(format!(
            "on the wire: {} B sent, {} B received",
            n(up),
            n(down)
        ));
    }
    out
}
