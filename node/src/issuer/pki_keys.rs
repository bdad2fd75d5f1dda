//! Issuer token keys taken from the gossip PKI: a trusted issuer's signed descriptor
//! announces the keys of the current and the next epoch (spec/pki.md §2). Clients and
//! providers prefer these to `/wesh/issuer/keys/1`, which only the issuer answers and so
//! could differ per asker (key tagging, spec/payments.md §6); the direct fetch stays as
//! the fallback while no descriptor is known.

use crate::net::stream_open::open_stream;
use crate::pki::sync::{PKI_SYNC_PROTOCOL, request};
use libp2p::PeerId;
use wesh_payments::{KeyError, PublishedKey, TokenKeyId, VerifyingKey};
use wesh_pki::{Directory, EpochTokenKey, NodeId, ParamError, PkiParams};

/// Bound on fetching a directory for the issuer's descriptor.
const SYNC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);

/// Why the issuer's keys could not be taken from the PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiKeyError {
    #[error("issuer key of epoch {epoch} refused: {source}")]
    BadKey { epoch: u64, source: KeyError },
    #[error("the issuer's peer id is not an Ed25519 key")]
    NotAnIssuer,
    #[error("pki parameters: {0}")]
    Params(#[from] ParamError),
    #[error("cannot ask for the directory: {0}")]
    Unreachable(#[from] libp2p_stream::OpenStreamError),
    #[error("directory sync: {0}")]
    Sync(#[from] std::io::Error),
    #[error("directory sync timed out")]
    TimedOut,
}

/// A descriptor's token key as the payments code takes it, checked again: the key id is
/// the SHA-256 of the SPKI and the SPKI is an RSA-2048 PSS key.
pub fn to_published(key: &EpochTokenKey) -> Result<PublishedKey, PkiKeyError> {
    let published = PublishedKey {
        epoch: key.epoch,
        key_id: TokenKeyId(key.key_id),
        spki: key.spki.clone(),
    };
    VerifyingKey::from_published(&published).map_err(|source| PkiKeyError::BadKey {
        epoch: key.epoch,
        source,
    })?;
    Ok(published)
}

/// The keys `issuer` announces, from descriptor bytes of unknown origin (a directory
/// snapshot): only the issuer's own descriptor is looked at, and it must pass every rule
/// of `Directory::insert` (signature, freshness at `now`) before its keys count.
pub fn keys_from_descriptors(
    descriptors: &[Vec<u8>],
    issuer: NodeId,
    params: PkiParams,
    now: u64,
) -> Result<Vec<PublishedKey>, PkiKeyError> {
    let mut directory = Directory::new(params)?.with_trusted_issuers([issuer]);
    for d in descriptors {
        // identity at bytes 4..36: skip (and never verify) everyone else's descriptors
        if d.get(4..36) == Some(issuer.0.as_slice())
            && let Err(e) = directory.insert(d, now)
        {
            tracing::debug!(reason = e.reason(), "issuer descriptor refused");
        }
    }
    let epoch = directory.clock().epoch_at(now);
    directory
        .trusted_token_keys(epoch)
        .iter()
        .map(|(_, k)| to_published(k))
        .collect()
}

/// Asks `peer` (a provider, or any node of the PKI) for its directory and returns the
/// keys `issuer` announces there; empty if the directory holds no valid descriptor of it.
/// `epoch_seconds` is the PKI's (and the issuer's) epoch length.
pub async fn fetch_from_directory(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
    issuer: PeerId,
    epoch_seconds: u64,
) -> Result<Vec<PublishedKey>, PkiKeyError> {
    let issuer = crate::keys::node_id_of_peer(&issuer)
        .map(|n| NodeId(n.0))
        .ok_or(PkiKeyError::NotAnIssuer)?;
    let params = PkiParams::with_epoch_length(epoch_seconds)?;
    let work = async {
        let mut s = open_stream(control, peer, PKI_SYNC_PROTOCOL).await?;
        // an all-zero digest matches nothing: the answer is the whole directory
        let answer = request(&mut s, 0, [0; 32]).await?;
        Ok::<_, PkiKeyError>(answer.descriptors.unwrap_or_default())
    };
    let descriptors = tokio::time::timeout(SYNC_TIMEOUT, work)
        .await
        .map_err(|_| PkiKeyError::TimedOut)??;
    keys_from_descriptors(&descriptors, issuer, params, crate::clock::unix_now())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wesh_payments::IssuerKey;
    use wesh_pki::{DescriptorBuilder, Role};

    fn signing(n: u8) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn keys_come_from_the_issuers_valid_descriptor_only() {
        let params = PkiParams::with_epoch_length(60).unwrap();
        let now = 10 * 60 + 30;
        let mut rng = rand::rng();
        let k10 = IssuerKey::generate(10, &mut rng).unwrap().published();
        let k11 = IssuerKey::generate(11, &mut rng).unwrap().published();
        let announce = |k: &PublishedKey| EpochTokenKey::new(k.epoch, k.spki.clone());
        let issuer = signing(1);
        let issuer_id = NodeId(issuer.verifying_key().to_bytes());
        let desc = DescriptorBuilder::new(Role::Issuer, 1, 10)
            .token_key(announce(&k10))
            .token_key(announce(&k11))
            .sign(&issuer)
            .unwrap();
        // another key announcing keys for itself is ignored
        let impostor = DescriptorBuilder::new(Role::Issuer, 1, 10)
            .token_key(EpochTokenKey::new(10, vec![0x30; 50]))
            .sign(&signing(2))
            .unwrap();
        let snapshot = vec![impostor.as_bytes().to_vec(), desc.as_bytes().to_vec()];
        let keys = keys_from_descriptors(&snapshot, issuer_id, params.clone(), now).unwrap();
        assert_eq!(keys, vec![k10.clone(), k11]);
        // a stale descriptor gives nothing (the caller falls back to the direct fetch)
        let later = 13 * 60;
        assert!(
            keys_from_descriptors(&snapshot, issuer_id, params.clone(), later)
                .unwrap()
                .is_empty()
        );
        // a descriptor with a well-formed id but an SPKI that is no RSA-2048 key is refused
        let junk = DescriptorBuilder::new(Role::Issuer, 2, 10)
            .token_key(EpochTokenKey::new(10, vec![0x30; 50]))
            .sign(&issuer)
            .unwrap();
        let err =
            keys_from_descriptors(&[junk.as_bytes().to_vec()], issuer_id, params, now).unwrap_err();
        assert!(
            matches!(err, PkiKeyError::BadKey { epoch: 10, .. }),
            "{err}"
        );
        assert!(k10.spki.len() <= wesh_pki::params::MAX_TOKEN_KEY_SPKI_BYTES);
        assert_eq!(k10.spki.len(), 342, "the size spec/pki.md states");
    }
}
