//! The client's side: keep packet credit at the provider by spending tokens, fetching
//! more from the issuer when the wallet runs out.

use super::{
    CHECK_EVERY, CREDIT_PROTOCOL, CreditAnswer, IssuerAddress, LOW_WATER_PACKETS, OP_BALANCE,
    OP_SPEND, TOKENS_PER_REQUEST,
};
use crate::issuer::calls::{fetch_keys, fetch_tokens};
use crate::issuer::epoch_at;
use crate::mailboxes::exchange::read_bounded;
use crate::net::swarm::NetHandle;
use crate::pki::service::unix_now;
use futures::AsyncWriteExt;
use libp2p::PeerId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use tokio::sync::watch;
use wesh_payments::params::TOKEN_VALIDITY_EPOCHS;
use wesh_payments::{Credential, Token, VerifyingKey, Wallet, encode_token};

/// One credit request to a provider.
pub async fn credit_request(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    request: &[u8],
) -> Result<CreditAnswer, String> {
    let work = async {
        let mut s = control
            .open_stream(provider, CREDIT_PROTOCOL)
            .await
            .map_err(|e| format!("cannot reach the provider: {e}"))?;
        s.write_all(request).await.map_err(|e| e.to_string())?;
        s.close().await.map_err(|e| e.to_string())?;
        let answer = read_bounded(&mut s, 4096)
            .await
            .map_err(|e| e.to_string())?;
        CreditAnswer::decode(&answer).ok_or_else(|| "malformed credit answer".to_string())
    };
    tokio::time::timeout(super::EXCHANGE_TIMEOUT, work)
        .await
        .map_err(|_| "credit request timed out".to_string())?
}

/// Spends `token` at `provider`.
pub async fn spend_at(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    token: &Token,
) -> Result<CreditAnswer, String> {
    let mut request = vec![OP_SPEND];
    request.extend_from_slice(&encode_token(token));
    credit_request(control, provider, &request).await
}

pub async fn balance_at(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
) -> Result<CreditAnswer, String> {
    credit_request(control, provider, &[OP_BALANCE]).await
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
) -> Result<VerifyingKey, String> {
    let now = epoch_at(unix_now(), issuer.epoch_seconds);
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
                let key = VerifyingKey::from_published(key).map_err(|e| e.to_string())?;
                stats.keys_from_pki.fetch_add(1, Relaxed);
                return Ok(key);
            }
            tracing::debug!("no issuer descriptor for this epoch in the directory");
        }
        Err(e) => tracing::debug!(error = %e, "issuer keys not available from the PKI"),
    }
    let keys = fetch_keys(control, issuer.peer).await?;
    let key = keys
        .into_iter()
        .filter(|k| k.epoch <= now)
        .max_by_key(|k| k.epoch)
        .ok_or("the issuer has no key")?;
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
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    loop {
        match top_up(&mut control, provider, &issuer, me, &mut wallet, &stats).await {
            Ok(balance) => {
                if balance > 0 && !ready.swap(true, Relaxed) {
                    tracing::info!(balance, "sending credit at the provider");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot keep credit at the provider"),
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn top_up(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    issuer: &IssuerAddress,
    me: [u8; 32],
    wallet: &mut Wallet,
    stats: &KeeperStats,
) -> Result<u64, String> {
    let (mut balance, dropped) = match balance_at(control, provider).await? {
        CreditAnswer::Balance { balance, dropped } => (balance, dropped),
        CreditAnswer::Refused(r) => return Err(r),
    };
    if dropped > 0 && balance == 0 {
        tracing::warn!(
            dropped,
            "the provider dropped packets for lack of credit; buying more"
        );
    }
    while balance < LOW_WATER_PACKETS {
        let now = epoch_at(unix_now(), issuer.epoch_seconds);
        wallet.discard_expired(now);
        let token = match wallet.pop(now) {
            Some(t) => t,
            None => {
                let key = issuance_key(control, provider, issuer, stats).await?;
                let got = fetch_tokens(
                    control,
                    issuer.peer,
                    &key,
                    Credential::ClientKey(me),
                    TOKENS_PER_REQUEST,
                    wallet,
                )
                .await?;
                stats.tokens_fetched.fetch_add(got as u64, Relaxed);
                wallet.pop(now).ok_or("the issuer granted no token")?
            }
        };
        match spend_at(control, provider, &token).await? {
            CreditAnswer::Balance { balance: b, .. } => {
                stats.tokens_spent.fetch_add(1, Relaxed);
                balance = b;
            }
            CreditAnswer::Refused(r) => {
                // the provider's problem (keys not fetched yet, storage): the token is good
                if r == "unknown_key" || r == "spent_set_unavailable" {
                    wallet.restore(now, token);
                }
                return Err(format!("provider refused a token: {r}"));
            }
        }
    }
    Ok(balance)
}
