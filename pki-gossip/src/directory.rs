//! The directory: the set of valid descriptors a node knows, merged from gossip.
//!
//! One descriptor per identity (the highest sequence seen). Inputs are bytes and
//! `now`; outputs are typed results, so the node decides what to gossip, count or log.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::descriptor::{Descriptor, EpochTokenKey, NodeId, Role};
use crate::epoch::EpochClock;
use crate::equivocation::EquivocationProof;
use crate::error::{CodecError, ParamError, ProofRefusal, Rejection};
use crate::layers::{assign_layers, default_epoch_randomness};
use crate::params::{
    LAYERS, MAX_DESCRIPTOR_BYTES, MAX_EQUIVOCATION_PROOFS, MIN_DESCRIPTOR_BYTES, PkiParams,
    VIEW_DIGEST_DOMAIN,
};
use crate::topology::{RouteNode, Topology};
use crate::validate::check_rules;

/// A descriptor taken into the directory. Either way the node should gossip it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// First descriptor held for this identity.
    New,
    /// Replaced an older sequence.
    Replaced { previous_sequence: u64 },
}

/// Result of taking in a gossiped equivocation proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofAccepted {
    /// The identity was not excluded before: gossip the proof on.
    NewlyExcluded(NodeId),
    /// Already known: do not gossip again.
    AlreadyExcluded(NodeId),
}

/// Validated, merged descriptors plus the identities excluded for equivocation.
#[derive(Debug, Clone)]
pub struct Directory {
    params: PkiParams,
    clock: EpochClock,
    trusted_issuers: BTreeSet<NodeId>,
    entries: BTreeMap<NodeId, Descriptor>,
    excluded: BTreeMap<NodeId, EquivocationProof>,
    randomness_overrides: BTreeMap<u64, [u8; 32]>,
    /// Bumped by every change of what the directory holds, so readers can cache what
    /// they derive from it (the view digest) and recompute only when it moved.
    generation: u64,
}

impl Directory {
    /// An empty directory; issuer descriptors are refused until issuers are trusted.
    pub fn new(params: PkiParams) -> Result<Self, ParamError> {
        params.validate()?;
        let clock = EpochClock::from_params(&params)?;
        Ok(Self {
            params,
            clock,
            trusted_issuers: BTreeSet::new(),
            entries: BTreeMap::new(),
            excluded: BTreeMap::new(),
            randomness_overrides: BTreeMap::new(),
            generation: 0,
        })
    }

    /// Issuers whose token keys this node uses (from node config). Issuer descriptors of
    /// any key are admitted and counted in the digest, so that nodes configured with
    /// different issuers still hold the same directory; trust only selects whose keys
    /// [`Directory::trusted_token_keys`] returns.
    pub fn with_trusted_issuers(mut self, issuers: impl IntoIterator<Item = NodeId>) -> Self {
        self.trusted_issuers.extend(issuers);
        self
    }

    pub fn clock(&self) -> &EpochClock {
        &self.clock
    }

    pub fn params(&self) -> &PkiParams {
        &self.params
    }

