//! The local app API socket: JSON lines over TCP.
//!
//! A connection first presents the node's API cookie, `{"cookie": HEX}` with the content
//! of `<data-dir>/api.cookie` ([`super::cookie`]), answered `{"ok": {"result": "Done"}}`.
//! Then each request is one line holding an [`ApiRequest`] (`{"method": ..., "params":
//! ...}`); each answer is one line, `{"ok": ApiResponse}` or `{"err": ApiError}`
//! ([`ApiAnswer`]). A wrong cookie, a line that is not a request, or a line longer than
//! [`MAX_LINE_BYTES`] is answered with an error and closes the connection; anything that
//! looks like HTTP closes it without an answer ([`super::session`]). Blank lines are
//! ignored.
//!
//! `DeviceLinkCreate` (the account's secret keys) also needs the operator: the node
//! prints a one-time confirmation code on its terminal and answers `ConfirmationRequired`;
//! `DeviceLinkConfirm` with that code gets the link code.
//!
//! `GroupMessageList` with `"follow": true` first answers the current list, then keeps
//! the connection for that stream: one `{"ok": {"result": "Message", ...}}` line per new
//! message of the group. Close the connection to stop; what the app writes meanwhile is
//! ignored.
//!
//! The cookie crosses the socket in clear, so the server listens only on a loopback
//! address unless `allow_remote` is set explicitly.

// The line parser lives in the client core (it is fuzzed there, without the node).
pub use super::api::parse_request;
use super::api::{ApiError, ApiRequest, ApiResponse, MessageView, message_view, parse_id};
use super::runner::{WeshApp, WeshAppEvent};
use rand::RngExt;
use wesh_client::app::ApiCookie;
pub use wesh_client::app::api_session::{ApiAnswer, decode_answer, encode_answer};
use wesh_client::app::api_session::{ApiSession, Hello, Step};

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, watch};
use wesh_client::app::LinkConfirmation;
use wesh_client::messenger::WeshEvent;

/// The longest request or answer line, newline excluded.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
/// Connections served at once; more are answered with `Unavailable` and closed.
pub const MAX_CONNECTIONS: usize = 64;
/// How long [`ApiClient::connect`] tries.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn bad(field: &str, reason: impl Into<String>) -> ApiError {
    ApiError::BadArgument {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// What [`read_line_bounded`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// A line is in the buffer (without its `\n` or `\r\n`).
    Complete,
    /// The line was longer than the limit; it was read and dropped up to its end.
    TooLong,
    /// The stream ended (no partial line left).
    Eof,
}

/// Reads one `\n`-terminated line into `buf` (cleared first), keeping at most `max` bytes
/// in memory: a longer line is consumed to its end and reported as [`Line::TooLong`]. A
/// last line without a newline counts as a line.
pub async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => Line::Eof,
                (true, true) => Line::TooLong,
                (true, false) => {
                    strip_cr(buf);
                    Line::Complete
                }
            });
        }
        any = true;
        let (chunk, used, end) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if end {
            if too_long {
                return Ok(Line::TooLong);
            }
            strip_cr(buf);
            return Ok(Line::Complete);
        }
    }
}

fn strip_cr(buf: &mut Vec<u8>) {
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
}

async fn write_answer<W: AsyncWrite + Unpin>(w: &mut W, answer: &ApiAnswer) -> std::io::Result<()> {
    w.write_all(&encode_answer(answer)).await?;
    w.flush().await
}

