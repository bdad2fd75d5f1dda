//! `wesh pki show`: ask a node for its directory over `/wesh/pki-sync/1`, verify every
//! descriptor locally, and print the directory and the topology of the current epoch.

use super::service::unix_now;
use super::sync::{PKI_SYNC_PROTOCOL, request};
use crate::keys::NodeKeys;
use crate::net::swarm::start_swarm;
use serde::Serialize;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Serialize)]
pub struct ShownNode {
    pub identity: String,
    pub role: String,
    pub layer: Option<usize>,
    pub sequence: u64,
    pub issue_epoch: u64,
    pub expiry_epoch: u64,
    pub capacity_pps: u32,
    pub addresses: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ShownDirectory {
    pub epoch: u64,
    pub digest: String,
    pub nodes: Vec<ShownNode>,
    pub rejected: std::collections::BTreeMap<String, u64>,
}

pub async fn show(peer_addr: &str, epoch_seconds: u64) -> Result<ShownDirectory, String> {
    let (peer, addr) = crate::keys::parse_peer_addr(peer_addr, "--peer")?;
    let (_stop, stop_rx) = watch::channel(false);
    let net = start_swarm(NodeKeys::generate().identity, &[], &[(peer, addr)], stop_rx)
        .await
        .map_err(|e| e.to_string())?;
    let mut control = net.control.clone();
    let descs = tokio::time::timeout(Duration::from_secs(15), async {
        let mut s = control
            .open_stream(peer, PKI_SYNC_PROTOCOL)
            .await
            .map_err(|e| e.to_string())?;
        // an all-zero digest matches nothing: the node answers with its whole directory
        request(&mut s, 0, [0; 32])
            .await
            .map(|a| a.descriptors.unwrap_or_default())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| "the node did not answer within 15 s".to_string())??;
    let params =
        wesh_pki::PkiParams::with_epoch_length(epoch_seconds).map_err(|e| e.to_string())?;
    let now = unix_now();
    let mut agent = wesh_pki::PkiAgent::observer(params, now).map_err(|e| e.to_string())?;
    for d in &descs {
        agent.on_descriptor(d, now);
    }
    let topology = agent.topology();
    let epoch = agent.epoch();
    let mut nodes: Vec<ShownNode> = agent
        .directory()
        .valid_for(epoch)
        .map(|d| {
            let c = d.content();
            ShownNode {
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
    nodes.sort_by(|a, b| {
        (a.role.clone(), a.layer, a.identity.clone()).cmp(&(
            b.role.clone(),
            b.layer,
            b.identity.clone(),
        ))
    });
    Ok(ShownDirectory {
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

impl ShownDirectory {
    pub fn to_table(&self) -> String {
        let mut s = format!(
            "epoch {}  digest {}  {} nodes\n",
            self.epoch,
            &self.digest[..16.min(self.digest.len())],
            self.nodes.len()
        );
        s.push_str(&format!(
            "{:<18} {:<9} {:>5} {:>11} {:>8}  {}\n",
            "identity", "role", "layer", "sequence", "cap/s", "addresses"
        ));
        for n in &self.nodes {
            s.push_str(&format!(
                "{:<18} {:<9} {:>5} {:>11} {:>8}  {}\n",
                &n.identity[..16.min(n.identity.len())],
                n.role,
                n.layer.map_or("-".to_string(), |l| l.to_string()),
                n.sequence,
                n.capacity_pps,
                n.addresses.join(" ")
            ));
        }
        if !self.rejected.is_empty() {
            let r: Vec<String> = self
                .rejected
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            s.push_str(&format!("refused: {}\n", r.join(", ")));
        }
        s
    }
}
