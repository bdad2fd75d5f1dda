//! Issuer token keys in descriptors (spec/pki.md §2): round trip, size limits, key id
//! check, issuers only, epochs inside the descriptor's window.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use wesh_pki::params::{MAX_DESCRIPTOR_BYTES, MAX_TOKEN_KEY_SPKI_BYTES};
use wesh_pki::{
    CodecError, Descriptor, DescriptorBuilder, EpochTokenKey, Inserted, NodeId, Rejection, Role,
};

/// Stand-in SPKI of an RSA-2048 PSS key: the PKI core checks length and key id only
/// (the payments code parses the DER). 342 bytes is the real size.
fn spki(tag: u8) -> Vec<u8> {
    let mut v = vec![0x30, 0x82, 0x01, 0x52];
    v.extend((0..338).map(|i| tag.wrapping_add(i as u8)));
    v
}

fn issuer_builder(sequence: u64, epoch: u64) -> DescriptorBuilder {
    DescriptorBuilder::new(Role::Issuer, sequence, epoch)
        .address("/ip4/10.9.9.9/tcp/4200")
        .token_key(EpochTokenKey::new(epoch + 1, spki(2)))
        .token_key(EpochTokenKey::new(epoch, spki(1)))
}

fn issuer(sequence: u64, epoch: u64) -> Descriptor {
    issuer_builder(sequence, epoch).sign(&identity(77)).unwrap()
}

fn issuer_id() -> NodeId {
    NodeId(identity(77).verifying_key().to_bytes())
}

/// Offset of the token-key count byte in an issuer descriptor built by `issuer_builder`.
fn token_count_offset(d: &Descriptor) -> usize {
    // header, zero Sphinx keys, one address
    64 + 1 + 1 + 1 + d.content().addresses[0].len()
}

#[test]
fn issuer_descriptor_with_token_keys_round_trips() {
    let built = issuer(1, 10);
    let decoded = Descriptor::decode_verified(built.as_bytes()).unwrap();
    assert_eq!(decoded, built);
    let keys = &decoded.content().token_keys;
    assert_eq!(keys.len(), 2);
    assert_eq!((keys[0].epoch, keys[1].epoch), (10, 11), "sorted by epoch");
    assert_eq!(keys[0].spki, spki(1));
    assert_eq!(
        keys[0].key_id,
        <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(spki(1)))
    );
    assert_eq!(decoded.content().token_key_for(11), Some(&keys[1]));
    // spec/pki.md §2: 131 (no Sphinx keys) + (1 + len) per address + (42 + len) per key
    let address_len = built.content().addresses[0].len();
    assert_eq!(
        built.as_bytes().len(),
        131 + 1 + address_len + 2 * (42 + 342)
    );
    assert_eq!(built.as_bytes()[0], 2, "encoding version 2");
    assert_eq!(built.as_bytes()[token_count_offset(&built)], 2);

    // the directory serves them, for trusted issuers only
    let mut d = directory().with_trusted_issuers([issuer_id()]);
    assert_eq!(d.insert(built.as_bytes(), mid(10)), Ok(Inserted::New));
    assert_eq!(d.token_keys(&issuer_id(), 10), keys.as_slice());
    let trusted = d.trusted_token_keys(10);
    assert_eq!(trusted.len(), 2);
    assert!(trusted.iter().all(|(id, _)| *id == issuer_id()));
    assert!(
        d.token_keys(&issuer_id(), 12).is_empty(),
        "expired after 11"
    );
    assert!(d.topology(10).providers.is_empty(), "an issuer is no hop");
}

#[test]
fn largest_issuer_descriptor_fits_the_limit() {
    let mut builder = DescriptorBuilder::new(Role::Issuer, u64::MAX, 10);
    for i in 0..4 {
        builder = builder.address(format!("/dns/{i}{}", "a".repeat(194)));
    }
    let max_spki = |tag: u8| vec![tag; MAX_TOKEN_KEY_SPKI_BYTES];
    let d = builder
        .token_key(EpochTokenKey::new(10, max_spki(1)))
        .token_key(EpochTokenKey::new(11, max_spki(2)))
        .sign(&identity(77))
        .unwrap();
    assert_eq!(d.as_bytes().len(), 211 + 4 * 201 + 2 * (42 + 400) - 80);
    assert!(d.as_bytes().len() <= MAX_DESCRIPTOR_BYTES);
    assert!(Descriptor::decode_verified(d.as_bytes()).is_ok());
}

