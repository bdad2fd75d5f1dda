//! The issuer's bookkeeping around the [`Issuer`] core: the relays' work reports (which
//! epochs, once per relay, a cap), settled epochs kept in a [`RewardArchive`] (a claim is
//! durable before it counts), and when each epoch is measured and settled
//! ([`RewardSchedule`]). Driven with the current epoch; the shell persists through the
//! archive and moves bytes.

use crate::codec::decode_request;
use crate::error::{SettleError, StoreError};
use crate::issuance::Credential;
use crate::issuer::Issuer;
use crate::params::{
    MAX_WORK_REPORTS_PER_EPOCH, MIN_SHOPPER_SECS, REPORT_GRACE_SECS, SHOPPER_DRAIN_SECS,
};
use crate::policy::IssuancePolicy;
use crate::rewards::{EpochRewards, WorkReport};
use crate::shopper::ShopperScores;
use crate::spent::SpentSet;
use crate::wire::{
    Answer, ClaimAnswer, ClaimRefusal, IssueAnswer, IssueRefusal, Redeemed, SpendRefusal,
    WorkAnswer, WorkRefusal, WorkRequest, decode_epoch, decode_redeem_request,
};
use crate::{Epoch, NodeId};
use rand_core::CryptoRng;
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Where settled epochs are kept. `put` returns once the epoch is durable.
pub trait RewardArchive {
    fn put(&mut self, rewards: &EpochRewards) -> Result<(), StoreError>;
}

/// An archive in memory (tests and the simulator).
#[derive(Debug, Default, Clone)]
pub struct InMemoryArchive {
    pub epochs: BTreeMap<Epoch, EpochRewards>,
    pub fail_writes: bool,
}

impl RewardArchive for InMemoryArchive {
    fn put(&mut self, rewards: &EpochRewards) -> Result<(), StoreError> {
        if self.fail_writes {
            return Err(StoreError("writes fail".into()));
        }
        self.epochs.insert(rewards.epoch, rewards.clone());
        Ok(())
    }
}

