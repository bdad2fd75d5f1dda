//! The anonymity lab (issue 16): `wesh sim`, a discrete-event simulator on a virtual clock
//! that drives the production mixnet cores (streams, holds, routes, layers, profiles) with
//! packets as opaque handles, and measures what a global passive adversary learns:
//!
//! - [`pool_vector`]: the adversary's estimates, propagated through each pool;
//! - [`meter`]: the entropy of a target message and sender–receiver unlinkability (ε, δ);
//! - [`world`]: one run; [`config`]: what a run is; [`report`]: what it reports;
//! - [`link_trace`]: the same entropy from what an observer saw on a live network's links.
//!
//! A run reads no clock and no file: the same [`SimConfig`] (seed included) gives the same
//! [`SimReport`] but for the wall-time fields its caller fills in. spec/anonymity.md
//! defines the metrics and shows what they say about the project's defaults.

pub mod config;
pub mod estimates;
pub mod link_trace;
pub mod meter;
pub mod packet;
pub mod params;
pub mod pool_vector;
pub mod pull_schedule;
pub mod queue;
pub mod relay_index;
pub mod report;
pub mod sphinx_lab;
pub mod world;

pub use config::{ConfigError, SimConfig};
pub use report::SimReport;
pub use world::{SimError, run};
