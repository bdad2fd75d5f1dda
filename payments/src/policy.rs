//! Issuance policies: how many tokens a request may get. A policy sees the credential and
//! the count, never the blinded messages, so it learns no more than it needs.

use crate::Epoch;
use crate::error::PolicyRefusal;
use crate::issuance::Credential;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// Decides, and records, how many tokens a request gets.
pub trait IssuancePolicy {
    /// Grants between 1 and `requested` tokens (and accounts for them), or refuses.
    fn grant(
        &mut self,
        epoch: Epoch,
        credential: &Credential,
        requested: u32,
    ) -> Result<u32, PolicyRefusal>;
}

/// Default policy: `per_epoch` free tokens per client key per epoch.
#[derive(Debug, Clone)]
pub struct FreeQuotaPolicy {
    per_epoch: u32,
    used: HashMap<(Epoch, [u8; 32]), u32>,
}

impl FreeQuotaPolicy {
    pub fn new(per_epoch: u32) -> Self {
        Self {
            per_epoch,
            used: HashMap::new(),
        }
    }

    /// Tokens already granted to `client_key` in `epoch`.
    pub fn used(&self, epoch: Epoch, client_key: &[u8; 32]) -> u32 {
        self.used.get(&(epoch, *client_key)).copied().unwrap_or(0)
    }

    /// Everything this policy stores: (epoch, client key, tokens granted).
    pub fn records(&self) -> impl Iterator<Item = (Epoch, &[u8; 32], u32)> {
        self.used.iter().map(|((e, k), n)| (*e, k, *n))
    }

    /// Forgets counters of epochs before `oldest` (issuance only happens in the current
    /// epoch, so older counters are dead weight).
    pub fn prune_before(&mut self, oldest: Epoch) {
        self.used.retain(|(e, _), _| *e >= oldest);
    }
}

impl IssuancePolicy for FreeQuotaPolicy {
    fn grant(
        &mut self,
        epoch: Epoch,
        credential: &Credential,
        requested: u32,
    ) -> Result<u32, PolicyRefusal> {
        let Credential::ClientKey(key) = credential else {
            return Err(PolicyRefusal::CredentialNotAccepted);
        };
        let used = self.used.entry((epoch, *key)).or_insert(0);
        let left = self.per_epoch.saturating_sub(*used);
        let granted = left.min(requested);
        if granted == 0 {
            return Err(PolicyRefusal::QuotaExhausted);
        }
        *used += granted;
        Ok(granted)
    }
}

/// Operator vouchers: each secret voucher is worth a number of tokens, in any epoch,
/// until used up. Only SHA-256 digests of vouchers are stored.
#[derive(Debug, Clone, Default)]
pub struct VoucherPolicy {
    vouchers: Vec<([u8; 32], u32)>,
}

impl VoucherPolicy {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a voucher worth `tokens` tokens.
    pub fn add_voucher(&mut self, voucher: &[u8; 32], tokens: u32) {
        self.vouchers.push((Sha256::digest(voucher).into(), tokens));
    }

    /// Tokens left on a voucher (0 if unknown).
    pub fn remaining(&self, voucher: &[u8; 32]) -> u32 {
        let digest: [u8; 32] = Sha256::digest(voucher).into();
        self.find(&digest)
            .and_then(|i| self.vouchers.get(i))
            .map_or(0, |v| v.1)
    }

    /// Index of the voucher with this digest, compared in constant time so timing does
    /// not reveal how close a guess came.
    fn find(&self, digest: &[u8; 32]) -> Option<usize> {
        let mut found = None;
        for (i, (d, _)) in self.vouchers.iter().enumerate() {
            if bool::from(d.ct_eq(digest)) {
                found = Some(i);
            }
        }
        found
    }
}

impl IssuancePolicy for VoucherPolicy {
    fn grant(
        &mut self,
        _epoch: Epoch,
        credential: &Credential,
        requested: u32,
    ) -> Result<u32, PolicyRefusal> {
        let Credential::Voucher(voucher) = credential else {
            return Err(PolicyRefusal::CredentialNotAccepted);
        };
        let digest: [u8; 32] = Sha256::digest(voucher).into();
        let i = self.find(&digest).ok_or(PolicyRefusal::VoucherInvalid)?;
        let entry = self
            .vouchers
            .get_mut(i)
            .ok_or(PolicyRefusal::VoucherInvalid)?;
        let granted = entry.1.min(requested);
        if granted == 0 {
            return Err(PolicyRefusal::VoucherInvalid);
        }
        entry.1 -= granted;
        Ok(granted)
    }
}

/// Free quota for client keys, vouchers on top: what an operator usually runs.
#[derive(Debug, Clone)]
pub struct FreeQuotaOrVoucher {
    pub free: FreeQuotaPolicy,
    pub vouchers: VoucherPolicy,
}

impl IssuancePolicy for FreeQuotaOrVoucher {
    fn grant(
        &mut self,
        epoch: Epoch,
        credential: &Credential,
        requested: u32,
    ) -> Result<u32, PolicyRefusal> {
        match credential {
            Credential::ClientKey(_) => self.free.grant(epoch, credential, requested),
            Credential::Voucher(_) => self.vouchers.grant(epoch, credential, requested),
        }
    }
}
