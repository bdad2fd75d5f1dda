//! Shared fixtures: RSA keys are generated once per test binary (slow in debug builds).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::sync::OnceLock;
use wesh_payments::*;

pub const EPOCH: Epoch = 100;
pub const CLIENT: [u8; 32] = [7; 32];

/// Keys for epochs EPOCH and EPOCH + 1, plus a stranger key for EPOCH nobody publishes.
pub fn keys() -> &'static [IssuerKey; 3] {
    static KEYS: OnceLock<[IssuerKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
        [
            IssuerKey::generate(EPOCH, &mut rng).unwrap(),
            IssuerKey::generate(EPOCH + 1, &mut rng).unwrap(),
            IssuerKey::generate(EPOCH, &mut rng).unwrap(),
        ]
    })
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// An issuer with the free-quota policy and the two published keys installed.
pub fn issuer(quota: u32) -> Issuer<FreeQuotaPolicy, InMemorySpentSet> {
    let mut issuer = Issuer::new(FreeQuotaPolicy::new(quota), InMemorySpentSet::new());
    issuer.install_key(keys()[0].clone()).unwrap();
    issuer.install_key(keys()[1].clone()).unwrap();
    issuer
}

/// A provider's key directory as built from the issuer's publication.
pub fn directory<P: IssuancePolicy, S: SpentSet>(issuer: &Issuer<P, S>) -> KeyDirectory {
    let mut dir = KeyDirectory::new();
    for p in issuer.published_keys() {
        dir.insert_published(&p).unwrap();
    }
    dir
}

pub fn verifying_key(epoch: Epoch) -> VerifyingKey {
    let k = keys().iter().find(|k| k.epoch() == epoch).unwrap();
    VerifyingKey::from_published(&k.published()).unwrap()
}

/// Fills `wallet` with `count` tokens of `epoch` through the full issuance flow,
/// going over the wire encodings. Returns how many the issuer granted.
pub fn fetch<P: IssuancePolicy, S: SpentSet>(
    issuer: &mut Issuer<P, S>,
    wallet: &mut Wallet,
    epoch: Epoch,
    client: [u8; 32],
    count: usize,
    seed: u64,
) -> Result<usize, IssueError> {
    let mut r = rng(seed);
    let (req, pending) = wallet
        .prepare_request(
            &verifying_key(epoch),
            Credential::ClientKey(client),
            count,
            &mut r,
        )
        .unwrap();
    let req = decode_request(&encode_request(&req)).unwrap();
    let resp = issuer.issue(epoch, &req, &mut r)?;
    let resp = decode_response(&encode_response(&resp)).unwrap();
    Ok(wallet.finalize(pending, &resp).unwrap())
}
