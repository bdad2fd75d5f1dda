//! Provider admission: tokens buy packet credit on a client connection.
//!
//! A provider verifies a token locally (signature, live key, local spent set) and
//! credits the connection at once, so admission costs no round trip to the issuer. The
//! token is kept for redemption at the issuer, whose global spent set catches a token
//! also spent at another provider; the provider then loses at most one token's worth of
//! packets.

use crate::Epoch;
use crate::codec::decode_token;
use crate::error::{NoCredit, Refusal};
use crate::keys::KeyDirectory;
use crate::params::{PACKETS_PER_TOKEN, TOKEN_VALIDITY_EPOCHS};
use crate::spent::SpentSet;
use crate::token::Token;

/// Packet credit of one client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditLedger {
    credit: u64,
    packets_per_token: u64,
}

impl CreditLedger {
    /// Packets this connection may still send.
    pub fn balance(&self) -> u64 {
        self.credit
    }

    /// Takes one packet's credit, or says how to get more.
    pub fn debit_packet(&mut self) -> Result<u64, NoCredit> {
        if self.credit == 0 {
            return Err(NoCredit {
                packets_per_token: self.packets_per_token,
            });
        }
        self.credit -= 1;
        Ok(self.credit)
    }

    /// The balance one more token would bring: what a store persisting ledgers records
    /// together with the token's spend, so that the two land in one atomic write.
    pub fn balance_after_token(&self) -> u64 {
        self.credit.saturating_add(self.packets_per_token)
    }

    fn credit_token(&mut self) {
        self.credit = self.balance_after_token();
    }
}

/// A provider's admission state: known issuer keys, its local spent set, and the tokens
/// it has collected for redemption.
#[derive(Debug)]
pub struct Admission<S: SpentSet> {
    keys: KeyDirectory,
    spent: S,
    collected: Vec<Token>,
    packets_per_token: u64,
    validity_epochs: u64,
}

impl<S: SpentSet> Admission<S> {
    /// Admission with the default parameters.
    pub fn new(keys: KeyDirectory, spent: S) -> Self {
        Self::with_params(keys, spent, PACKETS_PER_TOKEN, TOKEN_VALIDITY_EPOCHS)
    }

    pub fn with_params(
        keys: KeyDirectory,
        spent: S,
        packets_per_token: u64,
        validity_epochs: u64,
    ) -> Self {
        Self {
            keys,
            spent,
            collected: Vec::new(),
            packets_per_token,
            validity_epochs,
        }
    }

    /// Issuer keys this provider accepts (add each epoch's published key here).
    pub fn keys_mut(&mut self) -> &mut KeyDirectory {
        &mut self.keys
    }

    /// A fresh, empty ledger for a new client connection.
    pub fn open_ledger(&self) -> CreditLedger {
        CreditLedger {
            credit: 0,
            packets_per_token: self.packets_per_token,
        }
    }

    /// A ledger restored from storage with `balance` packets (a provider's restart).
    pub fn restore_ledger(&self, balance: u64) -> CreditLedger {
        CreditLedger {
            credit: balance,
            packets_per_token: self.packets_per_token,
        }
    }

    /// Decodes and spends a token on `ledger`; returns the new balance.
    pub fn spend_bytes(
        &mut self,
        ledger: &mut CreditLedger,
        token: &[u8],
        now: Epoch,
    ) -> Result<u64, Refusal> {
        let token = decode_token(token)?;
        self.spend(ledger, token, now)
    }

    /// Verifies `token`, records it as spent here, credits `ledger` and keeps the token
    /// for redemption. Returns the new balance.
    pub fn spend(
        &mut self,
        ledger: &mut CreditLedger,
        token: Token,
        now: Epoch,
    ) -> Result<u64, Refusal> {
        crate::verify::verify_and_spend(
            &self.keys,
            &mut self.spent,
            &token,
            now,
            self.validity_epochs,
        )?;
        ledger.credit_token();
        self.collected.push(token);
        Ok(ledger.balance())
    }

    /// Takes back tokens handed over for redemption that the issuer did not judge (it
    /// could not redeem then): they are redeemed in a later round.
    pub fn return_collected(&mut self, tokens: Vec<Token>) {
        self.collected.extend(tokens);
    }

    /// Hands over the tokens collected since the last call, for redemption.
    pub fn take_collected(&mut self) -> Vec<Token> {
        std::mem::take(&mut self.collected)
    }

    /// Tokens waiting for redemption.
    pub fn collected(&self) -> usize {
        self.collected.len()
    }

    /// Forgets keys and spent entries that can no longer matter at `now`.
    pub fn prune(&mut self, now: Epoch) -> Result<usize, crate::error::StoreError> {
        let oldest = oldest_live_epoch(now, self.validity_epochs);
        self.keys.prune_before(oldest);
        self.spent.prune_before(oldest)
    }

    pub fn spent_set(&self) -> &S {
        &self.spent
    }

    pub fn spent_set_mut(&mut self) -> &mut S {
        &mut self.spent
    }

    pub fn keys(&self) -> &KeyDirectory {
        &self.keys
    }
}

/// Oldest key epoch whose tokens are still valid at `now`.
pub(crate) fn oldest_live_epoch(now: Epoch, validity_epochs: u64) -> Epoch {
    (now + 1).saturating_sub(validity_epochs)
}
