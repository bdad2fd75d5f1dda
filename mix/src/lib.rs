//! wesh-mix: the sans-I/O mix core.
//!
//! Sphinx geometry ([`params`]), packet building ([`build_packet`]), per-hop processing with
//! replay protection ([`MixProcessor`]), sender-drawn exponential delays
//! ([`HopDelaySampler`]), the Loopix streams of clients ([`ClientTraffic`]) and mixes
//! ([`MixCover`]), and the stratified [`Topology`] with uniformly random routes.
//!
//! Reliable delivery of messages of any size: [`fragment`] splits a message into packets,
//! [`reassembly`] puts it back together, [`ack_slot`] lets the recipient's provider ack each
//! stored fragment anonymously ([`provider_ack`]) while every payload is sealed to its
//! recipient ([`delivery`], [`payload_seal`]), [`reply_surb`] carries data back to a
//! SURB's creator, and [`retransmit`] resends what is not
//! acked in time; [`ClientTraffic::send_message`] and [`ClientTraffic::on_received`] tie them
//! to the client's real stream. [`route_health`] turns the acks and timeouts into which mixes
//! to avoid for a while, so that retransmissions do not keep crossing a dead mix.
//!
//! Nothing here touches a socket, a clock or a disk: callers pass `now` (a [`Duration`]
//! since any fixed origin) and seeds, and get back packets and decisions.
//!
//! [`Duration`]: std::time::Duration

pub mod ack_slot;
pub mod client_address_text;
pub mod client_event;
pub mod client_profile;
pub mod client_traffic;
pub mod delay;
pub mod delivery;
pub mod error;
pub mod fragment;
pub mod hop_rules;
pub mod mailbox;
pub mod mailbox_sync;
pub mod mix_cover;
pub mod node_id;
pub mod outgoing;
pub mod paced_stream;
pub mod packet;
pub mod params;
pub mod payload;
pub mod payload_seal;
pub mod poisson;
pub mod probe;
pub mod processor;
pub mod provider_ack;
pub mod reassembly;
pub mod replay;
pub mod reply_surb;
pub mod retransmit;
pub mod route_health;
pub mod send_stream;
mod sphinx_surb;
pub mod topology;

pub use ack_slot::{AckSlot, SlotRoute};
pub use client_address_text::AddressTextError;
pub use client_event::{ClientEvent, RejectReason};
pub use client_profile::{ClientProfile, PROFILE_NAMES, ProfileError};
pub use client_traffic::{
    ClientTraffic, ClientTrafficConfig, EnqueueError, MAX_BODY_BYTES, ReliableStats, seed_from,
};
pub use delay::HopDelaySampler;
pub use delivery::{open_delivery, seal_delivery, seal_with_cover_over, seal_with_random_cover};
pub use error::{BuildError, DropReason, PayloadError, RateError};
pub use fragment::{Fragment, FragmentError, MessageId, split_message};
pub use mailbox::{MailboxBackend, MailboxClient, MailboxId, MailboxServer};
pub use mailbox_sync::{MailboxStep, MailboxSync, StoreEffect, kept_fragments, store_effect};
pub use mix_cover::MixCover;
pub use node_id::NodeId;
pub use outgoing::{Outgoing, TrafficKind};
pub use paced_stream::PacedStream;
pub use packet::build_packet;
pub use payload::MixPayload;
pub use payload_seal::{ClientKeys, ReceiveKey, seal_key_of};
pub use poisson::PoissonStream;
pub use probe::{decode_probe, encode_probe};
pub use processor::{MixProcessor, Processed, frame_tag, shard_of};
pub use provider_ack::{AckError, AckPacket, ack_after_store};
pub use reassembly::{Abandoned, Accepted, Reassembler, ReassemblyError, ReassemblyLimits};
pub use replay::ReplayFilter;
pub use reply_surb::{ReplySurb, reply_packets, surbs_needed};
pub use retransmit::{
    AckOutcome, Expired, FailureReason, RetransmitConfig, RetransmitEvent, RetransmitQueue,
    SendClass,
};
pub use route_health::{AttemptRoute, RouteHealth};
pub use send_stream::{SendStream, StreamTiming};
pub use topology::{ClientAddress, RouteNode, Topology};
