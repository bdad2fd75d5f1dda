//! `PkiAgent`: what one node does with the PKI, as a state machine the node shell drives.
//!
//! It owns the node's [`Directory`] and, for relays, its [`SphinxKeyRing`] and signing key.
//! The shell calls [`PkiAgent::tick`] at [`PkiAgent::next_tick`], hands it every gossiped or
//! synced descriptor, and carries out the returned [`PkiAction`]s (publish, install keys,
//! switch topology). Publication rule (spec/pki.md): at the start of epoch e a relay
//! publishes a descriptor issued for e, expiring after e+1, with Sphinx keys for e and e+1.

use crate::descriptor::{Descriptor, DescriptorBuilder, EpochTokenKey, NodeId, Role};
use crate::directory::{Directory, Inserted, ProofAccepted};
use crate::error::{ParamError, Rejection};
use crate::keyring::SphinxKeyRing;
use crate::params::PkiParams;
use crate::topology::Topology;
use ed25519_dalek::SigningKey;
use rand::CryptoRng;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// How the shell should treat a gossiped message (maps onto gossipsub's acceptance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New information: forward it.
    Accept,
    /// Harmless repeat: do not forward, do not penalise the sender.
    Ignore,
    /// Invalid: do not forward, penalise the sender; the reason is counted.
    Reject(&'static str),
}

/// What the shell must do.
pub enum PkiAction {
    /// Gossip these descriptor bytes (our own, freshly signed).
    Publish(Vec<u8>),
    /// Gossip this equivocation proof.
    PublishProof(Vec<u8>),
    /// The Sphinx secrets the packet processor must hold from now on (epoch, secret),
    /// current epoch first. Keys not listed are retired with their replay filters.
    InstallKeys(Vec<(u64, Zeroizing<[u8; 32]>)>),
    /// The routing view for the current epoch changed.
    Topology(Topology),
    /// The key ring changed: persist it (bytes from `keyring_bytes`).
    PersistKeys,
}

/// The relay's own publication data.
pub struct OwnNode {
    pub signing_key: SigningKey,
    pub role: Role,
    pub addresses: Vec<String>,
    pub capacity_pps: u32,
}

/// What the agent derives from the directory for the current epoch, recomputed only when
/// the directory's generation or the epoch moved (never for a rejected descriptor).
#[derive(Debug, Clone, Default)]
struct ViewCache {
    generation: u64,
    epoch: u64,
    digest: [u8; 32],
    descriptors: usize,
    issuer_keys: BTreeMap<[u8; 32], Vec<EpochTokenKey>>,
}

pub struct PkiAgent {
    directory: Directory,
    view: ViewCache,
    /// Times the view digest was computed (a cost the tests watch).
    digest_computations: u64,
    /// The node's own publication data; relays hold a Sphinx key ring, an issuer none.
    own: Option<(OwnNode, Option<SphinxKeyRing>)>,
    /// Issuer only: the token keys its next descriptor announces.
    token_keys: Vec<EpochTokenKey>,
    sequence: u64,
    published_epoch: Option<u64>,
    epoch: u64,
    topology_digest: [u8; 32],
    installed: Vec<u64>,
    rejected: BTreeMap<&'static str, u64>,
    epochs_rotated: u64,
    /// Verified descriptors issued for a later epoch than ours, applied when we get there:
    /// taking one in now would replace the node's current descriptor and drop the node
    /// from this epoch's topology (a peer whose clock ticked a moment before ours).
    early: BTreeMap<NodeId, Vec<u8>>,
}

impl PkiAgent {
    /// An agent that only follows the directory (clients).
    pub fn observer(params: PkiParams, now: u64) -> Result<Self, ParamError> {
        let directory = Directory::new(params)?;
        let epoch = directory.clock().epoch_at(now);
        let mut agent = PkiAgent {
            directory,
            view: ViewCache::default(),
            digest_computations: 0,
            own: None,
            token_keys: Vec::new(),
            sequence: 0,
            published_epoch: None,
            epoch,
            topology_digest: [0; 32],
            installed: Vec::new(),
            rejected: BTreeMap::new(),
            epochs_rotated: 0,
            early: BTreeMap::new(),
        };
        agent.recompute_view();
        Ok(agent)
    }

