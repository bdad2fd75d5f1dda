//! Symmetric-key ratchet, per the spec's `deriveNextKeys`: HKDF-SHA256 extract with the chain
//! key as input key material and the 64-byte salt, expand with the group ID as info; the
//! first 32 output bytes are the next chain key, the next 32 the message key.

use std::collections::BTreeMap;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{SecretKey32, hkdf_sha256};
use crate::error::{Result, WeshError};
use crate::params::{RATCHET_SALT_LEN, RATCHET_WINDOW};

/// Current chain key of one device's ratchet.
pub type ChainKey = SecretKey32;
/// One-message key; dropped (and wiped) as soon as it has been used.
pub type MessageKey = SecretKey32;

/// 64-byte ratchet salt (spec: "salt length must be equal to hash length").
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct RatchetSalt(pub [u8; RATCHET_SALT_LEN]);

impl core::fmt::Debug for RatchetSalt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RatchetSalt(<redacted>)")
    }
}

/// The spec's `deriveNextKeys`.
pub fn derive_next_keys(
    chain_key: &ChainKey,
    salt: &RatchetSalt,
    group_id: &[u8],
) -> (ChainKey, MessageKey) {
    let mut okm = [0u8; 64];
    // 64 bytes is far below HKDF-SHA256's 8160-byte limit, so expansion cannot fail.
    let _ = hkdf_sha256(chain_key.expose(), &salt.0, group_id, &mut okm);
    let mut next = [0u8; 32];
    let mut msg = [0u8; 32];
    next.copy_from_slice(&okm[..32]);
    msg.copy_from_slice(&okm[32..]);
    okm.zeroize();
    let out = (ChainKey::from_bytes(next), MessageKey::from_bytes(msg));
    next.zeroize();
    msg.zeroize();
    out
}

/// What a ratchet needs besides its chain key: the salt and the group ID (HKDF info).
#[derive(Clone, Debug)]
pub struct RatchetContext {
    pub salt: RatchetSalt,
    pub group_id: [u8; 32],
}

/// The sender's side: one message key per counter, never reused.
#[derive(Clone, Debug)]
pub struct SendingChain {
    chain_key: ChainKey,
    next_counter: u64,
    context: RatchetContext,
}

impl SendingChain {
    pub fn new(chain_key: ChainKey, next_counter: u64, context: RatchetContext) -> Self {
        Self {
            chain_key,
            next_counter,
            context,
        }
    }
    /// Chain key and counter to hand to a new member (it can derive only later keys).
    pub fn current(&self) -> (&ChainKey, u64) {
        (&self.chain_key, self.next_counter)
    }
    /// Advances the chain and returns the key for the returned counter.
    pub fn next_message_key(&mut self) -> Result<(u64, MessageKey)> {
        let counter = self.next_counter;
        let next = counter.checked_add(1).ok_or(WeshError::CounterExhausted)?;
        let (chain, msg) =
            derive_next_keys(&self.chain_key, &self.context.salt, &self.context.group_id);
        self.chain_key = chain;
        self.next_counter = next;
        Ok((counter, msg))
    }
}

/// The receiver's side for one sender device, with a bounded window of skipped keys so
/// messages arriving out of order (up to `RATCHET_WINDOW` apart) still open.
#[derive(Clone, Debug)]
pub struct ReceivingChain {
    chain_key: ChainKey,
    next_counter: u64,
    skipped: BTreeMap<u64, MessageKey>,
    context: RatchetContext,
}

impl ReceivingChain {
    pub fn new(chain_key: ChainKey, next_counter: u64, context: RatchetContext) -> Self {
        Self {
            chain_key,
            next_counter,
            skipped: BTreeMap::new(),
            context,
        }
    }

    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }

    pub fn skipped_len(&self) -> usize {
        self.skipped.len()
    }

    /// Runs `open` with the key for `counter`; the chain is only advanced and the key only
    /// discarded if `open` succeeds, so a forged entry cannot burn a legitimate key.
    pub fn with_message_key<T>(
        &mut self,
        counter: u64,
        open: impl FnOnce(&MessageKey) -> Result<T>,
    ) -> Result<T> {
        if let Some(key) = self.skipped.get(&counter) {
            let out = open(key)?;
            self.skipped.remove(&counter);
            return Ok(out);
        }
        let next = self.next_counter;
        if counter < next {
            return Err(WeshError::CounterAlreadyUsed { counter, next });
        }
        if counter - next >= RATCHET_WINDOW {
            return Err(WeshError::CounterBeyondWindow {
                counter,
                next,
                window: RATCHET_WINDOW,
            });
        }
        let new_next = counter.checked_add(1).ok_or(WeshError::CounterExhausted)?;
        let ctx = &self.context;
        let mut chain = self.chain_key.clone();
        let mut fresh_skipped = Vec::new();
        for c in next..counter {
            let (n, m) = derive_next_keys(&chain, &ctx.salt, &ctx.group_id);
            fresh_skipped.push((c, m));
            chain = n;
        }
        let (after, key) = derive_next_keys(&chain, &ctx.salt, &ctx.group_id);
        let out = open(&key)?;
        self.chain_key = after;
        self.next_counter = new_next;
        self.skipped.extend(fresh_skipped);
        // Keep the window bounded: the oldest skipped keys are the least likely to arrive.
        while self.skipped.len() > usize::try_from(RATCHET_WINDOW).unwrap_or(usize::MAX) {
            self.skipped.pop_first();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ctx() -> RatchetContext {
        RatchetContext {
            salt: RatchetSalt([3u8; 64]),
            group_id: [9u8; 32],
        }
    }

    fn keys(n: u64) -> Vec<[u8; 32]> {
        let mut s = SendingChain::new(ChainKey::from_bytes([1u8; 32]), 0, ctx());
        (0..n)
            .map(|_| *s.next_message_key().unwrap().1.expose())
            .collect()
    }

    #[test]
    fn receiver_matches_sender_in_and_out_of_order() {
        let sent = keys(10);
        let mut r = ReceivingChain::new(ChainKey::from_bytes([1u8; 32]), 0, ctx());
        for c in [5u64, 2, 9, 0, 1, 3, 4, 6, 8, 7] {
            let k = r.with_message_key(c, |k| Ok(*k.expose())).unwrap();
            assert_eq!(k, sent[c as usize]);
        }
        assert_eq!(r.skipped_len(), 0);
        assert!(matches!(
            r.with_message_key(3, |_| Ok(())),
            Err(WeshError::CounterAlreadyUsed { .. })
        ));
    }

    #[test]
    fn refuses_beyond_window_and_failed_open_keeps_key() {
        let mut r = ReceivingChain::new(ChainKey::from_bytes([1u8; 32]), 0, ctx());
        assert!(matches!(
            r.with_message_key(RATCHET_WINDOW, |_| Ok(())),
            Err(WeshError::CounterBeyondWindow { .. })
        ));
        assert!(r.with_message_key(RATCHET_WINDOW - 1, |_| Ok(())).is_ok());
        assert_eq!(r.skipped_len() as u64, RATCHET_WINDOW - 1);
        let failed: Result<()> = r.with_message_key(4, |_| Err(WeshError::DecryptionFailed("t")));
        assert!(failed.is_err());
        assert!(r.with_message_key(4, |_| Ok(())).is_ok());
    }
}
