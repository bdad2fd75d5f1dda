//! A node's long-term keys in its data directory: the Ed25519 identity (libp2p PeerId and
//! Sphinx address) and the X25519 Sphinx key. Files are created 0600 and read back with a
//! clear error if they are damaged.

use libp2p::identity::{self, Keypair, PeerId};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use thiserror::Error;
use wesh_mix::NodeId;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

pub use wesh_config::peer_addr::peer_id_of;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("cannot create data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("cannot read key file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("cannot write key file {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("key file {0} is damaged: expected 32 bytes, found {1}")]
    Length(PathBuf, usize),
    #[error("key file {0} does not hold a valid Ed25519 secret key")]
    Invalid(PathBuf),
    #[error("{0} is not an Ed25519 identity")]
    NotEd25519(String),
}

pub use wesh_config::peer_addr::{PeerAddrError, parse_peer_addr};

/// The keys a node runs with.
pub struct NodeKeys {
    pub identity: Keypair,
    pub sphinx_secret: StaticSecret,
}

impl NodeKeys {
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::fill(&mut seed[..]);
        NodeKeys {
            identity: Keypair::generate_ed25519(),
            sphinx_secret: StaticSecret::from(*seed),
        }
    }

    /// Loads the keys from `dir`, creating them on first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        fs::create_dir_all(dir).map_err(|e| KeyError::DataDir(dir.to_path_buf(), e))?;
        let id_path = dir.join("identity.key");
        let sphinx_path = dir.join("sphinx.key");
        let fresh = NodeKeys::generate();
        let id_bytes = match read_32(&id_path)? {
            Some(b) => b,
            None => {
                let kp = fresh
                    .identity
                    .clone()
                    .try_into_ed25519()
                    .map_err(|_| KeyError::Invalid(id_path.clone()))?;
                let b = Zeroizing::new(
                    kp.secret()
                        .as_ref()
                        .try_into()
                        .map_err(|_| KeyError::Invalid(id_path.clone()))?,
                );
                write_32(&id_path, &b)?;
                b
            }
        };
        let sphinx_bytes = match read_32(&sphinx_path)? {
            Some(b) => b,
            None => {
                let b = Zeroizing::new(fresh.sphinx_secret.to_bytes());
                write_32(&sphinx_path, &b)?;
                b
            }
        };
        let mut secret_copy = *id_bytes;
        let secret = identity::ed25519::SecretKey::try_from_bytes(&mut secret_copy)
            .map_err(|_| KeyError::Invalid(id_path.clone()))?;
        Ok(NodeKeys {
            identity: Keypair::from(identity::ed25519::Keypair::from(secret)),
            sphinx_secret: StaticSecret::from(*sphinx_bytes),
        })
    }

    pub fn node_id(&self) -> Result<NodeId, KeyError> {
        node_id_of(&self.identity.public())
    }

    pub fn peer_id(&self) -> PeerId {
        self.identity.public().to_peer_id()
    }

    pub fn sphinx_public(&self) -> PublicKey {
        PublicKey::from(&self.sphinx_secret)
    }
}

fn read_32(path: &Path) -> Result<Option<Zeroizing<[u8; 32]>>, KeyError> {
    match fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let arr: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::Length(path.to_path_buf(), bytes.len()))?;
            Ok(Some(Zeroizing::new(arr)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyError::Read(path.to_path_buf(), e)),
    }
}

fn write_32(path: &Path, bytes: &[u8; 32]) -> Result<(), KeyError> {
    write_secret_file(path, bytes)
}

/// Writes a new secret file (mode 0600, synced); refuses to overwrite one.
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| KeyError::Write(path.to_path_buf(), e))?;
    f.write_all(bytes)
        .map_err(|e| KeyError::Write(path.to_path_buf(), e))?;
    f.sync_all()
        .map_err(|e| KeyError::Write(path.to_path_buf(), e))
}

/// The Sphinx address of a libp2p identity (its raw Ed25519 public key).
pub fn node_id_of(public: &identity::PublicKey) -> Result<NodeId, KeyError> {
    let ed = public
        .clone()
        .try_into_ed25519()
        .map_err(|_| KeyError::NotEd25519(public.to_peer_id().to_string()))?;
    Ok(NodeId(ed.to_bytes()))
}

/// The keys payloads stored for a client with this identity are sealed to.
pub fn client_keys_of(identity: &Keypair) -> Result<wesh_mix::ClientKeys, KeyError> {
    let not_ed = || KeyError::NotEd25519(identity.public().to_peer_id().to_string());
    let ed = identity.clone().try_into_ed25519().map_err(|_| not_ed())?;
    let seed: Zeroizing<[u8; 32]> =
        Zeroizing::new(ed.secret().as_ref().try_into().map_err(|_| not_ed())?);
    Ok(wesh_mix::ClientKeys::from_ed25519_seed(&seed))
}

/// The Sphinx address of a peer, read back from its PeerId (identity multihash).
pub fn node_id_of_peer(peer: &PeerId) -> Option<NodeId> {
    let mh = peer.as_ref();
    if mh.code() != 0 {
        return None;
    }
    let public = identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    node_id_of(&public).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_persist_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let a = NodeKeys::load_or_create(dir.path()).unwrap();
        let b = NodeKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(a.peer_id(), b.peer_id());
        assert_eq!(a.sphinx_public(), b.sphinx_public());
        let id = a.node_id().unwrap();
        assert_eq!(peer_id_of(&id), Some(a.peer_id()));
        assert_eq!(node_id_of_peer(&a.peer_id()), Some(id));
        fs::write(dir.path().join("sphinx.key"), b"short").unwrap();
        let err = NodeKeys::load_or_create(dir.path()).err().unwrap();
        assert!(matches!(err, KeyError::Length(_, 5)), "{err}");
    }
}
