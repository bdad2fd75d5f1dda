//! Contact request handshake (after Scuttlebutt's capability handshake), as five messages:
//! Requester Hello, Responder Hello, Requester Authenticate, Responder Accept, Requester
//! Acknowledge. Each side is a chain of states consumed by value, so a step cannot be replayed
//! or skipped. Secrets: a = DH(eR, eS), b = DH(eR, S), c = DH(R, eS), where R/S are the
//! requester/responder account keys (X25519 form) and eR/eS the ephemeral keys.

// Ordered sets, not hash sets: device state must not follow a per-process random order
// (devices are rebuilt by replaying their inputs, see `messenger::journal`).
use std::collections::{BTreeSet, VecDeque};

use ed25519_dalek::{SigningKey, VerifyingKey};
use x25519_dalek::{PublicKey as XPublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::crypto::{
    SecretKey32, aead_open, aead_seal, agree, derive_key32, sha256, sign, verify, verifying_key,
    x25519_public, x25519_secret,
};
use crate::error::{DecodeError, Result, WeshError};
use crate::params::{AEAD_NONCE_LEN, AEAD_TAG_LEN, HANDSHAKE_REPLAY_CACHE, WIRE_VERSION};

pub const TAG_REQUESTER_HELLO: u8 = 0x10;
pub const TAG_RESPONDER_HELLO: u8 = 0x11;
pub const TAG_REQUESTER_AUTHENTICATE: u8 = 0x12;
pub const TAG_RESPONDER_ACCEPT: u8 = 0x13;
pub const TAG_REQUESTER_ACKNOWLEDGE: u8 = 0x14;

const TRANSCRIPT_DOMAIN: &[u8] = b"wesh/v1/handshake";
const INFO_AUTHENTICATE: &[u8] = b"wesh/v1/hs/authenticate";
const INFO_ACCEPT: &[u8] = b"wesh/v1/hs/accept";
const INFO_ACKNOWLEDGE: &[u8] = b"wesh/v1/hs/acknowledge";
const REQUESTER_PROOF: &[u8] = b"wesh/v1/hs/requester-proof";
const RESPONDER_PROOF: &[u8] = b"wesh/v1/hs/responder-proof";

/// Each handshake key seals exactly one message, so a zero nonce never repeats under a key.
const HS_NONCE: [u8; AEAD_NONCE_LEN] = [0u8; AEAD_NONCE_LEN];

/// Authenticate box: requester account ID ‖ alias public key ‖ signature.
const AUTH_PLAIN_LEN: usize = 32 + 32 + 64;
/// Accept box: responder alias public key ‖ signature.
const ACCEPT_PLAIN_LEN: usize = 32 + 64;

/// Outcome of a completed handshake: who the contact is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstablishedContact {
    pub account_id: VerifyingKey,
    pub alias_public: VerifyingKey,
}

fn encode_msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut w = Writer::with_capacity(2 + body.len());
    w.u8(WIRE_VERSION).u8(tag).bytes(body);
    w.finish()
}

fn decode_msg<const N: usize>(bytes: &[u8], expected: u8) -> Result<[u8; N]> {
    let mut r = Reader::new(bytes);
    r.version()?;
    let tag = r.u8()?;
    if tag != expected {
        return Err(DecodeError::UnknownTag {
            what: "handshake message",
            tag,
        }
        .into());
    }
    let body: [u8; N] = r.array()?;
    r.finish()?;
    Ok(body)
}

fn transcript(
    responder: &VerifyingKey,
    requester_eph: &XPublicKey,
    responder_eph: &XPublicKey,
) -> [u8; 32] {
    sha256(&[
        TRANSCRIPT_DOMAIN,
        responder.as_bytes(),
        requester_eph.as_bytes(),
        responder_eph.as_bytes(),
    ])
}

fn key(secrets: &[&SecretKey32], transcript: &[u8; 32], info: &[u8]) -> Result<SecretKey32> {
    let ikm = Zeroizing::new(
        secrets
            .iter()
            .flat_map(|s| s.expose().iter().copied())
            .collect::<Vec<u8>>(),
    );
    derive_key32(&ikm, transcript, info)
}

