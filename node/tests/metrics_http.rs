//! `--metrics`: the HTTP endpoint on a real loopback socket, scraped as Prometheus would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wesh_metrics::{Exposition, RelayMetrics, Scraped, TransportBytes};
use wesh_shell::net::metrics_http::{fetch_metrics, serve_metrics};

async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    // the server may close while we still write (oversized requests): only read what came
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn metrics_are_served_read_back_and_bad_requests_refused() {
    let relay = Arc::new(RelayMetrics::default());
    relay.forwarded.store(41, Relaxed);
    relay.drop_bad_mac.store(2, Relaxed);
    let bytes = Arc::new(TransportBytes::default());
    bytes.add_received(1234);
    let mut e = Exposition::new("provider");
    e.add_source(relay.clone());
    e.add_source(bytes.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let addr = serve_metrics("127.0.0.1:0".parse().unwrap(), Arc::new(e), stopped)
        .await
        .unwrap();

    let first = Scraped::parse(&fetch_metrics(addr).await.unwrap()).unwrap();
    assert_eq!(first.value("wesh_packets_forwarded_total", &[]), Some(41.0));
    assert_eq!(
        first.value("wesh_packets_dropped_total", &[("reason", "bad_mac")]),
        Some(2.0)
    );
    assert_eq!(
        first.value("wesh_transport_bytes_total", &[("direction", "received")]),
        Some(1234.0)
    );
    // read at scrape time: a change shows at the next scrape
    relay.forwarded.fetch_add(1, Relaxed);
    let second = Scraped::parse(&fetch_metrics(addr).await.unwrap()).unwrap();
    assert_eq!(
        second.value("wesh_packets_forwarded_total", &[]),
        Some(42.0)
    );

    assert!(
        raw(addr, b"GET /other HTTP/1.1\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 404")
    );
    assert!(
        raw(addr, b"POST /metrics HTTP/1.1\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 405")
    );
    // a request head beyond 8 KiB gets no answer, and the server keeps serving
    let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10_000));
    assert_eq!(raw(addr, &huge).await, "");
    assert!(fetch_metrics(addr).await.is_ok());

    stop.send(true).unwrap();
    // once stopped, nothing accepts any more (the listener is dropped)
    let mut refused = false;
    for _ in 0..50 {
        if fetch_metrics(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "the metrics server still answers after shutdown");
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let taken = listener.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let err = serve_metrics(taken, Arc::new(Exposition::new("mix")), stopped)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot listen on"), "{err}");
}
