//! Sans-I/O core of the wesh gossip PKI (spec/pki.md).
//!
//! Nodes sign [`Descriptor`]s announcing their identity, role, addresses and
//! per-epoch Sphinx keys; a [`Directory`] validates and merges gossiped
//! descriptors, expires old ones, detects equivocation and derives the
//! stratified [`Topology`] for an epoch. [`SphinxKeyRing`] rotates a node's own
//! Sphinx keys; [`ViewCheck`] gates route building on peers confirming our view.
//!
//! Nothing here reads a clock, a disk or a socket: callers pass `now` (Unix
//! seconds) and RNGs, and act on the returned values.

pub mod agent;
pub mod codec;
pub mod descriptor;
pub mod directory;
pub mod epoch;
pub mod equivocation;
pub mod error;
pub mod follower;
pub mod follower_status;
pub mod keyring;
pub mod layers;
pub mod listing;
pub mod params;
pub mod rate_limit;
pub mod reply_life;
pub mod sampler;
pub mod sync_gate;
pub mod sync_wire;
pub mod topology;
pub mod validate;
pub mod view;

pub use agent::{OwnNode, PkiAction, PkiAgent, Verdict};
pub use descriptor::{
    Descriptor, DescriptorBuilder, DescriptorContent, EpochSphinxKey, EpochTokenKey, NodeId, Role,
    VerifyError,
};
pub use directory::{Directory, Inserted, ProofAccepted};
/// The identity key type descriptors are signed with (for callers of the builder).
pub use ed25519_dalek::SigningKey;
pub use epoch::EpochClock;
pub use equivocation::EquivocationProof;
pub use error::{CodecError, EquivocationError, KeyRingError, ParamError, ProofRefusal, Rejection};
pub use follower::{DirectoryFollower, FollowerAction, Following};
pub use follower_status::FollowerStatus;
pub use keyring::{KeyPhase, KeyRotation, LiveKey, SphinxKeyRing};
pub use params::PkiParams;
pub use rate_limit::RateLimiter;
pub use reply_life::ReplyBlockLife;
pub use sampler::ViewSampler;
pub use sync_gate::{SyncRefusal, SyncServeGate};
pub use topology::{RouteNode, Topology};
pub use view::{ViewCheck, ViewStatus};