fn requester_proof_input(t: &[u8; 32], b: &SecretKey32) -> Vec<u8> {
    [REQUESTER_PROOF, t, &sha256(&[b.expose()])].concat()
}

fn responder_proof_input(t: &[u8; 32], requester: &VerifyingKey, c: &SecretKey32) -> Vec<u8> {
    [
        RESPONDER_PROOF,
        t,
        requester.as_bytes(),
        &sha256(&[c.expose()]),
    ]
    .concat()
}

// ---------------------------------------------------------------- requester

/// Requester after sending Hello, waiting for the Responder Hello.
pub struct RequesterAwaitingHello {
    account: SigningKey,
    alias_public: VerifyingKey,
    responder: VerifyingKey,
    ephemeral: StaticSecret,
}

/// Requester after Authenticate, waiting for Accept.
pub struct RequesterAwaitingAccept {
    account: SigningKey,
    responder: VerifyingKey,
    transcript: [u8; 32],
    a: SecretKey32,
    b: SecretKey32,
    responder_eph: XPublicKey,
}

/// Starts a contact request to `responder` (its account ID, obtained in a trusted way).
pub fn start_request<R: rand::CryptoRng + ?Sized>(
    rng: &mut R,
    account: &SigningKey,
    alias_public: VerifyingKey,
    responder: VerifyingKey,
) -> (RequesterAwaitingHello, Vec<u8>) {
    let ephemeral = StaticSecret::random_from_rng(rng);
    let hello = encode_msg(TAG_REQUESTER_HELLO, XPublicKey::from(&ephemeral).as_bytes());
    (
        RequesterAwaitingHello {
            account: account.clone(),
            alias_public,
            responder,
            ephemeral,
        },
        hello,
    )
}

impl RequesterAwaitingHello {
    pub fn on_responder_hello(self, bytes: &[u8]) -> Result<(RequesterAwaitingAccept, Vec<u8>)> {
        let responder_eph = XPublicKey::from(decode_msg::<32>(bytes, TAG_RESPONDER_HELLO)?);
        let a = agree(&self.ephemeral, &responder_eph)?;
        let b = agree(&self.ephemeral, &x25519_public(&self.responder))?;
        let t = transcript(
            &self.responder,
            &XPublicKey::from(&self.ephemeral),
            &responder_eph,
        );
        let k = key(&[&a, &b], &t, INFO_AUTHENTICATE)?;
        let sig = sign(&self.account, &requester_proof_input(&t, &b));
        let plain = Zeroizing::new(
            [
                self.account.verifying_key().as_bytes().as_slice(),
                self.alias_public.as_bytes(),
                &sig,
            ]
            .concat(),
        );
        let sealed = aead_seal(k.expose(), &HS_NONCE, &t, &plain)?;
        let next = RequesterAwaitingAccept {
            account: self.account,
            responder: self.responder,
            transcript: t,
            a,
            b,
            responder_eph,
        };
        Ok((next, encode_msg(TAG_REQUESTER_AUTHENTICATE, &sealed)))
    }
}

impl RequesterAwaitingAccept {
    /// Checks the Responder Accept; returns the new contact and the Acknowledge to send.
    pub fn on_accept(self, bytes: &[u8]) -> Result<(EstablishedContact, Vec<u8>)> {
        let sealed =
            decode_msg::<{ ACCEPT_PLAIN_LEN + AEAD_TAG_LEN }>(bytes, TAG_RESPONDER_ACCEPT)?;
        let c = agree(&x25519_secret(&self.account), &self.responder_eph)?;
        let t = self.transcript;
        let k = key(&[&self.a, &self.b, &c], &t, INFO_ACCEPT)?;
        let plain = Zeroizing::new(aead_open(
            k.expose(),
            &HS_NONCE,
            &t,
            &sealed,
            "responder accept",
        )?);
        let mut r = Reader::new(&plain);
        let alias_public = verifying_key(&r.array()?, "alias public key")?;
        let sig: [u8; 64] = r.array()?;
        r.finish()?;
        verify(
            &self.responder,
            &responder_proof_input(&t, &self.account.verifying_key(), &c),
            &sig,
            "responder accept",
        )?;
        let k_ack = key(&[&self.a, &self.b, &c], &t, INFO_ACKNOWLEDGE)?;
        let ack = aead_seal(k_ack.expose(), &HS_NONCE, &t, &[])?;
        Ok((
            EstablishedContact {
                account_id: self.responder,
                alias_public,
            },
            encode_msg(TAG_REQUESTER_ACKNOWLEDGE, &ack),
        ))
    }
}