#[derive(Debug, Error)]
pub enum ApiServerError {
    #[error(
        "refusing to serve the API on {0}: its cookie crosses the socket unencrypted, so it listens on loopback only (127.0.0.1, ::1); pass --api-allow-remote to serve it elsewhere anyway"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// A running API server; it stops when this is dropped or [`ApiServer::shutdown`] is called.
pub struct ApiServer {
    local: SocketAddr,
    stop: watch::Sender<bool>,
}

impl ApiServer {
    /// The address it listens on (the port chosen when `:0` was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stops accepting and closes every connection.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Refuses a non-loopback address unless `allow_remote`.
pub fn check_api_addr(addr: SocketAddr, allow_remote: bool) -> Result<(), ApiServerError> {
    if addr.ip().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(ApiServerError::NotLoopback(addr))
    }
}

/// Who may use the API: the cookie, and the pending device-link confirmation.
struct ServerAuth {
    cookie: ApiCookie,
    link: std::sync::Mutex<LinkConfirmation>,
}

/// Serves `app` on `addr` to connections that present `cookie`. A non-loopback address
/// is refused unless `allow_remote`.
pub async fn start_api_server(
    app: WeshApp,
    addr: SocketAddr,
    allow_remote: bool,
    cookie: ApiCookie,
) -> Result<ApiServer, ApiServerError> {
    check_api_addr(addr, allow_remote)?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the Wesh API listens beyond loopback: its cookie crosses the network unencrypted");
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| ApiServerError::Bind(addr, e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ApiServerError::Bind(addr, e))?;
    let (stop, stop_rx) = watch::channel(false);
    let auth = Arc::new(ServerAuth {
        cookie,
        link: std::sync::Mutex::new(LinkConfirmation::default()),
    });
    tokio::spawn(accept_loop(app, listener, auth, stop_rx));
    Ok(ApiServer { local, stop })
}

async fn accept_loop(
    app: WeshApp,
    listener: TcpListener,
    auth: Arc<ServerAuth>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let (mut stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "API accept failed");
                // e.g. out of file descriptors: do not spin
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let answer = ApiAnswer::Err(ApiError::Unavailable(format!(
                    "too many API connections (at most {MAX_CONNECTIONS})"
                )));
                let _ = write_answer(&mut stream, &answer).await;
            });
            continue;
        };
        tracing::debug!(%peer, "API connection");
        let app = app.clone();
        let stop = stop.clone();
        let auth = auth.clone();
        tokio::spawn(async move {
            serve_connection(app, stream, &auth, stop).await;
            drop(slot);
        });
    }
}

async fn serve_connection(
    app: WeshApp,
    stream: TcpStream,
    auth: &ServerAuth,
    mut stop: watch::Receiver<bool>,
) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    let mut session = ApiSession::new(&auth.cookie);
    loop {
        let line = tokio::select! {
            l = read_line_bounded(&mut reader, MAX_LINE_BYTES, &mut buf) => l,
            _ = stop.changed() => return,
        };
        let step = match line {
            Err(_) | Ok(Line::Eof) => return,
            Ok(Line::TooLong) => session.on_too_long(MAX_LINE_BYTES),
            Ok(Line::Complete) => session.on_line(&buf),
        };
        let (answer, close) = match step {
            Step::Ignore => continue,
            Step::Close => return,
            Step::Answer(a) => (a, false),
            Step::AnswerAndClose(a) => (a, true),
            Step::Call(request) => (app.call(request).await.into(), false),
            Step::LinkRequested => (ApiAnswer::Err(request_link(auth)), false),
            Step::LinkConfirmed(code) => (confirm_link(&app, auth, &code).await, false),
            Step::Follow(group) => match start_follow(&app, &group).await {
                Ok((answer, follow)) => {
                    if write_answer(&mut write, &answer).await.is_ok() {
                        follow.run(reader, write, stop).await;
                    }
                    return;
                }
                Err(e) => (ApiAnswer::Err(e), false),
            },
        };
        if write_answer(&mut write, &answer).await.is_err() || close {
            return;
        }
    }
}

/// Starts a device-link request: the code goes to the node's terminal only.
fn request_link(auth: &ServerAuth) -> ApiError {
    let n: u64 = rand::rng().random_range(0..10_000_000_000);
    let code = zeroize::Zeroizing::new(format!("{:05}-{:05}", n / 100_000, n % 100_000));
    match auth.link.lock() {
        Ok(mut gate) => gate.request(crate::clock::unix_now_ms(), &code),
        Err(_) => return ApiError::Unavailable("the device-link gate failed".into()),
    }
    // stderr, not the log: the code is for the operator's eyes, valid once and briefly
    eprintln!(
        "wesh: a device link (the account's secret keys) was requested over the API. To allow it, type this code where it was requested: {} (valid {} s)",
        code.as_str(),
        wesh_client::params::LINK_CONFIRMATION_TTL_MS / 1000
    );
    ApiError::ConfirmationRequired(
        "the node printed a one-time code on its terminal; send DeviceLinkConfirm with it".into(),
    )
}

