//! Issuance messages exchanged between a wallet and the issuer.

use crate::Epoch;
use crate::params::AUTHENTICATOR_BYTES;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// What the client shows the issuance policy. Only what the policy needs: a client key
/// for the free quota (authenticated by the transport), or a voucher.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub enum Credential {
    /// The client's long-term public key (its transport identity), for per-key quotas.
    ClientKey([u8; 32]),
    /// A secret voucher handed out by an operator; a bearer secret.
    Voucher([u8; 32]),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ClientKey(k) => write!(f, "ClientKey({})", hex::encode(&k[..8])),
            Credential::Voucher(_) => f.write_str("Voucher(<redacted>)"),
        }
    }
}

/// A batch of blinded token inputs for one epoch key (RFC 9578 TokenRequest, batched).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IssuanceRequest {
    pub token_type: u16,
    /// Epoch whose key should sign; the issuer only signs with the current epoch's key.
    pub epoch: Epoch,
    /// Last byte of the key id the client blinded for (RFC 9578 truncated_token_key_id).
    pub truncated_key_id: u8,
    pub credential: Credential,
    pub blinded: Vec<[u8; AUTHENTICATOR_BYTES]>,
}

/// Blind signatures, in request order (RFC 9578 TokenResponse, batched). The issuer may
/// return fewer than requested when the policy grants fewer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IssuanceResponse {
    pub blind_signatures: Vec<[u8; AUTHENTICATOR_BYTES]>,
}
