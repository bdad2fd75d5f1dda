//! What clients and providers ask an issuer: its keys, tokens, redemption.

use super::{
    CLAIM_PROTOCOL, ISSUE_PROTOCOL, KEYS_PROTOCOL, MAX_ISSUE_BYTES, MAX_KEYS_ANSWER,
    MAX_REDEEM_BATCH, REDEEM_PROTOCOL, REWARDS_PROTOCOL, WORK_PROTOCOL,
};
use crate::mailboxes::exchange::read_bounded;
use futures::AsyncWriteExt;
use libp2p::{PeerId, StreamProtocol};
use wesh_payments::params::TOKEN_BYTES;
use wesh_payments::{
    Credential, PublishedKey, Token, TokenKeyId, VerifyingKey, Wallet, decode_response,
    encode_request, encode_token,
};

async fn exchange(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
    protocol: StreamProtocol,
    request: &[u8],
    limit: usize,
) -> Result<Vec<u8>, String> {
    let work = async {
        let mut s = control
            .open_stream(peer, protocol.clone())
            .await
            .map_err(|e| format!("cannot reach the issuer: {e}"))?;
        s.write_all(request).await.map_err(|e| e.to_string())?;
        s.close().await.map_err(|e| e.to_string())?;
        read_bounded(&mut s, limit).await.map_err(|e| e.to_string())
    };
    tokio::time::timeout(super::EXCHANGE_TIMEOUT, work)
        .await
        .map_err(|_| format!("{protocol}: timed out"))?
}

/// The issuer's current keys, verified (key id = SHA-256 of the SPKI, RSA-2048).
pub async fn fetch_keys(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
) -> Result<Vec<VerifyingKey>, String> {
    fetch_published_keys(control, issuer)
        .await?
        .iter()
        .map(|p| VerifyingKey::from_published(p).map_err(|e| e.to_string()))
        .collect()
}

/// The issuer's current keys as published (each checked like [`fetch_keys`] does).
pub async fn fetch_published_keys(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
) -> Result<Vec<PublishedKey>, String> {
    let answer = exchange(control, issuer, KEYS_PROTOCOL, &[1], MAX_KEYS_ANSWER).await?;
    let (&count, mut rest) = answer.split_first().ok_or("empty keys answer")?;
    let mut keys = Vec::new();
    for _ in 0..count {
        let epoch = rest
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or("truncated keys answer")?;
        let len = rest
            .get(8..10)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or("truncated keys answer")?;
        let spki = rest
            .get(10..10 + len)
            .ok_or("truncated keys answer")?
            .to_vec();
        rest = &rest[10 + len..];
        let published = PublishedKey {
            epoch,
            key_id: TokenKeyId::of_spki(&spki),
            spki,
        };
        VerifyingKey::from_published(&published).map_err(|e| e.to_string())?;
        keys.push(published);
    }
    if !rest.is_empty() {
        return Err("trailing bytes in keys answer".into());
    }
    Ok(keys)
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
) -> Result<usize, String> {
    let (request, pending) = wallet
        .prepare_request(key, credential, count, &mut rand::rng())
        .map_err(|e| e.to_string())?;
    let answer = exchange(
        control,
        issuer,
        ISSUE_PROTOCOL,
        &encode_request(&request),
        MAX_ISSUE_BYTES,
    )
    .await?;
    match answer.split_first() {
        Some((0, body)) => {
            let response = decode_response(body).map_err(|e| e.to_string())?;
            wallet
                .finalize(pending, &response)
                .map_err(|e| e.to_string())
        }
        Some((1, reason)) => Err(format!(
            "issuer refused: {}",
            String::from_utf8_lossy(reason)
        )),
        _ => Err("malformed issue answer".into()),
    }
}

/// The issuer's verdict on a redemption batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub accepted: u32,
    /// (index in the batch, reason)
    pub refused: Vec<(u16, String)>,
}

