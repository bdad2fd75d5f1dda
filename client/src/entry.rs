//! Log entry envelope: a header (log, group, Lamport clock, parents), a ChaCha20-Poly1305 box
//! under the group's entry key, and an Ed25519 signature by the key derived from the group
//! secret. The signature lets members and replication servers drop outsider entries before
//! trying to decrypt or store them.

use core::cmp::Ordering;

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::codec::{Reader, Writer};
use crate::crypto::{SecretKey32, aead_open, aead_seal, sha256, sign, verify};
use crate::error::{DecodeError, Result, WeshError};
use crate::params::{
    AEAD_NONCE_LEN, AEAD_TAG_LEN, MAX_ENTRY_CIPHERTEXT_LEN, MAX_PARENTS, WIRE_VERSION,
};

/// Wire tag of an entry envelope (after the version byte).
pub const ENTRY_TAG: u8 = 0x01;

/// SHA-256 of an entry's full encoding; parents are referenced by it.
pub type EntryHash = [u8; 32];

/// Which of a group's two logs an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogKind {
    Metadata = 0,
    Message = 1,
}

impl LogKind {
    fn from_tag(tag: u8) -> core::result::Result<Self, DecodeError> {
        match tag {
            0 => Ok(Self::Metadata),
            1 => Ok(Self::Message),
            _ => Err(DecodeError::UnknownTag {
                what: "log kind",
                tag,
            }),
        }
    }
}

/// The spec's `lamportClock`: a counter and the author's public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LamportClock {
    pub time: u64,
    pub id: [u8; 32],
}

/// The spec's `compareClock`: counter first, then the lexicographic order of the keys.
pub fn compare_clock(a: &LamportClock, b: &LamportClock) -> Ordering {
    a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id))
}

impl Ord for LamportClock {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_clock(self, other)
    }
}
impl PartialOrd for LamportClock {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keys a member holds to write entries.
pub struct EntryWriteKeys<'a> {
    pub group_id: [u8; 32],
    pub encryption_key: &'a SecretKey32,
    pub signing_key: &'a SigningKey,
}

/// What anyone (member or replication server) needs to check an entry: group + verify key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryVerifier {
    pub group_id: [u8; 32],
    pub verify_key: VerifyingKey,
}

/// A decoded entry whose signature has been verified. Fields are read-only so a verified
/// entry cannot be altered in memory after the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    log: LogKind,
    group_id: [u8; 32],
    clock: LamportClock,
    parents: Vec<EntryHash>,
    nonce: [u8; AEAD_NONCE_LEN],
    ciphertext: Vec<u8>,
    signature: [u8; 64],
    hash: EntryHash,
}

fn encode_header(
    w: &mut Writer,
    log: LogKind,
    group_id: &[u8; 32],
    clock: &LamportClock,
    parents: &[EntryHash],
) {
    w.u8(WIRE_VERSION)
        .u8(ENTRY_TAG)
        .u8(log as u8)
        .bytes(group_id)
        .bytes(&clock.id)
        .u64(clock.time);
    // MAX_PARENTS fits in u16; callers check it before encoding.
    w.u16(u16::try_from(parents.len()).unwrap_or(u16::MAX));
    for p in parents {
        w.bytes(p);
    }
}