    /// An agent for a relay; `keyring` may come from disk (restart) or be new.
    /// `sequence_floor` must exceed every sequence this node published before (the shell
    /// may use the Unix time of start, which only grows).
    pub fn relay(
        params: PkiParams,
        own: OwnNode,
        keyring: SphinxKeyRing,
        sequence_floor: u64,
        now: u64,
    ) -> Result<Self, ParamError> {
        let mut agent = Self::observer(params, now)?;
        agent.sequence = sequence_floor;
        agent.own = Some((own, Some(keyring)));
        Ok(agent)
    }

    /// An agent for the token issuer: it publishes a [`Role::Issuer`] descriptor (whatever
    /// `own.role` says) with the token keys given to [`PkiAgent::set_token_keys`], and has
    /// no Sphinx keys. `sequence_floor` as for [`PkiAgent::relay`].
    pub fn issuer(
        params: PkiParams,
        mut own: OwnNode,
        sequence_floor: u64,
        now: u64,
    ) -> Result<Self, ParamError> {
        own.role = Role::Issuer;
        let mut agent = Self::observer(params, now)?;
        agent.sequence = sequence_floor;
        agent.own = Some((own, None));
        Ok(agent)
    }

    /// Issuer: the token keys to announce (those bound to the descriptor's epochs are
    /// published). A change is published at the next `tick`, under a new sequence.
    pub fn set_token_keys(&mut self, mut keys: Vec<EpochTokenKey>) {
        keys.sort_by_key(|k| k.epoch);
        if keys != self.token_keys {
            self.token_keys = keys;
            self.published_epoch = None;
        }
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Epoch changes seen since the agent started.
    pub fn epochs_rotated(&self) -> u64 {
        self.epochs_rotated
    }

    /// Rejections by reason (duplicates included: they are harmless but counted).
    pub fn rejections(&self) -> &BTreeMap<&'static str, u64> {
        &self.rejected
    }

    /// The view digest of the current epoch (cached: see [`PkiAgent::digest_computations`]).
    pub fn digest(&self) -> [u8; 32] {
        self.view.digest
    }

    /// Descriptors valid for the current epoch.
    pub fn valid_descriptors(&self) -> usize {
        self.view.descriptors
    }

    /// Token keys announced by each issuer descriptor valid for the current epoch.
    pub fn issuer_keys(&self) -> &BTreeMap<[u8; 32], Vec<EpochTokenKey>> {
        &self.view.issuer_keys
    }

    /// How many times the view digest was computed: once per change of the directory
    /// or the epoch, never for input that changed nothing.
    pub fn digest_computations(&self) -> u64 {
        self.digest_computations
    }

    pub fn topology(&self) -> Topology {
        self.directory.topology(self.epoch)
    }

    /// Serialized key ring for the shell to persist (owner-only file).
    pub fn keyring_bytes(&self) -> Option<Zeroizing<Vec<u8>>> {
        self.own
            .as_ref()
            .and_then(|(_, ring)| ring.as_ref())
            .map(|ring| ring.to_bytes())
    }

    /// When the shell should call `tick` next (Unix seconds): the next epoch start, or the
    /// end of the grace period if a previous key is still live.
    pub fn next_tick(&self, now: u64) -> u64 {
        let clock = self.directory.clock();
        let next_epoch = now + clock.secs_until_next_epoch(now).max(1);
        let current = clock.epoch_at(now);
        let grace_end = clock.epoch_start(current) + self.directory.params().grace_period_secs;
        if grace_end > now && self.installed.iter().any(|e| *e < current) {
            grace_end.min(next_epoch)
        } else {
            next_epoch
        }
    }