    /// Changes whenever the held descriptors, proofs or randomness change (and only then).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn changed(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Validates gossiped bytes at time `now` and merges them.
    pub fn insert(&mut self, bytes: &[u8], now: u64) -> Result<Inserted, Rejection> {
        if bytes.len() > MAX_DESCRIPTOR_BYTES {
            return Err(Rejection::Oversized { len: bytes.len() });
        }
        if bytes.len() < MIN_DESCRIPTOR_BYTES {
            return Err(Rejection::Malformed(CodecError::Truncated));
        }
        // Fast path for re-gossip, the common case: bytes identical to what we hold
        // (already fully validated) need no parsing. Identity sits at bytes 4..36.
        let claimed = bytes.get(4..36).and_then(|s| <[u8; 32]>::try_from(s).ok());
        if let Some(held) = claimed.and_then(|id| self.entries.get(&NodeId(id)))
            && held.as_bytes() == bytes
        {
            return Err(Rejection::Duplicate);
        }
        let descriptor = Descriptor::decode(bytes).map_err(|e| match e {
            CodecError::Oversized { len, .. } => Rejection::Oversized { len },
            other => Rejection::Malformed(other),
        })?;
        let identity = descriptor.identity();
        if self.excluded.contains_key(&identity) {
            return Err(Rejection::Excluded);
        }
        check_rules(
            descriptor.content(),
            self.clock.epoch_at(now),
            self.params.future_epoch_tolerance,
        )?;
        // Cheap comparisons before the signature check.
        match self.entries.get(&identity) {
            Some(held) if descriptor.sequence() < held.sequence() => {
                return Err(Rejection::OlderSequence {
                    held: held.sequence(),
                    received: descriptor.sequence(),
                });
            }
            None if self.entries.len() >= self.params.max_directory_entries => {
                return Err(Rejection::DirectoryFull);
            }
            _ => {}
        }
        descriptor.verify().map_err(|_| Rejection::BadSignature)?;

        match self.entries.get(&identity) {
            Some(held) if held.sequence() == descriptor.sequence() => {
                if held.signed_body() == descriptor.signed_body() {
                    // Same content, different (still valid) signature bytes.
                    return Err(Rejection::Duplicate);
                }
                let proof = EquivocationProof::new(held.clone(), descriptor)
                    .map_err(|_| Rejection::BadSignature)?;
                // kept unless the proof store is full (the proof is gossiped either way)
                let _ = self.exclude(proof.clone());
                Err(Rejection::Equivocation(Box::new(proof)))
            }
            Some(held) => {
                let previous_sequence = held.sequence();
                self.entries.insert(identity, descriptor);
                self.changed();
                Ok(Inserted::Replaced { previous_sequence })
            }
            None => {
                self.entries.insert(identity, descriptor);
                self.changed();
                Ok(Inserted::New)
            }
        }
    }

    /// Verifies a gossiped equivocation proof at `now` and excludes the node. Only a node
    /// the directory holds a valid descriptor of can be excluded, by a proof whose
    /// descriptors are still in the window, and at most [`MAX_EQUIVOCATION_PROOFS`] are
    /// kept: a throwaway key minting proofs about itself costs nothing to refuse.
    /// The cheap checks run before the two signature verifications.
    pub fn insert_equivocation_proof(
        &mut self,
        bytes: &[u8],
        now: u64,
    ) -> Result<ProofAccepted, ProofRefusal> {
        let claimed = EquivocationProof::claimed_identity(bytes).map_err(ProofRefusal::Invalid)?;
        if self.excluded.contains_key(&claimed) {
            return Ok(ProofAccepted::AlreadyExcluded(claimed));
        }
        if !self.entries.contains_key(&claimed) {
            return Err(ProofRefusal::UnknownIdentity);
        }
        if self.excluded.len() >= MAX_EQUIVOCATION_PROOFS {
            return Err(ProofRefusal::Full);
        }
        let proof = EquivocationProof::from_bytes(bytes).map_err(ProofRefusal::Invalid)?;
        let (a, b) = proof.descriptors();
        let last = a.content().expiry_epoch.max(b.content().expiry_epoch);
        if last < self.clock.epoch_at(now) {
            return Err(ProofRefusal::Expired);
        }
        let identity = proof.identity();
        if !self.exclude(proof) {
            return Err(ProofRefusal::Full);
        }
        Ok(ProofAccepted::NewlyExcluded(identity))
    }

    /// Keeps the proof and drops the node's descriptor; false if the proof store is full.
    fn exclude(&mut self, proof: EquivocationProof) -> bool {
        if self.excluded.len() >= MAX_EQUIVOCATION_PROOFS {
            return false;
        }
        let identity = proof.identity();
        self.entries.remove(&identity);
        self.excluded.insert(identity, proof);
        self.changed();
        true
    }

