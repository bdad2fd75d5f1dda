//! The client's side: keep packet credit at the provider by spending tokens, fetching
//! more from the issuer when the wallet runs out. What to do next is
//! `wesh_payments::CreditKeeper`'s decision; this moves the requests.

use super::{CREDIT_PROTOCOL, CreditAnswer, EXCHANGE_TIMEOUT, IssuerAddress};
use crate::issuer::calls::{CallError, exchange, fetch_keys, fetch_tokens};
use crate::net::swarm::NetHandle;
use libp2p::PeerId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::watch;
use wesh_payments::params::CREDIT_CHECK_EVERY_SECS;
use wesh_payments::wire::CreditRequest;
use wesh_payments::wire::credit::MAX_CREDIT_ANSWER_BYTES;
use wesh_payments::{Credential, CreditKeeper, Token, TopUpStep, VerifyingKey};

/// One credit request to a provider.
pub async fn credit_request(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    request: &CreditRequest,
) -> Result<CreditAnswer, CallError> {
    let answer = exchange(
        control,
        provider,
        CREDIT_PROTOCOL,
        &request.encode(),
        MAX_CREDIT_ANSWER_BYTES,
        EXCHANGE_TIMEOUT,
    )
    .await?;
    Ok(CreditAnswer::decode(&answer)?)
}

/// Spends `token` at `provider`.
pub async fn spend_at(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    token: &Token,
) -> Result<CreditAnswer, CallError> {
    credit_request(
        control,
        provider,
        &CreditRequest::Spend(Box::new(token.clone())),
    )
    .await
}

/// Makes sure this client holds `price` credit units at `provider`, for a service it
/// charges for (a replication registration): if it holds less, buys one token from the
/// issuer and spends it there. Returns the balance held.
pub async fn pay_at(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    issuer: &IssuerAddress,
    me: [u8; 32],
    price: u64,
) -> Result<u64, CallError> {
    let held = |a: CreditAnswer| a.into_result().map_err(CallError::SpendRefused);
    let (balance, _) = held(credit_request(control, provider, &CreditRequest::Balance).await?)?;
    if balance >= price {
        return Ok(balance);
    }
    let key = issuance_key(control, provider, issuer, &KeeperStats::default()).await?;
    let mut wallet = wesh_payments::Wallet::new(wesh_payments::params::TOKEN_VALIDITY_EPOCHS);
    let credential = Credential::ClientKey(me);
    fetch_tokens(control, issuer.peer, &key, credential, 1, &mut wallet).await?;
    let token = wallet
        .pop(issuer.epoch_now())
        .ok_or(CallError::NoTokenGranted)?;
    Ok(held(spend_at(control, provider, &token).await?)?.0)
}

/// What the keeper reports.
#[derive(Debug, Default)]
pub struct KeeperStats {
    pub tokens_fetched: AtomicU64,
    pub tokens_spent: AtomicU64,
    /// Issuance keys taken from the issuer's descriptor in the provider's directory /
    /// fetched from the issuer directly (no usable descriptor).
    pub keys_from_pki: AtomicU64,
    pub keys_from_issuer: AtomicU64,
}

/// The issuer's signing key of the current epoch: from its descriptor in the PKI
/// directory the provider serves (all nodes hold the same signed descriptor, so the
/// issuer cannot hand this client a key of its own), else fetched from the issuer.
pub async fn issuance_key(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    issuer: &IssuerAddress,
    stats: &KeeperStats,
) -> Result<VerifyingKey, CallError> {
    let now = issuer.epoch_now();
    let from_pki = crate::issuer::pki_keys::fetch_from_directory(
        control,
        provider,
        issuer.peer,
        issuer.epoch_seconds,
    )
    .await;
    match from_pki {
        Ok(keys) => {
            if let Some(key) = keys.iter().find(|k| k.epoch == now) {
                let key = VerifyingKey::from_published(key)?;
                stats.keys_from_pki.fetch_add(1, Relaxed);
                return Ok(key);
            }
            tracing::debug!("no issuer descriptor for this epoch in the directory");
        }
        Err(e) => tracing::debug!(error = %e, "issuer keys not available from the PKI"),
    }
    let keys = fetch_keys(control, issuer.peer).await?;
    let key = CreditKeeper::issuance_key(keys, now).ok_or(CallError::NoKey)?;
    stats.keys_from_issuer.fetch_add(1, Relaxed);
    Ok(key)
}

/// Keeps credit at `provider` above the low-water mark until `shutdown`; `ready` turns
/// true once there is credit (the client sends nothing before, it would be dropped).
pub async fn keep_credit(
    net: NetHandle,
    provider: PeerId,
    issuer: IssuerAddress,
    me: [u8; 32],
    ready: Arc<AtomicBool>,
    stats: Arc<KeeperStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    net.add_address(issuer.peer, issuer.addr.clone());
    let mut control = net.control.clone();
    let mut keeper = CreditKeeper::default();
    loop {
        match top_up(&mut control, provider, &issuer, me, &mut keeper, &stats).await {
            Ok(balance) => {
                if balance > 0 && !ready.swap(true, Relaxed) {
                    tracing::info!(balance, "sending credit at the provider");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot keep credit at the provider"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(CREDIT_CHECK_EVERY_SECS)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One round of the keeper's decisions; returns the balance reached.
async fn top_up(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    issuer: &IssuerAddress,
    me: [u8; 32],
    keeper: &mut CreditKeeper,
    stats: &KeeperStats,
) -> Result<u64, CallError> {
    let (mut balance, dropped) = credit_request(control, provider, &CreditRequest::Balance)
        .await?
        .into_result()
        .map_err(CallError::SpendRefused)?;
    if dropped > 0 && balance == 0 {
        tracing::warn!(
            dropped,
            "the provider dropped packets for lack of credit; buying more"
        );
    }
    loop {
        let now = issuer.epoch_now();
        match keeper.next_step(now, balance) {
            TopUpStep::Enough => return Ok(balance),
            TopUpStep::FetchTokens(count) => {
                let key = issuance_key(control, provider, issuer, stats).await?;
                let credential = Credential::ClientKey(me);
                let wallet = keeper.wallet_mut();
                let got =
                    fetch_tokens(control, issuer.peer, &key, credential, count, wallet).await?;
                stats.tokens_fetched.fetch_add(got as u64, Relaxed);
                if got == 0 {
                    return Err(CallError::NoTokenGranted);
                }
            }
            TopUpStep::Spend(token) => match spend_at(control, provider, &token).await {
                Ok(CreditAnswer::Balance { balance: b, .. }) => {
                    stats.tokens_spent.fetch_add(1, Relaxed);
                    balance = b;
                }
                Ok(CreditAnswer::Refused(why)) => {
                    keeper.refused(now, *token, why);
                    return Err(CallError::SpendRefused(why));
                }
                Err(e) => {
                    keeper.unanswered(now, *token);
                    return Err(e);
                }
            },
        }
    }
}
