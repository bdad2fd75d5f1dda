//! The Wesh app API with every part a real process: 3 mixes and 2 providers (`wesh mix`,
//! `wesh provider`, gossip PKI), two accounts in `wesh client --api` processes, driven
//! only through the CLI subcommands (`wesh contact|group|send|inbox`, which use the typed
//! API client). They become contacts, write both ways, one account is killed with SIGKILL
//! and comes back with its contacts and messages (its journal), and catches up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Running, start, wesh};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const EPOCH: &str = "600";
const PATIENCE: Duration = Duration::from_secs(120);

/// A `wesh client --api` process; its addresses are read from stdout.
struct Account {
    child: Child,
    api: String,
    dir: PathBuf,
    /// What the process wrote on stderr so far (the operator's terminal).
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Account {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn account(dir: &Path, provider: Option<&Running>) -> Account {
    account_with(dir, provider, &[])
}

fn account_with(dir: &Path, provider: Option<&Running>, extra: &[&str]) -> Account {
    let mut cmd = wesh();
    cmd.args([
        "client",
        "--epoch-seconds",
        EPOCH,
        "--pull-interval-ms",
        "100",
        "--api",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(dir);
    if let Some(p) = provider {
        cmd.args(["--provider", &format!("{}/p2p/{}", p.addr, p.peer)]);
    }
    cmd.args(extra);
    let mut child = cmd
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let keep = stderr.clone();
    std::thread::spawn(move || {
        for l in err_lines.map_while(Result::ok) {
            keep.lock().unwrap().push(l);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("client printed nothing").unwrap();
    assert!(first.starts_with("client address: "), "{first:?}");
    let second = lines.next().expect("no api line").unwrap();
    let api = second
        .strip_prefix("api: ")
        .unwrap_or_else(|| panic!("unexpected line {second:?}"))
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    Account {
        child,
        api,
        dir: dir.to_path_buf(),
        stderr,
    }
}

/// `wesh client --api` on `dir` with `extra` must exit at once with `why` on stderr.
fn refused_start(dir: &Path, extra: &[&str], why: &str) {
    let out = wesh()
        .args(["client", "--api", "127.0.0.1:0", "--epoch-seconds", EPOCH])
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(why), "{stderr}");
}

/// Runs `wesh ARGS --api API --json`; Ok(answer) or Err(stderr).
fn api(acc: &Account, args: &[&str]) -> Result<Value, String> {
    let out = wesh()
        .args(args)
        .args(["--api", &acc.api, "--json", "--data-dir"])
        .arg(&acc.dir)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).unwrap();
    Ok(match text.lines().count() {
        1 => serde_json::from_str(text.trim()).unwrap(),
        _ => Value::Array(
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        ),
    })
}

/// Writes `bytes` on a fresh connection to the API and returns all it answers until it
/// closes (or 10 s).
fn raw_exchange(addr: &str, bytes: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // the server may close before it read everything: a reset is an answer too
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `wesh account link --out FILE`; types what `answer` makes of the code the node shows on
/// its terminal. (exit success, stderr)
fn link_device(acc: &Account, out: &Path, answer: impl Fn(&str) -> String) -> (bool, String) {
    let seen = acc.stderr.lock().unwrap().len();
    let mut cli = wesh()
        .args(["account", "link", "--api", &acc.api, "--data-dir"])
        .arg(&acc.dir)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let marker = "type this code where it was requested: ";
    let shown = eventually("the node to show a confirmation code", || {
        let lines = acc.stderr.lock().unwrap();
        lines[seen..].iter().find_map(|l| {
            let rest = &l[l.find(marker)? + marker.len()..];
            Some(rest.split_whitespace().next()?.to_string())
        })
    });
    let mut stdin = cli.stdin.take().unwrap();
    writeln!(stdin, "{}", answer(&shown)).unwrap();
    drop(stdin);
    let out = cli.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Retries `f` until it returns Some, or panics after [`PATIENCE`].
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The payloads (as text) of `group`'s messages that `acc` received from others.
fn received(acc: &Account, group: &str) -> Vec<String> {
    match api(acc, &["inbox", group]) {
        Ok(Value::Array(ms)) => ms,
        Ok(Value::Null) => Vec::new(),
        Ok(one) => vec![one],
        Err(_) => Vec::new(),
    }
    .iter()
    .filter_map(|m| m["payload"].as_str())
    .map(|h| String::from_utf8(hex::decode(h).unwrap()).unwrap())
    .collect()
}

/// Waits until `acc` has received `text` in `group`.
fn reads(acc: &Account, group: &str, text: &str) {
    eventually(&format!("{} to read {text:?}", acc.api), || {
        received(acc, group).iter().any(|t| t == text).then_some(())
    });
}

fn contacts(acc: &Account) -> Vec<(String, String)> {
    api(acc, &["contact", "list"])
        .ok()
        .and_then(|v| serde_json::from_value(v["value"]["contacts"].clone()).ok())
        .unwrap_or_default()
}

#[test]
fn two_accounts_become_contacts_write_and_survive_a_sigkill_through_the_cli() {
    let dirs: Vec<_> = (0..9).map(|_| tempfile::tempdir().unwrap()).collect();
    let mix1 = start("mix", dirs[0].path(), &["--epoch-seconds", EPOCH]);
    let boot = format!("{}/p2p/{}", mix1.addr, mix1.peer);
    let with_boot = ["--epoch-seconds", EPOCH, "--bootstrap", &boot];
    let _mix2 = start("mix", dirs[1].path(), &with_boot);
    let _mix3 = start("mix", dirs[2].path(), &with_boot);
    let pa = start("provider", dirs[3].path(), &with_boot);
    let pb = start("provider", dirs[4].path(), &with_boot);
    let (alice_dir, bob_dir) = (dirs[5].path(), dirs[6].path());
    let alice = account(alice_dir, Some(&pa));
    let bob = account(bob_dir, Some(&pb));

    // a bad argument is a typed error, and the exit status says so
    let refused = api(&alice, &["send", "not-a-group", "hi"]).unwrap_err();
    assert!(refused.contains("bad argument group"), "{refused}");

    // a web page's POST and a process without the cookie run nothing (issue 15, item 1)
    let card_before = api(&alice, &["contact", "reference"]).unwrap();
    let renew = r#"{"method":"ContactRequestResetReference"}"#;
    let page = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nOrigin: https://evil.example\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{renew}\n{renew}\n",
        alice.api,
        2 * (renew.len() + 1)
    );
    assert_eq!(
        raw_exchange(&alice.api, page.as_bytes()),
        "",
        "HTTP gets no answer"
    );
    let answer = raw_exchange(&alice.api, format!("{renew}\n{renew}\n").as_bytes());
    assert!(answer.contains("Unauthorized"), "{answer}");
    assert_eq!(
        answer.lines().count(),
        1,
        "closed after the first line: {answer}"
    );
    let wrong = wesh()
        .args(["contact", "reset-reference", "--api", &alice.api])
        .env("WESH_API_COOKIE", "00".repeat(32))
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong API cookie"));
    assert_eq!(
        api(&alice, &["contact", "reference"]).unwrap(),
        card_before,
        "no attack renewed the card"
    );

    // alice renews her card once (the old one stops working: its registration is
    // revoked); bob asks alice with the new card (all he needs); alice accepts
    let card_of = |v: Value| v["value"]["reference"].as_str().unwrap().to_string();
    let old_card = card_of(api(&alice, &["contact", "reference"]).unwrap());
    let card = card_of(api(&alice, &["contact", "reset-reference"]).unwrap());
    assert_ne!(card, old_card);
    assert_eq!(
        card_of(api(&alice, &["contact", "reference"]).unwrap()),
        card
    );
    eventually(
        "bob's request to be sent (the directory may not be there yet)",
        || api(&bob, &["contact", "send", &card]).ok(),
    );
    let requester = eventually("alice to see bob's request", || {
        let v = api(&alice, &["contact", "requests"]).ok()?;
        v["value"]["accounts"][0].as_str().map(str::to_string)
    });
    api(&alice, &["contact", "accept", &requester]).unwrap();
    let group = eventually("both to list each other as contacts", || {
        let (a, b) = (contacts(&alice), contacts(&bob));
        (a.len() == 1 && b.len() == 1 && a[0].1 == b[0].1).then(|| a[0].1.clone())
    });

    // messages both ways, through the mixnet
    api(&bob, &["send", &group, "hello", "alice"]).unwrap();
    reads(&alice, &group, "hello alice");
    api(&alice, &["send", &group, "hi bob"]).unwrap();
    reads(&bob, &group, "hi bob");

    // alice dies without a chance to flush anything; bob writes meanwhile
    let alice_contacts = contacts(&alice);
    assert_eq!(alice_contacts[0].0, requester);
    drop(alice);
    api(&bob, &["send", &group, "while you were away"]).unwrap();
    // the account cannot silently move to another provider
    let pb_addr = format!("{}/p2p/{}", pb.addr, pb.peer);
    refused_start(
        alice_dir,
        &["--provider", &pb_addr],
        "moving it to another provider",
    );
    let alice = account(alice_dir, None);
    assert_eq!(contacts(&alice), alice_contacts, "her contacts survive");
    assert!(
        received(&alice, &group).contains(&"hello alice".to_string()),
        "what alice had read survives"
    );
    reads(&alice, &group, "while you were away");
    // and her ratchet picks up where it was: bob accepts what she writes now
    api(&alice, &["send", &group, "back again"]).unwrap();
    reads(&bob, &group, "back again");

    // alice links a second device: the node asks its operator, and the code goes through
    // a 0600 file; a wrong confirmation gets nothing
    let code_file = dirs[8].path().join("link-code");
    let (ok, err) = link_device(&alice, &code_file, |_| "00000-00000".into());
    assert!(!ok && err.contains("wrong confirmation code"), "{err}");
    assert!(!code_file.exists());
    let (ok, err) = link_device(&alice, &code_file, |shown| shown.to_string());
    assert!(ok, "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&code_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // a garbage code is refused with a clear error, before anything starts
    let garbage = dirs[8].path().join("garbage");
    std::fs::write(&garbage, "00ff").unwrap();
    refused_start(
        &dirs[8].path().join("unused"),
        &[
            "--link-from",
            garbage.to_str().unwrap(),
            "--provider",
            &pb_addr,
        ],
        "not a valid link code",
    );

    let alice2_dir = dirs[7].path();
    let code_arg = code_file.to_str().unwrap().to_string();
    let alice2 = account_with(alice2_dir, Some(&pb), &["--link-from", &code_arg]);
    let synced = eventually("alice's second device to get her contact", || {
        let c = contacts(&alice2);
        (c == alice_contacts).then_some(c)
    });
    assert_eq!(synced[0].1, group, "the same contact group");
    // bob learns the new device from the contact group and writes to both
    api(&bob, &["send", &group, "to both of you"]).unwrap();
    reads(&alice2, &group, "to both of you");
    reads(&alice, &group, "to both of you");

    // the linked device is rebuilt from its journal after a SIGKILL; linking again
    // into a data dir that has an account is refused
    drop(alice2);
    refused_start(
        alice2_dir,
        &["--link-from", &code_arg],
        "already holds a Wesh account",
    );
    let alice2 = account(alice2_dir, None);
    assert_eq!(contacts(&alice2), alice_contacts);
    assert!(received(&alice2, &group).contains(&"to both of you".to_string()));
    api(&bob, &["send", &group, "still there?"]).unwrap();
    reads(&alice2, &group, "still there?");
}
