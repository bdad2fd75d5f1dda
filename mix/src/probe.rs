//! The body of a testnet probe (a plain real message the testnet counts end to end):
//! magic `WPRB`, sender index (u32), message id (u64), big-endian.

const MAGIC: &[u8; 4] = b"WPRB";

pub fn encode_probe(sender: u32, id: u64) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&sender.to_be_bytes());
    b.extend_from_slice(&id.to_be_bytes());
    b
}

/// The (sender, id) of a probe body; None for anything else.
pub fn decode_probe(body: &[u8]) -> Option<(u32, u64)> {
    if body.len() != 16 || body.get(..4)? != MAGIC {
        return None;
    }
    let sender = u32::from_be_bytes(body.get(4..8)?.try_into().ok()?);
    let id = u64::from_be_bytes(body.get(8..16)?.try_into().ok()?);
    Some((sender, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_round_trip_and_other_bodies_are_not_probes() {
        assert_eq!(decode_probe(&encode_probe(7, 1 << 40)), Some((7, 1 << 40)));
        assert_eq!(decode_probe(b"WPRB"), None);
        assert_eq!(decode_probe(&[0; 16]), None);
    }
}