#[test]
fn a_key_whose_id_does_not_match_its_spki_is_refused() {
    let good = issuer(1, 10);
    let mut bytes = good.as_bytes().to_vec();
    // first entry: epoch (8) then key id (32)
    let id_at = token_count_offset(&good) + 1 + 8;
    bytes[id_at] ^= 0x01;
    assert_eq!(
        Descriptor::decode(&bytes),
        Err(CodecError::TokenKeyIdMismatch { epoch: 10 })
    );
    // a changed SPKI byte is caught the same way (before any signature check)
    let mut bytes = good.as_bytes().to_vec();
    bytes[id_at + 32 + 2 + 100] ^= 0x01;
    let rejection = directory().insert(&bytes, mid(10)).unwrap_err();
    assert_eq!(
        rejection,
        Rejection::Malformed(CodecError::TokenKeyIdMismatch { epoch: 10 })
    );
    assert_eq!(rejection.reason(), "malformed");
    // and the builder cannot sign one
    let forged = EpochTokenKey {
        epoch: 10,
        key_id: [7; 32],
        spki: spki(1),
    };
    let err = DescriptorBuilder::new(Role::Issuer, 1, 10)
        .token_key(forged)
        .sign(&identity(77))
        .unwrap_err();
    assert_eq!(err, CodecError::TokenKeyIdMismatch { epoch: 10 });
    assert!(err.to_string().contains("not the SHA-256 of its SPKI"));
}

#[test]
fn a_non_issuer_descriptor_carrying_token_keys_is_refused() {
    // the builder refuses to sign it
    let err = routing_builder(1, Role::Provider, 1, 10)
        .token_key(EpochTokenKey::new(10, spki(1)))
        .sign(&identity(1))
        .unwrap_err();
    assert_eq!(err, CodecError::TokenKeysOnNonIssuer);
    // hand-made bytes: a provider descriptor with the issuer's token-key section spliced in
    let provider = provider(1, 1, 10);
    let issuer = issuer(1, 10);
    let mut bytes = provider.signed_body().to_vec();
    bytes.pop(); // the provider's empty token-key count
    bytes.extend_from_slice(&issuer.signed_body()[token_count_offset(&issuer)..]);
    bytes.extend_from_slice(&[0; 64]);
    assert_eq!(
        Descriptor::decode(&bytes),
        Err(CodecError::TokenKeysOnNonIssuer)
    );
    let rejection = directory().insert(&bytes, mid(10)).unwrap_err();
    assert_eq!(
        rejection,
        Rejection::Malformed(CodecError::TokenKeysOnNonIssuer)
    );
    assert!(rejection.to_string().contains("role is not issuer"));
}

