//! What one simulation run is: the network, the traffic, the measurement and the
//! adversary. Every field can come from a TOML file (`wesh sim --config`) and from flags.

use crate::params::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use wesh_mix::ClientProfile;
use wesh_mix::params::{
    DEFAULT_MIX_LOOP_RATE, MAX_HOP_DELAY, MAX_STREAM_RATE, MIX_LAYERS, PULL_SLOTS,
};

/// Why a configuration cannot run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    #[error("{name} = {value} is outside {range}")]
    OutOfRange {
        name: &'static str,
        value: f64,
        range: String,
    },
    #[error(
        "layers = {0}: the production topology (wesh_mix::Topology) has {MIX_LAYERS} mix layers"
    )]
    Layers(u32),
    #[error("client profile: {0}")]
    Profile(String),
}

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    pub clients: u32,
    pub layers: u32,
    /// Mixes per layer.
    pub width: u32,
    /// Providers (clients are spread over them evenly).
    pub providers: u32,
    /// λ_P: real-or-drop packets per client per second.
    pub lambda_p: f64,
    /// λ_P is paced (one packet every 1/λ_P from a random phase) instead of Poisson, as
    /// the `mobile` profile's is.
    pub paced_lambda_p: bool,
    /// λ_L: loops per client per second.
    pub lambda_l: f64,
    /// λ_D: drops per client per second.
    pub lambda_d: f64,
    /// λ_M: loops per mix and per provider per second.
    pub lambda_m: f64,
    /// Mean of the exponential hold per delaying hop, in milliseconds.
    pub mean_delay_ms: f64,
    /// Real messages each client writes per second (Poisson).
    pub message_rate: f64,
    /// Clients pull their mailbox this often, in milliseconds...
    pub pull_interval_ms: f64,
    /// ...taking at most this many payloads each time.
    pub pull_slots: u32,
    pub link_latency_ms: f64,
    /// Target messages (tagged real packets sent during the measured phase).
    pub targets: u32,
    pub burn_in_seconds: f64,
    pub seconds: f64,
    pub cooldown_seconds: f64,
    /// Fraction of mixes and providers whose pools the adversary sees through.
    pub corrupt_fraction: f64,
    pub seed: u64,
    /// Every packet is also a real Sphinx packet, unwrapped by each node
    /// (`sim/src/sphinx_lab.rs`); small runs only.
    pub real_sphinx: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::for_profile(&ClientProfile::default())
    }
}

impl SimConfig {
    /// The defaults with a client profile's rates and pull schedule.
    pub fn for_profile(p: &ClientProfile) -> Self {
        SimConfig {
            clients: DEFAULT_CLIENTS,
            layers: MIX_LAYERS as u32,
            width: DEFAULT_WIDTH,
            providers: DEFAULT_PROVIDERS,
            lambda_p: p.traffic.real_rate,
            paced_lambda_p: p.traffic.real_timing == wesh_mix::StreamTiming::Paced,
            lambda_l: p.traffic.loop_rate,
            lambda_d: p.traffic.drop_rate,
            lambda_m: DEFAULT_MIX_LOOP_RATE,
            mean_delay_ms: p.traffic.mean_hop_delay.as_secs_f64() * 1e3,
            message_rate: DEFAULT_MESSAGE_RATE.min(p.traffic.real_rate / 2.0),
            pull_interval_ms: p.pull_interval.as_secs_f64() * 1e3,
            pull_slots: p.pull_slots as u32,
            link_latency_ms: DEFAULT_LINK_LATENCY_MS,
            targets: DEFAULT_TARGETS,
            burn_in_seconds: DEFAULT_BURN_IN_SECONDS,
            seconds: DEFAULT_SECONDS,
            cooldown_seconds: DEFAULT_COOLDOWN_SECONDS,
            corrupt_fraction: 0.0,
            seed: 1,
            real_sphinx: false,
        }
    }

    /// The defaults of the client profile called `name` (`default`, `mobile`, `fast`).
    pub fn named_profile(name: &str) -> Result<Self, ConfigError> {
        let p = ClientProfile::named(name).map_err(|e| ConfigError::Profile(e.to_string()))?;
        Ok(Self::for_profile(&p))
    }

