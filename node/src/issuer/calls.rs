//! What clients, providers and relays ask an issuer (and a client its provider): one
//! request, one answer per stream, bounded in size and time. Encodings are
//! `wesh_payments::wire`'s.

use super::{
    CLAIM_PROTOCOL, EXCHANGE_TIMEOUT, ISSUE_PROTOCOL, KEYS_PROTOCOL, REDEEM_PROTOCOL,
    REWARDS_PROTOCOL, WORK_PROTOCOL,
};
use crate::mailboxes::exchange::read_bounded;
use crate::net::stream_open::open_stream;
use futures::AsyncWriteExt;
use libp2p::{PeerId, StreamProtocol};
use std::time::Duration;
use wesh_payments::wire::issuer::{
    KEYS_REQUEST, MAX_ISSUE_BYTES, MAX_KEYS_ANSWER_BYTES, MAX_REDEEM_ANSWER_BYTES,
    MAX_REWARDS_ANSWER_BYTES, MAX_VERDICT_ANSWER_BYTES,
};
use wesh_payments::wire::{
    ClaimAnswer, ClaimRefusal, IssueAnswer, IssueRefusal, Redeemed, SpendRefusal, WireError,
    WorkAnswer, WorkRefusal, WorkRequest, decode_keys_answer, encode_redeem_request,
};
use wesh_payments::{
    Credential, KeyError, PublishedKey, Token, VerifyingKey, Wallet, WalletError, encode_request,
};

/// Why a call to the issuer or a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("cannot reach {peer}: {source}")]
    Unreachable {
        peer: PeerId,
        source: libp2p_stream::OpenStreamError,
    },
    #[error("{protocol}: {source}")]
    Io {
        protocol: StreamProtocol,
        source: std::io::Error,
    },
    #[error("{0}: timed out")]
    TimedOut(StreamProtocol),
    #[error("malformed answer: {0}")]
    Malformed(#[from] WireError),
    #[error("issuer refused: {0}")]
    IssueRefused(IssueRefusal),
    #[error("claim refused: {0}")]
    ClaimRefused(ClaimRefusal),
    #[error("work report refused: {0}")]
    WorkRefused(WorkRefusal),
    #[error("provider refused: {0}")]
    SpendRefused(SpendRefusal),
    #[error("wallet: {0}")]
    Wallet(#[from] WalletError),
    #[error("issuer key: {0}")]
    Key(#[from] KeyError),
    #[error("the issuer has no key")]
    NoKey,
    #[error("the issuer granted no token")]
    NoTokenGranted,
}

/// Sends `request` on a new `protocol` stream to `peer` and reads at most `limit` bytes
/// of answer, within `timeout`.
pub async fn exchange(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
    protocol: StreamProtocol,
    request: &[u8],
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, CallError> {
    let io = |source| CallError::Io {
        protocol: protocol.clone(),
        source,
    };
    let work = async {
        let mut s = open_stream(control, peer, protocol.clone())
            .await
            .map_err(|source| CallError::Unreachable { peer, source })?;
        s.write_all(request).await.map_err(io)?;
        s.close().await.map_err(io)?;
        read_bounded(&mut s, limit).await.map_err(io)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| CallError::TimedOut(protocol.clone()))?
}

/// One exchange with the issuer, its answer decoded by `decode`.
async fn ask<T>(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
    (protocol, request, limit): (StreamProtocol, &[u8], usize),
    decode: impl FnOnce(&[u8]) -> Result<T, WireError>,
) -> Result<T, CallError> {
    let answer = exchange(control, issuer, protocol, request, limit, EXCHANGE_TIMEOUT).await?;
    Ok(decode(&answer)?)
}

/// The issuer's current keys, verified (key id = SHA-256 of the SPKI, RSA-2048).
pub async fn fetch_keys(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
) -> Result<Vec<VerifyingKey>, CallError> {
    fetch_published_keys(control, issuer)
        .await?
        .iter()
        .map(|p| VerifyingKey::from_published(p).map_err(CallError::Key))
        .collect()
}

/// The issuer's current keys as published (each checked like [`fetch_keys`] does).
pub async fn fetch_published_keys(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
) -> Result<Vec<PublishedKey>, CallError> {
    let call = (KEYS_PROTOCOL, &KEYS_REQUEST[..], MAX_KEYS_ANSWER_BYTES);
    ask(control, issuer, call, decode_keys_answer).await
}

/// Asks for `count` tokens under `key` with `credential`; adds what was granted to the
/// wallet and returns how many.
pub async fn fetch_tokens(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
    key: &VerifyingKey,
    credential: Credential,
    count: usize,
    wallet: &mut Wallet,
) -> Result<usize, CallError> {
    let (request, pending) = wallet.prepare_request(key, credential, count, &mut rand::rng())?;
    let request = encode_request(&request);
    let call = (ISSUE_PROTOCOL, &request[..], MAX_ISSUE_BYTES);
    let answer = ask(control, issuer, call, IssueAnswer::decode).await?;
    let response = Result::from(answer).map_err(CallError::IssueRefused)?;
    Ok(wallet.finalize(pending, &response)?)
}

/// Redeems tokens collected by this provider (at most `MAX_REDEEM_BATCH` per call).
pub async fn redeem(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
    tokens: &[Token],
) -> Result<Redeemed, CallError> {
    let request = encode_redeem_request(tokens)?;
    let call = (REDEEM_PROTOCOL, &request[..], MAX_REDEEM_ANSWER_BYTES);
    ask(control, issuer, call, Redeemed::decode).await
}

/// The issuer's reward ledger of `epoch`, as text.
pub async fn fetch_rewards(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
    epoch: u64,
) -> Result<String, CallError> {
    let request = epoch.to_be_bytes();
    let call = (REWARDS_PROTOCOL, &request[..], MAX_REWARDS_ANSWER_BYTES);
    let text = |b: &[u8]| Ok(String::from_utf8_lossy(b).into_owned());
    ask(control, issuer, call, text).await
}

/// Claims this node's reward entry for `epoch` (the issuer knows us by our Noise key);
/// returns the units.
pub async fn claim_reward(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
    epoch: u64,
) -> Result<u64, CallError> {
    let request = epoch.to_be_bytes();
    let call = (CLAIM_PROTOCOL, &request[..], MAX_VERDICT_ANSWER_BYTES);
    let answer = ask(control, issuer, call, ClaimAnswer::decode).await?;
    Result::from(answer).map_err(CallError::ClaimRefused)
}

/// Reports the packets this relay received in `epoch` and the replication registrations
/// it was paid for (`/wesh/issuer/work/1`).
pub async fn report_work(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
    epoch: u64,
    (packets, replica_registrations): (u64, u64),
) -> Result<(), CallError> {
    let request = WorkRequest {
        epoch,
        packets,
        replica_registrations,
    }
    .encode();
    let call = (WORK_PROTOCOL, &request[..], MAX_VERDICT_ANSWER_BYTES);
    let answer = ask(control, issuer, call, WorkAnswer::decode).await?;
    Result::from(answer).map_err(CallError::WorkRefused)
}