async fn confirm_link(app: &WeshApp, auth: &ServerAuth, code: &str) -> ApiAnswer {
    let verdict = match auth.link.lock() {
        Ok(mut gate) => gate.confirm(crate::clock::unix_now_ms(), code),
        Err(_) => {
            return ApiAnswer::Err(ApiError::Unavailable("the device-link gate failed".into()));
        }
    };
    match verdict {
        Ok(()) => app.call(ApiRequest::DeviceLinkCreate).await.into(),
        Err(e) => ApiAnswer::Err(ApiError::Unauthorized(e.to_string())),
    }
}

/// A follow stream after its first answer.
struct Follow {
    group: [u8; 32],
    /// (device, counter) of the messages already listed
    listed: HashSet<(String, u64)>,
    events: broadcast::Receiver<WeshAppEvent>,
}

/// Subscribes, then lists: a message arriving in between is both listed and an event,
/// and the event is dropped by its (device, counter).
async fn start_follow(app: &WeshApp, group: &str) -> Result<(ApiAnswer, Follow), ApiError> {
    let group_id = parse_id("group", group)?;
    let events = app.subscribe();
    let answer = app
        .call(ApiRequest::GroupMessageList {
            group: group.to_string(),
            follow: false,
        })
        .await?;
    let listed = match &answer {
        ApiResponse::Messages { messages } => messages
            .iter()
            .map(|m| (m.device.clone(), m.counter))
            .collect(),
        _ => HashSet::new(),
    };
    Ok((
        ApiAnswer::Ok(answer),
        Follow {
            group: group_id,
            listed,
            events,
        },
    ))
}

impl Follow {
    fn view(&self, event: WeshAppEvent) -> Option<MessageView> {
        let WeshAppEvent::Wesh {
            event: WeshEvent::MessageReceived(m),
            ..
        } = event
        else {
            return None;
        };
        if m.group_id != self.group {
            return None;
        }
        let view = message_view(&m);
        (!self.listed.contains(&(view.device.clone(), view.counter))).then_some(view)
    }

    async fn run(
        mut self,
        mut reader: BufReader<OwnedReadHalf>,
        mut write: OwnedWriteHalf,
        mut stop: watch::Receiver<bool>,
    ) {
        // input is ignored from now on; reading only tells when the app hangs up
        let mut ignored = Vec::new();
        loop {
            let answer = tokio::select! {
                ev = self.events.recv() => match ev {
                    Ok(ev) => match self.view(ev) {
                        Some(v) => ApiAnswer::Ok(ApiResponse::Message(v)),
                        None => continue,
                    },
                    Err(broadcast::error::RecvError::Lagged(n)) => ApiAnswer::Err(
                        ApiError::Unavailable(format!(
                            "{n} events were missed (the reader is too slow); list the group again"
                        )),
                    ),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                l = read_line_bounded(&mut reader, MAX_LINE_BYTES, &mut ignored) => match l {
                    Ok(Line::Complete | Line::TooLong) => continue,
                    Ok(Line::Eof) | Err(_) => return,
                },
                _ = stop.changed() => return,
            };
            if write_answer(&mut write, &answer).await.is_err() {
                return;
            }
        }
    }
}

/// A typed client of the API socket (what the CLI subcommands use).
pub struct ApiClient {
    addr: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    buf: Vec<u8>,
}

impl ApiClient {
    /// Connects to a running `wesh client --api ADDR` and presents its cookie.
    pub async fn connect(addr: &str, cookie: &ApiCookie) -> Result<Self, ApiError> {
        let mut client = ApiClient::connect_raw(addr).await?;
        let hello = Hello {
            cookie: cookie.to_hex().to_string(),
        };
        let mut line = zeroize::Zeroizing::new(
            serde_json::to_vec(&hello).map_err(|e| bad("cookie", e.to_string()))?,
        );
        line.push(b'\n');
        client.send_raw(&line).await?;
        match client.next_answer().await? {
            Some(ApiAnswer::Ok(ApiResponse::Done)) => Ok(client),
            Some(ApiAnswer::Err(e)) => Err(e),
            Some(ApiAnswer::Ok(other)) => {
                Err(client.lost(format!("answered {other:?} to the cookie")))
            }
            None => Err(client.lost("closed the connection at the cookie")),
        }
    }