    /// Checks every value; a run only starts from a valid configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |name: &'static str, value: f64, lo: f64, hi: f64| {
            if value.is_finite() && (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange {
                    name,
                    value,
                    range: format!("{lo}..={hi}"),
                })
            }
        };
        if self.layers != MIX_LAYERS as u32 {
            return Err(ConfigError::Layers(self.layers));
        }
        check(
            "clients",
            f64::from(self.clients),
            1.0,
            f64::from(MAX_CLIENTS),
        )?;
        check("width", f64::from(self.width), 1.0, f64::from(MAX_RELAYS))?;
        check(
            "providers",
            f64::from(self.providers),
            1.0,
            f64::from(MAX_RELAYS),
        )?;
        for (name, value) in [
            ("lambda_p", self.lambda_p),
            ("lambda_l", self.lambda_l),
            ("lambda_d", self.lambda_d),
            ("lambda_m", self.lambda_m),
            ("message_rate", self.message_rate),
        ] {
            check(name, value, 0.0, MAX_STREAM_RATE)?;
        }
        let max_delay_ms = MAX_HOP_DELAY.as_secs_f64() * 1e3;
        check("mean_delay_ms", self.mean_delay_ms, 0.0, max_delay_ms)?;
        check("pull_interval_ms", self.pull_interval_ms, 1.0, 3_600_000.0)?;
        check(
            "pull_slots",
            f64::from(self.pull_slots),
            1.0,
            PULL_SLOTS as f64,
        )?;
        check("link_latency_ms", self.link_latency_ms, 0.0, 60_000.0)?;
        check(
            "targets",
            f64::from(self.targets),
            0.0,
            f64::from(MAX_TARGETS),
        )?;
        check("burn_in_seconds", self.burn_in_seconds, 0.0, 86_400.0)?;
        check("seconds", self.seconds, 0.001, 86_400.0)?;
        check("cooldown_seconds", self.cooldown_seconds, 0.0, 86_400.0)?;
        check("corrupt_fraction", self.corrupt_fraction, 0.0, 1.0)?;
        if self.real_sphinx {
            check(
                "clients (with real_sphinx)",
                f64::from(self.clients),
                1.0,
                f64::from(MAX_REAL_SPHINX_CLIENTS),
            )?;
        }
        Ok(())
    }

    /// Sets one field by its name (`--sweep NAME=...`, flags); the value is parsed as the
    /// field's type.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let f = || {
            value
                .parse::<f64>()
                .map_err(|e| format!("{name}={value}: {e}"))
        };
        let u = || {
            value
                .parse::<u32>()
                .map_err(|e| format!("{name}={value}: {e}"))
        };
        match name.replace('-', "_").as_str() {
            "clients" => self.clients = u()?,
            "layers" => self.layers = u()?,
            "width" => self.width = u()?,
            "providers" => self.providers = u()?,
            "lambda_p" => self.lambda_p = f()?,
            "lambda_l" => self.lambda_l = f()?,
            "lambda_d" => self.lambda_d = f()?,
            "lambda_m" => self.lambda_m = f()?,
            "mean_delay_ms" => self.mean_delay_ms = f()?,
            "message_rate" => self.message_rate = f()?,
            "pull_interval_ms" => self.pull_interval_ms = f()?,
            "pull_slots" => self.pull_slots = u()?,
            "link_latency_ms" => self.link_latency_ms = f()?,
            "targets" => self.targets = u()?,
            "burn_in_seconds" => self.burn_in_seconds = f()?,
            "seconds" => self.seconds = f()?,
            "cooldown_seconds" => self.cooldown_seconds = f()?,
            "corrupt_fraction" => self.corrupt_fraction = f()?,
            "seed" => self.seed = value.parse().map_err(|e| format!("seed={value}: {e}"))?,
            "paced_lambda_p" => {
                self.paced_lambda_p = value
                    .parse()
                    .map_err(|e| format!("paced_lambda_p={value}: {e}"))?
            }
            "real_sphinx" => {
                self.real_sphinx = value
                    .parse()
                    .map_err(|e| format!("real_sphinx={value}: {e}"))?
            }
            other => return Err(format!("no setting called {other:?}")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        SimConfig::default().validate().unwrap();
        for name in ["default", "mobile", "fast"] {
            SimConfig::named_profile(name).unwrap().validate().unwrap();
        }
        let mut c = SimConfig::default();
        c.set("mean-delay-ms", "-1").unwrap();
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains("mean_delay_ms"), "{e}");
        assert!(c.set("nonsense", "1").is_err());
        assert!(c.set("clients", "many").is_err());
        let c = SimConfig {
            layers: 4,
            ..SimConfig::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::Layers(4)));
    }
}
