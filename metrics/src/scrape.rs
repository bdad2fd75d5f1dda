//! A reader of the text exposition (`/metrics`): the samples as (name, labels, value), for
//! `wesh status` and for benches that read a process's own counters. Comments (`# HELP`,
//! `# TYPE`, `# EOF`) are skipped; anything else that is not a sample is an error.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeError {
    pub line: usize,
    pub text: String,
}

impl std::fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {} is not a metric sample: {:?}",
            self.line, self.text
        )
    }
}

impl std::error::Error for ScrapeError {}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scraped {
    pub series: Vec<Series>,
}

impl Scraped {
    pub fn parse(text: &str) -> Result<Self, ScrapeError> {
        let mut series = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || ScrapeError {
                line: i + 1,
                text: raw.chars().take(120).collect(),
            };
            let (head, value) = line.rsplit_once(' ').ok_or_else(bad)?;
            let value: f64 = value.parse().map_err(|_| bad())?;
            let (name, labels) = match head.split_once('{') {
                None => (head, BTreeMap::new()),
                Some((name, rest)) => (name, parse_labels(rest).ok_or_else(bad)?),
            };
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            if !name_ok {
                return Err(bad());
            }
            series.push(Series {
                name: name.to_string(),
                labels,
                value,
            });
        }
        Ok(Scraped { series })
    }

    /// The value of `name` whose labels include all of `labels`; the sum if several match.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for s in &self.series {
            let matches = s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v));
            if matches {
                found = Some(found.unwrap_or(0.0) + s.value);
            }
        }
        found
    }

    /// Every series of `name` with the value of label `key`.
    pub fn by_label(&self, name: &str, key: &str) -> Vec<(String, f64)> {
        self.series
            .iter()
            .filter(|s| s.name == name)
            .map(|s| (s.labels.get(key).cloned().unwrap_or_default(), s.value))
            .collect()
    }
}

/// `k="v",k2="v2"}` (the part after `{`), with `\"`, `\\` and `\n` escapes.
fn parse_labels(rest: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        match chars.peek() {
            Some('}') => {
                chars.next();
                return chars.next().is_none().then_some(labels);
            }
            Some(',') => {
                chars.next();
                continue;
            }
            None => return None,
            _ => {}
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if chars.next() != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                c => value.push(c),
            }
        }
        labels.insert(key.trim().to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{Exposition, RelayMetrics, TransportBytes};
    use std::sync::Arc;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn what_the_exposition_writes_the_reader_reads_back() {
        let relay = Arc::new(RelayMetrics::default());
        relay.received.store(7, Relaxed);
        relay.drop_replay.store(3, Relaxed);
        relay.record_held(std::time::Duration::from_millis(150));
        let bytes = Arc::new(TransportBytes::default());
        bytes.add_sent(1000);
        bytes.add_received(2500);
        let mut e = Exposition::new("mix");
        e.add_source(relay.clone());
        e.add_source(bytes.clone());
        e.add_histogram(
            "wesh_hop_hold_seconds",
            "Hold time per hop.",
            relay.hold_seconds.0.clone(),
        );
        let text = e.encode().unwrap();
        let s = Scraped::parse(&text).unwrap();
        assert_eq!(s.value("wesh_packets_received_total", &[]), Some(7.0));
        assert_eq!(
            s.value("wesh_packets_dropped_total", &[("reason", "replay")]),
            Some(3.0)
        );
        assert_eq!(s.value("wesh_packets_dropped_total", &[]), Some(3.0));
        assert_eq!(
            s.value("wesh_transport_bytes_total", &[("direction", "received")]),
            Some(2500.0)
        );
        assert_eq!(s.value("wesh_hop_hold_seconds_count", &[]), Some(1.0));
        assert_eq!(
            s.value("wesh_hop_hold_seconds_bucket", &[("le", "0.2")]),
            Some(1.0)
        );
        assert_eq!(s.value("wesh_build_info", &[("role", "mix")]), Some(1.0));
        let names: std::collections::BTreeSet<_> =
            s.series.iter().map(|x| x.name.clone()).collect();
        assert!(names.len() >= 15, "{names:?}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "x{a=\"1\" 2",
            "x{a=1} 2",
            "x 1 2 three",
            "{} 1",
            "x{a=\"1\"}} 2",
            "é 1",
        ] {
            assert!(Scraped::parse(bad).is_err(), "{bad:?}");
        }
        let ok = Scraped::parse("# HELP x y\nx{a=\"q\\\"\"} 2\n# EOF\n").unwrap();
        assert_eq!(ok.value("x", &[("a", "q\"")]), Some(2.0));
    }
}
