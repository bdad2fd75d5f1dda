//! `wesh issuer` as a real process: keys, issuance within the free quota (only for the
//! requesting peer's own key), redemption only by providers of its directory (a client
//! cannot redeem its own token), by two providers (a double spend across providers is
//! refused), and a spent set that survives a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::start;
use libp2p::PeerId;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wesh_payments::wire::{ClaimRefusal, IssueRefusal, SpendRefusal};
use wesh_payments::{Credential, Refusal, Wallet};
use wesh_shell::drivers::packet_path::{PkiSetup, RelayHandle, RelaySpec, start_relay};
use wesh_shell::issuer::calls::{CallError, fetch_keys, fetch_tokens, redeem};
use wesh_shell::keys::NodeKeys;
use wesh_shell::net::swarm::{NetHandle, start_swarm};
use wesh_shell::storage::MailboxStore;
use wesh_shell::topology_file::Role;

const ALREADY_SPENT: SpendRefusal = SpendRefusal::Token(Refusal::AlreadySpent);

/// A provider that joins the issuer's gossip PKI (the issuer then lists it as a provider
/// of its directory, the only peers it redeems for).
async fn provider_of(issuer: &common::Running, dir: &std::path::Path) -> RelayHandle {
    let peer: PeerId = issuer.peer.parse().unwrap();
    let addr: libp2p::Multiaddr = issuer.addr.parse().unwrap();
    start_relay(RelaySpec {
        keys: NodeKeys::generate(),
        role: Role::Provider,
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        workers: 1,
        mean_hop_delay: Duration::from_millis(5),
        loop_rate: 0.0,
        addresses: Vec::new(),
        topology: None,
        hook: None,
        pki: Some(PkiSetup {
            params: wesh_pki::PkiParams::with_epoch_length(3600).unwrap(),
            bootstrap: vec![(peer, addr)],
            announce: Vec::new(),
            capacity_pps: 1000,
            keyring_path: None,
        }),
        data_dir: None,
        mailboxes: Some(Arc::new(
            MailboxStore::open(dir, Default::default()).unwrap(),
        )),
        payments: None,
    })
    .await
    .unwrap()
}

/// Waits until the issuer redeems for `provider` (its descriptor reached the issuer's
/// directory): an empty batch is refused whole until then. A readiness wait.
async fn wait_listed(provider: &RelayHandle, issuer: PeerId) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = redeem(&mut provider.net.control.clone(), issuer, &[]).await;
        if matches!(&r, Ok(r) if r.refused.is_empty()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "issuer never listed the provider: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn peer_of(
    issuer: &common::Running,
    stop: watch::Receiver<bool>,
) -> (NetHandle, PeerId, NodeKeys) {
    let keys = NodeKeys::generate();
    let peer: PeerId = issuer.peer.parse().unwrap();
    let addr = issuer.addr.parse().unwrap();
    let net = start_swarm(keys.identity.clone(), &[], &[(peer, addr)], stop)
        .await
        .unwrap();
    (net, peer, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_issues_within_quota_and_refuses_double_spends_across_providers() {
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--epoch-seconds", "3600", "--free-tokens-per-epoch", "5"];
    let issuer = start("issuer", dir.path(), &extra);
    let (_stop_tx, stop) = watch::channel(false);

    let (client, peer, keys) = peer_of(&issuer, stop.clone()).await;
    let mut control = client.control.clone();
    let key = fetch_keys(&mut control, peer).await.unwrap().pop().unwrap();
    let me = keys.node_id().unwrap().0;
    let mut wallet = Wallet::new(24);
    let got = fetch_tokens(
        &mut control,
        peer,
        &key,
        Credential::ClientKey(me),
        8,
        &mut wallet,
    )
    .await
    .unwrap();
    assert_eq!(got, 5, "the free quota caps the grant");
    let again = fetch_tokens(
        &mut control,
        peer,
        &key,
        Credential::ClientKey(me),
        1,
        &mut wallet,
    )
    .await;
    assert!(
        matches!(
            again,
            Err(CallError::IssueRefused(IssueRefusal::QuotaExhausted))
        ),
        "quota exhausted: {again:?}"
    );
    let theft = fetch_tokens(
        &mut control,
        peer,
        &key,
        Credential::ClientKey([9; 32]),
        1,
        &mut wallet,
    )
    .await;
    assert!(
        matches!(
            theft,
            Err(CallError::IssueRefused(IssueRefusal::NotRequestersKey))
        ),
        "someone else's quota: {theft:?}"
    );

    let epoch = key.epoch;
    let t1 = wallet.pop(epoch).unwrap();
    let t2 = wallet.pop(epoch).unwrap();
    // the client cannot redeem its own token (issue 15 item 8): refused whole, not spent
    let r = redeem(&mut control, peer, std::slice::from_ref(&t1))
        .await
        .unwrap();
    assert_eq!(
        (r.accepted, r.refused),
        (0, vec![(0, SpendRefusal::NotAProvider)])
    );
    let h1 = provider_of(&issuer, &dir.path().join("p1")).await;
    let h2 = provider_of(&issuer, &dir.path().join("p2")).await;
    wait_listed(&h1, peer).await;
    wait_listed(&h2, peer).await;
    let (p1, p2) = (h1.net.clone(), h2.net.clone());
    let r = redeem(&mut p1.control.clone(), peer, &[t1.clone(), t2.clone()])
        .await
        .unwrap();
    assert_eq!((r.accepted, r.refused.len()), (2, 0));
    let r = redeem(&mut p2.control.clone(), peer, std::slice::from_ref(&t1))
        .await
        .unwrap();
    assert_eq!(r.accepted, 0);
    assert_eq!(
        r.refused,
        vec![(0, ALREADY_SPENT)],
        "double spend across providers"
    );

    // nothing settled yet: `wesh rewards` says so
    let out = common::wesh()
        .args(["rewards", "--epoch", &epoch.to_string(), "--issuer"])
        .arg(format!("{}/p2p/{}", issuer.addr, issuer.peer))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no rewards settled"));

    // and no entry can be claimed
    let claim = wesh_shell::issuer::calls::claim_reward(&mut control, peer, epoch).await;
    assert!(
        matches!(
            claim,
            Err(CallError::ClaimRefused(ClaimRefusal::NotSettled))
        ),
        "{claim:?}"
    );

    // the spent set is on disk: a restarted issuer still refuses the token
    let addr = issuer.addr.clone();
    drop(issuer);
    let issuer = start(
        "issuer",
        dir.path(),
        &[&extra[..], &["--listen", &addr]].concat(),
    );
    // the restarted issuer learns its directory again from the providers that reach it
    let p3 = provider_of(&issuer, &dir.path().join("p3")).await;
    wait_listed(&p3, peer).await;
    let r = redeem(&mut p3.net.control.clone(), peer, &[t2])
        .await
        .unwrap();
    assert_eq!(r.refused, vec![(0, ALREADY_SPENT)]);
    // garbage is refused, not a crash
    let r = redeem(&mut p3.net.control.clone(), peer, &[])
        .await
        .unwrap();
    assert_eq!(r.accepted, 0);
    // close the providers' stores before the process exits (rocksdb aborts the process
    // if its threads outlive the statics)
    for relay in [h1, h2, p3] {
        relay.stop().await;
    }
}