// ---------------------------------------------------------------- responder

/// Responder-wide state: blocked requesters and recently seen hellos (replay refusal).
#[derive(Debug, Default)]
pub struct ContactRequestGate {
    blocked: BTreeSet<[u8; 32]>,
    seen: BTreeSet<[u8; 32]>,
    seen_order: VecDeque<[u8; 32]>,
}

/// Responder after its Hello, waiting for Authenticate.
pub struct ResponderAwaitingAuthenticate {
    account: SigningKey,
    alias_public: VerifyingKey,
    ephemeral: StaticSecret,
    requester_eph: XPublicKey,
    transcript: [u8; 32],
}

/// Responder after Accept, waiting for Acknowledge.
pub struct ResponderAwaitingAcknowledge {
    contact: EstablishedContact,
    transcript: [u8; 32],
    ack_key: SecretKey32,
}

impl ContactRequestGate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses future (and in-flight) requests from this account.
    pub fn block(&mut self, account_id: &VerifyingKey) {
        self.blocked.insert(account_id.to_bytes());
    }
    pub fn unblock(&mut self, account_id: &VerifyingKey) {
        self.blocked.remove(account_id.as_bytes());
    }
    pub fn is_blocked(&self, account_id: &VerifyingKey) -> bool {
        self.blocked.contains(account_id.as_bytes())
    }

    /// Answers a Requester Hello with a fresh ephemeral key.
    pub fn on_hello<R: rand::CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        account: &SigningKey,
        alias_public: VerifyingKey,
        bytes: &[u8],
    ) -> Result<(ResponderAwaitingAuthenticate, Vec<u8>)> {
        let eph_bytes = decode_msg::<32>(bytes, TAG_REQUESTER_HELLO)?;
        if self.seen.contains(&eph_bytes) {
            return Err(WeshError::Replay);
        }
        let requester_eph = XPublicKey::from(eph_bytes);
        let ephemeral = StaticSecret::random_from_rng(rng);
        // Refuse low-order keys now rather than after spending a round trip.
        agree(&ephemeral, &requester_eph)?;
        if self.seen_order.len() >= HANDSHAKE_REPLAY_CACHE
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(eph_bytes);
        self.seen_order.push_back(eph_bytes);
        let responder_eph = XPublicKey::from(&ephemeral);
        let t = transcript(&account.verifying_key(), &requester_eph, &responder_eph);
        let reply = encode_msg(TAG_RESPONDER_HELLO, responder_eph.as_bytes());
        Ok((
            ResponderAwaitingAuthenticate {
                account: account.clone(),
                alias_public,
                ephemeral,
                requester_eph,
                transcript: t,
            },
            reply,
        ))
    }
}

