//! Equivocation proofs: two validly signed descriptors from one identity with the
//! same sequence number but different content. Anyone can verify one, so a node
//! that shows different peers different descriptors is excluded network-wide.

use crate::codec::Reader;
use crate::descriptor::{Descriptor, NodeId};
use crate::error::EquivocationError;
use crate::params::MAX_DESCRIPTOR_BYTES;

/// Format version of an encoded proof.
const PROOF_FORMAT_VERSION: u8 = 1;

/// Two conflicting descriptors, stored in canonical order (smaller bytes first) so
/// a proof has exactly one encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquivocationProof {
    first: Descriptor,
    second: Descriptor,
}

impl EquivocationProof {
    /// Builds a proof from two descriptors, checking that they do conflict.
    pub fn new(a: Descriptor, b: Descriptor) -> Result<Self, EquivocationError> {
        let (first, second) = if a.as_bytes() <= b.as_bytes() {
            (a, b)
        } else {
            (b, a)
        };
        let proof = Self { first, second };
        proof.verify()?;
        Ok(proof)
    }

    /// The equivocating node.
    pub fn identity(&self) -> NodeId {
        self.first.identity()
    }

    /// The two descriptors, canonical order.
    pub fn descriptors(&self) -> (&Descriptor, &Descriptor) {
        (&self.first, &self.second)
    }

    /// Checks both signatures, one identity, one sequence, different signed content.
    /// Content is compared on the signed body, not the whole bytes, so a second
    /// signature over the same body is never mistaken for equivocation.
    pub fn verify(&self) -> Result<NodeId, EquivocationError> {
        for descriptor in [&self.first, &self.second] {
            descriptor
                .verify()
                .map_err(|_| EquivocationError::BadSignature)?;
        }
        if self.first.identity() != self.second.identity() {
            return Err(EquivocationError::DifferentIdentities);
        }
        if self.first.sequence() != self.second.sequence() {
            return Err(EquivocationError::DifferentSequences);
        }
        if self.first.signed_body() == self.second.signed_body() {
            return Err(EquivocationError::SameContent);
        }
        Ok(self.identity())
    }

    /// `version u8 ‖ len_a u16 BE ‖ a ‖ len_b u16 BE ‖ b`, with `a < b` bytewise.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(5 + self.first.as_bytes().len() + self.second.as_bytes().len());
        out.push(PROOF_FORMAT_VERSION);
        for descriptor in [&self.first, &self.second] {
            let bytes = descriptor.as_bytes();
            // Descriptors are at most MAX_DESCRIPTOR_BYTES (< u16::MAX) long.
            out.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        out
    }

    /// The identity a proof claims to be about, read from its first descriptor without
    /// parsing or verifying anything (the directory decides from it whether the proof is
    /// worth two signature checks).
    pub fn claimed_identity(bytes: &[u8]) -> Result<NodeId, EquivocationError> {
        let truncated = EquivocationError::Encoding("truncated");
        let mut r = Reader::new(bytes);
        if r.u8().ok_or(truncated.clone())? != PROOF_FORMAT_VERSION {
            return Err(EquivocationError::Encoding("unknown version"));
        }
        let len = usize::from(r.u16().ok_or(truncated.clone())?);
        let first = r.take(len).ok_or(truncated.clone())?;
        // identity at bytes 4..36 of a descriptor (spec/pki.md §2)
        let id = first.get(4..36).ok_or(truncated.clone())?;
        <[u8; 32]>::try_from(id).map(NodeId).map_err(|_| truncated)
    }

    /// Decodes and verifies a gossiped proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EquivocationError> {
        let truncated = EquivocationError::Encoding("truncated");
        let mut r = Reader::new(bytes);
        if r.u8().ok_or(truncated.clone())? != PROOF_FORMAT_VERSION {
            return Err(EquivocationError::Encoding("unknown version"));
        }
        let mut parts = Vec::with_capacity(2);
        for _ in 0..2 {
            let len = usize::from(r.u16().ok_or(truncated.clone())?);
            if len > MAX_DESCRIPTOR_BYTES {
                return Err(EquivocationError::Encoding("descriptor too long"));
            }
            let raw = r.take(len).ok_or(truncated.clone())?;
            parts.push(Descriptor::decode(raw).map_err(EquivocationError::Descriptor)?);
        }
        if r.remaining() != 0 {
            return Err(EquivocationError::Encoding("trailing bytes"));
        }
        let (Some(second), Some(first)) = (parts.pop(), parts.pop()) else {
            return Err(truncated);
        };
        if first.as_bytes() >= second.as_bytes() {
            return Err(EquivocationError::Encoding(
                "descriptors not in canonical order",
            ));
        }
        let proof = Self { first, second };
        proof.verify()?;
        Ok(proof)
    }
}
