//! How a client's traffic profile is chosen: `--profile NAME` or `profile = "NAME"` in the
//! `[traffic]` section of `wesh client --config FILE`, then any single value from the file,
//! then any single value from a flag (flags win). The profiles and their limits are the
//! mix core's ([`ClientProfile`]).

use clap::Args;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;
use thiserror::Error;
use wesh_mix::{ClientProfile, ProfileError, StreamTiming};

#[derive(Debug, Clone, Default, Args)]
pub struct ProfileArgs {
    /// Traffic profile: `default` (desktop: λ_P 2/s, λ_L 0.25/s, λ_D 0.1/s, a 3-slot pull
    /// every 800 ms; about 1.3 GB a day idle) or `mobile` (λ_P 0.4/s paced, λ_L 0.02/s,
    /// λ_D 0.01/s, a 3-slot pull every 5 s; about 0.25 GB a day, slower messages) or `fast`
    /// (λ_P 5/s, λ_L 0.5/s, λ_D 0.25/s, a 4-slot pull every 500 ms; about 2.8 GB a day).
    /// The flags below change one value of it.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Real-stream rate λ_P, packets per second (a drop is sent when nothing waits).
    #[arg(long, value_name = "PER_SECOND")]
    pub real_rate: Option<f64>,
    /// How the real stream is spaced: `poisson` (Loopix's exponential gaps) or `paced`
    /// (one packet every 1/λ_P from a random phase: no bursts, so a budget holds in any
    /// window; spec/mixnet.md, "Client profiles").
    #[arg(long, value_name = "TIMING", value_parser = ["poisson", "paced"])]
    pub real_timing: Option<String>,
    /// Loop-cover rate λ_L, packets per second.
    #[arg(long, value_name = "PER_SECOND")]
    pub loop_rate: Option<f64>,
    /// Drop-cover rate λ_D, packets per second.
    #[arg(long, value_name = "PER_SECOND")]
    pub drop_rate: Option<f64>,
    /// Time between two mailbox pulls, milliseconds (pulls run on this schedule whatever
    /// the mailbox holds).
    #[arg(long, value_name = "MS")]
    pub pull_interval_ms: Option<u64>,
    /// Payload slots in every pull answer, 1 to 16 (real or dummy: the answer's size never
    /// says how much mail came).
    #[arg(long, value_name = "N")]
    pub pull_slots: Option<usize>,
}

/// The `[traffic]` section of a client's config file; every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficSection {
    pub profile: Option<String>,
    pub real_rate: Option<f64>,
    pub real_timing: Option<String>,
    pub loop_rate: Option<f64>,
    pub drop_rate: Option<f64>,
    pub pull_interval_ms: Option<u64>,
    pub pull_slots: Option<usize>,
}

/// A client's config file (`wesh client --config FILE`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfigFile {
    pub traffic: TrafficSection,
}

#[derive(Debug, Error)]
pub enum ProfileArgsError {
    #[error("cannot read config file {0}: {1}")]
    Read(String, std::io::Error),
    #[error("config file {0} is not valid: {1}")]
    Parse(String, String),
    #[error("{0}")]
    Profile(#[from] ProfileError),
}

impl ClientConfigFile {
    pub fn load(path: &Path) -> Result<Self, ProfileArgsError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| ProfileArgsError::Read(shown.clone(), e))?;
        toml::from_str(&text).map_err(|e| ProfileArgsError::Parse(shown, e.to_string()))
    }
}

impl ProfileArgs {
    /// The profile these flags choose over `file` (flags win), checked.
    pub fn resolve(&self, file: &TrafficSection) -> Result<ClientProfile, ProfileError> {
        let name = self
            .profile
            .as_deref()
            .or(file.profile.as_deref())
            .unwrap_or("default");
        let mut p = ClientProfile::named(name)?;
        for layer in [file, &self.as_section()] {
            if let Some(r) = layer.real_rate {
                p.traffic.real_rate = r;
            }
            if let Some(t) = &layer.real_timing {
                p.traffic.real_timing =
                    StreamTiming::named(t).ok_or_else(|| ProfileError::Timing(t.clone()))?;
            }
            if let Some(r) = layer.loop_rate {
                p.traffic.loop_rate = r;
            }
            if let Some(r) = layer.drop_rate {
                p.traffic.drop_rate = r;
            }
            if let Some(ms) = layer.pull_interval_ms {
                p.pull_interval = Duration::from_millis(ms);
            }
            if let Some(n) = layer.pull_slots {
                p.pull_slots = n;
            }
        }
        p.validate()?;
        Ok(p)
    }