    /// Drops descriptors whose expiry epoch has passed, and proofs whose descriptors have
    /// all expired (the exclusion lasts as long as the equivocating descriptors would
    /// have); returns the identities of the expired descriptors.
    pub fn expire(&mut self, now: u64) -> Vec<NodeId> {
        let current = self.clock.epoch_at(now);
        let expired: Vec<NodeId> = self
            .entries
            .iter()
            .filter(|(_, d)| d.content().expiry_epoch < current)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.entries.remove(id);
        }
        let proofs = self.excluded.len();
        self.excluded.retain(|_, proof| {
            let (a, b) = proof.descriptors();
            a.content().expiry_epoch.max(b.content().expiry_epoch) >= current
        });
        if !expired.is_empty() || proofs != self.excluded.len() {
            self.changed();
        }
        expired
    }

    pub fn get(&self, identity: &NodeId) -> Option<&Descriptor> {
        self.entries.get(identity)
    }

    pub fn trusted_issuers(&self) -> &BTreeSet<NodeId> {
        &self.trusted_issuers
    }

    /// The token keys `issuer` announces in its descriptor valid for `epoch` (empty if it
    /// has none, or is not an issuer). Each key id was checked against its SPKI on decode.
    pub fn token_keys(&self, issuer: &NodeId, epoch: u64) -> &[EpochTokenKey] {
        match self.entries.get(issuer) {
            Some(d) if d.content().role == Role::Issuer && d.content().covers(epoch) => {
                &d.content().token_keys
            }
            _ => &[],
        }
    }

    /// Token keys of every trusted issuer valid for `epoch`.
    pub fn trusted_token_keys(&self, epoch: u64) -> Vec<(NodeId, EpochTokenKey)> {
        self.trusted_issuers
            .iter()
            .flat_map(|id| self.token_keys(id, epoch).iter().map(|k| (*id, k.clone())))
            .collect()
    }

    /// Descriptors held (all epochs).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn is_excluded(&self, identity: &NodeId) -> bool {
        self.excluded.contains_key(identity)
    }

    /// Proofs held, to re-gossip to peers that join later.
    pub fn equivocation_proofs(&self) -> impl Iterator<Item = &EquivocationProof> {
        self.excluded.values()
    }

    /// Descriptors valid for `epoch`, sorted by identity (the canonical order).
    pub fn valid_for(&self, epoch: u64) -> impl Iterator<Item = &Descriptor> {
        self.entries
            .values()
            .filter(move |d| d.content().covers(epoch))
    }

    /// SHA-256 over the canonical sorted set of descriptors valid for `epoch`:
    /// `domain ‖ epoch u64 ‖ count u64 ‖ per descriptor (len u16 ‖ bytes)`.
    pub fn digest(&self, epoch: u64) -> [u8; 32] {
        let valid: Vec<&Descriptor> = self.valid_for(epoch).collect();
        let mut hasher = Sha256::new();
        hasher.update(VIEW_DIGEST_DOMAIN);
        hasher.update(epoch.to_be_bytes());
        hasher.update(u64::try_from(valid.len()).unwrap_or(u64::MAX).to_be_bytes());
        for descriptor in valid {
            let bytes = descriptor.as_bytes();
            hasher.update(u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes());
            hasher.update(bytes);
        }
        hasher.finalize().into()
    }

    /// Sets the epoch randomness from an external beacon (spec/pki.md §5); every
    /// node must set the same value or topologies diverge.
    pub fn set_epoch_randomness(&mut self, epoch: u64, randomness: [u8; 32]) {
        self.randomness_overrides.insert(epoch, randomness);
        self.changed();
    }

    /// Randomness used for `epoch`: the override if set, else the default.
    pub fn epoch_randomness(&self, epoch: u64) -> [u8; 32] {
        self.randomness_overrides
            .get(&epoch)
            .copied()
            .unwrap_or_else(|| default_epoch_randomness(epoch))
    }

    /// Layers and providers for `epoch`, from descriptors valid for it that carry
    /// a Sphinx key bound to it.
    pub fn topology(&self, epoch: u64) -> Topology {
        let mut mixes: BTreeMap<NodeId, RouteNode> = BTreeMap::new();
        let mut providers = Vec::new();
        for descriptor in self.valid_for(epoch) {
            let content = descriptor.content();
            let Some(sphinx_key) = content.sphinx_key_for(epoch) else {
                continue;
            };
            let node = RouteNode {
                identity: content.identity,
                sphinx_key,
                addresses: content.addresses.clone(),
                capacity_pps: content.capacity_pps,
            };
            match content.role {
                Role::Mix => {
                    mixes.insert(content.identity, node);
                }
                Role::Provider => providers.push(node),
                Role::Issuer => {}
            }
        }
        let identities: Vec<NodeId> = mixes.keys().copied().collect();
        let mut layers: Vec<Vec<RouteNode>> = vec![Vec::new(); LAYERS];
        for (identity, layer) in assign_layers(&self.epoch_randomness(epoch), epoch, &identities) {
            if let (Some(node), Some(slot)) = (mixes.remove(&identity), layers.get_mut(layer)) {
                slot.push(node);
            }
        }
        for layer in &mut layers {
            layer.sort_by_key(|n| n.identity);
        }
        Topology {
            epoch,
            layers,
            providers,
        }
    }
}