impl Entry {
    /// Encrypts `plaintext` and signs the envelope. `parents` are sorted and deduplicated.
    pub fn seal<R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        keys: &EntryWriteKeys<'_>,
        log: LogKind,
        clock: LamportClock,
        mut parents: Vec<EntryHash>,
        plaintext: &[u8],
    ) -> Result<Self> {
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        parents.sort_unstable();
        parents.dedup();
        Self::seal_with_nonce(keys, log, clock, parents, &nonce, plaintext)
    }

    /// Deterministic sealing for test vectors. The nonce MUST never repeat under one group
    /// key; protocol code always goes through [`Entry::seal`], which draws it from the RNG.
    pub fn seal_with_nonce(
        keys: &EntryWriteKeys<'_>,
        log: LogKind,
        clock: LamportClock,
        parents: Vec<EntryHash>,
        nonce: &[u8; AEAD_NONCE_LEN],
        plaintext: &[u8],
    ) -> Result<Self> {
        if parents.windows(2).any(|w| w[0] >= w[1]) {
            return Err(WeshError::InvalidParameter(
                "parents must be strictly ascending",
            ));
        }
        if parents.len() > MAX_PARENTS {
            return Err(WeshError::InvalidParameter("too many parents"));
        }
        if plaintext.len() + AEAD_TAG_LEN > MAX_ENTRY_CIPHERTEXT_LEN {
            return Err(WeshError::TooLarge(plaintext.len()));
        }
        let mut header = Writer::new();
        encode_header(&mut header, log, &keys.group_id, &clock, &parents);
        let ciphertext = aead_seal(
            keys.encryption_key.expose(),
            nonce,
            header.as_slice(),
            plaintext,
        )?;
        let mut signed = header;
        signed.bytes(nonce).var_bytes(&ciphertext);
        let signature = sign(keys.signing_key, signed.as_slice());
        signed.bytes(&signature);
        let hash = sha256(&[signed.as_slice()]);
        Ok(Self {
            log,
            group_id: keys.group_id,
            clock,
            parents,
            nonce: *nonce,
            ciphertext,
            signature,
            hash,
        })
    }

    pub fn hash(&self) -> &EntryHash {
        &self.hash
    }
    pub fn log(&self) -> LogKind {
        self.log
    }
    pub fn group_id(&self) -> [u8; 32] {
        self.group_id
    }
    pub fn clock(&self) -> LamportClock {
        self.clock
    }
    pub fn parents(&self) -> &[EntryHash] {
        &self.parents
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(128 + 32 * self.parents.len() + self.ciphertext.len());
        encode_header(&mut w, self.log, &self.group_id, &self.clock, &self.parents);
        w.bytes(&self.nonce)
            .var_bytes(&self.ciphertext)
            .bytes(&self.signature);
        w.finish()
    }

    /// Parses and verifies an entry; anything unsigned by this group's key is refused here,
    /// before it can reach storage.
    pub fn decode_verified(bytes: &[u8], verifier: &EntryVerifier) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let tag = r.u8()?;
        if tag != ENTRY_TAG {
            return Err(DecodeError::UnknownTag { what: "entry", tag }.into());
        }
        let log = LogKind::from_tag(r.u8()?)?;
        let group_id: [u8; 32] = r.array()?;
        let id: [u8; 32] = r.array()?;
        let time = r.u64()?;
        let count = usize::from(r.u16()?);
        if count > MAX_PARENTS {
            return Err(DecodeError::LengthOutOfRange {
                what: "parents",
                len: count,
            }
            .into());
        }
        let mut parents: Vec<EntryHash> = Vec::with_capacity(count);
        for _ in 0..count {
            let p: EntryHash = r.array()?;
            // Strictly ascending parents: one canonical encoding per entry.
            if parents.last().is_some_and(|last| *last >= p) {
                return Err(DecodeError::NonCanonical("parents not strictly ascending").into());
            }
            parents.push(p);
        }
        let nonce: [u8; AEAD_NONCE_LEN] = r.array()?;
        let ciphertext = r
            .var_bytes("entry ciphertext", AEAD_TAG_LEN, MAX_ENTRY_CIPHERTEXT_LEN)?
            .to_vec();
        let signed_len = r.position();
        let signature: [u8; 64] = r.array()?;
        r.finish()?;
        if group_id != verifier.group_id {
            return Err(WeshError::WrongGroup);
        }
        let signed = bytes.get(..signed_len).ok_or(DecodeError::Truncated {
            have: bytes.len(),
            need: 0,
        })?;
        verify(&verifier.verify_key, signed, &signature, "entry")?;
        Ok(Self {
            log,
            group_id,
            clock: LamportClock { time, id },
            parents,
            nonce,
            ciphertext,
            signature,
            hash: sha256(&[bytes]),
        })
    }

    /// Decrypts the body with the group's entry key (members only).
    pub fn open(&self, encryption_key: &SecretKey32) -> Result<Vec<u8>> {
        let mut header = Writer::new();
        encode_header(
            &mut header,
            self.log,
            &self.group_id,
            &self.clock,
            &self.parents,
        );
        aead_open(
            encryption_key.expose(),
            &self.nonce,
            header.as_slice(),
            &self.ciphertext,
            "entry",
        )
    }
}