/// Redeems tokens collected by this provider (at most [`MAX_REDEEM_BATCH`] per call).
pub async fn redeem(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
    tokens: &[Token],
) -> Result<Redeemed, String> {
    if tokens.len() > MAX_REDEEM_BATCH {
        return Err(format!("at most {MAX_REDEEM_BATCH} tokens per redemption"));
    }
    let mut request = Vec::with_capacity(2 + tokens.len() * TOKEN_BYTES);
    request.extend_from_slice(&u16::try_from(tokens.len()).unwrap_or(0).to_be_bytes());
    for t in tokens {
        request.extend_from_slice(&encode_token(t));
    }
    let answer = exchange(control, issuer, REDEEM_PROTOCOL, &request, 64 * 1024).await?;
    decode_redeemed(&answer).ok_or_else(|| "malformed redemption answer".into())
}

/// The issuer's reward ledger of `epoch`, as text.
pub async fn fetch_rewards(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
    epoch: u64,
) -> Result<String, String> {
    let answer = exchange(
        control,
        issuer,
        REWARDS_PROTOCOL,
        &epoch.to_be_bytes(),
        1 << 20,
    )
    .await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Claims this node's reward entry for `epoch` (the issuer knows us by our Noise key);
/// returns the units.
pub async fn claim_reward(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
    epoch: u64,
) -> Result<u64, String> {
    let answer = exchange(control, issuer, CLAIM_PROTOCOL, &epoch.to_be_bytes(), 1024).await?;
    match answer.split_first() {
        Some((0, units)) => units
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| "malformed claim answer".to_string()),
        Some((1, reason)) => Err(format!(
            "claim refused: {}",
            String::from_utf8_lossy(reason)
        )),
        _ => Err("malformed claim answer".into()),
    }
}

/// Reports the packets this relay received in `epoch` (`/wesh/issuer/work/1`).
pub async fn report_work(
    control: &mut libp2p_stream::Control,
    issuer: PeerId,
    epoch: u64,
    packets: u64,
) -> Result<(), String> {
    let mut request = epoch.to_be_bytes().to_vec();
    request.extend_from_slice(&packets.to_be_bytes());
    let answer = exchange(control, issuer, WORK_PROTOCOL, &request, 1024).await?;
    match answer.split_first() {
        Some((0, [])) => Ok(()),
        Some((1, reason)) => Err(format!(
            "work report refused: {}",
            String::from_utf8_lossy(reason)
        )),
        _ => Err("malformed work report answer".into()),
    }
}

pub fn encode_redeemed(r: &Redeemed) -> Vec<u8> {
    let mut out = r.accepted.to_be_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(r.refused.len()).unwrap_or(0).to_be_bytes());
    for (i, reason) in &r.refused {
        let reason = &reason.as_bytes()[..reason.len().min(255)];
        out.extend_from_slice(&i.to_be_bytes());
        out.push(u8::try_from(reason.len()).unwrap_or(255));
        out.extend_from_slice(reason);
    }
    out
}

pub fn decode_redeemed(b: &[u8]) -> Option<Redeemed> {
    let accepted = u32::from_be_bytes(b.get(..4)?.try_into().ok()?);
    let n = u16::from_be_bytes(b.get(4..6)?.try_into().ok()?);
    let mut rest = b.get(6..)?;
    let mut refused = Vec::new();
    for _ in 0..n {
        let i = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?);
        let len = usize::from(*rest.get(2)?);
        let reason = String::from_utf8_lossy(rest.get(3..3 + len)?).into_owned();
        rest = &rest[3 + len..];
        refused.push((i, reason));
    }
    rest.is_empty().then_some(Redeemed { accepted, refused })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redemption_answers_round_trip_and_reject_garbage() {
        let r = Redeemed {
            accepted: 3,
            refused: vec![(1, "already spent".into()), (4, "unknown key".into())],
        };
        assert_eq!(decode_redeemed(&encode_redeemed(&r)), Some(r.clone()));
        let mut long = encode_redeemed(&r);
        long.push(0);
        assert_eq!(decode_redeemed(&long), None);
        assert_eq!(decode_redeemed(&encode_redeemed(&r)[..7]), None);
    }
}
