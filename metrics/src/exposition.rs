//! The Prometheus text exposition (OpenMetrics text, what `prometheus-client` encodes) of
//! whatever sources a role registers. Sources are read at scrape time, so the hot paths
//! keep their plain atomics and nothing is copied between scrapes.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up; exposed with the `_total` suffix.
    Counter,
    Gauge,
}

/// One value of one series at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Sample {
    pub fn new(name: &'static str, help: &'static str, kind: Kind, value: impl Into<f64>) -> Self {
        Sample {
            name,
            help,
            kind,
            labels: Vec::new(),
            value: value.into(),
        }
    }

    pub fn gauge(name: &'static str, help: &'static str, value: impl Into<f64>) -> Self {
        Sample::new(name, help, Kind::Gauge, value)
    }

    pub fn counter(name: &'static str, help: &'static str, value: u64) -> Self {
        // u64 → f64: exact below 2^53, far beyond any counter here
        Sample::new(name, help, Kind::Counter, value as f64)
    }

    /// A counter read from an atomic the process keeps.
    pub fn counted(
        name: &'static str,
        help: &'static str,
        value: &std::sync::atomic::AtomicU64,
    ) -> Self {
        Sample::counter(name, help, value.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn label(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.labels.push((key, value.into()));
        self
    }
}

/// Something that reports samples when scraped.
pub trait MetricSource: Send + Sync + 'static {
    fn collect(&self, out: &mut Vec<Sample>);
}

impl<T: MetricSource> MetricSource for Arc<T> {
    fn collect(&self, out: &mut Vec<Sample>) {
        self.as_ref().collect(out)
    }
}

/// A source from a closure (for values that live in the shell: store sizes, the PKI view).
pub struct FnSource<F>(pub F);

impl<F: Fn(&mut Vec<Sample>) + Send + Sync + 'static> MetricSource for FnSource<F> {
    fn collect(&self, out: &mut Vec<Sample>) {
        (self.0)(out)
    }
}

struct SourceCollector(Box<dyn MetricSource>);

impl std::fmt::Debug for SourceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceCollector")
    }
}

impl Collector for SourceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut samples = Vec::new();
        self.0.collect(&mut samples);
        // a family's samples share one descriptor: group by name, first-seen order
        let mut names: Vec<&'static str> = Vec::new();
        for s in &samples {
            if !names.contains(&s.name) {
                names.push(s.name);
            }
        }
        for name in names {
            let family: Vec<&Sample> = samples.iter().filter(|s| s.name == name).collect();
            let Some(first) = family.first() else {
                continue;
            };
            let kind = match first.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
            };
            // the encoder ends every help text with a full stop itself
            let help = first.help.trim_end_matches('.');
            let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
            let encode = |s: &Sample, m: prometheus_client::encoding::MetricEncoder| {
                let value = if s.value.is_finite() { s.value } else { 0.0 };
                match s.kind {
                    // every counter here counts whole things
                    Kind::Counter => ConstCounter::new(value.max(0.0) as u64).encode(m),
                    Kind::Gauge => ConstGauge::new(value).encode(m),
                }
            };
            match family.as_slice() {
                [one] if one.labels.is_empty() => encode(one, metric)?,
                _ => {
                    for s in family {
                        let labels: Vec<(&str, &str)> =
                            s.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        encode(s, metric.encode_family(&labels)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Everything one process exposes on `/metrics`.
pub struct Exposition {
    registry: Registry,
}

impl std::fmt::Debug for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exposition")
    }
}

impl Exposition {
    /// An exposition for a process of `role` (mix, provider, client, issuer), with its
    /// build info (`wesh_build_info{version, role}`).
    pub fn new(role: &str) -> Self {
        let mut registry = Registry::default();
        registry.register(
            "wesh_build",
            "The wesh version and the role of this process",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("role", role.to_string()),
            ]),
        );
        Exposition { registry }
    }

    pub fn add_source(&mut self, source: impl MetricSource) {
        self.registry
            .register_collector(Box::new(SourceCollector(Box::new(source))));
    }

    /// A histogram the process observes into (cloning shares it).
    pub fn add_histogram(&mut self, name: &str, help: &str, histogram: Histogram) {
        self.registry
            .register(name, help.trim_end_matches('.'), histogram);
    }

    /// The text served on `/metrics`.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The content type of [`Exposition::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
