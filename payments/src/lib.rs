//! Sans-I/O payments core of the mixnet.
//!
//! Clients get blind-RSA tokens (RFC 9474 / RFC 9578 type 0x0002 layout) from an
//! issuer, spend them at their provider for packet credit, providers redeem them at the
//! issuer (which catches double spends across providers), and the issuer shares a reward
//! pool among relayers by secret-shopper score × work. The rules around them are cores
//! driven with `now`: a provider's [`CreditBook`], a client's [`CreditKeeper`], the
//! issuer's [`IssuerBook`] and [`RewardSchedule`]; the bytes between nodes are
//! [`wire`]'s. Storage sits behind traits; no I/O here. See `spec/payments.md`.

pub mod admission;
pub mod codec;
pub mod credit_book;
pub mod credit_keeper;
pub mod error;
pub mod issuance;
pub mod issuer;
pub mod issuer_book;
pub mod keys;
pub mod params;
pub mod policy;
pub mod reward_record;
pub mod rewards;
pub mod shopper;
pub mod spent;
pub mod token;
pub mod verify;
pub mod wallet;
pub mod wire;

/// Epoch number (the PKI's epochs).
pub type Epoch = u64;

/// A relayer's identity (mix or provider), as in the PKI.
pub type NodeId = [u8; 32];

/// The payments epoch at Unix time `now` (seconds) for epochs of `seconds`.
pub fn epoch_at(now: u64, seconds: u64) -> Epoch {
    now / seconds.max(1)
}

pub use admission::{Admission, CreditLedger};
pub use codec::{
    decode_request, decode_response, decode_token, encode_request, encode_response, encode_token,
};
pub use credit_book::{
    ChargeRefused, CreditBook, Debit, InMemoryLedgers, LedgerRecord, LedgerRecordError,
    LedgerStore, Standing,
};
pub use credit_keeper::{CreditKeeper, TopUpStep};
pub use error::{
    ClaimError, DecodeError, IssueError, KeyError, NoCredit, PolicyRefusal, Refusal, SettleError,
    StoreError, WalletError,
};
pub use issuance::{Credential, IssuanceRequest, IssuanceResponse};
pub use issuer::{Issuer, RedemptionReport};
pub use issuer_book::{InMemoryArchive, IssuerBook, RewardArchive, RewardSchedule, WorkReports};
pub use keys::{IssuerKey, KeyDirectory, PublishedKey, VerifyingKey};
pub use policy::{FreeQuotaOrVoucher, FreeQuotaPolicy, IssuancePolicy, VoucherPolicy};
pub use reward_record::{RewardRecordError, decode_rewards, encode_rewards};
pub use rewards::{EpochRewards, RewardEntry, RewardLedger, WorkReport, split_pool};
pub use shopper::{
    NodeScore, ShopperMonitor, ShopperScores, TestLoop, TopologyError, loops_settled, pacing_gap,
};
pub use spent::{InMemorySpentSet, SpentSet};
pub use token::{SpentId, Token, TokenKeyId, epoch_challenge_digest};
pub use verify::verify_token;
pub use wallet::{PendingIssuance, Wallet};
pub use wire::WireError;
