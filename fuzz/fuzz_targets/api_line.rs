//! One line on the app API socket (`app::api::parse_request`, which the node's API server
//! calls for every line), and the hex fields calls carry (`parse_id`, `parse_hex`).
//! Asserts: a parsed request serializes back to JSON that parses to the same request;
//! the hex parsers agree with each other.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::app::api::{ApiRequest, parse_hex, parse_id, parse_request};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse_request(data) {
        let Ok(json) = serde_json::to_vec(&request) else {
            panic!("a parsed request does not serialize");
        };
        assert_eq!(parse_request(&json).ok(), Some(request));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        match parse_id("f", text) {
            Ok(id) => assert_eq!(parse_hex("f", text).ok(), Some(id.to_vec())),
            Err(_) => assert!(parse_hex("f", text).map_or(true, |b| b.len() != 32)),
        }
        let _: Result<ApiRequest, _> = serde_json::from_str(text);
    }
});