    /// Advances to `now`: rotates keys, publishes at a new epoch, expires old descriptors.
    pub fn tick<R: CryptoRng + ?Sized>(&mut self, now: u64, rng: &mut R) -> Vec<PkiAction> {
        let mut actions = Vec::new();
        let epoch = self.directory.clock().epoch_at(now);
        if epoch != self.epoch {
            self.epochs_rotated += 1;
            self.epoch = epoch;
        }
        self.directory.expire(now);
        let due: Vec<NodeId> = self
            .early
            .iter()
            .filter(|(_, b)| Descriptor::decode(b).is_ok_and(|d| d.content().issue_epoch <= epoch))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(bytes) = self.early.remove(&id) {
                let _ = self.directory.insert(&bytes, now);
            }
        }
        if let Some((own, ring)) = &mut self.own {
            if let Some(ring) = ring {
                let rotation = ring.rotate(now, rng);
                if !rotation.generated.is_empty() || !rotation.retired.is_empty() {
                    actions.push(PkiAction::PersistKeys);
                }
                let mut live: Vec<u64> = ring
                    .held_epochs()
                    .into_iter()
                    .filter(|e| ring.secret_for(*e, now).is_some() || *e == epoch + 1)
                    .collect();
                // current first: most packets use it, and the processor tries keys in order
                live.sort_by_key(|e| (*e != epoch, *e));
                if live != self.installed {
                    let keys = live
                        .iter()
                        .filter_map(|e| {
                            ring.held_secret(*e)
                                .map(|s| (*e, Zeroizing::new(s.to_bytes())))
                        })
                        .collect();
                    actions.push(PkiAction::InstallKeys(keys));
                    self.installed = live;
                }
            }
            if self.published_epoch != Some(epoch) {
                self.sequence += 1;
                let mut builder = DescriptorBuilder::new(own.role, self.sequence, epoch)
                    .expiry_epoch(epoch + 1)
                    .capacity_pps(own.capacity_pps);
                if let (true, Some(ring)) = (own.role.routes_packets(), ring.as_ref()) {
                    for e in [epoch, epoch + 1] {
                        if let Some(pk) = ring.public_key(e) {
                            builder = builder.sphinx_key(e, pk);
                        }
                    }
                }
                if own.role == Role::Issuer {
                    for k in self
                        .token_keys
                        .iter()
                        .filter(|k| k.epoch == epoch || k.epoch == epoch + 1)
                    {
                        builder = builder.token_key(k.clone());
                    }
                }
                for a in &own.addresses {
                    builder = builder.address(a.clone());
                }
                if let Ok(d) = builder.sign(&own.signing_key) {
                    let bytes = d.as_bytes().to_vec();
                    // our own descriptor enters our directory like any other
                    let _ = self.directory.insert(&bytes, now);
                    actions.push(PkiAction::Publish(bytes));
                    self.published_epoch = Some(epoch);
                }
            }
        }
        self.push_topology_if_changed(&mut actions);
        actions
    }

    /// Takes in descriptor bytes from gossip or a sync.
    pub fn on_descriptor(&mut self, bytes: &[u8], now: u64) -> (Verdict, Vec<PkiAction>) {
        let mut actions = Vec::new();
        if let Some(verdict) = self.hold_if_early(bytes, now) {
            return (verdict, actions);
        }
        let verdict = match self.directory.insert(bytes, now) {
            Ok(Inserted::New | Inserted::Replaced { .. }) => Verdict::Accept,
            Err(rejection) => {
                *self.rejected.entry(rejection.reason()).or_default() += 1;
                match rejection {
                    // the sender may well be honest (it saw the other half first): the
                    // proof is what to spread
                    Rejection::Equivocation(proof) => {
                        actions.push(PkiAction::PublishProof(proof.to_bytes()));
                        Verdict::Ignore
                    }
                    other if other.blames_sender() => Verdict::Reject(other.reason()),
                    _ => Verdict::Ignore,
                }
            }
        };
        self.push_topology_if_changed(&mut actions);
        (verdict, actions)
    }

    /// A valid descriptor issued for a later epoch is kept aside until that epoch.
    fn hold_if_early(&mut self, bytes: &[u8], now: u64) -> Option<Verdict> {
        let issue = Descriptor::decode(bytes).ok()?.content().issue_epoch;
        // compared with the agent's epoch, not the clock: until `tick` moves the agent,
        // its topology is still the old epoch's
        let _ = now;
        if issue <= self.epoch {
            return None;
        }
        if issue > self.epoch + self.directory.params().future_epoch_tolerance {
            return None; // the directory rejects it with its reason
        }
        let d = match Descriptor::decode_verified(bytes) {
            Ok(d) => d,
            Err(_) => {
                *self.rejected.entry("bad_signature").or_default() += 1;
                return Some(Verdict::Reject("bad_signature"));
            }
        };
        if self.directory.is_excluded(&d.identity()) {
            return None;
        }
        let newer = self
            .early
            .get(&d.identity())
            .and_then(|b| Descriptor::decode(b).ok())
            .is_none_or(|held| held.sequence() < d.sequence());
        if self.early.len() >= self.directory.params().max_directory_entries
            && !self.early.contains_key(&d.identity())
        {
            return Some(Verdict::Ignore);
        }
        if newer {
            self.early.insert(d.identity(), bytes.to_vec());
            Some(Verdict::Accept)
        } else {
            *self.rejected.entry("duplicate").or_default() += 1;
            Some(Verdict::Ignore)
        }
    }

    /// Takes in a gossiped equivocation proof at `now` (Unix seconds).
    pub fn on_proof(&mut self, bytes: &[u8], now: u64) -> (Verdict, Vec<PkiAction>) {
        let mut actions = Vec::new();
        let verdict = match self.directory.insert_equivocation_proof(bytes, now) {
            Ok(ProofAccepted::NewlyExcluded(_)) => Verdict::Accept,
            Ok(ProofAccepted::AlreadyExcluded(_)) => Verdict::Ignore,
            Err(refusal) => {
                *self.rejected.entry(refusal.reason()).or_default() += 1;
                match refusal {
                    crate::error::ProofRefusal::Invalid(_) => Verdict::Reject(refusal.reason()),
                    // about a node we do not know (yet), or too late, or too many: not
                    // forwarded, but an honest peer may have sent it
                    _ => Verdict::Ignore,
                }
            }
        };
        self.push_topology_if_changed(&mut actions);
        (verdict, actions)
    }

    /// Every descriptor held, for a peer's full sync.
    pub fn snapshot(&self) -> Vec<Vec<u8>> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for e in [self.epoch, self.epoch + 1] {
            for d in self.directory.valid_for(e) {
                if seen.insert(d.identity()) {
                    out.push(d.as_bytes().to_vec());
                }
            }
        }
        out
    }

    pub fn is_member(&self, id: &NodeId) -> bool {
        self.directory.get(id).is_some()
    }

    /// Brings the cached view up to date if the directory or the epoch moved.
    fn refresh_view(&mut self) {
        if self.view.generation != self.directory.generation() || self.view.epoch != self.epoch {
            self.recompute_view();
        }
    }

    fn recompute_view(&mut self) {
        let epoch = self.epoch;
        self.digest_computations += 1;
        let valid = || self.directory.valid_for(epoch);
        self.view = ViewCache {
            generation: self.directory.generation(),
            epoch,
            digest: self.directory.digest(epoch),
            descriptors: valid().count(),
            issuer_keys: valid()
                .filter(|d| d.content().role == Role::Issuer)
                .map(|d| (d.identity().0, d.content().token_keys.clone()))
                .collect(),
        };
    }

    fn push_topology_if_changed(&mut self, actions: &mut Vec<PkiAction>) {
        self.refresh_view();
        let digest = self.view.digest;
        if digest != self.topology_digest {
            self.topology_digest = digest;
            actions.push(PkiAction::Topology(self.directory.topology(self.epoch)));
        }
    }
}
