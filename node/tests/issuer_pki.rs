//! The issuer announces its token keys in the gossip PKI (spec/pki.md §2, spec/payments.md
//! §12): a provider that joined the PKI takes them from the issuer's signed descriptor
//! instead of asking the issuer, and a client takes its issuance key from the directory
//! its provider serves; both then work end to end (tokens issued, spent, credited).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wesh_payments::{Credential, Wallet};
use wesh_shell::credit::CreditAnswer;
use wesh_shell::credit::IssuerAddress;
use wesh_shell::credit::keeper::{KeeperStats, issuance_key, spend_at};
use wesh_shell::credit::provider::ProviderCredit;
use wesh_shell::drivers::packet_path::{PkiSetup, ProviderPayments, RelaySpec, start_relay};
use wesh_shell::issuer::calls::{fetch_published_keys, fetch_tokens};
use wesh_shell::issuer::pki_keys::fetch_from_directory;
use wesh_shell::issuer::role::{IssuerPki, start_issuer_with_pki};
use wesh_shell::keys::NodeKeys;
use wesh_shell::net::swarm::start_swarm;
use wesh_shell::storage::MailboxStore;
use wesh_shell::storage::spent_store::SpentStore;
use wesh_shell::topology_file::Role;

const EPOCH_SECONDS: u64 = 3600;

