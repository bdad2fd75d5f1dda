//! Helpers shared by the fuzz targets: the properties they assert and the fixed keys and
//! values they decode against. A property that fails panics, which libFuzzer reports as a
//! crash with the input that caused it.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// A deterministic RNG: a target must do the same thing every time it sees an input.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A decoder that refuses trailing bytes and non-canonical forms gives each value exactly
/// one encoding: whatever it accepts must encode back to the very same bytes.
pub fn assert_canonical<T, E>(
    input: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T) -> Vec<u8>,
) -> Option<T> {
    let value = decode(input).ok()?;
    let again = encode(&value);
    assert_eq!(
        again.as_slice(),
        input,
        "decode then encode changed the bytes"
    );
    Some(value)
}

/// For decoders that accept more than one form of a value (an older version, say): what
/// they accept re-encodes to bytes that decode again to the same encoding.
pub fn assert_stable<T, E: std::fmt::Debug>(
    input: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T) -> Vec<u8>,
) -> Option<T> {
    let value = decode(input).ok()?;
    let once = encode(&value);
    let decoded = match decode(&once) {
        Ok(v) => v,
        Err(e) => panic!("the encoding of a decoded value does not decode: {e:?}"),
    };
    assert_eq!(
        encode(&decoded),
        once,
        "encode is not stable across a round trip"
    );
    Some(value)
}

/// Splits the first byte off as a selector (which decoder, which step) for targets that
/// drive several related decoders of one input format.
pub fn split_selector(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(s, rest)| (*s, rest))
}

/// Fixed values that several targets and the seed generator decode against.
pub mod fixtures {
    use ed25519_dalek::SigningKey;
    use std::sync::OnceLock;
    use wesh_client::crypto::generate_signing_key;
    use wesh_client::session::GroupSession;

    /// A real multi-member group: its replication view (encoded) and its first metadata
    /// entries, so entry decoders are fuzzed against a verifier that real entries pass.
    /// The replication provider the fixtures' registrations are made for.
    pub const PROVIDER: [u8; 32] = [9; 32];

    pub struct Group {
        pub view: Vec<u8>,
        /// A member's registration of the group at [`PROVIDER`].
        pub registration: Vec<u8>,
        pub entries: Vec<Vec<u8>>,
        pub invitation: Vec<u8>,
    }

    pub fn group() -> &'static Group {
        static GROUP: OnceLock<Group> = OnceLock::new();
        GROUP.get_or_init(|| {
            let mut rng = super::rng(11);
            let account = generate_signing_key(&mut rng);
            match GroupSession::create_multi_member(&mut rng, &account) {
                Ok((session, entries)) => Group {
                    view: session.replication_view().encode(),
                    registration: wesh_client::replication::ReplicaRegistration::sign(
                        session.secrets(),
                        PROVIDER,
                    )
                    .encode(),
                    entries,
                    invitation: session.invitation(),
                },
                Err(_) => Group {
                    view: Vec::new(),
                    registration: Vec::new(),
                    entries: Vec::new(),
                    invitation: Vec::new(),
                },
            }
        })
    }

    /// The two sides of a contact request.
    pub struct Parties {
        pub requester: SigningKey,
        pub requester_alias: SigningKey,
        pub responder: SigningKey,
        pub responder_alias: SigningKey,
    }

    pub fn parties() -> &'static Parties {
        static PARTIES: OnceLock<Parties> = OnceLock::new();
        PARTIES.get_or_init(|| {
            let mut rng = super::rng(12);
            Parties {
                requester: generate_signing_key(&mut rng),
                requester_alias: generate_signing_key(&mut rng),
                responder: generate_signing_key(&mut rng),
                responder_alias: generate_signing_key(&mut rng),
            }
        })
    }
}
