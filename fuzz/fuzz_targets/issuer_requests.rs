//! What the issuer reads from peers: a redemption batch (`decode_redeem_request`, each
//! token decoded on its own), a work report (`WorkRequest::decode`) and an epoch
//! (`decode_epoch`, the claim request). The first byte picks the decoder. Asserts: a batch
//! of tokens that all decode re-encodes to the same bytes; the fixed-size ones too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::{assert_canonical, split_selector};
use wesh_payments::params::{MAX_REDEEM_BATCH, TOKEN_BYTES};
use wesh_payments::wire::issuer::{
    WorkRequest, decode_epoch, decode_redeem_request, encode_redeem_request,
};

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = split_selector(data) else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(batch) = decode_redeem_request(body) {
                assert!(batch.len() <= MAX_REDEEM_BATCH);
                assert_eq!(body.len(), 2 + batch.len() * TOKEN_BYTES);
                let tokens: Vec<_> = batch.into_iter().filter_map(Result::ok).collect();
                if tokens.len() * TOKEN_BYTES + 2 == body.len() {
                    assert_eq!(encode_redeem_request(&tokens).ok().as_deref(), Some(body));
                }
            }
        }
        1 => {
            assert_canonical(body, WorkRequest::decode, |w| w.encode().to_vec());
        }
        _ => {
            assert_canonical(body, decode_epoch, |e| e.to_be_bytes().to_vec());
        }
    }
});
