//! Stratified topology (providers and 3 mix layers) and uniformly random routes over it.

use crate::error::BuildError;
use crate::node_id::NodeId;
use crate::params::MIX_LAYERS;
use rand::{Rng, RngExt};
use x25519_dalek::PublicKey;

/// What a sender needs to route through a node: its address and current Sphinx key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteNode {
    pub id: NodeId,
    pub sphinx_key: PublicKey,
}

/// Where a client receives: its provider and its own address at that provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddress {
    pub provider: NodeId,
    pub client: NodeId,
}

/// Providers at the edges and `MIX_LAYERS` layers of mixes in between. Packets only ever
/// travel provider → layer 1 → layer 2 → layer 3 → provider, so every link an observer
/// sees is one that real traffic also uses.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    layers: Vec<Vec<RouteNode>>,
    providers: Vec<RouteNode>,
}

impl Topology {
    /// A topology needs `MIX_LAYERS` non-empty layers and at least one provider.
    pub fn new(layers: Vec<Vec<RouteNode>>, providers: Vec<RouteNode>) -> Result<Self, BuildError> {
        if layers.len() != MIX_LAYERS || layers.iter().any(Vec::is_empty) {
            return Err(BuildError::EmptyLayer("a mix layer"));
        }
        if providers.is_empty() {
            return Err(BuildError::EmptyLayer("the provider set"));
        }
        Ok(Topology { layers, providers })
    }

    pub fn layers(&self) -> &[Vec<RouteNode>] {
        &self.layers
    }

    pub fn providers(&self) -> &[RouteNode] {
        &self.providers
    }

    pub fn provider(&self, id: &NodeId) -> Option<&RouteNode> {
        self.providers.iter().find(|p| p.id == *id)
    }

    /// Layer index (0-based) of a mix.
    pub fn layer_of(&self, id: &NodeId) -> Option<usize> {
        self.layers
            .iter()
            .position(|l| l.iter().any(|n| n.id == *id))
    }

    pub fn node(&self, id: &NodeId) -> Option<&RouteNode> {
        self.layers
            .iter()
            .flatten()
            .chain(self.providers.iter())
            .find(|n| n.id == *id)
    }

    fn pick<R: Rng + ?Sized>(nodes: &[RouteNode], rng: &mut R) -> Result<RouteNode, BuildError> {
        if nodes.is_empty() {
            return Err(BuildError::EmptyLayer("a route position"));
        }
        Ok(nodes[rng.random_range(0..nodes.len())])
    }

    /// One mix drawn uniformly from layer `layer` (0-based).
    pub fn random_mix<R: Rng + ?Sized>(
        &self,
        layer: usize,
        rng: &mut R,
    ) -> Result<RouteNode, BuildError> {
        Self::pick(
            self.layers.get(layer).map(Vec::as_slice).unwrap_or(&[]),
            rng,
        )
    }

    pub fn random_provider<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<RouteNode, BuildError> {
        Self::pick(&self.providers, rng)
    }

    /// One mix drawn uniformly from the nodes of `nodes` that `avoid` does not reject, or
    /// from all of them if it rejects every one (a route is never refused). With nothing
    /// avoided this draws exactly like [`Topology::pick`], so the same RNG gives the same mix.
    fn pick_avoiding<R: Rng + ?Sized>(
        nodes: &[RouteNode],
        rng: &mut R,
        avoid: &dyn Fn(&NodeId) -> bool,
    ) -> Result<RouteNode, BuildError> {
        let usable = || nodes.iter().filter(|n| !avoid(&n.id));
        let count = usable().count();
        if count == 0 {
            return Self::pick(nodes, rng);
        }
        usable()
            .nth(rng.random_range(0..count))
            .copied()
            .ok_or(BuildError::EmptyLayer("a route position"))
    }