/// Polls `done` until it holds or 20 s pass (a readiness wait, not a timing assertion).
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_and_clients_take_issuer_keys_from_the_pki() {
    let dir = tempfile::tempdir().unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let localhost: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();

    // the issuer joins the PKI on its own and publishes its descriptor
    let issuer = start_issuer_with_pki(
        &NodeKeys::generate(),
        &dir.path().join("issuer"),
        std::slice::from_ref(&localhost),
        EPOCH_SECONDS,
        20,
        Some(IssuerPki::default()),
        stop.clone(),
    )
    .await
    .unwrap();
    let issuer_status = issuer.pki_status.clone().unwrap();
    wait_for("the issuer descriptor", || {
        issuer_status.lock().unwrap().published >= 1
    })
    .await;
    let issuer_addr = IssuerAddress {
        peer: issuer.net.peer_id,
        addr: issuer.net.listen_addrs[0].clone(),
        epoch_seconds: EPOCH_SECONDS,
    };
    let epoch = wesh_shell::issuer::epoch_at(wesh_shell::pki::service::unix_now(), EPOCH_SECONDS);

    // anyone can read the keys from the issuer's directory: current and next epoch, and
    // the current one is what the issuer hands out directly
    let probe = start_swarm(
        NodeKeys::generate().identity,
        &[],
        &[(issuer_addr.peer, issuer_addr.addr.clone())],
        stop.clone(),
    )
    .await
    .unwrap();
    let mut control = probe.control.clone();
    let announced = fetch_from_directory(
        &mut control,
        issuer_addr.peer,
        issuer_addr.peer,
        EPOCH_SECONDS,
    )
    .await
    .unwrap();
    let epochs: Vec<u64> = announced.iter().map(|k| k.epoch).collect();
    assert_eq!(epochs, vec![epoch, epoch + 1]);
    let direct = fetch_published_keys(&mut control, issuer_addr.peer)
        .await
        .unwrap();
    assert_eq!(
        direct.iter().find(|k| k.epoch == epoch),
        announced.first(),
        "the PKI and the issuer agree on the current key"
    );
    assert!(
        direct.iter().all(|k| k.epoch <= epoch),
        "the next epoch's key is only announced, not handed out"
    );

    // a provider joins the PKI through the issuer and takes the keys from the descriptor
    let credit = Arc::new(ProviderCredit::new(
        SpentStore::open(dir.path().join("provider-spent")).unwrap(),
        EPOCH_SECONDS,
    ));
    let provider = start_relay(RelaySpec {
        keys: NodeKeys::generate(),
        role: Role::Provider,
        listen: vec![localhost.clone()],
        workers: 1,
        mean_hop_delay: Duration::from_millis(5),
        loop_rate: 0.0,
        addresses: Vec::new(),
        topology: None,
        hook: None,
        pki: Some(PkiSetup {
            params: wesh_pki::PkiParams::with_epoch_length(EPOCH_SECONDS).unwrap(),
            bootstrap: vec![(issuer_addr.peer, issuer_addr.addr.clone())],
            announce: Vec::new(),
            capacity_pps: 1000,
            keyring_path: None,
        }),
        data_dir: None,
        mailboxes: Some(Arc::new(
            MailboxStore::open(dir.path().join("mailboxes"), Default::default()).unwrap(),
        )),
        payments: Some(ProviderPayments {
            credit: credit.clone(),
            issuer: issuer_addr.clone(),
            // the first redemption round runs at once and installs the keys
            redeem_every: Duration::from_secs(3600),
        }),
    })
    .await
    .unwrap();
    let status = provider.pki_status.clone().unwrap();
    wait_for("the issuer descriptor at the provider", || {
        status.lock().unwrap().issuer_keys.contains_key(
            &wesh_shell::keys::node_id_of_peer(&issuer_addr.peer)
                .unwrap()
                .0,
        )
    })
    .await;
    // the provider's first refresh ran at start, maybe before the descriptor arrived (it
    // then fetched directly); its next one takes the keys from the descriptor
    let (pki_before, direct_before) = (
        credit.stats.keys_from_pki.load(Relaxed),
        credit.stats.keys_from_issuer.load(Relaxed),
    );
    wesh_shell::credit::redeemer::redeem_collected(&provider.net, &issuer_addr, &credit)
        .await
        .unwrap();
    assert_eq!(credit.stats.keys_from_pki.load(Relaxed), pki_before + 1);
    assert_eq!(credit.stats.keys_from_issuer.load(Relaxed), direct_before);
    assert!(credit.key_count() >= 2, "current and next epoch's keys");

    // a client: issuance key from the directory its provider serves, tokens, spend
    let client_keys = NodeKeys::generate();
    let client = start_swarm(
        client_keys.identity.clone(),
        &[],
        &[
            (provider.net.peer_id, provider.listen_addrs()[0].clone()),
            (issuer_addr.peer, issuer_addr.addr.clone()),
        ],
        stop.clone(),
    )
    .await
    .unwrap();
    let mut control = client.control.clone();
    let stats = KeeperStats::default();
    let key = issuance_key(&mut control, provider.net.peer_id, &issuer_addr, &stats)
        .await
        .unwrap();
    assert_eq!(stats.keys_from_pki.load(Relaxed), 1, "taken from the PKI");
    assert_eq!(stats.keys_from_issuer.load(Relaxed), 0, "no direct fetch");
    assert_eq!(key.epoch, epoch);
    assert_eq!(key.key_id, announced[0].key_id);
    let mut wallet = Wallet::new(24);
    let me = client_keys.node_id().unwrap().0;
    let got = fetch_tokens(
        &mut control,
        issuer_addr.peer,
        &key,
        Credential::ClientKey(me),
        2,
        &mut wallet,
    )
    .await
    .unwrap();
    assert_eq!(got, 2);
    let token = wallet.pop(epoch).unwrap();
    let answer = spend_at(&mut control, provider.net.peer_id, &token)
        .await
        .unwrap();
    assert!(
        matches!(answer, CreditAnswer::Balance { balance: 1000, .. }),
        "{answer:?}"
    );

    // with no usable descriptor (a directory without the issuer), the client falls back
    let lone = start_swarm(
        NodeKeys::generate().identity,
        &[],
        &[(issuer_addr.peer, issuer_addr.addr.clone())],
        stop.clone(),
    )
    .await
    .unwrap();
    let stats = KeeperStats::default();
    // the probe swarm serves no directory: the sync fails and the issuer is asked
    let key = issuance_key(
        &mut lone.control.clone(),
        probe.peer_id,
        &issuer_addr,
        &stats,
    )
    .await
    .unwrap();
    assert_eq!(key.epoch, epoch);
    assert_eq!(stats.keys_from_issuer.load(Relaxed), 1, "fallback used");
    assert_eq!(stats.keys_from_pki.load(Relaxed), 0);

    let _ = stop_tx.send(true);
    provider.stop().await;
}