#[test]
fn malformed_or_oversized_token_key_fields_are_refused() {
    let good = issuer(1, 10);
    let at = token_count_offset(&good);
    let body = good.as_bytes().to_vec();

    // too many keys announced
    let mut bytes = body.clone();
    bytes[at] = 3;
    assert_eq!(
        Descriptor::decode(&bytes),
        Err(CodecError::TooManyTokenKeys(3))
    );
    bytes[at] = 0xff;
    assert_eq!(
        Descriptor::decode(&bytes),
        Err(CodecError::TooManyTokenKeys(255))
    );

    // SPKI length over the limit, zero, and past the end of the input
    let len_at = at + 1 + 8 + 32;
    for (len, expected) in [
        (401u16, CodecError::TokenKeyLength(401)),
        (0xffff, CodecError::TokenKeyLength(0xffff)),
        (0, CodecError::TokenKeyLength(0)),
    ] {
        let mut bytes = body.clone();
        bytes[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
        let err = Descriptor::decode(&bytes).unwrap_err();
        assert_eq!(err, expected);
        assert!(err.to_string().contains("outside 1..=400"), "{err}");
    }
    let mut bytes = body.clone();
    bytes.truncate(len_at + 2 + 10);
    assert_eq!(Descriptor::decode(&bytes), Err(CodecError::Truncated));
    let mut bytes = body.clone();
    bytes.truncate(at);
    assert_eq!(Descriptor::decode(&bytes), Err(CodecError::Truncated));

    // epochs out of order (swap the two entries' epochs)
    let entry = 8 + 32 + 2 + 342;
    let mut bytes = body.clone();
    let second = at + 1 + entry;
    bytes[at + 1..at + 9].copy_from_slice(&11u64.to_be_bytes());
    bytes[second..second + 8].copy_from_slice(&10u64.to_be_bytes());
    assert_eq!(
        Descriptor::decode(&bytes),
        Err(CodecError::TokenKeysNotAscending)
    );

    // the builder refuses what decode refuses
    let err = DescriptorBuilder::new(Role::Issuer, 1, 10)
        .token_key(EpochTokenKey::new(
            10,
            vec![1; MAX_TOKEN_KEY_SPKI_BYTES + 1],
        ))
        .sign(&identity(77))
        .unwrap_err();
    assert_eq!(
        err,
        CodecError::TokenKeyLength(MAX_TOKEN_KEY_SPKI_BYTES + 1)
    );
    let three = DescriptorBuilder::new(Role::Issuer, 1, 10)
        .token_key(EpochTokenKey::new(10, spki(1)))
        .token_key(EpochTokenKey::new(11, spki(2)))
        .token_key(EpochTokenKey::new(12, spki(3)))
        .sign(&identity(77))
        .unwrap_err();
    assert_eq!(three, CodecError::TooManyTokenKeys(3));

    // input over the descriptor limit is refused before parsing
    let mut huge = body.clone();
    huge.resize(MAX_DESCRIPTOR_BYTES + 1, 0);
    assert!(matches!(
        Descriptor::decode(&huge),
        Err(CodecError::Oversized { .. })
    ));
}

#[test]
fn token_keys_outside_the_descriptor_window_are_refused() {
    let stale_key = DescriptorBuilder::new(Role::Issuer, 1, 10)
        .token_key(EpochTokenKey::new(9, spki(1)))
        .sign(&identity(77))
        .unwrap();
    assert_eq!(
        directory().insert(stale_key.as_bytes(), mid(10)),
        Err(Rejection::TokenKeyOutsideWindow)
    );
    assert_eq!(
        Rejection::TokenKeyOutsideWindow.reason(),
        "token_key_outside_window"
    );
}

#[test]
fn version_one_descriptors_are_refused() {
    let mut bytes = mix(1, 1, 10).as_bytes().to_vec();
    bytes[0] = 1;
    assert_eq!(
        Descriptor::decode(&bytes),
        Err(CodecError::UnknownEncodingVersion(1))
    );
}

#[test]
fn an_issuer_agent_publishes_its_token_keys_and_republishes_on_change() {
    use wesh_pki::{OwnNode, PkiAction, PkiAgent};
    let own = OwnNode {
        signing_key: identity(77),
        role: Role::Mix, // forced to Issuer
        addresses: vec!["/ip4/10.9.9.9/tcp/4200".into()],
        capacity_pps: 0,
    };
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(1);
    let mut agent = PkiAgent::issuer(params(), own, 100, mid(10)).unwrap();
    let keys = vec![
        EpochTokenKey::new(11, spki(2)),
        EpochTokenKey::new(9, spki(9)), // outside the window: not published
        EpochTokenKey::new(10, spki(1)),
    ];
    agent.set_token_keys(keys.clone());
    let published = |actions: Vec<PkiAction>| -> Vec<Descriptor> {
        actions
            .into_iter()
            .filter_map(|a| match a {
                PkiAction::Publish(b) => Some(Descriptor::decode_verified(&b).unwrap()),
                PkiAction::InstallKeys(_) | PkiAction::PersistKeys => {
                    panic!("an issuer has no Sphinx keys")
                }
                _ => None,
            })
            .collect()
    };
    let first = published(agent.tick(mid(10), &mut rng));
    assert_eq!(first.len(), 1);
    let c = first[0].content();
    assert_eq!(c.role, Role::Issuer);
    assert!(c.sphinx_keys.is_empty());
    let epochs: Vec<u64> = c.token_keys.iter().map(|k| k.epoch).collect();
    assert_eq!(epochs, vec![10, 11]);
    assert_eq!(agent.directory().token_keys(&issuer_id(), 10).len(), 2);
    // same keys: nothing new within the epoch
    agent.set_token_keys(keys);
    assert!(published(agent.tick(mid(10) + 1, &mut rng)).is_empty());
    // a changed key set is republished under a higher sequence
    agent.set_token_keys(vec![EpochTokenKey::new(10, spki(1))]);
    let second = published(agent.tick(mid(10) + 2, &mut rng));
    assert_eq!(second.len(), 1);
    assert!(second[0].sequence() > first[0].sequence());
    assert_eq!(second[0].content().token_keys.len(), 1);
    // the next epoch publishes again
    assert_eq!(published(agent.tick(mid(11), &mut rng)).len(), 1);
}
