//! The provider redeems the tokens it collected at the issuer: the issuer's global spent
//! set is what catches a token spent at two providers.

use super::IssuerAddress;
use super::provider::ProviderCredit;
use crate::issuer::calls::{CallError, fetch_published_keys, redeem};
use crate::net::swarm::NetHandle;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::watch;
use wesh_payments::Refusal;
use wesh_payments::params::MAX_REDEEM_BATCH;
use wesh_payments::wire::SpendRefusal;

/// Where the provider's issuer keys came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The issuer's signed descriptor in the PKI directory.
    Pki,
    /// `/wesh/issuer/keys/1`: no usable descriptor, or it lacked a key a client used.
    Issuer,
}

/// Installs the issuer's keys: from its PKI descriptor when that announces the current
/// epoch's key (and, when a client showed an unknown key — `wanted` — only if the PKI
/// brought a key not held before), else fetched from the issuer itself.
async fn refresh_keys(
    net: &NetHandle,
    issuer: &IssuerAddress,
    credit: &ProviderCredit,
    wanted: bool,
) -> Result<KeySource, CallError> {
    let current = issuer.epoch_now();
    match credit.pki_keys(&issuer.peer) {
        Some(Ok(keys)) if keys.iter().any(|k| k.epoch == current) => {
            let before = credit.key_count();
            credit.install_keys(&keys);
            if !wanted || credit.key_count() > before {
                credit.stats.keys_from_pki.fetch_add(1, Relaxed);
                return Ok(KeySource::Pki);
            }
        }
        Some(Err(e)) => tracing::warn!(error = %e, "the issuer's PKI descriptor has a bad key"),
        _ => {}
    }
    let keys = fetch_published_keys(&mut net.control.clone(), issuer.peer).await?;
    credit.install_keys(&keys);
    credit.stats.keys_from_issuer.fetch_add(1, Relaxed);
    Ok(KeySource::Issuer)
}

/// Fetches the issuer's keys into the provider's admission, then redeems what it holds.
pub async fn redeem_collected(
    net: &NetHandle,
    issuer: &IssuerAddress,
    credit: &ProviderCredit,
) -> Result<(), CallError> {
    refresh_keys(net, issuer, credit, false).await?;
    let mut control = net.control.clone();
    let mut tokens = credit.take_collected();
    while !tokens.is_empty() {
        let rest = tokens.split_off(tokens.len().min(MAX_REDEEM_BATCH));
        let batch = std::mem::replace(&mut tokens, rest);
        let r = match redeem(&mut control, issuer.peer, &batch).await {
            Ok(r) => r,
            Err(e) => {
                // not judged: kept for the next round, with the batches not sent yet
                credit.return_collected(batch);
                credit.return_collected(tokens);
                return Err(e);
            }
        };
        let stats = &credit.stats;
        if r.batch_to_retry() {
            tracing::warn!(refused = ?r.refused, "the issuer did not redeem now; retrying later");
            stats.redeem_deferred.fetch_add(1, Relaxed);
            credit.return_collected(batch);
            credit.return_collected(tokens);
            return Ok(());
        }
        stats
            .tokens_redeemed
            .fetch_add(u64::from(r.accepted), Relaxed);
        for (i, why) in &r.refused {
            stats.redeem_refused.fetch_add(1, Relaxed);
            if *why == SpendRefusal::Token(Refusal::AlreadySpent) {
                stats.redeem_double_spends.fetch_add(1, Relaxed);
                tracing::warn!(index = i, "issuer: token already spent at another provider");
            }
        }
    }
    Ok(())
}

/// Keeps the issuer's keys fresh and redeems every `every` until `shutdown`.
pub async fn run_redeemer(
    net: NetHandle,
    issuer: IssuerAddress,
    credit: Arc<ProviderCredit>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    net.add_address(issuer.peer, issuer.addr.clone());
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = credit.want_keys.notified() => {
                // a client showed a token under a key we lack: fetch keys now, redeem later
                if let Err(e) = refresh_keys(&net, &issuer, &credit, true).await {
                    tracing::warn!(error = %e, "cannot fetch the issuer's keys");
                }
                continue;
            }
            _ = shutdown.changed() => return,
        }
        // keys first thing, so spends verify; then on the redemption schedule
        wait = every;
        // debits reach the disk at least once per round, not only every
        // DEBIT_FLUSH_PACKETS packets
        let c = credit.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || c.flush()).await {
            tracing::warn!(error = %e, "cannot write the credit ledgers");
        }
        if let Err(e) = redeem_collected(&net, &issuer, &credit).await {
            tracing::warn!(error = %e, "redemption at the issuer failed; retrying");
            wait = Duration::from_millis(500);
        }
    }
}
