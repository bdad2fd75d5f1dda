//! Issuance: policies, request validation, wallet finalization, secrets kept out of Debug.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use wesh_payments::params::TOKEN_VALIDITY_EPOCHS;
use wesh_payments::*;

#[test]
fn free_quota_grants_partially_then_refuses_per_client_and_epoch() {
    let mut issuer = issuer(5);
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    assert_eq!(
        fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, 3, 1).unwrap(),
        3
    );
    assert_eq!(
        fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, 4, 2).unwrap(),
        2
    );
    assert_eq!(wallet.len(), 5);
    assert_eq!(
        fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, 1, 3),
        Err(IssueError::Policy(PolicyRefusal::QuotaExhausted))
    );
    // Another client, and the next epoch, have their own quota.
    assert_eq!(
        fetch(&mut issuer, &mut wallet, EPOCH, [8; 32], 5, 4).unwrap(),
        5
    );
    assert_eq!(
        fetch(&mut issuer, &mut wallet, EPOCH + 1, CLIENT, 5, 5).unwrap(),
        5
    );
    assert_eq!(issuer.policy().used(EPOCH, &CLIENT), 5);
    assert_eq!(wallet.len(), 15);
}

#[test]
fn voucher_policy_grants_what_the_voucher_is_worth_once() {
    let mut vouchers = VoucherPolicy::new();
    let voucher = [0x42; 32];
    vouchers.add_voucher(&voucher, 3);
    let mut issuer = Issuer::new(vouchers, InMemorySpentSet::new());
    issuer.install_key(keys()[0].clone()).unwrap();
    let vk = verifying_key(EPOCH);
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    let mut r = rng(9);

    let mut ask = |wallet: &mut Wallet, issuer: &mut Issuer<_, _>, cred: Credential, n| {
        let (req, pending) = wallet.prepare_request(&vk, cred, n, &mut r).unwrap();
        let resp = issuer.issue(EPOCH, &req, &mut r)?;
        Ok::<usize, IssueError>(wallet.finalize(pending, &resp).unwrap())
    };
    assert_eq!(
        ask(&mut wallet, &mut issuer, Credential::Voucher(voucher), 2),
        Ok(2)
    );
    assert_eq!(
        ask(&mut wallet, &mut issuer, Credential::Voucher(voucher), 2),
        Ok(1)
    );
    assert_eq!(
        ask(&mut wallet, &mut issuer, Credential::Voucher(voucher), 1),
        Err(IssueError::Policy(PolicyRefusal::VoucherInvalid))
    );
    assert_eq!(
        ask(&mut wallet, &mut issuer, Credential::Voucher([0x43; 32]), 1),
        Err(IssueError::Policy(PolicyRefusal::VoucherInvalid))
    );
    assert_eq!(
        ask(&mut wallet, &mut issuer, Credential::ClientKey(CLIENT), 1),
        Err(IssueError::Policy(PolicyRefusal::CredentialNotAccepted))
    );
    assert_eq!(wallet.len(), 3);
    assert_eq!(issuer.policy().remaining(&voucher), 0);
}

#[test]
fn combined_policy_routes_by_credential() {
    let mut vouchers = VoucherPolicy::new();
    vouchers.add_voucher(&[1; 32], 10);
    let policy = FreeQuotaOrVoucher {
        free: FreeQuotaPolicy::new(1),
        vouchers,
    };
    let mut issuer = Issuer::new(policy, InMemorySpentSet::new());
    issuer.install_key(keys()[0].clone()).unwrap();
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    assert_eq!(
        fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, 4, 1).unwrap(),
        1
    );
    let mut r = rng(2);
    let (req, pending) = wallet
        .prepare_request(
            &verifying_key(EPOCH),
            Credential::Voucher([1; 32]),
            4,
            &mut r,
        )
        .unwrap();
    let resp = issuer.issue(EPOCH, &req, &mut r).unwrap();
    assert_eq!(wallet.finalize(pending, &resp).unwrap(), 4);
    assert_eq!(issuer.policy().vouchers.remaining(&[1; 32]), 6);
}

