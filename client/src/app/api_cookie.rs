//! The API cookie's value: 32 random bytes a connection presents first, compared in
//! constant time. Where it is kept (a 0600 file in the data directory) is the shell's.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub const API_COOKIE_BYTES: usize = 32;

/// The cookie text is not 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the API cookie is not {} hex digits", API_COOKIE_BYTES * 2)]
pub struct MalformedCookie;

/// The secret a connection presents first.
#[derive(Clone)]
pub struct ApiCookie(Zeroizing<[u8; API_COOKIE_BYTES]>);

impl ApiCookie {
    /// A cookie of these (random) bytes.
    pub fn from_bytes(bytes: [u8; API_COOKIE_BYTES]) -> Self {
        ApiCookie(Zeroizing::new(bytes))
    }

    pub fn from_hex(text: &str) -> Result<Self, MalformedCookie> {
        let mut bytes = Zeroizing::new([0u8; API_COOKIE_BYTES]);
        hex::decode_to_slice(text.trim(), bytes.as_mut_slice()).map_err(|_| MalformedCookie)?;
        Ok(ApiCookie(bytes))
    }

    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_slice()))
    }

    /// Whether `presented` (hex) is this cookie, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        match ApiCookie::from_hex(presented) {
            Ok(other) => bool::from(self.0.as_slice().ct_eq(other.0.as_slice())),
            Err(_) => false,
        }
    }
}

impl core::fmt::Debug for ApiCookie {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ApiCookie(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_matches_only_itself() {
        let c = ApiCookie::from_bytes([7; 32]);
        assert!(c.matches(&c.to_hex()));
        assert!(c.matches(&format!(" {}\n", c.to_hex().as_str())));
        assert!(!c.matches(&ApiCookie::from_bytes([8; 32]).to_hex()));
        assert!(!c.matches("not hex"));
        assert!(!c.matches(""));
        assert_eq!(ApiCookie::from_hex("abcd").err(), Some(MalformedCookie));
    }
}