    fn as_section(&self) -> TrafficSection {
        TrafficSection {
            profile: self.profile.clone(),
            real_rate: self.real_rate,
            real_timing: self.real_timing.clone(),
            loop_rate: self.loop_rate,
            drop_rate: self.drop_rate,
            pull_interval_ms: self.pull_interval_ms,
            pull_slots: self.pull_slots,
        }
    }

    /// The same choice as command-line arguments (to start a `wesh client` with it).
    pub fn to_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |flag: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push(format!("--{flag}"));
                out.push(v);
            }
        };
        push("profile", self.profile.clone());
        push("real-rate", self.real_rate.map(|v| v.to_string()));
        push("real-timing", self.real_timing.clone());
        push("loop-rate", self.loop_rate.map(|v| v.to_string()));
        push("drop-rate", self.drop_rate.map(|v| v.to_string()));
        push(
            "pull-interval-ms",
            self.pull_interval_ms.map(|v| v.to_string()),
        );
        push("pull-slots", self.pull_slots.map(|v| v.to_string()));
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_the_profile() {
        let file: ClientConfigFile =
            toml::from_str("[traffic]\nprofile = \"mobile\"\nloop_rate = 0.2\npull_slots = 4")
                .unwrap();
        let none = ProfileArgs::default();
        let p = none.resolve(&file.traffic).unwrap();
        assert_eq!(p.name, "mobile");
        assert_eq!(p.traffic.loop_rate, 0.2);
        assert_eq!(p.pull_slots, 4);
        let flags = ProfileArgs {
            profile: Some("default".into()),
            pull_slots: Some(2),
            ..Default::default()
        };
        let p = flags.resolve(&file.traffic).unwrap();
        assert_eq!(p.name, "default");
        assert_eq!(p.traffic.loop_rate, 0.2, "the file's value stays");
        assert_eq!(p.pull_slots, 2, "the flag wins");
    }

    #[test]
    fn the_real_streams_timing_comes_from_the_profile_the_file_or_a_flag() {
        let none = ProfileArgs::default();
        let mobile = ProfileArgs {
            profile: Some("mobile".into()),
            ..Default::default()
        };
        let empty = TrafficSection::default();
        assert_eq!(
            none.resolve(&empty).unwrap().traffic.real_timing,
            StreamTiming::Poisson
        );
        assert_eq!(
            mobile.resolve(&empty).unwrap().traffic.real_timing,
            StreamTiming::Paced
        );
        let file: ClientConfigFile = toml::from_str("[traffic]\nreal_timing = \"paced\"").unwrap();
        assert_eq!(
            none.resolve(&file.traffic).unwrap().traffic.real_timing,
            StreamTiming::Paced
        );
        let poisson = ProfileArgs {
            real_timing: Some("poisson".into()),
            ..mobile
        };
        assert_eq!(
            poisson.resolve(&file.traffic).unwrap().traffic.real_timing,
            StreamTiming::Poisson,
            "the flag wins"
        );
        let bad: ClientConfigFile = toml::from_str("[traffic]\nreal_timing = \"bursty\"").unwrap();
        assert!(matches!(
            none.resolve(&bad.traffic),
            Err(ProfileError::Timing(t)) if t == "bursty"
        ));
    }

    #[test]
    fn bad_values_and_unknown_keys_are_refused() {
        assert!(toml::from_str::<ClientConfigFile>("[traffic]\npull_slot = 3").is_err());
        let bad = ProfileArgs {
            pull_slots: Some(17),
            ..Default::default()
        };
        assert!(bad.resolve(&TrafficSection::default()).is_err());
        let unknown = ProfileArgs {
            profile: Some("laptop".into()),
            ..Default::default()
        };
        assert!(matches!(
            unknown.resolve(&TrafficSection::default()),
            Err(ProfileError::Unknown(_))
        ));
    }

    #[test]
    fn to_args_round_trips_through_clap() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            p: ProfileArgs,
        }
        let a = ProfileArgs {
            profile: Some("mobile".into()),
            real_rate: Some(0.75),
            pull_interval_ms: Some(2500),
            ..Default::default()
        };
        let argv = std::iter::once("x".to_string()).chain(a.to_args());
        let back = Cli::parse_from(argv).p;
        assert_eq!(
            back.resolve(&TrafficSection::default()).unwrap(),
            a.resolve(&TrafficSection::default()).unwrap()
        );
    }
}
