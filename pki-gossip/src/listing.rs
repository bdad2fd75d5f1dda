//! A directory as an operator reads it (`wesh pki show`): every descriptor verified here,
//! with the layer each mix holds in the current epoch.

use crate::agent::PkiAgent;
use crate::error::ParamError;
use crate::params::PkiParams;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct ListedNode {
    pub identity: String,
    pub role: String,
    /// 1-based mix layer.
    pub layer: Option<usize>,
    pub sequence: u64,
    pub issue_epoch: u64,
    pub expiry_epoch: u64,
    pub capacity_pps: u32,
    pub addresses: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DirectoryListing {
    pub epoch: u64,
    pub digest: String,
    pub nodes: Vec<ListedNode>,
    /// Descriptors refused, by reason.
    pub rejected: BTreeMap<String, u64>,
}

impl DirectoryListing {
    /// The directory these descriptors make at `now` (Unix seconds), invalid ones refused.
    pub fn of(params: PkiParams, descriptors: &[Vec<u8>], now: u64) -> Result<Self, ParamError> {
        let mut agent = PkiAgent::observer(params, now)?;
        for d in descriptors {
            agent.on_descriptor(d, now);
        }
        let topology = agent.topology();
        let epoch = agent.epoch();
        let mut nodes: Vec<ListedNode> = agent
            .directory()
            .valid_for(epoch)
            .map(|d| {
                let c = d.content();
                ListedNode {
                    identity: hex::encode(c.identity.0),
                    role: format!("{:?}", c.role).to_lowercase(),
                    layer: topology.layer_of(&c.identity).map(|l| l + 1),
                    sequence: c.sequence,
                    issue_epoch: c.issue_epoch,
                    expiry_epoch: c.expiry_epoch,
                    capacity_pps: c.capacity_pps,
                    addresses: c.addresses.clone(),
                }
            })
            .collect();
        nodes.sort_by(|a, b| (&a.role, a.layer, &a.identity).cmp(&(&b.role, b.layer, &b.identity)));
        Ok(DirectoryListing {
            epoch,
            digest: hex::encode(agent.digest()),
            nodes,
            rejected: agent
                .rejections()
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        })
    }

    pub fn to_table(&self) -> String {
        let short = |s: &str| s.get(..16).unwrap_or(s).to_string();
        let mut s = format!(
            "epoch {}  digest {}  {} nodes\n",
            self.epoch,
            short(&self.digest),
            self.nodes.len()
        );
        let row = |s: &mut String, cells: [&str; 6]| {
            let [id, role, layer, seq, cap, addrs] = cells;
            let _ = writeln!(
                s,
                "{id:<18} {role:<9} {layer:>5} {seq:>11} {cap:>8}  {addrs}"
            );
        };
        row(
            &mut s,
            [
                "identity",
                "role",
                "layer",
                "sequence",
                "cap/s",
                "addresses",
            ],
        );
        for n in &self.nodes {
            let layer = n.layer.map_or("-".to_string(), |l| l.to_string());
            row(
                &mut s,
                [
                    &short(&n.identity),
                    &n.role,
                    &layer,
                    &n.sequence.to_string(),
                    &n.capacity_pps.to_string(),
                    &n.addresses.join(" "),
                ],
            );
        }
        if !self.rejected.is_empty() {
            let r: Vec<String> = self
                .rejected
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "refused: {}", r.join(", "));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::descriptor::{DescriptorBuilder, Role};

    #[test]
    fn lists_valid_descriptors_and_counts_refused_ones() {
        let params = PkiParams::with_epoch_length(600).unwrap();
        let now = 2000 * 600 + 5;
        let d = DescriptorBuilder::new(Role::Provider, 1, 2000)
            .expiry_epoch(2001)
            .capacity_pps(100)
            .sphinx_key(2000, [1; 32])
            .sphinx_key(2001, [2; 32])
            .address("/ip4/127.0.0.1/tcp/4000")
            .sign(&ed25519_dalek::SigningKey::from_bytes(&[4; 32]))
            .unwrap();
        let listing =
            DirectoryListing::of(params, &[d.as_bytes().to_vec(), vec![0xff; 10]], now).unwrap();
        assert_eq!(listing.nodes.len(), 1, "{:?}", listing.rejected);
        assert_eq!(listing.nodes[0].role, "provider");
        assert_eq!(listing.rejected.values().sum::<u64>(), 1);
        let table = listing.to_table();
        assert!(table.contains("1 nodes") && table.contains("/ip4/127.0.0.1/tcp/4000"));
        assert!(table.contains("refused: "));
    }
}
