//! The issuer (sans-I/O): signs blinded tokens within policy, redeems tokens collected
//! by providers against the global spent set, and settles relayer rewards per epoch.

use crate::admission::oldest_live_epoch;
use crate::error::{IssueError, Refusal, SettleError, StoreError};
use crate::issuance::{IssuanceRequest, IssuanceResponse};
use crate::keys::{IssuerKey, KeyDirectory, PublishedKey};
use crate::params::{
    AUTHENTICATOR_BYTES, MAX_BLINDED_PER_REQUEST, REWARD_POOL_PER_EPOCH, TOKEN_TYPE_BLIND_RSA,
    TOKEN_VALIDITY_EPOCHS, WORK_CAP_SLACK,
};
use crate::policy::IssuancePolicy;
use crate::rewards::{EpochRewards, RewardLedger, WorkReport, split_pool};
use crate::shopper::ShopperScores;
use crate::spent::SpentSet;
use crate::token::Token;
use crate::verify::verify_and_spend;
use crate::{Epoch, NodeId};
use blind_rsa_signatures::BlindSignature;
use rand_core::CryptoRng;
use std::collections::BTreeMap;

/// Outcome of redeeming a provider's batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedemptionReport {
    pub accepted: u64,
    /// (index in the batch, reason) for each refused token.
    pub refused: Vec<(usize, Refusal)>,
}

/// Issuer state. `P` decides issuance, `S` is the global spent set.
pub struct Issuer<P: IssuancePolicy, S: SpentSet> {
    keys: BTreeMap<Epoch, IssuerKey>,
    directory: KeyDirectory,
    policy: P,
    spent: S,
    validity_epochs: u64,
    reward_pool: u64,
    /// Tokens redeemed, by (epoch of redemption, provider): what each provider earned.
    redeemed: BTreeMap<(Epoch, NodeId), u64>,
    rewards: RewardLedger,
}

impl<P: IssuancePolicy, S: SpentSet> std::fmt::Debug for Issuer<P, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("key_epochs", &self.keys.keys().collect::<Vec<_>>())
            .field("spent", &self.spent.len())
            .finish_non_exhaustive()
    }
}

impl<P: IssuancePolicy, S: SpentSet> Issuer<P, S> {
    pub fn new(policy: P, spent: S) -> Self {
        Self {
            keys: BTreeMap::new(),
            directory: KeyDirectory::new(),
            policy,
            spent,
            validity_epochs: TOKEN_VALIDITY_EPOCHS,
            reward_pool: REWARD_POOL_PER_EPOCH,
            redeemed: BTreeMap::new(),
            rewards: RewardLedger::new(),
        }
    }

    /// Overrides the token validity (epochs) and the reward pool (units/epoch).
    pub fn with_params(mut self, validity_epochs: u64, reward_pool: u64) -> Self {
        self.validity_epochs = validity_epochs;
        self.reward_pool = reward_pool;
        self
    }

    /// Installs the signing key of its epoch; returns what to publish.
    pub fn install_key(&mut self, key: IssuerKey) -> Result<PublishedKey, crate::error::KeyError> {
        let published = key.published();
        self.directory.insert_published(&published)?;
        self.keys.insert(key.epoch(), key);
        Ok(published)
    }

    /// Public keys of every installed epoch.
    pub fn published_keys(&self) -> Vec<PublishedKey> {
        self.keys.values().map(IssuerKey::published).collect()
    }

    pub fn policy(&self) -> &P {
        &self.policy
    }

    pub fn policy_mut(&mut self) -> &mut P {
        &mut self.policy
    }

    pub fn spent_set(&self) -> &S {
        &self.spent
    }

