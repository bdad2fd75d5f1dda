//! Nothing the issuer sees or stores at issuance appears in, or matches, a spent token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use wesh_payments::params::TOKEN_VALIDITY_EPOCHS;
use wesh_payments::*;

const WINDOW: usize = 16;

/// Does any 16-byte window of `needle` occur anywhere in `haystack`?
fn shares_window(needle: &[u8], haystack: &[u8]) -> bool {
    needle
        .windows(WINDOW)
        .any(|w| haystack.windows(WINDOW).any(|h| h == w))
}

#[test]
fn issuance_side_bytes_share_no_16_byte_window_with_spent_tokens() {
    let mut issuer = issuer(20);
    let mut issuance_side: Vec<Vec<u8>> = Vec::new();
    let mut wallets = Vec::new();
    for (i, client) in [[1u8; 32], [2u8; 32]].into_iter().enumerate() {
        let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
        let mut r = rng(100 + i as u64);
        let (req, pending) = wallet
            .prepare_request(
                &verifying_key(EPOCH),
                Credential::ClientKey(client),
                3,
                &mut r,
            )
            .unwrap();
        let req_bytes = encode_request(&req);
        let resp = issuer
            .issue(EPOCH, &decode_request(&req_bytes).unwrap(), &mut r)
            .unwrap();
        let resp_bytes = encode_response(&resp);
        issuance_side.push(req_bytes);
        issuance_side.push(resp_bytes);
        issuance_side.extend(req.blinded.iter().map(|b| b.to_vec()));
        issuance_side.extend(resp.blind_signatures.iter().map(|s| s.to_vec()));
        assert_eq!(wallet.finalize(pending, &resp).unwrap(), 3);
        wallets.push(wallet);
    }
    // What the issuer stores per request: its policy records.
    for (epoch, key, n) in issuer.policy().records() {
        let mut rec = epoch.to_be_bytes().to_vec();
        rec.extend_from_slice(key);
        rec.extend_from_slice(&n.to_be_bytes());
        issuance_side.push(rec);
    }

    // Spend everything at a provider and redeem: the spent side.
    let mut provider = Admission::new(directory(&issuer), InMemorySpentSet::new());
    let mut ledger = provider.open_ledger();
    let mut spent_side: Vec<Vec<u8>> = Vec::new();
    for wallet in &mut wallets {
        while let Some(token) = wallet.pop(EPOCH) {
            spent_side.push(encode_token(&token));
            spent_side.push(token.spent_id().0.to_vec());
            provider.spend(&mut ledger, token, EPOCH).unwrap();
        }
    }
    let report = issuer.redeem_batch(EPOCH, [9; 32], &provider.take_collected());
    assert_eq!(report.accepted, 6);
    assert_eq!(spent_side.len(), 12);

    // Control: the search does find a window when one is shared.
    assert!(shares_window(&spent_side[0], &spent_side[0]));
    assert!(shares_window(&issuance_side[2], &issuance_side[0]));

    for s in &spent_side {
        for i in &issuance_side {
            assert!(
                !shares_window(s, i),
                "spent bytes found on the issuance side"
            );
            assert!(
                !shares_window(i, s),
                "issuance bytes found on the spent side"
            );
        }
    }
}

#[test]
fn tokens_of_two_clients_differ_only_in_nonce_and_authenticator() {
    // Every field a token carries besides its random nonce and its signature is the same
    // for every client of an epoch, so the token itself carries no client identity.
    let mut issuer = issuer(20);
    let mut tokens = Vec::new();
    for (seed, client) in [(1u64, [1u8; 32]), (2, [2u8; 32])] {
        let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
        fetch(&mut issuer, &mut wallet, EPOCH, client, 1, seed).unwrap();
        tokens.push(wallet.pop(EPOCH).unwrap());
    }
    let (a, b) = (&tokens[0], &tokens[1]);
    assert_eq!(a.token_type, b.token_type);
    assert_eq!(a.challenge_digest, b.challenge_digest);
    assert_eq!(a.token_key_id, b.token_key_id);
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.authenticator, b.authenticator);
}
