//! The roles a `wesh` process runs: each assembles the drivers, stores and services it
//! needs from its configuration and runs until a signal.

pub mod client;
pub mod mix_provider;
pub mod services;