impl ResponderAwaitingAuthenticate {
    /// Checks the requester's identity proof; returns the Accept to send.
    pub fn on_authenticate(
        self,
        gate: &ContactRequestGate,
        bytes: &[u8],
    ) -> Result<(ResponderAwaitingAcknowledge, Vec<u8>)> {
        let sealed =
            decode_msg::<{ AUTH_PLAIN_LEN + AEAD_TAG_LEN }>(bytes, TAG_REQUESTER_AUTHENTICATE)?;
        let t = self.transcript;
        let a = agree(&self.ephemeral, &self.requester_eph)?;
        let b = agree(&x25519_secret(&self.account), &self.requester_eph)?;
        let k = key(&[&a, &b], &t, INFO_AUTHENTICATE)?;
        let plain = Zeroizing::new(aead_open(
            k.expose(),
            &HS_NONCE,
            &t,
            &sealed,
            "requester authenticate",
        )?);
        let mut r = Reader::new(&plain);
        let requester = verifying_key(&r.array()?, "requester account ID")?;
        let alias_public = verifying_key(&r.array()?, "alias public key")?;
        let sig: [u8; 64] = r.array()?;
        r.finish()?;
        verify(
            &requester,
            &requester_proof_input(&t, &b),
            &sig,
            "requester authenticate",
        )?;
        if gate.is_blocked(&requester) {
            return Err(WeshError::Blocked);
        }
        let c = agree(&self.ephemeral, &x25519_public(&requester))?;
        let k_accept = key(&[&a, &b, &c], &t, INFO_ACCEPT)?;
        let proof = sign(&self.account, &responder_proof_input(&t, &requester, &c));
        let accept_plain =
            Zeroizing::new([self.alias_public.as_bytes().as_slice(), &proof].concat());
        let sealed = aead_seal(k_accept.expose(), &HS_NONCE, &t, &accept_plain)?;
        let ack_key = key(&[&a, &b, &c], &t, INFO_ACKNOWLEDGE)?;
        let next = ResponderAwaitingAcknowledge {
            contact: EstablishedContact {
                account_id: requester,
                alias_public,
            },
            transcript: t,
            ack_key,
        };
        Ok((next, encode_msg(TAG_RESPONDER_ACCEPT, &sealed)))
    }

    /// Requester's account is only known after Authenticate; this is its ephemeral key.
    pub fn requester_ephemeral(&self) -> [u8; 32] {
        self.requester_eph.to_bytes()
    }
}

impl ResponderAwaitingAcknowledge {
    /// Who is asking (to let the user decide, or block, before the acknowledge arrives).
    pub fn requester(&self) -> &EstablishedContact {
        &self.contact
    }

    pub fn on_acknowledge(self, bytes: &[u8]) -> Result<EstablishedContact> {
        let sealed = decode_msg::<AEAD_TAG_LEN>(bytes, TAG_REQUESTER_ACKNOWLEDGE)?;
        aead_open(
            self.ack_key.expose(),
            &HS_NONCE,
            &self.transcript,
            &sealed,
            "requester acknowledge",
        )?;
        Ok(self.contact)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::generate_signing_key;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// An Authenticate whose signature is by another key than the account it names.
    #[test]
    fn authenticate_with_wrong_signature_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(30);
        let (req, resp, alias, liar) = (
            generate_signing_key(&mut rng),
            generate_signing_key(&mut rng),
            generate_signing_key(&mut rng),
            generate_signing_key(&mut rng),
        );
        let mut gate = ContactRequestGate::new();
        let (r1, hello) =
            start_request(&mut rng, &req, alias.verifying_key(), resp.verifying_key());
        let (s1, reply) = gate
            .on_hello(&mut rng, &resp, alias.verifying_key(), &hello)
            .unwrap();
        // Build the box by hand: correct keys, names `req`, but signed by `liar`.
        let responder_eph =
            XPublicKey::from(decode_msg::<32>(&reply, TAG_RESPONDER_HELLO).unwrap());
        let a = agree(&r1.ephemeral, &responder_eph).unwrap();
        let b = agree(&r1.ephemeral, &x25519_public(&resp.verifying_key())).unwrap();
        let t = transcript(
            &resp.verifying_key(),
            &XPublicKey::from(&r1.ephemeral),
            &responder_eph,
        );
        let k = key(&[&a, &b], &t, INFO_AUTHENTICATE).unwrap();
        let sig = sign(&liar, &requester_proof_input(&t, &b));
        let plain = [
            req.verifying_key().as_bytes().as_slice(),
            alias.verifying_key().as_bytes(),
            &sig,
        ]
        .concat();
        let forged = encode_msg(
            TAG_REQUESTER_AUTHENTICATE,
            &aead_seal(k.expose(), &HS_NONCE, &t, &plain).unwrap(),
        );
        assert!(matches!(
            s1.on_authenticate(&gate, &forged),
            Err(WeshError::BadSignature(_))
        ));
    }
}
