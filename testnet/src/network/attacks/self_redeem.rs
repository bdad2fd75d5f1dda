//! `self-redeem` (issue 15 item 8): a client takes a token from the issuer, redeems it
//! itself at the issuer, then spends it at a provider. Were the redemption accepted, the
//! provider would carry the client's packets and never be paid: its own redemption of the
//! token would be refused as already spent. Refused when the issuer turns the client's
//! redemption down (only providers of its directory redeem) and, the spend accepted, the
//! provider is paid for the token at its own redemption.

use super::{AttackReport, AttackTargets};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use wesh_payments::wire::SpendRefusal;
use wesh_shell::credit::CreditAnswer;
use wesh_shell::keys::NodeKeys;
use wesh_shell::topology_file::Role;

/// How long the judge waits for the provider's next redemption round (the testnet's
/// providers redeem every 5 s).
const PAID_WITHIN: Duration = Duration::from_secs(20);

pub async fn run(targets: &AttackTargets) -> AttackReport {
    match attempt(targets).await {
        Ok(report) => report,
        Err(why) => AttackReport::not_run(why),
    }
}

async fn attempt(targets: &AttackTargets) -> Result<AttackReport, String> {
    let issuer = targets
        .issuer
        .as_ref()
        .ok_or("the testnet runs without payments")?;
    let provider = targets
        .relays
        .iter()
        .find(|r| r.role == Role::Provider && r.credit.is_some())
        .ok_or("no provider takes payments")?;
    let credit = provider
        .credit
        .clone()
        .ok_or("no provider takes payments")?;
    let keys = NodeKeys::generate();
    let me = keys.node_id().map_err(|e| e.to_string())?;
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let book = [
        (issuer.peer, issuer.addr.clone()),
        (provider.peer, provider.addr.clone()),
    ];
    let net = wesh_shell::net::swarm::start_swarm(keys.identity.clone(), &[], &book, stop)
        .await
        .map_err(|e| e.to_string())?;
    let mut control = net.control.clone();

    // 1. a token of the client's own free quota
    let token = super::one_free_token(&mut control, issuer.peer, me).await?;

    // 2. the client redeems it itself
    let own =
        wesh_shell::issuer::calls::redeem(&mut control, issuer.peer, std::slice::from_ref(&token))
            .await
            .map_err(|e| format!("redemption call: {e}"))?;
    let self_redeem_refused = own.accepted == 0 && !own.refused.is_empty();
    let refusal = own.refused.first().map(|(_, why)| why.to_string());

    // 3. then spends it at the provider; the provider must still be paid for it
    let stats = &credit.stats;
    let (redeemed_before, refused_before) = (
        stats.tokens_redeemed.load(Relaxed),
        stats.redeem_refused.load(Relaxed),
    );
    let spend = wesh_shell::credit::keeper::spend_at(&mut control, provider.peer, &token).await;
    let spend_accepted = matches!(spend, Ok(CreditAnswer::Balance { .. }));
    let mut provider_paid = false;
    if spend_accepted {
        let deadline = tokio::time::Instant::now() + PAID_WITHIN;
        while tokio::time::Instant::now() < deadline {
            if stats.tokens_redeemed.load(Relaxed) > redeemed_before {
                provider_paid = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // the provider's next round redeemed tokens and the issuer refused none of them
    // (honest clients' tokens are good: a refusal there would be ours)
    let provider_refusals = stats
        .redeem_refused
        .load(Relaxed)
        .saturating_sub(refused_before);
    provider_paid &= provider_refusals == 0;

    let mut observed = BTreeMap::new();
    observed.insert("self_redeem_accepted".into(), json!(own.accepted));
    observed.insert("self_redeem_refusal".into(), json!(refusal));
    observed.insert(
        "refused_as_not_a_provider".into(),
        json!(
            own.refused
                .iter()
                .any(|(_, w)| *w == SpendRefusal::NotAProvider)
        ),
    );
    observed.insert("spend_at_provider_accepted".into(), json!(spend_accepted));
    observed.insert("provider_paid_at_redemption".into(), json!(provider_paid));
    observed.insert(
        "provider_redemptions_refused_meanwhile".into(),
        json!(provider_refusals),
    );
    Ok(AttackReport {
        refused: self_redeem_refused && (!spend_accepted || provider_paid),
        observed,
    })
}
