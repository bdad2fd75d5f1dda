//! A relay's configuration (`wesh mix` / `wesh provider --config FILE`): a TOML file,
//! overridden by command-line flags, with defaults that start a working node from flags
//! alone.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use wesh_mix::params::{
    DEFAULT_MEAN_HOP_DELAY, DEFAULT_MIX_LOOP_RATE, MAILBOX_QUOTA_BYTES, MAILBOX_QUOTA_PAYLOADS,
    MAILBOX_TTL, MAX_HOP_DELAY, MAX_STREAM_RATE,
};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {0}: {1}")]
    Read(String, std::io::Error),
    #[error("config file {0} is not valid: {1}")]
    Parse(String, String),
    #[error("invalid setting {0}: {1}")]
    Invalid(&'static str, String),
}

/// `[mixing]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MixingConfig {
    /// Mean per-hop delay of the node's own cover packets, milliseconds.
    pub mean_hop_delay_ms: u64,
    /// Mix loop cover rate λ_M, packets per second (0 disables).
    pub loop_rate: f64,
}

impl Default for MixingConfig {
    fn default() -> Self {
        MixingConfig {
            mean_hop_delay_ms: u64::try_from(DEFAULT_MEAN_HOP_DELAY.as_millis()).unwrap_or(200),
            loop_rate: DEFAULT_MIX_LOOP_RATE,
        }
    }
}

/// The whole file. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    pub listen: Vec<String>,
    pub data_dir: Option<PathBuf>,
    pub topology: Option<PathBuf>,
    /// Sphinx worker threads; 0 = one per core.
    pub workers: usize,
    pub mixing: MixingConfig,
    pub pki: PkiConfig,
    pub mailbox: MailboxConfig,
}

/// `[mailbox]` section (providers): how long and how much a mailbox keeps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailboxConfig {
    /// Seconds an unfetched payload is kept (default 7 days).
    pub ttl_seconds: u64,
    /// Most payloads one mailbox holds.
    pub quota_payloads: u32,
    /// Most payload bytes one mailbox holds.
    pub quota_bytes: u64,
}

impl Default for MailboxConfig {
    fn default() -> Self {
        MailboxConfig {
            ttl_seconds: MAILBOX_TTL.as_secs(),
            quota_payloads: MAILBOX_QUOTA_PAYLOADS,
            quota_bytes: MAILBOX_QUOTA_BYTES,
        }
    }
}

/// `[pki]` section: how the node joins the gossip PKI (used when no static topology).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PkiConfig {
    /// Multiaddrs ending in /p2p/<peer id> of nodes to join through.
    pub bootstrap: Vec<String>,
    /// Addresses to announce in the descriptor (default: the listen addresses).
    pub announce: Vec<String>,
    /// Epoch length, seconds (every node of a network must use the same).
    pub epoch_seconds: u64,
    /// Packets per second this node offers (announced as capacity).
    pub capacity_pps: u32,
}

impl Default for PkiConfig {
    fn default() -> Self {
        PkiConfig {
            bootstrap: Vec::new(),
            announce: Vec::new(),
            epoch_seconds: wesh_pki::params::DEFAULT_EPOCH_LENGTH_SECS,
            capacity_pps: 10_000,
        }
    }
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(shown.clone(), e))?;
        let cfg: NodeConfig =
            toml::from_str(&text).map_err(|e| ConfigError::Parse(shown, e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let delay = Duration::from_millis(self.mixing.mean_hop_delay_ms);
        if delay > MAX_HOP_DELAY {
            return Err(ConfigError::Invalid(
                "mixing.mean_hop_delay_ms",
                format!(
                    "{} ms exceeds the {} s maximum",
                    self.mixing.mean_hop_delay_ms,
                    MAX_HOP_DELAY.as_secs()
                ),
            ));
        }
        let r = self.mixing.loop_rate;
        if !r.is_finite() || !(0.0..=MAX_STREAM_RATE).contains(&r) {
            return Err(ConfigError::Invalid(
                "mixing.loop_rate",
                format!("{r} is not in [0, {MAX_STREAM_RATE}]"),
            ));
        }
        if let Err(e) = wesh_pki::PkiParams::with_epoch_length(self.pki.epoch_seconds) {
            return Err(ConfigError::Invalid("pki.epoch_seconds", e.to_string()));
        }
        if self.pki.capacity_pps == 0 {
            return Err(ConfigError::Invalid(
                "pki.capacity_pps",
                "must be at least 1".into(),
            ));
        }
        if self.mailbox.ttl_seconds == 0 {
            return Err(ConfigError::Invalid(
                "mailbox.ttl_seconds",
                "must be at least 1".into(),
            ));
        }
        if self.mailbox.quota_payloads == 0 || self.mailbox.quota_bytes == 0 {
            return Err(ConfigError::Invalid(
                "mailbox.quota_payloads / quota_bytes",
                "must be at least 1".into(),
            ));
        }
        if self.workers > 1024 {
            return Err(ConfigError::Invalid(
                "workers",
                format!("{} threads is not sensible", self.workers),
            ));
        }
        Ok(())
    }

    pub fn mean_hop_delay(&self) -> Duration {
        Duration::from_millis(self.mixing.mean_hop_delay_ms)
    }

    /// Worker threads to run: the configured number, or one per core.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_and_bad_values() {
        let c: NodeConfig = toml::from_str("").unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.mean_hop_delay(), DEFAULT_MEAN_HOP_DELAY);
        let c: NodeConfig = toml::from_str("[mixing]\nloop_rate = -1.0").unwrap();
        assert!(c.validate().is_err());
        let c: NodeConfig = toml::from_str("[mixing]\nmean_hop_delay_ms = 999999999").unwrap();
        assert!(c.validate().is_err());
        assert!(toml::from_str::<NodeConfig>("lisen = []").is_err());
        let c: NodeConfig = toml::from_str("[mailbox]\nttl_seconds = 0").unwrap();
        assert!(c.validate().is_err());
        let c: NodeConfig = toml::from_str("[mailbox]\nttl_seconds = 60").unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.mailbox.ttl_seconds, 60);
    }
}
