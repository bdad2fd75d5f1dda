//! Issuance, finalize and verify rates, and admission cost per packet against one Sphinx
//! processing. Run: `cargo bench -p wesh-payments --bench payments -- --warm-up-time 1
//! --measurement-time 3` (figures in spec/payments.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::hint::black_box;
use std::time::Duration;
use wesh_mix::node_id::NodeId as MixNodeId;
use wesh_mix::packet::build_packet;
use wesh_mix::processor::MixProcessor;
use wesh_mix::topology::RouteNode;
use wesh_payments::params::{PACKETS_PER_TOKEN, TOKEN_VALIDITY_EPOCHS};
use wesh_payments::*;
use x25519_dalek::{PublicKey, StaticSecret};

const EPOCH: Epoch = 1;

/// Grants everything: the bench measures signing, not policy.
struct Unlimited;

impl IssuancePolicy for Unlimited {
    fn grant(&mut self, _: Epoch, _: &Credential, n: u32) -> Result<u32, PolicyRefusal> {
        Ok(n)
    }
}

struct Fixture {
    issuer: Issuer<Unlimited, InMemorySpentSet>,
    key: VerifyingKey,
    dir: KeyDirectory,
    rng: ChaCha20Rng,
}

fn fixture() -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut issuer = Issuer::new(Unlimited, InMemorySpentSet::new());
    let published = issuer
        .install_key(IssuerKey::generate(EPOCH, &mut rng).unwrap())
        .unwrap();
    let mut dir = KeyDirectory::new();
    dir.insert_published(&published).unwrap();
    Fixture {
        issuer,
        key: VerifyingKey::from_published(&published).unwrap(),
        dir,
        rng,
    }
}

fn request(f: &mut Fixture, wallet: &Wallet) -> (IssuanceRequest, PendingIssuance) {
    wallet
        .prepare_request(&f.key, Credential::ClientKey([1; 32]), 1, &mut f.rng)
        .unwrap()
}

fn token(f: &mut Fixture) -> Token {
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    let (req, pending) = request(f, &wallet);
    let resp = f.issuer.issue(EPOCH, &req, &mut f.rng).unwrap();
    wallet.finalize(pending, &resp).unwrap();
    wallet.pop(EPOCH).unwrap()
}

fn tokens(c: &mut Criterion) {
    let mut f = fixture();
    let mut g = c.benchmark_group("tokens");
    g.throughput(Throughput::Elements(1));

    let wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    let (req, _) = request(&mut f, &wallet);
    let mut sign_rng = ChaCha20Rng::seed_from_u64(2);
    g.bench_function("issue_blind_sign", |b| {
        b.iter(|| {
            f.issuer
                .issue(EPOCH, black_box(&req), &mut sign_rng)
                .unwrap()
        })
    });

    g.bench_function("finalize", |b| {
        b.iter_batched(
            || {
                let (req, pending) = request(&mut f, &wallet);
                let resp = f.issuer.issue(EPOCH, &req, &mut f.rng).unwrap();
                (pending, resp, Wallet::new(TOKEN_VALIDITY_EPOCHS))
            },
            |(pending, resp, mut w)| w.finalize(pending, &resp).unwrap(),
            BatchSize::SmallInput,
        )
    });

    let t = token(&mut f);
    g.bench_function("verify", |b| {
        b.iter(|| verify_token(&f.dir, black_box(&t), EPOCH, TOKEN_VALIDITY_EPOCHS).unwrap())
    });
    g.finish();
}

/// One token's admission (verify + spent-set insert + credit) plus the per-packet debits
/// it pays for, reported per packet; next to one Sphinx processing.
fn admission_vs_sphinx(c: &mut Criterion) {
    let mut f = fixture();
    let pool: Vec<Token> = (0..64).map(|_| token(&mut f)).collect();
    let mut g = c.benchmark_group("admission_vs_sphinx");

    g.throughput(Throughput::Elements(PACKETS_PER_TOKEN));
    let mut next = 0usize;
    g.bench_function("token_admission_per_packet", |b| {
        b.iter_batched(
            || {
                next = (next + 1) % pool.len();
                (
                    Admission::new(f.dir.clone(), InMemorySpentSet::new()),
                    pool[next].clone(),
                )
            },
            |(mut admission, token)| {
                let mut ledger = admission.open_ledger();
                admission.spend(&mut ledger, token, EPOCH).unwrap();
                while ledger.debit_packet().is_ok() {}
                ledger
            },
            BatchSize::SmallInput,
        )
    });

    g.throughput(Throughput::Elements(1));
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let secrets: Vec<StaticSecret> = (1..=5u8).map(|i| StaticSecret::from([i; 32])).collect();
    let route: Vec<RouteNode> = secrets
        .iter()
        .enumerate()
        .map(|(i, s)| RouteNode {
            id: MixNodeId([i as u8 + 1; 32]),
            sphinx_key: PublicKey::from(s),
        })
        .collect();
    let mut first_hop = MixProcessor::new(0, secrets[0].clone());
    g.bench_function("sphinx_process", |b| {
        b.iter_batched(
            || {
                build_packet(
                    &mut rng,
                    &route,
                    MixNodeId([9; 32]),
                    b"bench",
                    &[Duration::ZERO; 5],
                )
                .unwrap()
            },
            |packet| first_hop.process(&packet).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, tokens, admission_vs_sphinx);
criterion_main!(benches);
