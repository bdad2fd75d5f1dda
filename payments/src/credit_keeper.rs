//! A client's top-up policy: keep the credit at its provider above a low-water mark by
//! spending tokens from its wallet, and ask the issuer for more when the wallet is empty.
//! The shell moves the requests; this decides what comes next.

use crate::Epoch;
use crate::keys::VerifyingKey;
use crate::params::{LOW_WATER_PACKETS, TOKEN_VALIDITY_EPOCHS, TOKENS_PER_REQUEST};
use crate::token::Token;
use crate::wallet::Wallet;
use crate::wire::SpendRefusal;

/// What the client does next.
#[derive(Debug, PartialEq, Eq)]
pub enum TopUpStep {
    /// The balance is above the low-water mark.
    Enough,
    /// Spend this token at the provider.
    Spend(Box<Token>),
    /// The wallet is empty: ask the issuer for this many tokens.
    FetchTokens(usize),
}

/// The client's wallet and its top-up rule.
#[derive(Debug)]
pub struct CreditKeeper {
    wallet: Wallet,
    low_water: u64,
    tokens_per_request: usize,
}

impl Default for CreditKeeper {
    fn default() -> Self {
        Self::new(LOW_WATER_PACKETS, TOKENS_PER_REQUEST)
    }
}

impl CreditKeeper {
    pub fn new(low_water: u64, tokens_per_request: usize) -> Self {
        CreditKeeper {
            wallet: Wallet::new(TOKEN_VALIDITY_EPOCHS),
            low_water,
            tokens_per_request,
        }
    }

    /// With `balance` packets of credit at `now` (payments epoch): spend, fetch or wait.
    pub fn next_step(&mut self, now: Epoch, balance: u64) -> TopUpStep {
        if balance >= self.low_water {
            return TopUpStep::Enough;
        }
        self.wallet.discard_expired(now);
        match self.wallet.pop(now) {
            Some(token) => TopUpStep::Spend(Box::new(token)),
            None => TopUpStep::FetchTokens(self.tokens_per_request),
        }
    }

    /// The provider refused `token`: kept when it was the provider's problem (its issuer
    /// key not fetched yet, its storage), dropped otherwise. Returns whether it was kept.
    pub fn refused(&mut self, now: Epoch, token: Token, why: SpendRefusal) -> bool {
        let keep = why.token_still_good();
        if keep {
            self.wallet.restore(now, token);
        }
        keep
    }

    /// The spend of `token` got no answer: it may not have arrived, so the token is kept
    /// (if it did arrive, the provider refuses it `already_spent` next time and it is
    /// dropped then).
    pub fn unanswered(&mut self, now: Epoch, token: Token) {
        self.wallet.restore(now, token);
    }

    /// Where fetched tokens go.
    pub fn wallet_mut(&mut self) -> &mut Wallet {
        &mut self.wallet
    }

    /// The key to ask tokens under, of keys fetched from the issuer itself: the newest
    /// already in force at `now`.
    pub fn issuance_key(keys: Vec<VerifyingKey>, now: Epoch) -> Option<VerifyingKey> {
        keys.into_iter()
            .filter(|k| k.epoch <= now)
            .max_by_key(|k| k.epoch)
    }
}