/// Why an epoch was not settled (or its record not kept).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SettlementError {
    #[error(transparent)]
    Settle(#[from] SettleError),
    #[error("settled epochs not stored: {0}")]
    Store(#[from] StoreError),
}

/// Work reported per epoch not settled yet: node → (packets, replication registrations).
#[derive(Debug, Clone)]
pub struct WorkReports {
    by_epoch: BTreeMap<Epoch, BTreeMap<NodeId, (u64, u64)>>,
    cap: usize,
}

impl Default for WorkReports {
    fn default() -> Self {
        WorkReports {
            by_epoch: BTreeMap::new(),
            cap: MAX_WORK_REPORTS_PER_EPOCH,
        }
    }
}

impl WorkReports {
    /// At most `cap` relays per epoch.
    pub fn with_cap(cap: usize) -> Self {
        WorkReports {
            by_epoch: BTreeMap::new(),
            cap,
        }
    }

    /// Takes `node`'s report for `epoch` at `now`: the current or the previous epoch only,
    /// not settled yet, once per relay, at most `cap` relays.
    pub fn report(
        &mut self,
        now: Epoch,
        epoch: Epoch,
        node: NodeId,
        work: (u64, u64),
        settled: bool,
    ) -> Result<(), WorkRefusal> {
        if epoch > now || epoch.saturating_add(1) < now {
            return Err(WorkRefusal::NotRecentEpoch);
        }
        if settled {
            return Err(WorkRefusal::AlreadySettled);
        }
        // older epochs nobody settled are dropped
        self.by_epoch.retain(|e, _| e.saturating_add(1) >= now);
        let reports = self.by_epoch.entry(epoch).or_default();
        if reports.contains_key(&node) {
            return Err(WorkRefusal::AlreadyReported);
        }
        if reports.len() >= self.cap {
            return Err(WorkRefusal::TooManyReports);
        }
        reports.insert(node, work);
        Ok(())
    }

    /// The reports of `epoch`, taken (settlement uses them once).
    pub fn take(&mut self, epoch: Epoch) -> Vec<WorkReport> {
        self.by_epoch
            .remove(&epoch)
            .unwrap_or_default()
            .into_iter()
            .map(|(node, (packets, replica_registrations))| WorkReport {
                node,
                packets,
                replica_registrations,
            })
            .collect()
    }
}

/// The issuer with its work reports and its archive of settled epochs.
pub struct IssuerBook<P: IssuancePolicy, S: SpentSet, A: RewardArchive> {
    issuer: Issuer<P, S>,
    work: WorkReports,
    archive: A,
    /// Settled epochs known to be in the archive.
    archived: BTreeSet<Epoch>,
}

impl<P: IssuancePolicy, S: SpentSet, A: RewardArchive> IssuerBook<P, S, A> {
    pub fn new(issuer: Issuer<P, S>, archive: A) -> Self {
        IssuerBook {
            issuer,
            work: WorkReports::default(),
            archive,
            archived: BTreeSet::new(),
        }
    }

    /// Puts back epochs read from the archive (a restart); returns how many.
    pub fn restore(&mut self, epochs: Vec<EpochRewards>) -> Result<usize, SettleError> {
        let n = epochs.len();
        for rewards in epochs {
            let epoch = rewards.epoch;
            self.issuer.rewards_mut().record(rewards)?;
            self.archived.insert(epoch);
        }
        Ok(n)
    }

    pub fn issuer(&self) -> &Issuer<P, S> {
        &self.issuer
    }

    /// Issuance and redemption go to the core directly.
    pub fn issuer_mut(&mut self) -> &mut Issuer<P, S> {
        &mut self.issuer
    }

    /// A relay's work report for `epoch`, received at `now`: packets relayed and
    /// replication registrations paid.
    pub fn report_work(
        &mut self,
        now: Epoch,
        epoch: Epoch,
        node: NodeId,
        work: (u64, u64),
    ) -> Result<(), WorkRefusal> {
        let settled = self.issuer.rewards().epoch(epoch).is_some();
        self.work.report(now, epoch, node, work, settled)
    }

    /// Settles `epoch` from the shopper's `scores` and the work reported for it, and
    /// archives it before returning.
    pub fn settle(
        &mut self,
        epoch: Epoch,
        scores: &ShopperScores,
    ) -> Result<EpochRewards, SettlementError> {
        let reports = self.work.take(epoch);
        self.settle_with(epoch, scores, &reports)
    }

    /// Settles `epoch` from the given reports (the testnet counts work itself).
    pub fn settle_with(
        &mut self,
        epoch: Epoch,
        scores: &ShopperScores,
        reports: &[WorkReport],
    ) -> Result<EpochRewards, SettlementError> {
        let settled = self.issuer.settle(epoch, scores, reports)?.clone();
        self.archive_unsaved()?;
        Ok(settled)
    }

    /// Archives settled epochs not archived yet (settled through the core directly).
    pub fn archive_unsaved(&mut self) -> Result<(), StoreError> {
        for rewards in self.issuer.rewards().epochs() {
            if !self.archived.contains(&rewards.epoch) {
                self.archive.put(rewards)?;
                self.archived.insert(rewards.epoch);
            }
        }
        Ok(())
    }

    /// `node` claims its entry of `epoch`: the epoch is archived with the entry claimed
    /// before the claim counts, so a crash cannot let it be claimed twice.
    pub fn claim(&mut self, epoch: Epoch, node: &NodeId) -> Result<u64, ClaimRefusal> {
        self.archive_unsaved()
            .map_err(|_| ClaimRefusal::Unavailable)?;
        let mut record = self
            .issuer
            .rewards()
            .epoch(epoch)
            .cloned()
            .ok_or(ClaimRefusal::NotSettled)?;
        let entry = record.entries.get_mut(node).ok_or(ClaimRefusal::NoEntry)?;
        if entry.claimed {
            return Err(ClaimRefusal::AlreadyClaimed);
        }
        entry.claimed = true;
        self.archive
            .put(&record)
            .map_err(|_| ClaimRefusal::Unavailable)?;
        Ok(self.issuer.rewards_mut().claim(epoch, node)?)
    }

    /// The ledger of `epoch` as text (archiving what is settled first), or None.
    pub fn table(&mut self, epoch: Epoch) -> (Option<String>, Result<(), StoreError>) {
        let stored = self.archive_unsaved();
        (self.issuer.rewards().table(epoch), stored)
    }

    /// Answers `/wesh/issuer/issue/1` at `now` (the epoch whose key the shell installed)
    /// for `requester`, the authenticated peer's node id (None: not an Ed25519 node). A
    /// `ClientKey` credential must be the requester's own key: nobody draws on another
    /// client's free quota.
    pub fn answer_issue<R: CryptoRng + ?Sized>(
        &mut self,
        now: Epoch,
        requester: Option<NodeId>,
        request: &[u8],
        rng: &mut R,
    ) -> IssueAnswer {
        let Ok(request) = decode_request(request) else {
            return Answer::Refused(IssueRefusal::MalformedRequest);
        };
        if let Credential::ClientKey(key) = &request.credential
            && requester != Some(*key)
        {
            return Answer::Refused(IssueRefusal::NotRequestersKey);
        }
        let issued = self.issuer.issue(now, &request, rng);
        issued.map_err(|e| IssueRefusal::from(&e)).into()
    }

    /// Answers `/wesh/issuer/redeem/1` of `provider` (None: not an Ed25519 node, nothing
    /// redeemed) at `now` (None: the issuer has no key now). Only the providers of the
    /// directory the issuer follows (`directory_providers`, the shell's) redeem; anyone
    /// else's batch is refused whole, before any token is looked at. Each token is judged
    /// on its own, by its index.
    pub fn answer_redeem(
        &mut self,
        now: Option<Epoch>,
        provider: Option<NodeId>,
        directory_providers: &BTreeSet<NodeId>,
        request: &[u8],
    ) -> Redeemed {
        let Some(provider) = provider else {
            return Redeemed::default();
        };
        // Only a provider of the directory collects tokens for the packets it carries: a
        // client redeeming its own token would leave the provider it spends it at unpaid.
        if !directory_providers.contains(&provider) {
            return Redeemed::batch_refused(SpendRefusal::NotAProvider);
        }
        let Ok(tokens) = decode_redeem_request(request) else {
            return Redeemed::batch_refused(SpendRefusal::MalformedRequest);
        };
        let Some(now) = now else {
            return Redeemed::batch_refused(SpendRefusal::Unavailable);
        };
        let mut result = Redeemed::default();
        for (i, token) in tokens.into_iter().enumerate() {
            match token.and_then(|t| self.issuer.redeem(now, provider, &t)) {
                Ok(()) => result.accepted = result.accepted.saturating_add(1),
                Err(why) => {
                    let index = u16::try_from(i).unwrap_or(u16::MAX);
                    result.refused.push((index, SpendRefusal::Token(why)));
                }
            }
        }
        result
    }

    /// Answers `/wesh/issuer/claim/1` of `claimant`.
    pub fn answer_claim(&mut self, claimant: Option<NodeId>, request: &[u8]) -> ClaimAnswer {
        let Ok(epoch) = decode_epoch(request) else {
            return Answer::Refused(ClaimRefusal::MalformedRequest);
        };
        let Some(node) = claimant else {
            return Answer::Refused(ClaimRefusal::NotANode);
        };
        self.claim(epoch, &node).into()
    }

    /// Answers `/wesh/issuer/work/1` of `reporter` at `now`.
    pub fn answer_work(
        &mut self,
        now: Epoch,
        reporter: Option<NodeId>,
        request: &[u8],
    ) -> WorkAnswer {
        let Ok(r) = WorkRequest::decode(request) else {
            return Answer::Refused(WorkRefusal::MalformedRequest);
        };
        let Some(node) = reporter else {
            return Answer::Refused(WorkRefusal::NotANode);
        };
        let work = (r.packets, r.replica_registrations);
        self.report_work(now, r.epoch, node, work).into()
    }

    /// Answers `/wesh/issuer/rewards/1`: the epoch's ledger as text (settled epochs are
    /// archived first; the second value says whether that worked).
    pub fn answer_rewards(&mut self, request: &[u8]) -> (Vec<u8>, Result<(), StoreError>) {
        let Ok(epoch) = decode_epoch(request) else {
            let malformed = b"malformed request: expected an epoch (u64)\n".to_vec();
            return (malformed, Ok(()));
        };
        let (table, stored) = self.table(epoch);
        let text = table.unwrap_or_else(|| format!("no rewards settled for epoch {epoch}\n"));
        (text.into_bytes(), stored)
    }

    /// Epochs whose keys are usable for issuance and redemption at `now` (the keys
    /// answer lists these; the next epoch's is announced in the PKI only).
    pub fn usable_keys(&self, now: Epoch) -> impl Iterator<Item = crate::PublishedKey> {
        self.issuer
            .published_keys()
            .into_iter()
            .filter(move |k| k.epoch <= now)
    }
}

/// When a standalone issuer measures and settles each payments epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewardSchedule {
    pub epoch_seconds: u64,
}