    /// `from` → one uniformly drawn mix per layer → `to`.
    pub fn forward_route<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        from: &NodeId,
        to: &NodeId,
    ) -> Result<Vec<RouteNode>, BuildError> {
        self.forward_route_avoiding(rng, from, to, &|_| false)
    }

    /// `from` → one mix per layer → `to`, each mix drawn uniformly among those of its layer
    /// that `avoid` does not reject; a layer where every mix is rejected falls back to all
    /// of them. `avoid` is asked only about mixes: the providers at both ends are fixed.
    pub fn forward_route_avoiding<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        from: &NodeId,
        to: &NodeId,
        avoid: &dyn Fn(&NodeId) -> bool,
    ) -> Result<Vec<RouteNode>, BuildError> {
        let mut route = Vec::with_capacity(MIX_LAYERS + 2);
        self.forward_route_into(rng, from, to, avoid, &mut route)?;
        Ok(route)
    }

    /// [`Self::forward_route_avoiding`] into `route` (cleared first): a simulator drawing
    /// millions of routes reuses one buffer.
    pub fn forward_route_into<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        from: &NodeId,
        to: &NodeId,
        avoid: &dyn Fn(&NodeId) -> bool,
        route: &mut Vec<RouteNode>,
    ) -> Result<(), BuildError> {
        route.clear();
        let first = *self
            .provider(from)
            .ok_or(BuildError::EmptyLayer("the sender's provider"))?;
        let last = *self
            .provider(to)
            .ok_or(BuildError::EmptyLayer("the recipient's provider"))?;
        route.push(first);
        for layer in 0..MIX_LAYERS {
            let nodes = self.layers.get(layer).map(Vec::as_slice).unwrap_or(&[]);
            route.push(Self::pick_avoiding(nodes, rng, avoid)?);
        }
        route.push(last);
        Ok(())
    }

    /// A relay's loop back to itself that only uses links of the stratified pattern: from a
    /// mix in layer k, through layers k+1..3, a provider, layers 1..k-1, and back to it;
    /// from a provider, through layers 1..3 and back to it (Loopix's provider loops, λ_M).
    pub fn mix_loop_route<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        me: &NodeId,
    ) -> Result<Vec<RouteNode>, BuildError> {
        let mut route = Vec::with_capacity(MIX_LAYERS + 1);
        let Some(k) = self.layer_of(me) else {
            let own = *self
                .provider(me)
                .ok_or(BuildError::EmptyLayer("the relay's own place"))?;
            for layer in 0..MIX_LAYERS {
                route.push(self.random_mix(layer, rng)?);
            }
            route.push(own);
            return Ok(route);
        };
        let own = *self
            .node(me)
            .ok_or(BuildError::EmptyLayer("the mix's own layer"))?;
        for layer in k + 1..MIX_LAYERS {
            route.push(self.random_mix(layer, rng)?);
        }
        route.push(self.random_provider(rng)?);
        for layer in 0..k {
            route.push(self.random_mix(layer, rng)?);
        }
        route.push(own);
        Ok(route)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use x25519_dalek::StaticSecret;

    pub(crate) fn node(tag: u8) -> RouteNode {
        RouteNode {
            id: NodeId([tag; 32]),
            sphinx_key: PublicKey::from(&StaticSecret::from([tag; 32])),
        }
    }

    pub(crate) fn topology(width: u8) -> Topology {
        let layers = (0..3u8)
            .map(|l| (0..width).map(|i| node(10 * (l + 1) + i)).collect())
            .collect();
        Topology::new(layers, vec![node(1), node(2)]).unwrap()
    }

    /// Chi-square test that every mix of a layer is picked equally often (fixed seed).
    #[test]
    fn route_selection_is_uniform_within_each_layer() {
        let t = topology(5);
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let n = 50_000;
        let mut counts = [[0u32; 5]; 3];
        for _ in 0..n {
            let r = t
                .forward_route(&mut rng, &NodeId([1; 32]), &NodeId([2; 32]))
                .unwrap();
            assert_eq!(r.len(), 5);
            assert_eq!(r[0].id, NodeId([1; 32]));
            assert_eq!(r[4].id, NodeId([2; 32]));
            for layer in 0..3 {
                let idx = t.layers()[layer]
                    .iter()
                    .position(|x| *x == r[layer + 1])
                    .unwrap();
                counts[layer][idx] += 1;
            }
        }
        let expected = n as f64 / 5.0;
        for layer in counts {
            let chi2: f64 = layer
                .iter()
                .map(|c| (*c as f64 - expected).powi(2) / expected)
                .sum();
            // 4 degrees of freedom, p = 0.001 → 18.47
            assert!(chi2 < 18.47, "chi2 {chi2} for {layer:?}");
        }
    }

    /// Chi-square statistic of `counts` against a uniform split.
    fn chi2(counts: &[u32]) -> f64 {
        let expected = counts.iter().sum::<u32>() as f64 / counts.len() as f64;
        counts
            .iter()
            .map(|c| (*c as f64 - expected).powi(2) / expected)
            .sum()
    }

    /// Picks per mix of each layer over `n` routes avoiding `avoid`.
    fn picks(t: &Topology, n: usize, avoid: &dyn Fn(&NodeId) -> bool) -> Vec<Vec<u32>> {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let mut counts = vec![vec![0u32; t.layers()[0].len()]; 3];
        for _ in 0..n {
            let r = t
                .forward_route_avoiding(&mut rng, &NodeId([1; 32]), &NodeId([2; 32]), avoid)
                .unwrap();
            assert_eq!((r[0].id, r[4].id), (NodeId([1; 32]), NodeId([2; 32])));
            for layer in 0..3 {
                let idx = t.layers()[layer]
                    .iter()
                    .position(|x| *x == r[layer + 1])
                    .unwrap();
                counts[layer][idx] += 1;
            }
        }
        counts
    }

    #[test]
    fn avoiding_routes_skip_suspects_and_fall_back_to_uniform() {
        let t = topology(2);
        let n = 20_000;
        // 21 avoided: 20 gets every layer-2 pick; the other layers stay uniform
        let counts = picks(&t, n, &|id| *id == NodeId([21; 32]));
        assert_eq!(counts[1], vec![n as u32, 0]);
        // 1 degree of freedom, p = 0.001 → 10.83
        assert!(chi2(&counts[0]) < 10.83, "{counts:?}");
        assert!(chi2(&counts[2]) < 10.83, "{counts:?}");
        // both layer-2 mixes avoided: uniform among them, never refused
        let counts = picks(&t, n, &|id| id.0[0] / 10 == 2);
        for layer in &counts {
            assert!(chi2(layer) < 10.83, "{counts:?}");
        }
        // providers are never asked about: avoiding them changes nothing
        let counts = picks(&t, n, &|id| id.0[0] < 10);
        assert_eq!(counts, picks(&t, n, &|_| false));
    }

    /// `forward_route` now goes through the avoiding variant; with nothing avoided it must
    /// draw exactly what one `random_mix` per layer draws (its original definition).
    #[test]
    fn forward_route_draws_like_one_random_mix_per_layer() {
        let t = topology(3);
        let (mut a, mut b) = (ChaCha20Rng::seed_from_u64(2), ChaCha20Rng::seed_from_u64(2));
        let (from, to) = (NodeId([1; 32]), NodeId([2; 32]));
        for _ in 0..100 {
            let mut expected = vec![*t.provider(&from).unwrap()];
            for layer in 0..3 {
                expected.push(t.random_mix(layer, &mut b).unwrap());
            }
            expected.push(*t.provider(&to).unwrap());
            assert_eq!(t.forward_route(&mut a, &from, &to).unwrap(), expected);
        }
    }

    #[test]
    fn relay_loops_follow_stratified_links() {
        let t = topology(2);
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let relays = (0..3)
            .flat_map(|l| t.layers()[l].iter().map(move |n| (l, *n)))
            .chain(t.providers().iter().map(|p| (3, *p)));
        for (layer, me) in relays {
            let r = t.mix_loop_route(&mut rng, &me.id).unwrap();
            assert_eq!(r.len(), 4);
            assert_eq!(*r.last().unwrap(), me);
            // the whole cycle me → r[0] → … → me steps layer by layer (provider = layer 3+1)
            let pos = |n: &RouteNode| t.layer_of(&n.id).map_or(3, |l| l);
            let mut prev = layer;
            for hop in &r {
                assert_eq!(pos(hop), (prev + 1) % 4);
                prev = pos(hop);
            }
        }
    }

    #[test]
    fn bad_topologies_are_errors() {
        assert!(Topology::new(vec![vec![node(1)], vec![node(2)]], vec![node(3)]).is_err());
        assert!(Topology::new(vec![vec![node(1)], vec![], vec![node(2)]], vec![node(3)]).is_err());
        assert!(Topology::new(vec![vec![node(1)], vec![node(4)], vec![node(2)]], vec![]).is_err());
        let t = topology(1);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        assert!(
            t.forward_route(&mut rng, &NodeId([99; 32]), &NodeId([2; 32]))
                .is_err()
        );
        assert!(t.mix_loop_route(&mut rng, &NodeId([99; 32])).is_err());
    }
}
