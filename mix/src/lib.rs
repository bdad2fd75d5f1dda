//! wesh-mix: the sans-I/O mix core.
//!
//! Sphinx geometry ([`params`]), packet building ([`build_packet`]), per-hop processing with
//! replay protection ([`MixProcessor`]), sender-drawn exponential delays
//! ([`HopDelaySampler`]), the Loopix streams of clients ([`ClientTraffic`]) and mixes
//! ([`MixCover`]), and the stratified [`Topology`] with uniformly random routes.
//!
//! Nothing here touches a socket, a clock or a disk: callers pass `now` (a [`Duration`]
//! since any fixed origin) and seeds, and get back packets and decisions.
//!
//! [`Duration`]: std::time::Duration

pub mod client_traffic;
pub mod delay;
pub mod error;
pub mod mix_cover;
pub mod node_id;
pub mod outgoing;
pub mod packet;
pub mod params;
pub mod payload;
pub mod poisson;
pub mod processor;
pub mod replay;
pub mod topology;

pub use client_traffic::{
    ClientTraffic, ClientTrafficConfig, EnqueueError, MAX_BODY_BYTES, seed_from,
};
pub use delay::HopDelaySampler;
pub use error::{BuildError, DropReason, PayloadError, RateError};
pub use mix_cover::MixCover;
pub use node_id::NodeId;
pub use outgoing::{Outgoing, TrafficKind};
pub use packet::build_packet;
pub use payload::MixPayload;
pub use poisson::PoissonStream;
pub use processor::{MixProcessor, Processed, shard_of};
pub use replay::ReplayFilter;
pub use topology::{ClientAddress, RouteNode, Topology};
