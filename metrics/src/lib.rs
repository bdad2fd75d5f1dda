//! What `wesh` processes count and how operators read it: relay counters, the bytes on a
//! process's connections, build info, exposed in the Prometheus text format with
//! `prometheus-client` (`--metrics ADDR` serves it; the shell does the serving), and a
//! reader of that text (`wesh status`, `wesh bench client`).

pub mod client;
pub mod credit;
pub mod exposition;
pub mod http;
pub mod pki;
pub mod relay;
pub mod scrape;
pub mod services;
pub mod transport;

pub use exposition::{CONTENT_TYPE, Exposition, FnSource, Kind, MetricSource, Sample};
pub use http::{head_complete, http_reply};
pub use relay::{HoldHistogram, RelayMetrics, bump, get};
pub use scrape::{ScrapeError, Scraped, Series};
pub use transport::TransportBytes;