#[test]
fn malformed_requests_are_refused_before_the_policy_charges() {
    let mut issuer = issuer(5);
    let wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    let mut r = rng(3);
    let (req, _pending) = wallet
        .prepare_request(
            &verifying_key(EPOCH),
            Credential::ClientKey(CLIENT),
            2,
            &mut r,
        )
        .unwrap();

    let mut wrong_epoch = req.clone();
    wrong_epoch.epoch = EPOCH + 1;
    assert_eq!(
        issuer.issue(EPOCH, &wrong_epoch, &mut r),
        Err(IssueError::WrongEpoch {
            requested: EPOCH + 1,
            current: EPOCH
        })
    );
    let mut no_key = req.clone();
    no_key.epoch = EPOCH + 7;
    assert_eq!(
        issuer.issue(EPOCH + 7, &no_key, &mut r),
        Err(IssueError::UnknownEpoch(EPOCH + 7))
    );
    let mut wrong_key = req.clone();
    wrong_key.truncated_key_id ^= 0xff;
    assert_eq!(
        issuer.issue(EPOCH, &wrong_key, &mut r),
        Err(IssueError::KeyMismatch)
    );
    let mut too_big = req.clone();
    too_big.blinded[1] = [0xff; 256];
    assert_eq!(
        issuer.issue(EPOCH, &too_big, &mut r),
        Err(IssueError::MalformedBlindedMessage)
    );
    let mut other_type = req.clone();
    other_type.token_type = 0x0001;
    assert_eq!(
        issuer.issue(EPOCH, &other_type, &mut r),
        Err(IssueError::UnsupportedTokenType)
    );
    let mut empty = req.clone();
    empty.blinded.clear();
    assert_eq!(
        issuer.issue(EPOCH, &empty, &mut r),
        Err(IssueError::EmptyRequest)
    );
    let mut many = req.clone();
    many.blinded = vec![[0; 256]; 65];
    assert_eq!(
        issuer.issue(EPOCH, &many, &mut r),
        Err(IssueError::TooManyBlinded(65))
    );
    assert_eq!(issuer.policy().used(EPOCH, &CLIENT), 0);
    assert!(issuer.issue(EPOCH, &req, &mut r).is_ok());
    assert_eq!(issuer.policy().used(EPOCH, &CLIENT), 2);
}

#[test]
fn wallet_rejects_a_tampered_or_oversized_response_and_keeps_nothing() {
    let mut issuer = issuer(20);
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    let mut r = rng(4);
    let vk = verifying_key(EPOCH);
    let (req, pending) = wallet
        .prepare_request(&vk, Credential::ClientKey(CLIENT), 2, &mut r)
        .unwrap();
    let mut resp = issuer.issue(EPOCH, &req, &mut r).unwrap();
    resp.blind_signatures[1][100] ^= 1;
    assert_eq!(
        wallet.finalize(pending, &resp),
        Err(WalletError::BadBlindSignature)
    );
    assert!(wallet.is_empty());

    let (req, pending) = wallet
        .prepare_request(&vk, Credential::ClientKey(CLIENT), 1, &mut r)
        .unwrap();
    let mut resp = issuer.issue(EPOCH, &req, &mut r).unwrap();
    resp.blind_signatures.push(resp.blind_signatures[0]);
    assert_eq!(
        wallet.finalize(pending, &resp),
        Err(WalletError::CountMismatch {
            expected: 1,
            got: 2
        })
    );
    assert!(wallet.is_empty());
    assert_eq!(
        wallet
            .prepare_request(&vk, Credential::ClientKey(CLIENT), 0, &mut r)
            .unwrap_err(),
        WalletError::BadCount(0, 64)
    );
}

