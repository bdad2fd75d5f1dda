//! The one HTTP exchange `--metrics` serves, sans I/O: a request head in, the whole reply
//! out (`GET /metrics` gets the exposition; any other path 404, any other method 405).
//! The shell reads the head (bounded in size and time) and writes the reply.

use crate::exposition::{CONTENT_TYPE, Exposition};

/// Whether `head` holds a whole request head (it ends with an empty line).
pub fn head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n")
}

/// The reply to the request whose head is `head`, connection closed after it.
pub fn http_reply(head: &[u8], exposition: &Exposition) -> String {
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split(|b| *b == b'?').next().unwrap_or_default();
    let (status, kind, body) = match (method, path) {
        (b"GET", b"/metrics") => match exposition.encode() {
            Ok(text) => ("200 OK", CONTENT_TYPE, text),
            Err(_) => (
                "500 Internal Server Error",
                "text/plain",
                "encoding failed\n".into(),
            ),
        },
        (b"GET", _) => ("404 Not Found", "text/plain", "try /metrics\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_get_is_served_and_anything_else_refused() {
        let e = Exposition::new("mix");
        let ok = http_reply(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", &e);
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains(CONTENT_TYPE));
        let body = ok.split("\r\n\r\n").nth(1).unwrap_or_default();
        assert!(ok.contains(&format!("Content-Length: {}\r\n", body.len())));
        assert!(http_reply(b"GET / HTTP/1.1\r\n\r\n", &e).starts_with("HTTP/1.1 404"));
        assert!(http_reply(b"POST /metrics HTTP/1.1\r\n\r\n", &e).starts_with("HTTP/1.1 405"));
        assert!(http_reply(b"", &e).starts_with("HTTP/1.1 405"));
        assert!(head_complete(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(!head_complete(b"GET / HTTP/1.1\r\n"));
    }
}
