//! What a relay runs beside its packet path, assembled once for `wesh mix`, `wesh provider`
//! and the testnet: the work reporter (every relay with an issuer), and at providers the
//! replication of Wesh groups, the rendezvous desk and the operator's log of their counters.

use crate::credit::IssuerAddress;
use crate::drivers::packet_path::RelayHandle;
use crate::rendezvous::RendezvousService;
use crate::replication::ReplicaService;
use crate::storage::replica_store::ReplicaStore;
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RelayServicesError {
    #[error("cannot open the replica store at {}: {source}", .path.display())]
    ReplicaStore {
        path: std::path::PathBuf,
        source: crate::storage::replica_store::ReplicaStoreError,
    },
    #[error("cannot start replication: {0}")]
    Replication(#[from] crate::replication::service::ReplicationError),
    #[error("cannot start the rendezvous desk: {0}")]
    Rendezvous(#[from] crate::storage::StoreError),
}

/// The services of one relay; dropping it releases the mailbox store they hold (which must
/// close before the process exits).
#[derive(Default)]
pub struct RelayServices {
    pub replication: Option<Arc<ReplicaService>>,
    pub rendezvous: Option<Arc<RendezvousService>>,
}

/// Starts the services of a started relay. `replica_dir` is where a provider keeps
/// replicated entries; `issuer`, when set, receives the relay's work after every epoch.
pub fn start_relay_services(
    handle: &RelayHandle,
    replica_dir: &Path,
    issuer: Option<IssuerAddress>,
) -> Result<RelayServices, RelayServicesError> {
    let report_work = |replication: Option<Arc<ReplicaService>>| {
        if let Some(issuer) = issuer.clone() {
            crate::issuer::work_reporter::spawn_work_reporter(
                handle.net.clone(),
                issuer,
                handle.metrics.clone(),
                replication,
                handle.shutdown_watch(),
            );
        }
    };
    let (Some(mailboxes), Some(inject)) = (&handle.mailboxes, &handle.inject) else {
        report_work(None);
        return Ok(RelayServices::default());
    };
    let store =
        ReplicaStore::open(replica_dir).map_err(|source| RelayServicesError::ReplicaStore {
            path: replica_dir.to_path_buf(),
            source,
        })?;
    let replication = crate::replication::start_replication(
        handle.node_id,
        handle.net.control.clone(),
        mailboxes.clone(),
        Arc::new(store),
        handle.credit.clone(),
        handle.shutdown_watch(),
    )?;
    let rendezvous = crate::rendezvous::start_rendezvous(
        handle.node_id,
        mailboxes.clone(),
        inject.clone(),
        handle.shutdown_watch(),
    )?;
    report_work(Some(replication.clone()));
    spawn_services_log(handle, replication.clone(), rendezvous.clone());
    Ok(RelayServices {
        replication: Some(replication),
        rendezvous: Some(rendezvous),
    })
}

/// Logs what the provider's Wesh services did, for operators, every few minutes.
fn spawn_services_log(
    handle: &RelayHandle,
    replication: Arc<ReplicaService>,
    rendezvous: Arc<RendezvousService>,
) {
    let mut stop = handle.shutdown_watch();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(crate::rendezvous::params::SERVICES_REPORT_EVERY) => {}
                _ = stop.changed() => return,
            }
            let (r, d) = (replication.stats(), rendezvous.stats());
            tracing::info!(
                replicated_groups = r.groups,
                entries_kept = r.entries_kept,
                entries_refused =
                    r.refused_invalid_entry + r.refused_envelope + r.refused_unknown_group,
                rendezvous_registrations = d.registrations,
                rendezvous_held = d.held,
                rendezvous_forwards = d.forwards,
                rendezvous_acked = d.acked,
                rendezvous_refused = d.refused,
                "wesh services"
            );
        }
    });
}