#[test]
fn wallet_spends_oldest_first_and_drops_expired() {
    let mut issuer = issuer(20);
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, 1, 5).unwrap();
    fetch(&mut issuer, &mut wallet, EPOCH + 1, CLIENT, 1, 6).unwrap();
    let first = wallet.pop(EPOCH + 1).unwrap();
    assert_eq!(first.token_key_id, keys()[0].key_id());
    wallet.restore(EPOCH, first);
    assert_eq!(wallet.len(), 2);
    // At the first token's expiry epoch only the newer one is left.
    let t = wallet.pop(EPOCH + TOKEN_VALIDITY_EPOCHS).unwrap();
    assert_eq!(t.token_key_id, keys()[1].key_id());
    assert!(wallet.pop(EPOCH + TOKEN_VALIDITY_EPOCHS).is_none());
}

#[test]
fn published_keys_are_checked_and_key_ids_are_spki_digests() {
    let k = keys()[0].published();
    assert_eq!(k.key_id, TokenKeyId::of_spki(&k.spki));
    let mut bad = k.clone();
    bad.key_id.0[0] ^= 1;
    assert_eq!(
        VerifyingKey::from_published(&bad).unwrap_err(),
        KeyError::KeyIdMismatch
    );
    let mut garbage = k.clone();
    garbage.spki.truncate(40);
    garbage.key_id = TokenKeyId::of_spki(&garbage.spki);
    assert_eq!(
        VerifyingKey::from_published(&garbage).unwrap_err(),
        KeyError::Encoding
    );
    // The secret key survives a DER round trip with the same key id.
    let der = keys()[0].to_pkcs8_der().unwrap();
    let back = IssuerKey::from_pkcs8_der(EPOCH, &der).unwrap();
    assert_eq!(back.key_id(), keys()[0].key_id());
}

#[test]
fn debug_output_holds_no_secret() {
    let key = &keys()[0];
    let der = key.to_pkcs8_der().unwrap();
    let shown = format!("{key:?}");
    assert!(shown.contains("IssuerKey"));
    // No 8-byte run of the secret key's encoding, in hex, shows up.
    let der_hex = hex::encode(&*der);
    assert!(
        !der_hex
            .as_bytes()
            .chunks(16)
            .any(|c| shown.contains(std::str::from_utf8(c).unwrap()))
    );
    assert!(shown.len() < 200);

    let voucher = Credential::Voucher([0xab; 32]);
    assert!(!format!("{voucher:?}").contains("abab"));

    let mut issuer = issuer(20);
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    let mut r = rng(7);
    let (req, pending) = wallet
        .prepare_request(
            &verifying_key(EPOCH),
            Credential::ClientKey(CLIENT),
            1,
            &mut r,
        )
        .unwrap();
    assert!(format!("{pending:?}").len() < 120);
    let resp = issuer.issue(EPOCH, &req, &mut r).unwrap();
    wallet.finalize(pending, &resp).unwrap();
    let token = wallet.pop(EPOCH).unwrap();
    let shown = format!("{token:?}");
    assert!(!shown.contains(&hex::encode(&token.nonce[..4])));
    assert!(!shown.contains(&hex::encode(&token.authenticator[..4])));
}

#[test]
fn issuer_prune_keeps_live_keys_and_spent_entries() {
    let mut issuer = issuer(20);
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, 1, 8).unwrap();
    let token = wallet.pop(EPOCH).unwrap();
    issuer.redeem(EPOCH, [1; 32], &token).unwrap();
    assert_eq!(issuer.prune(EPOCH + TOKEN_VALIDITY_EPOCHS - 1).unwrap(), 0);
    assert_eq!(
        issuer.redeem(EPOCH + 1, [1; 32], &token),
        Err(Refusal::AlreadySpent)
    );
    assert_eq!(issuer.prune(EPOCH + TOKEN_VALIDITY_EPOCHS).unwrap(), 1);
    assert_eq!(issuer.published_keys().len(), 1);
}
