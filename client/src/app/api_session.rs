//! What one API connection may do, line by line: present the cookie first, then make
//! calls. The first line that is not a valid request closes the connection, and so does
//! anything that looks like HTTP: a web page can make a browser POST to a local port
//! (no-cors, text/plain, no preflight), and with a lenient server every body line would
//! run as a call. Kept free of sockets so its rules are tested directly.

use super::api::{ApiError, ApiRequest, ApiResponse, parse_request};
use super::api_cookie::ApiCookie;
use serde::{Deserialize, Serialize};

/// One answer line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiAnswer {
    Ok(ApiResponse),
    Err(ApiError),
}

impl From<Result<ApiResponse, ApiError>> for ApiAnswer {
    fn from(r: Result<ApiResponse, ApiError>) -> Self {
        match r {
            Ok(v) => ApiAnswer::Ok(v),
            Err(e) => ApiAnswer::Err(e),
        }
    }
}

impl From<ApiAnswer> for Result<ApiResponse, ApiError> {
    fn from(a: ApiAnswer) -> Self {
        match a {
            ApiAnswer::Ok(v) => Ok(v),
            ApiAnswer::Err(e) => Err(e),
        }
    }
}

/// Encodes an answer as one line (with its `\n`).
pub fn encode_answer(answer: &ApiAnswer) -> Vec<u8> {
    let mut line = serde_json::to_vec(answer).unwrap_or_else(|e| {
        // an answer that does not serialize is a bug; say so instead of going silent
        format!(r#"{{"err":{{"error":"Unavailable","detail":"cannot encode the answer: {e}"}}}}"#)
            .into_bytes()
    });
    line.push(b'\n');
    line
}

/// Decodes an answer line.
pub fn decode_answer(line: &[u8]) -> Result<ApiAnswer, ApiError> {
    serde_json::from_slice(line).map_err(|e| {
        ApiError::Unavailable(format!("the API sent a line that is not an answer: {e}"))
    })
}

/// The first line of a connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// The cookie (hex) of `<data-dir>/api.cookie`.
    pub cookie: String,
}

/// What the server does with one line.
#[derive(Debug)]
pub enum Step {
    /// Nothing (a blank line).
    Ignore,
    /// Answer, keep the connection.
    Answer(ApiAnswer),
    /// Answer, then close.
    AnswerAndClose(ApiAnswer),
    /// Close without a word (HTTP: do not help a browser read anything).
    Close,
    /// Run the call and answer.
    Call(ApiRequest),
    /// List the group, then stream its new messages.
    Follow(String),
    /// A device link was asked for: make and show a confirmation code.
    LinkRequested,
    /// The operator's confirmation code for a pending device link.
    LinkConfirmed(String),
}

pub struct ApiSession<'a> {
    cookie: &'a ApiCookie,
    authenticated: bool,
}

impl<'a> ApiSession<'a> {
    pub fn new(cookie: &'a ApiCookie) -> Self {
        ApiSession {
            cookie,
            authenticated: false,
        }
    }

    /// A line that was longer than the limit.
    pub fn on_too_long(&mut self, max: usize) -> Step {
        Step::AnswerAndClose(ApiAnswer::Err(ApiError::BadArgument {
            field: "request".into(),
            reason: format!("line longer than {max} bytes"),
        }))
    }

