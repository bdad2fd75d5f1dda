//! `wesh issuer` as a real process: keys, issuance within the free quota (only for the
//! requesting peer's own key), redemption by two providers (a double spend across
//! providers is refused), and a spent set that survives a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::start;
use libp2p::PeerId;
use tokio::sync::watch;
use wesh_payments::wire::{ClaimRefusal, IssueRefusal, SpendRefusal};
use wesh_payments::{Credential, Refusal, Wallet};
use wesh_shell::issuer::calls::{CallError, fetch_keys, fetch_tokens, redeem};
use wesh_shell::keys::NodeKeys;
use wesh_shell::net::swarm::{NetHandle, start_swarm};

const ALREADY_SPENT: SpendRefusal = SpendRefusal::Token(Refusal::AlreadySpent);

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
    let (p1, _, _) = peer_of(&issuer, stop.clone()).await;
    let (p2, _, _) = peer_of(&issuer, stop.clone()).await;
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
    let (p3, _, _) = peer_of(&issuer, stop.clone()).await;
    let r = redeem(&mut p3.control.clone(), peer, &[t2]).await.unwrap();
    assert_eq!(r.refused, vec![(0, ALREADY_SPENT)]);
    // garbage is refused, not a crash
    let r = redeem(&mut p3.control.clone(), peer, &[]).await.unwrap();
    assert_eq!(r.accepted, 0);
}