/// One epoch as the schedule sees it at some `now` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochRun {
    pub epoch: Epoch,
    /// When the epoch ends.
    pub end: u64,
    /// How long the shopper sends loops from `now`, seconds; None: too little of the
    /// epoch is left to measure it.
    pub shop_for: Option<u64>,
    /// When the shopper stops sending (the loops in flight then come back).
    pub shop_until: u64,
    /// When to settle it (the relays have reported by then).
    pub settle_at: u64,
}

impl RewardSchedule {
    pub fn at(&self, now: u64) -> EpochRun {
        let epoch = crate::epoch_at(now, self.epoch_seconds);
        let end = epoch.saturating_add(1).saturating_mul(self.epoch_seconds);
        let left = end.saturating_sub(now);
        EpochRun {
            epoch,
            end,
            shop_for: (left >= MIN_SHOPPER_SECS + SHOPPER_DRAIN_SECS)
                .then(|| left - SHOPPER_DRAIN_SECS),
            shop_until: end.saturating_sub(SHOPPER_DRAIN_SECS),
            settle_at: end.saturating_add(REPORT_GRACE_SECS),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::Refusal;
    use crate::policy::FreeQuotaPolicy;
    use crate::shopper::NodeScore;
    use crate::spent::InMemorySpentSet;

    type Book = IssuerBook<FreeQuotaPolicy, InMemorySpentSet, InMemoryArchive>;

    fn book(archive: InMemoryArchive) -> Book {
        let issuer = Issuer::new(FreeQuotaPolicy::new(5), InMemorySpentSet::new());
        IssuerBook::new(issuer, archive)
    }

    fn scores(epoch: Epoch, nodes: &[NodeId]) -> ShopperScores {
        let score = NodeScore {
            loops_sent: 100,
            loops_returned: 100,
            score: Some(1.0),
        };
        ShopperScores {
            epoch,
            nodes: nodes.iter().map(|n| (*n, score)).collect(),
        }
    }

    #[test]
    fn work_is_taken_for_recent_unsettled_epochs_once_per_relay() {
        let mut b = book(InMemoryArchive::default());
        let (a, c) = ([1; 32], [2; 32]);
        assert_eq!(b.report_work(10, 10, a, (7, 0)), Ok(()));
        assert_eq!(
            b.report_work(10, 10, a, (9, 0)),
            Err(WorkRefusal::AlreadyReported)
        );
        assert_eq!(
            b.report_work(10, 9, a, (3, 0)),
            Ok(()),
            "the previous epoch"
        );
        assert_eq!(
            b.report_work(10, 11, a, (1, 0)),
            Err(WorkRefusal::NotRecentEpoch)
        );
        assert_eq!(
            b.report_work(10, 8, a, (1, 0)),
            Err(WorkRefusal::NotRecentEpoch)
        );
        b.report_work(10, 10, c, (5, 0)).unwrap();
        let settled = b.settle(10, &scores(10, &[a, c])).unwrap();
        assert_eq!(settled.entries[&a].reported, 7);
        assert_eq!(settled.entries[&c].reported, 5);
        assert_eq!(
            b.report_work(10, 10, [3; 32], (1, 0)),
            Err(WorkRefusal::AlreadySettled)
        );
        // epoch 9's reports are dropped once epoch 11 begins: nobody settled it in time
        b.report_work(11, 11, a, (1, 0)).unwrap();
        assert!(b.work.take(9).is_empty());
    }

    #[test]
    fn requests_are_answered_with_typed_refusals() {
        let mut b = book(InMemoryArchive::default());
        let mut rng = rand::rng();
        let garbage = [0u8; 3];
        assert_eq!(
            b.answer_issue(5, Some([1; 32]), &garbage, &mut rng),
            Answer::Refused(IssueRefusal::MalformedRequest)
        );
        let request = crate::issuance::IssuanceRequest {
            token_type: crate::params::TOKEN_TYPE_BLIND_RSA,
            epoch: 5,
            truncated_key_id: 0,
            credential: Credential::ClientKey([2; 32]),
            blinded: vec![[1; 256]],
        };
        let bytes = crate::codec::encode_request(&request);
        assert_eq!(
            b.answer_issue(5, Some([1; 32]), &bytes, &mut rng),
            Answer::Refused(IssueRefusal::NotRequestersKey),
            "someone else's quota"
        );
        assert_eq!(
            b.answer_issue(5, Some([2; 32]), &bytes, &mut rng),
            Answer::Refused(IssueRefusal::UnknownEpoch),
            "the requester's own key passes; this issuer has no key"
        );
        let empty = 0u16.to_be_bytes();
        let providers: BTreeSet<NodeId> = [[1; 32]].into();
        assert_eq!(
            b.answer_redeem(Some(5), None, &providers, &empty),
            Redeemed::default()
        );
        assert_eq!(
            b.answer_redeem(Some(5), Some([1; 32]), &providers, &garbage),
            Redeemed::batch_refused(SpendRefusal::MalformedRequest)
        );
        assert_eq!(
            b.answer_redeem(None, Some([1; 32]), &providers, &empty),
            Redeemed::batch_refused(SpendRefusal::Unavailable)
        );
        let mut foreign = 1u16.to_be_bytes().to_vec();
        foreign.extend_from_slice(&[9; crate::params::TOKEN_BYTES]);
        let judged = b.answer_redeem(Some(5), Some([1; 32]), &providers, &foreign);
        let unsupported = SpendRefusal::Token(Refusal::UnsupportedTokenType);
        assert_eq!(judged.refused, vec![(0, unsupported)]);
        assert_eq!(
            b.answer_claim(None, &5u64.to_be_bytes()),
            Answer::Refused(ClaimRefusal::NotANode)
        );
        assert_eq!(
            b.answer_claim(Some([1; 32]), &garbage),
            Answer::Refused(ClaimRefusal::MalformedRequest)
        );
        let work = WorkRequest {
            epoch: 5,
            packets: 9,
            replica_registrations: 0,
        }
        .encode();
        assert_eq!(b.answer_work(5, Some([1; 32]), &work), Answer::Done(()));
        assert_eq!(
            b.answer_work(5, None, &work),
            Answer::Refused(WorkRefusal::NotANode)
        );
        let (text, stored) = b.answer_rewards(&7u64.to_be_bytes());
        assert_eq!(text, b"no rewards settled for epoch 7\n".to_vec());
        assert_eq!(stored, Ok(()));
    }

    #[test]
    fn reports_per_epoch_are_capped() {
        let mut w = WorkReports::with_cap(2);
        w.report(5, 5, [1; 32], (1, 0), false).unwrap();
        w.report(5, 5, [2; 32], (1, 0), false).unwrap();
        assert_eq!(
            w.report(5, 5, [3; 32], (1, 0), false),
            Err(WorkRefusal::TooManyReports)
        );
        assert_eq!(w.take(5).len(), 2);
        assert!(w.take(5).is_empty(), "taken once");
    }

    #[test]
    fn a_claim_counts_only_once_it_is_archived_and_survives_a_restart() {
        let (a, c) = ([1; 32], [2; 32]);
        let mut b = book(InMemoryArchive::default());
        b.report_work(40, 40, a, (1000, 0)).unwrap();
        b.report_work(40, 40, c, (1000, 0)).unwrap();
        let settled = b.settle(40, &scores(40, &[a, c])).unwrap();
        assert!(b.archive.epochs.contains_key(&40), "archived at settlement");
        // an epoch settled through the core directly is archived before the next claim
        b.issuer_mut().settle(41, &scores(41, &[a]), &[]).unwrap();
        assert_eq!(b.claim(40, &a), Ok(settled.entries[&a].units));
        assert!(b.archive.epochs[&40].entries[&a].claimed);
        assert!(b.archive.epochs.contains_key(&41));
        assert_eq!(b.claim(40, &a), Err(ClaimRefusal::AlreadyClaimed));
        assert_eq!(b.claim(42, &a), Err(ClaimRefusal::NotSettled));
        assert_eq!(b.claim(40, &[9; 32]), Err(ClaimRefusal::NoEntry));

        // the archive cannot write: the claim does not count
        b.archive.fail_writes = true;
        assert_eq!(b.claim(40, &c), Err(ClaimRefusal::Unavailable));
        b.archive.fail_writes = false;

        // a restart from the archive: the first claim stands, the refused one can be made
        let mut again = book(b.archive.clone());
        let epochs = b.archive.epochs.values().cloned().collect();
        assert_eq!(again.restore(epochs).unwrap(), 2);
        assert_eq!(again.claim(40, &a), Err(ClaimRefusal::AlreadyClaimed));
        assert_eq!(again.claim(40, &c), Ok(settled.entries[&c].units));
        assert_eq!(
            again.settle(40, &scores(40, &[a])).map(|_| ()),
            Err(SettlementError::Settle(SettleError::AlreadySettled(40)))
        );
        let (table, stored) = again.table(40);
        assert!(table.unwrap().contains("epoch 40"));
        assert_eq!(stored, Ok(()));
    }

    #[test]
    fn the_schedule_measures_until_the_drain_and_settles_after_the_grace() {
        let s = RewardSchedule { epoch_seconds: 60 };
        let run = s.at(600);
        assert_eq!((run.epoch, run.end), (10, 660));
        assert_eq!(run.shop_for, Some(60 - SHOPPER_DRAIN_SECS));
        assert_eq!(run.shop_until, 660 - SHOPPER_DRAIN_SECS);
        assert_eq!(run.settle_at, 660 + REPORT_GRACE_SECS);
        // too little left to measure this epoch
        let late = s.at(660 - (MIN_SHOPPER_SECS + SHOPPER_DRAIN_SECS) + 1);
        assert_eq!(late.shop_for, None);
        let edge = s.at(660 - (MIN_SHOPPER_SECS + SHOPPER_DRAIN_SECS));
        assert_eq!(edge.shop_for, Some(MIN_SHOPPER_SECS));
    }
}
