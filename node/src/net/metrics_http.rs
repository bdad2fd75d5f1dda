//! `--metrics ADDR`: serves `GET /metrics` (the process's [`Exposition`]) over HTTP/1.1,
//! one short connection per scrape. Anything else gets 404 or 405; a slow or oversized
//! request is dropped. Loopback by default: the counters say how busy the node is.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use wesh_metrics::{Exposition, head_complete, http_reply};

/// Where `--metrics` listens when given without an address.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";
/// Largest request head read (a scraper's is a few hundred bytes).
const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Time a client has to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes served at once; more wait for a slot.
const MAX_CONCURRENT: usize = 8;

#[derive(Debug, Error)]
pub enum MetricsServeError {
    #[error("--metrics {0:?}: not an IP:port address")]
    Addr(String),
    #[error("--metrics: cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// Parses a `--metrics` value.
pub fn parse_metrics_addr(text: &str) -> Result<SocketAddr, MetricsServeError> {
    text.parse()
        .map_err(|_| MetricsServeError::Addr(text.to_string()))
}

/// Binds `addr` and serves until `shutdown` turns true; returns the bound address.
pub async fn serve_metrics(
    addr: SocketAddr,
    exposition: Arc<Exposition>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<SocketAddr, MetricsServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| MetricsServeError::Bind(addr, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| MetricsServeError::Bind(addr, e))?;
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let Ok(permit) = slots.clone().acquire_owned().await else { break };
                    let exposition = exposition.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &exposition)).await;
                        drop(permit);
                    });
                }
                // a dropped sender also ends it (its process is going away)
                changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { break },
            }
        }
    });
    Ok(bound)
}

async fn answer(mut stream: TcpStream, exposition: &Exposition) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head_complete(&head) {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_REQUEST_BYTES {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let reply = http_reply(&head, exposition);
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

/// Why a scrape of `/metrics` failed.
#[derive(Debug, Error)]
pub enum FetchError {
    #[error("cannot reach http://{0}/metrics: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("no answer from http://{0}/metrics within 5 s")]
    Timeout(SocketAddr),
    #[error("http://{0}/metrics answered {1:?}")]
    Status(SocketAddr, String),
}

/// Scrapes `http://addr/metrics` once; the body.
pub async fn fetch_metrics(addr: SocketAddr) -> Result<String, FetchError> {
    let work = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&reply).into_owned())
    };
    let reply = tokio::time::timeout(REQUEST_TIMEOUT, work)
        .await
        .map_err(|_| FetchError::Timeout(addr))?
        .map_err(|e| FetchError::Connect(addr, e))?;
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") {
        return Err(FetchError::Status(addr, status.to_string()));
    }
    Ok(body.to_string())
}
