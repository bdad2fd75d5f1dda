//! A provider's admission counters: tokens spent and refused, frames without credit,
//! redemptions at the issuer.

use crate::exposition::Sample;
use std::sync::atomic::AtomicU64;

/// Counters of a provider's admission.
#[derive(Debug, Default)]
pub struct CreditStats {
    pub tokens_spent: AtomicU64,
    pub tokens_refused: AtomicU64,
    /// Refused because this provider had already seen the token.
    pub double_spends_rejected: AtomicU64,
    pub frames_without_credit: AtomicU64,
    pub tokens_redeemed: AtomicU64,
    /// Refused by the issuer at redemption as already spent elsewhere.
    pub redeem_double_spends: AtomicU64,
    pub redeem_refused: AtomicU64,
    /// Redemption batches the issuer did not judge (kept for a later round).
    pub redeem_deferred: AtomicU64,
    /// Key refreshes served by the issuer's PKI descriptor / by `/wesh/issuer/keys/1`.
    pub keys_from_pki: AtomicU64,
    pub keys_from_issuer: AtomicU64,
}

impl CreditStats {
    /// The samples of these counters, and of `clients` (clients holding credit now).
    pub fn samples(&self, clients: usize, out: &mut Vec<Sample>) {
        let c = Sample::counted;
        out.extend([
            c(
                "wesh_credit_tokens_spent",
                "Tokens clients spent here.",
                &self.tokens_spent,
            ),
            c(
                "wesh_credit_tokens_refused",
                "Tokens refused.",
                &self.tokens_refused,
            ),
            c(
                "wesh_credit_double_spends",
                "Tokens seen twice here.",
                &self.double_spends_rejected,
            ),
            c(
                "wesh_credit_frames_without_credit",
                "Client frames without credit.",
                &self.frames_without_credit,
            ),
            c(
                "wesh_credit_tokens_redeemed",
                "Tokens redeemed at the issuer.",
                &self.tokens_redeemed,
            ),
            c(
                "wesh_credit_redeem_refused",
                "Redemptions the issuer refused.",
                &self.redeem_refused,
            ),
            Sample::gauge(
                "wesh_credit_clients",
                "Clients holding credit.",
                clients as f64,
            ),
        ]);
    }
}
