//! Mailboxes with every node a real `wesh` process: a client sends to an offline client,
//! its acks arrive (the payloads are durable at the recipient's provider), the provider is
//! killed with SIGKILL and restarted, and the recipient, back online, receives everything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Running, start, wesh};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const EPOCH: &str = "600";

/// A `wesh client` process; its address is read from stdout.
struct ClientProcess {
    child: Child,
    address: String,
    log: std::sync::mpsc::Receiver<String>,
}

impl ClientProcess {
    /// Waits until the log has shown `needle` `count` times.
    fn wait_for(&self, needle: &str, count: usize, within: Duration) {
        let deadline = Instant::now() + within;
        let mut seen = 0;
        while seen < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => seen += 1,
                Ok(_) => {}
                Err(_) => panic!("saw {needle:?} {seen}/{count} times within {within:?}"),
            }
        }
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(dir: &std::path::Path, extra: &[&str]) -> ClientProcess {
    let mut child = wesh()
        .args([
            "client",
            "--epoch-seconds",
            EPOCH,
            "--pull-interval-ms",
            "200",
            "--data-dir",
        ])
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, log) = std::sync::mpsc::channel();
    let err = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("client printed nothing").unwrap();
    let address = first
        .strip_prefix("client address: ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    ClientProcess {
        child,
        address,
        log,
    }
}

fn inbox(dir: &std::path::Path) -> Vec<serde_json::Value> {
    common::json_lines(
        wesh()
            .args(["inbox", "--raw", "--json", "--data-dir"])
            .arg(dir),
    )
}

fn provider_at(dir: &std::path::Path, listen: &str, boot: &str) -> Running {
    start(
        "provider",
        dir,
        &[
            "--epoch-seconds",
            EPOCH,
            "--listen",
            listen,
            "--bootstrap",
            boot,
        ],
    )
}

#[test]
fn acknowledged_payloads_survive_a_provider_sigkill() {
    let dirs: Vec<_> = (0..7).map(|_| tempfile::tempdir().unwrap()).collect();
    let mix1 = start("mix", dirs[0].path(), &["--epoch-seconds", EPOCH]);
    let boot = format!("{}/p2p/{}", mix1.addr, mix1.peer);
    let _mix2 = start(
        "mix",
        dirs[1].path(),
        &["--epoch-seconds", EPOCH, "--bootstrap", &boot],
    );
    let _mix3 = start(
        "mix",
        dirs[2].path(),
        &["--epoch-seconds", EPOCH, "--bootstrap", &boot],
    );
    let a = provider_at(dirs[3].path(), "/ip4/127.0.0.1/tcp/0", &boot);
    let b = provider_at(dirs[4].path(), "/ip4/127.0.0.1/tcp/0", &boot);
    let (b_addr, b_peer) = (b.addr.clone(), b.peer.clone());

    // the recipient registers its mailbox at B, then goes away
    let recipient_dir = dirs[5].path();
    let recipient = client(
        recipient_dir,
        &["--provider", &format!("{b_addr}/p2p/{b_peer}")],
    );
    let to = recipient.address.clone();
    recipient.wait_for("mailbox registered", 1, Duration::from_secs(20));
    drop(recipient);

    // the sender waits until every fragment is acked, i.e. on B's disk
    let files = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..30_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let (big_path, small_path) = (files.path().join("big"), files.path().join("small"));
    std::fs::write(&big_path, &big).unwrap();
    std::fs::write(&small_path, b"hello from the mixnet").unwrap();
    let sent = wesh()
        .args([
            "client",
            "--epoch-seconds",
            EPOCH,
            "--exit-when-sent",
            "--data-dir",
        ])
        .arg(dirs[6].path())
        .args(["--provider", &format!("{}/p2p/{}", a.addr, a.peer)])
        .arg("--send")
        .arg(format!("{to}={}", big_path.display()))
        .arg("--send")
        .arg(format!("{to}={}", small_path.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let out = sent.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sender failed after {:?}: {}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr)
    );

    // SIGKILL: no chance to flush anything; then the same node comes back on its port
    let mut b = b;
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    drop(b);
    let _b = provider_at(dirs[4].path(), &b_addr, &boot);

    // the recipient comes back and pulls its mailbox
    let back = client(recipient_dir, &[]);
    assert_eq!(back.address, to, "same keys, same address");
    back.wait_for("message received", 2, Duration::from_secs(30));
    drop(back);
    let messages = inbox(recipient_dir);
    let mut got: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| hex::decode(m["hex"].as_str().unwrap()).unwrap())
        .collect();
    got.sort_by_key(|m| m.len());
    assert_eq!(got.len(), 2, "both messages, once each: {messages:?}");
    assert_eq!(got[0], b"hello from the mixnet");
    assert_eq!(got[1], big);
}
