//! Helpers shared by the process tests: the `wesh` binary, `wesh testnet --json`, and
//! roles started as real processes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A free loopback port (bound then released: the process under test binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wesh() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wesh"))
}

/// Whole networks of one test file run one at a time: several at once on a 2-core machine
/// turn timing margins into flakiness.
static ONE_NETWORK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the machine for one whole network until dropped.
pub fn one_network() -> std::sync::MutexGuard<'static, ()> {
    ONE_NETWORK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `cmd` to its end; it must succeed (its stderr says why not).
pub fn succeed(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd` to its end; it must succeed. Its stdout's lines, each a JSON object.
pub fn json_lines(cmd: &mut Command) -> Vec<serde_json::Value> {
    let out = succeed(cmd);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `wesh testnet ARGS --json` (one network at a time) and parses its single line of
/// JSON.
pub fn testnet_json(args: &[&str]) -> serde_json::Value {
    let _one = one_network();
    let out = wesh()
        .arg("testnet")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "testnet failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "stdout must be exactly one JSON object: {stdout}"
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

pub struct Running {
    pub child: Child,
    pub peer: String,
    pub addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a role (`mix` or `provider`) listening on a free loopback port, and reads its
/// peer id and listen address from its log (`extra` may hold its own `--listen`).
pub fn start(role: &str, dir: &std::path::Path, extra: &[&str]) -> Running {
    let mut cmd = wesh();
    cmd.arg(role);
    if !extra.contains(&"--listen") {
        cmd.args(["--listen", "/ip4/127.0.0.1/tcp/0"]);
    }
    let child = cmd
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the guard kills the child even if reading its log fails below
    let mut running = Running {
        child,
        peer: String::new(),
        addr: String::new(),
    };
    let mut lines = BufReader::new(running.child.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("node exited before running").unwrap();
        if line.contains("node running") {
            let field = |key: &str| {
                let start = line
                    .find(key)
                    .unwrap_or_else(|| panic!("no {key} in {line}"))
                    + key.len();
                let rest = &line[start..];
                rest[..rest.find([' ', '"', ']', ',']).unwrap_or(rest.len())].to_string()
            };
            running.peer = field("peer_id=");
            running.addr = format!("/ip4/127.0.0.1/tcp/{}", field("/ip4/127.0.0.1/tcp/"));
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    running
}