    /// Signs up to the policy's grant of the request's blinded messages with the key of
    /// `now`. The policy sees the credential and the count only.
    pub fn issue<R: CryptoRng + ?Sized>(
        &mut self,
        now: Epoch,
        request: &IssuanceRequest,
        rng: &mut R,
    ) -> Result<IssuanceResponse, IssueError> {
        let count = request.blinded.len();
        if count == 0 {
            return Err(IssueError::EmptyRequest);
        }
        if count > MAX_BLINDED_PER_REQUEST {
            return Err(IssueError::TooManyBlinded(count));
        }
        if request.token_type != TOKEN_TYPE_BLIND_RSA {
            return Err(IssueError::UnsupportedTokenType);
        }
        if request.epoch != now {
            return Err(IssueError::WrongEpoch {
                requested: request.epoch,
                current: now,
            });
        }
        let key = self.keys.get(&now).ok_or(IssueError::UnknownEpoch(now))?;
        if key.key_id().truncated() != request.truncated_key_id {
            return Err(IssueError::KeyMismatch);
        }
        // Refuse malformed input before the policy charges the client for it.
        let modulus = key.public_key().components().n();
        if request
            .blinded
            .iter()
            .any(|b| b.as_slice() >= modulus.as_slice())
        {
            return Err(IssueError::MalformedBlindedMessage);
        }
        let requested = u32::try_from(count).map_err(|_| IssueError::TooManyBlinded(count))?;
        let granted = self.policy.grant(now, &request.credential, requested)?;
        let mut blind_signatures = Vec::with_capacity(granted as usize);
        for blinded in request.blinded.iter().take(granted as usize) {
            let BlindSignature(sig) = key
                .secret_key()
                .blind_sign_with_rng(rng, blinded)
                .map_err(|_| IssueError::Signing)?;
            let sig: [u8; AUTHENTICATOR_BYTES] =
                sig.as_slice().try_into().map_err(|_| IssueError::Signing)?;
            blind_signatures.push(sig);
        }
        Ok(IssuanceResponse { blind_signatures })
    }

    /// Redeems one token a provider collected: verified, then inserted in the global
    /// spent set. A token is redeemed exactly once; the second time is a double spend.
    pub fn redeem(&mut self, now: Epoch, provider: NodeId, token: &Token) -> Result<(), Refusal> {
        verify_and_spend(
            &self.directory,
            &mut self.spent,
            token,
            now,
            self.validity_epochs,
        )?;
        *self.redeemed.entry((now, provider)).or_insert(0) += 1;
        Ok(())
    }

    /// Redeems a batch, reporting each refusal by index.
    pub fn redeem_batch(
        &mut self,
        now: Epoch,
        provider: NodeId,
        tokens: &[Token],
    ) -> RedemptionReport {
        let mut report = RedemptionReport::default();
        for (i, token) in tokens.iter().enumerate() {
            match self.redeem(now, provider, token) {
                Ok(()) => report.accepted += 1,
                Err(reason) => report.refused.push((i, reason)),
            }
        }
        report
    }

    /// Tokens `provider` redeemed in `epoch`.
    pub fn redeemed_by(&self, epoch: Epoch, provider: &NodeId) -> u64 {
        self.redeemed.get(&(epoch, *provider)).copied().unwrap_or(0)
    }

    /// Splits the epoch's reward pool from the monitor's scores and the nodes' work
    /// reports, and records it in the reward ledger. A provider's replication
    /// registrations count up to the tokens it redeemed in the epoch and the next (a
    /// registration is paid with one token, redeemed with the provider's next batch; the
    /// issuer cannot tell which tokens paid for what, so this bounds the claim, it does
    /// not prove it).
    pub fn settle(
        &mut self,
        epoch: Epoch,
        scores: &ShopperScores,
        reports: &[WorkReport],
    ) -> Result<&EpochRewards, SettleError> {
        if self.rewards.epoch(epoch).is_some() {
            return Err(SettleError::AlreadySettled(epoch));
        }
        let capped: Vec<WorkReport> = reports
            .iter()
            .map(|r| {
                let paid = self.redeemed_by(epoch, &r.node)
                    + self.redeemed_by(epoch.saturating_add(1), &r.node);
                WorkReport {
                    replica_registrations: r.replica_registrations.min(paid),
                    ..*r
                }
            })
            .collect();
        let split = split_pool(epoch, self.reward_pool, scores, &capped, WORK_CAP_SLACK);
        self.rewards.record(split)
    }

    pub fn rewards(&self) -> &RewardLedger {
        &self.rewards
    }

    /// Relayers claim their entries here.
    pub fn rewards_mut(&mut self) -> &mut RewardLedger {
        &mut self.rewards
    }

    /// Drops keys, spent entries and redemption counters that cannot matter at `now`.
    pub fn prune(&mut self, now: Epoch) -> Result<usize, StoreError> {
        let oldest = oldest_live_epoch(now, self.validity_epochs);
        self.keys.retain(|e, _| *e >= oldest);
        self.directory.prune_before(oldest);
        self.spent.prune_before(oldest)
    }
}