    /// One complete line (without its newline).
    pub fn on_line(&mut self, line: &[u8]) -> Step {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Step::Ignore;
        }
        if looks_like_http(line) {
            return Step::Close;
        }
        if !self.authenticated {
            return match serde_json::from_slice::<Hello>(line) {
                Ok(hello) if self.cookie.matches(&hello.cookie) => {
                    self.authenticated = true;
                    Step::Answer(ApiAnswer::Ok(ApiResponse::Done))
                }
                Ok(_) => unauthorized("wrong API cookie"),
                Err(_) => unauthorized(
                    r#"the first line must be {"cookie": HEX} with the node's <data-dir>/api.cookie"#,
                ),
            };
        }
        match parse_request(line) {
            Err(e) => Step::AnswerAndClose(ApiAnswer::Err(e)),
            Ok(ApiRequest::GroupMessageList {
                group,
                follow: true,
            }) => Step::Follow(group),
            Ok(ApiRequest::DeviceLinkCreate) => Step::LinkRequested,
            Ok(ApiRequest::DeviceLinkConfirm { confirmation }) => Step::LinkConfirmed(confirmation),
            Ok(request) => Step::Call(request),
        }
    }
}

fn unauthorized(why: &str) -> Step {
    Step::AnswerAndClose(ApiAnswer::Err(ApiError::Unauthorized(why.to_string())))
}

/// An HTTP request line (`POST / HTTP/1.1`) or header (`Host: …`, `Origin: …`): no API
/// line starts with a letter, so a line that does is never a call.
fn looks_like_http(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    let t = text.trim_start();
    t.starts_with(|c: char| c.is_ascii_alphabetic()) || t.contains("HTTP/")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn hello(c: &ApiCookie) -> Vec<u8> {
        format!(r#"{{"cookie":"{}"}}"#, c.to_hex().as_str()).into_bytes()
    }

    #[test]
    fn nothing_runs_before_the_cookie() {
        let c = ApiCookie::from_bytes(rand::random());
        let mut s = ApiSession::new(&c);
        let call = br#"{"method":"ContactRequestReference"}"#;
        assert!(matches!(
            s.on_line(call),
            Step::AnswerAndClose(ApiAnswer::Err(ApiError::Unauthorized(_)))
        ));
        let mut s = ApiSession::new(&c);
        let wrong = hello(&ApiCookie::from_bytes(rand::random()));
        assert!(matches!(
            s.on_line(&wrong),
            Step::AnswerAndClose(ApiAnswer::Err(ApiError::Unauthorized(_)))
        ));
        let mut s = ApiSession::new(&c);
        assert!(matches!(s.on_line(b""), Step::Ignore));
        assert!(matches!(
            s.on_line(&hello(&c)),
            Step::Answer(ApiAnswer::Ok(_))
        ));
        assert!(matches!(
            s.on_line(call),
            Step::Call(ApiRequest::ContactRequestReference)
        ));
    }

    #[test]
    fn http_closes_the_connection_silently_even_after_the_cookie() {
        let c = ApiCookie::from_bytes(rand::random());
        for line in [
            &b"POST / HTTP/1.1"[..],
            b"GET /index.html HTTP/1.0",
            b"Host: 127.0.0.1:7447",
            b"Origin: https://evil.example",
            b"  content-type: text/plain",
        ] {
            let mut s = ApiSession::new(&c);
            assert!(matches!(s.on_line(line), Step::Close), "{line:?}");
            let mut s = ApiSession::new(&c);
            s.on_line(&hello(&c));
            assert!(matches!(s.on_line(line), Step::Close), "{line:?}");
        }
    }

    #[test]
    fn the_first_bad_line_closes_and_device_links_need_confirmation() {
        let c = ApiCookie::from_bytes(rand::random());
        let mut s = ApiSession::new(&c);
        s.on_line(&hello(&c));
        assert!(matches!(
            s.on_line(br#"{"method":"DeviceLinkCreate"}"#),
            Step::LinkRequested
        ));
        assert!(matches!(
            s.on_line(br#"{"method":"DeviceLinkConfirm","params":{"confirmation":"12"}}"#),
            Step::LinkConfirmed(code) if code == "12"
        ));
        assert!(matches!(
            s.on_line(br#"{"method":"Nope"}"#),
            Step::AnswerAndClose(ApiAnswer::Err(ApiError::BadArgument { .. }))
        ));
        assert!(matches!(s.on_too_long(10), Step::AnswerAndClose(_)));
    }
}
