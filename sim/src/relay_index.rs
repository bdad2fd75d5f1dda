//! The simulator's relays by id, without hashing: a simulated relay's id spells out its
//! kind and number (`RelayIndex::id`), so finding its place is two array reads and one
//! comparison (a hash map lookup per hop was a tenth of a small run's time).

use wesh_mix::NodeId;

/// Kinds of simulated relay, as the first 8 bytes of their ids say.
pub const MIX: u64 = 1;
pub const PROVIDER: u64 = 2;

#[derive(Debug, Default)]
pub struct RelayIndex {
    /// `places[kind][number]`: the relay's index in the run's relay table.
    places: [Vec<u16>; 3],
    /// The ids, by index, to check a lookup against.
    ids: Vec<NodeId>,
}

impl RelayIndex {
    /// The id of relay `number` of `kind` in the run seeded with `seed`.
    pub fn id(kind: u64, number: u64, seed: u64) -> NodeId {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&kind.to_be_bytes());
        b[8..16].copy_from_slice(&number.to_be_bytes());
        b[16..24].copy_from_slice(&seed.to_be_bytes());
        NodeId(b)
    }

    /// `ids[i]` is the id of the run's relay `i`.
    pub fn new(ids: &[NodeId]) -> Self {
        let mut index = RelayIndex {
            ids: ids.to_vec(),
            ..RelayIndex::default()
        };
        for (i, id) in ids.iter().enumerate() {
            let (kind, number) = Self::parts(id);
            if let Some(places) = index.places.get_mut(kind as usize) {
                let n = number as usize;
                if places.len() <= n {
                    places.resize(n + 1, u16::MAX);
                }
                if let Some(p) = places.get_mut(n) {
                    *p = i as u16;
                }
            }
        }
        index
    }

    fn parts(id: &NodeId) -> (u64, u64) {
        let word = |r: std::ops::Range<usize>| {
            id.0.get(r)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map_or(u64::MAX, u64::from_be_bytes)
        };
        (word(0..8), word(8..16))
    }

    /// The index of the relay with id `id`.
    pub fn get(&self, id: &NodeId) -> Option<u16> {
        let (kind, number) = Self::parts(id);
        let i = *self
            .places
            .get(usize::try_from(kind).ok()?)?
            .get(usize::try_from(number).ok()?)?;
        (self.ids.get(usize::from(i)) == Some(id)).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_every_relay_and_nothing_else() {
        let ids = vec![
            RelayIndex::id(PROVIDER, 0, 9),
            RelayIndex::id(PROVIDER, 1, 9),
            RelayIndex::id(MIX, 3, 9),
            RelayIndex::id(MIX, 0, 9),
        ];
        let index = RelayIndex::new(&ids);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id), Some(i as u16));
        }
        assert_eq!(index.get(&RelayIndex::id(MIX, 1, 9)), None, "no such mix");
        assert_eq!(index.get(&RelayIndex::id(MIX, 3, 8)), None, "another run's");
        assert_eq!(index.get(&NodeId([0xff; 32])), None);
    }
}
