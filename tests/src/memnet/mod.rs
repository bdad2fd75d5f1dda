//! The in-memory network: see the crate docs.

pub mod client;
pub mod clock;
pub mod config;
pub mod device;
pub mod error;
pub mod events;
pub mod link;
pub mod mix;
pub mod net;
pub mod observer;
pub mod provider;
pub mod provider_desk;
pub mod provider_replica;
pub mod trace;

pub use client::{ClientStats, MemClient};
pub use clock::VirtualClock;
pub use config::MemNetConfig;
pub use device::MemDevice;
pub use error::MemNetError;
pub use events::{Event, EventQueue};
pub use link::{Fault, MemLink};
pub use mix::{MemMix, MixStats};
pub use net::{MemNet, NetStats};
pub use observer::{Endpoint, FrameSeen, LinkObserver};
pub use provider::{MemProvider, ProviderStats};
pub use trace::TraceDigest;
