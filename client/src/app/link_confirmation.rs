//! The explicit confirmation `DeviceLinkCreate` needs: a link code holds the account's
//! secret keys, so the API cookie alone does not get one. A request makes a one-time code
//! that the node shows on its own terminal (never in the API answer); the caller must type
//! it back within [`LINK_CONFIRMATION_TTL_MS`], with at most
//! [`LINK_CONFIRMATION_ATTEMPTS`] wrong tries. Sans I/O: the shell passes `now` and the
//! random code, and prints it.

use crate::params::{LINK_CONFIRMATION_ATTEMPTS, LINK_CONFIRMATION_TTL_MS};
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkConfirmationError {
    #[error("no device link was requested (call DeviceLinkCreate first)")]
    NotRequested,
    #[error("the confirmation code expired; request the link again")]
    Expired,
    #[error("wrong confirmation code ({left} tries left)")]
    Wrong { left: u8 },
    #[error("wrong confirmation code, too many tries; request the link again")]
    TooManyTries,
}

struct Pending {
    code: Zeroizing<Vec<u8>>,
    expires_at_ms: u64,
    tries_left: u8,
}

/// At most one pending device-link request per node.
#[derive(Default)]
pub struct LinkConfirmation {
    pending: Option<Pending>,
}

impl LinkConfirmation {
    /// A new request with `code` (replaces a pending one): the shell shows `code` to the
    /// node's operator.
    pub fn request(&mut self, now_ms: u64, code: &str) {
        self.pending = Some(Pending {
            code: Zeroizing::new(normalize(code)),
            expires_at_ms: now_ms.saturating_add(LINK_CONFIRMATION_TTL_MS),
            tries_left: LINK_CONFIRMATION_ATTEMPTS,
        });
    }

    /// Whether `presented` is the pending code; a right code is used up, and so is the
    /// request after too many wrong ones.
    pub fn confirm(&mut self, now_ms: u64, presented: &str) -> Result<(), LinkConfirmationError> {
        let Some(p) = self.pending.as_mut() else {
            return Err(LinkConfirmationError::NotRequested);
        };
        if now_ms >= p.expires_at_ms {
            self.pending = None;
            return Err(LinkConfirmationError::Expired);
        }
        let presented = Zeroizing::new(normalize(presented));
        if bool::from(p.code.as_slice().ct_eq(presented.as_slice())) {
            self.pending = None;
            return Ok(());
        }
        p.tries_left = p.tries_left.saturating_sub(1);
        if p.tries_left == 0 {
            self.pending = None;
            return Err(LinkConfirmationError::TooManyTries);
        }
        Err(LinkConfirmationError::Wrong { left: p.tries_left })
    }
}

/// Digits only: the code may be typed with or without its separator or spaces.
fn normalize(code: &str) -> Vec<u8> {
    code.bytes().filter(u8::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_code_confirms_once() {
        let mut g = LinkConfirmation::default();
        assert_eq!(
            g.confirm(0, "12345-67890"),
            Err(LinkConfirmationError::NotRequested)
        );
        g.request(1_000, "12345-67890");
        assert_eq!(g.confirm(2_000, " 1234567890\n"), Ok(()));
        assert_eq!(
            g.confirm(2_001, "12345-67890"),
            Err(LinkConfirmationError::NotRequested)
        );
    }

    #[test]
    fn a_code_expires() {
        let mut g = LinkConfirmation::default();
        g.request(1_000, "11111-22222");
        assert_eq!(
            g.confirm(1_000 + LINK_CONFIRMATION_TTL_MS, "11111-22222"),
            Err(LinkConfirmationError::Expired)
        );
        assert_eq!(
            g.confirm(1_001, "11111-22222"),
            Err(LinkConfirmationError::NotRequested)
        );
    }

    #[test]
    fn wrong_codes_use_up_the_request() {
        let mut g = LinkConfirmation::default();
        g.request(0, "11111-22222");
        assert_eq!(
            g.confirm(1, "11111-22223"),
            Err(LinkConfirmationError::Wrong { left: 2 })
        );
        assert_eq!(
            g.confirm(2, ""),
            Err(LinkConfirmationError::Wrong { left: 1 })
        );
        assert_eq!(g.confirm(3, "0"), Err(LinkConfirmationError::TooManyTries));
        // the right code is no use now
        assert_eq!(
            g.confirm(4, "11111-22222"),
            Err(LinkConfirmationError::NotRequested)
        );
    }
}