    /// Connects without presenting anything (tests use it to play an attacker).
    pub async fn connect_raw(addr: &str) -> Result<Self, ApiError> {
        let unreachable = |reason: String| {
            ApiError::Unavailable(format!(
                "cannot reach the Wesh API at {addr}: {reason} (is `wesh client --api {addr}` running?)"
            ))
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (read, writer) = stream.into_split();
        Ok(ApiClient {
            addr: addr.to_string(),
            reader: BufReader::new(read),
            writer,
            buf: Vec::new(),
        })
    }

    fn lost(&self, reason: impl std::fmt::Display) -> ApiError {
        ApiError::Unavailable(format!("the Wesh API at {} {reason}", self.addr))
    }

    async fn send(&mut self, request: &ApiRequest) -> Result<(), ApiError> {
        let mut line = serde_json::to_vec(request)
            .map_err(|e| bad("request", format!("cannot encode: {e}")))?;
        if line.len() > MAX_LINE_BYTES {
            return Err(bad(
                "request",
                format!("longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        line.push(b'\n');
        self.send_raw(&line).await
    }

    /// Writes raw bytes (tests use it to send garbage).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(|e| self.lost(format!("closed the connection: {e}")))?;
        self.writer
            .flush()
            .await
            .map_err(|e| self.lost(format!("closed the connection: {e}")))
    }

    /// Reads the next answer line; `None` when the server closed the connection.
    pub async fn next_answer(&mut self) -> Result<Option<ApiAnswer>, ApiError> {
        loop {
            let line = read_line_bounded(&mut self.reader, MAX_LINE_BYTES, &mut self.buf)
                .await
                .map_err(|e| self.lost(format!("failed: {e}")))?;
            match line {
                Line::Eof => return Ok(None),
                Line::TooLong => return Err(self.lost("sent an answer line that is too long")),
                Line::Complete if self.buf.iter().all(u8::is_ascii_whitespace) => continue,
                Line::Complete => return decode_answer(&self.buf).map(Some),
            }
        }
    }

    /// One request, its answer as sent (`ok` or `err`).
    pub async fn call_answer(&mut self, request: &ApiRequest) -> Result<ApiAnswer, ApiError> {
        self.send(request).await?;
        self.next_answer()
            .await?
            .ok_or_else(|| self.lost("closed the connection without answering"))
    }

    /// One request and its typed answer.
    pub async fn call(&mut self, request: ApiRequest) -> Result<ApiResponse, ApiError> {
        self.call_answer(&request).await?.into()
    }

    /// Lists `group`'s messages, then follows it: the connection is given to the stream.
    pub async fn follow(
        mut self,
        group: &str,
    ) -> Result<(Vec<MessageView>, MessageStream), ApiError> {
        let answer = self
            .call(ApiRequest::GroupMessageList {
                group: group.to_string(),
                follow: true,
            })
            .await?;
        match answer {
            ApiResponse::Messages { messages } => Ok((messages, MessageStream { client: self })),
            other => Err(self.lost(format!("answered {other:?} to a message list"))),
        }
    }
}

/// The new messages of a followed group ([`ApiClient::follow`]).
pub struct MessageStream {
    client: ApiClient,
}

impl MessageStream {
    /// The next message; `None` once the server closed the stream. An `Err` item (e.g.
    /// events were missed) does not end the stream.
    pub async fn next(&mut self) -> Option<Result<MessageView, ApiError>> {
        match self.client.next_answer().await {
            Ok(None) => None,
            Ok(Some(ApiAnswer::Ok(ApiResponse::Message(m)))) => Some(Ok(m)),
            Ok(Some(ApiAnswer::Ok(other))) => Some(Err(self
                .client
                .lost(format!("sent {other:?} in a message stream")))),
            Ok(Some(ApiAnswer::Err(e))) | Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<(Line, Vec<u8>)> {
        // a tiny buffer makes lines span several fill_buf calls
        let mut r = BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let l = read_line_bounded(&mut r, max, &mut buf).await.unwrap();
            if l == Line::Eof {
                return out;
            }
            out.push((l, buf.clone()));
        }
    }

    #[tokio::test]
    async fn lines_are_split_and_bounded() {
        let got = lines(b"abc\r\n\nlonger than ten bytes\nok\nlast", 10).await;
        assert_eq!(
            got,
            vec![
                (Line::Complete, b"abc".to_vec()),
                (Line::Complete, b"".to_vec()),
                (Line::TooLong, b"".to_vec()),
                (Line::Complete, b"ok".to_vec()),
                (Line::Complete, b"last".to_vec()),
            ]
        );
        assert_eq!(lines(b"", 10).await, vec![]);
        assert_eq!(lines(b"0123456789\n", 10).await[0].0, Line::Complete);
        assert_eq!(lines(b"0123456789a\n", 10).await[0].0, Line::TooLong);
        assert_eq!(
            lines(b"0123456789abc", 10).await,
            vec![(Line::TooLong, vec![])]
        );
    }

    #[test]
    fn requests_and_errors_are_typed() {
        assert_eq!(
            parse_request(br#"{"method":"GroupList"}"#).unwrap(),
            ApiRequest::GroupList
        );
        assert_eq!(
            parse_request(br#"{"method":"GroupMessageList","params":{"group":"ab"}}"#).unwrap(),
            ApiRequest::GroupMessageList {
                group: "ab".into(),
                follow: false
            }
        );
        let field = |line: &[u8]| match parse_request(line) {
            Err(ApiError::BadArgument { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(b"garbage"), "request");
        assert_eq!(field(b"[1,2]"), "method");
        assert_eq!(field(br#"{"method":"Nope"}"#), "method");
        assert_eq!(
            field(br#"{"method":"AppMessageSend","params":{}}"#),
            "params"
        );
        assert_eq!(field(b"\xff\xfe"), "request");
    }

    #[test]
    fn answers_are_ok_or_err_lines() {
        let ok = encode_answer(&ApiAnswer::Ok(ApiResponse::Group { group: "00".into() }));
        assert_eq!(ok.last(), Some(&b'\n'));
        let text = std::str::from_utf8(&ok).unwrap();
        assert!(text.starts_with(r#"{"ok":{"result":"Group""#), "{text}");
        assert_eq!(text.matches('\n').count(), 1);
        let err = encode_answer(&ApiAnswer::Err(bad("group", "not hex")));
        let text = std::str::from_utf8(&err).unwrap();
        assert!(
            text.starts_with(r#"{"err":{"error":"BadArgument""#),
            "{text}"
        );
        assert_eq!(
            decode_answer(text.trim_end().as_bytes()).unwrap(),
            ApiAnswer::Err(bad("group", "not hex"))
        );
        assert!(decode_answer(b"{}").is_err());
    }

    #[test]
    fn remote_addresses_are_refused_without_the_flag() {
        for ok in ["127.0.0.1:0", "[::1]:7070", "127.3.2.1:9"] {
            check_api_addr(ok.parse().unwrap(), false).unwrap();
        }
        for remote in ["0.0.0.0:7070", "192.0.2.1:0", "[::]:1"] {
            let addr: SocketAddr = remote.parse().unwrap();
            let e = check_api_addr(addr, false).unwrap_err();
            assert!(e.to_string().contains("--api-allow-remote"), "{e}");
            check_api_addr(addr, true).unwrap();
        }
    }

    #[tokio::test]
    async fn an_unreachable_api_is_a_clear_error() {
        // bind then drop: the port is (almost surely) closed now
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        match ApiClient::connect(&addr, &ApiCookie::from_bytes([1; 32])).await {
            Err(ApiError::Unavailable(m)) => assert!(m.contains("cannot reach"), "{m}"),
            Ok(_) => panic!("connected to a closed port"),
            Err(e) => panic!("{e}"),
        }
    }
}
