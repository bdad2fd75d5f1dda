//! The configuration files of `wesh`: what each role reads from TOML, the defaults that
//! start a working node from flags alone, and the checks that refuse a bad value with the
//! name of its setting. The values' meaning and limits are the cores' (`wesh_mix::params`,
//! `wesh_pki::params`); this crate only names and validates them.

pub mod client;
pub mod example;
pub mod peer_addr;
pub mod relay;
pub mod topology_file;

pub use client::{ClientConfigFile, ProfileArgs, ProfileArgsError, TrafficSection};
pub use relay::{ConfigError, MailboxConfig, MixingConfig, NodeConfig, PkiConfig};
