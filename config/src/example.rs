//! `wesh config example ROLE`: a commented TOML file with every setting a role reads and its
//! default, written from the same defaults the roles use (a test parses each back).

use crate::client::{ClientConfigFile, ProfileArgs};
use crate::relay::NodeConfig;
use std::fmt::Write;

/// The roles that read a config file.
pub const EXAMPLE_ROLES: [&str; 3] = ["mix", "provider", "client"];

/// The example for `role`, or `None` for a role without a config file.
pub fn example(role: &str) -> Option<String> {
    match role {
        "mix" | "provider" => Some(relay_example(role)),
        "client" => Some(client_example()),
        _ => None,
    }
}

fn relay_example(role: &str) -> String {
    let d = NodeConfig::default();
    let port = if role == "mix" { 4000 } else { 4100 };
    let mut s = String::new();
    // writing to a String cannot fail
    let _ = write!(
        s,
        r#"# wesh {role}: configuration (`wesh {role} --config FILE`). Every key is optional;
# the values below are the defaults. Command-line flags override this file.

# libp2p listen addresses (default: /ip4/0.0.0.0/tcp/4000).
listen = ["/ip4/0.0.0.0/tcp/{port}"]
# Keys and state (rocksdb stores, replay journal). Default: ./wesh-{role}.
# data_dir = "/var/lib/wesh-{role}"
# A static topology file instead of the gossip PKI (see `wesh id`).
# topology = "/etc/wesh/topology.toml"
# Sphinx worker threads; 0 = one per core.
workers = {workers}

[mixing]
# Mean per-hop delay of this node's own cover packets, milliseconds (Loopix 1/mu).
mean_hop_delay_ms = {delay}
# Loop cover this node sends, packets per second (lambda_M; 0 turns it off).
loop_rate = {loop_rate:?}

[pki]
# Nodes to join the gossip PKI through (multiaddr ending in /p2p/<peer id>). Empty and
# no topology: this node starts a new network that others bootstrap from.
bootstrap = []
# Addresses to announce in this node's descriptor (default: the listen addresses).
announce = []
# Epoch length in seconds; every node of a network uses the same. Sphinx keys rotate
# every epoch.
epoch_seconds = {epoch}
# Packets per second this node offers (announced as its capacity).
capacity_pps = {capacity}

[mailbox]
# Providers only. How long an unfetched payload is kept, seconds.
ttl_seconds = {ttl}
# Most payloads one mailbox holds.
quota_payloads = {quota_payloads}
# Most payload bytes one mailbox holds.
quota_bytes = {quota_bytes}
"#,
        workers = d.workers,
        delay = d.mixing.mean_hop_delay_ms,
        loop_rate = d.mixing.loop_rate,
        epoch = d.pki.epoch_seconds,
        capacity = d.pki.capacity_pps,
        ttl = d.mailbox.ttl_seconds,
        quota_payloads = d.mailbox.quota_payloads,
        quota_bytes = d.mailbox.quota_bytes,
    );
    s
}

fn client_example() -> String {
    let mut s = String::new();
    let profiles = wesh_mix::PROFILE_NAMES
        .iter()
        .filter_map(|name| wesh_mix::ClientProfile::named(name).ok())
        .map(|p| {
            format!(
                "#   {:<8} real_rate {} ({}), loop_rate {}, drop_rate {}, pull_interval_ms {}, pull_slots {}; about {:.2} GB/day\n",
                p.name,
                p.traffic.real_rate,
                p.traffic.real_timing.name(),
                p.traffic.loop_rate,
                p.traffic.drop_rate,
                p.pull_interval.as_millis(),
                p.pull_slots,
                p.modelled_bytes_per_day() / 1e9
            )
        })
        .collect::<String>();
    // the default profile's values, as the resolved profile has them
    let d = ProfileArgs::default()
        .resolve(&ClientConfigFile::default().traffic)
        .unwrap_or_default();
    let _ = write!(
        s,
        r#"# wesh client: configuration (`wesh client --config FILE`). Every key is optional;
# the values below are the `default` profile's. Command-line flags override this file.

[traffic]
# What the client's links cost and how fast its mail moves. The profiles:
{profiles}# An observer of the client's links learns the profile, never the traffic
# (spec/mixnet.md, "Client profiles").
profile = "{name}"
# Any value below replaces the profile's.
# Real stream lambda_P, packets per second (a drop is sent when nothing waits).
real_rate = {real:?}
# How the real stream is spaced: "poisson" or "paced" (no bursts; the mobile profile's).
real_timing = "{timing}"
# Loop cover lambda_L, packets per second.
loop_rate = {loops:?}
# Drop cover lambda_D, packets per second.
drop_rate = {drops:?}
# Time between two mailbox pulls, milliseconds (on schedule, whatever the mailbox holds).
pull_interval_ms = {interval}
# Payload slots in every pull answer, 1 to 16 (real or dummy).
pull_slots = {slots}
"#,
        name = d.name,
        real = d.traffic.real_rate,
        timing = d.traffic.real_timing.name(),
        loops = d.traffic.loop_rate,
        drops = d.traffic.drop_rate,
        interval = d.pull_interval.as_millis(),
        slots = d.pull_slots,
    );
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_example_parses_back_to_the_defaults() {
        for role in ["mix", "provider"] {
            let text = example(role).unwrap();
            let parsed: NodeConfig = toml::from_str(&text).unwrap();
            parsed.validate().unwrap();
            let d = NodeConfig::default();
            assert_eq!(parsed.workers, d.workers);
            assert_eq!(parsed.mixing.mean_hop_delay_ms, d.mixing.mean_hop_delay_ms);
            assert_eq!(parsed.mixing.loop_rate, d.mixing.loop_rate);
            assert_eq!(parsed.pki.epoch_seconds, d.pki.epoch_seconds);
            assert_eq!(parsed.mailbox.quota_bytes, d.mailbox.quota_bytes);
            assert_eq!(parsed.mailbox.ttl_seconds, d.mailbox.ttl_seconds);
        }
        let text = example("client").unwrap();
        let parsed: ClientConfigFile = toml::from_str(&text).unwrap();
        let from_file = ProfileArgs::default().resolve(&parsed.traffic).unwrap();
        assert_eq!(from_file, wesh_mix::ClientProfile::default());
        assert!(text.contains("mobile"), "every profile is listed");
        assert_eq!(example("issuer"), None);
    }
}
