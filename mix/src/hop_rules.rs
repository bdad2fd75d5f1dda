//! What a relay does with a packet around its Sphinx processing: who may hand it packets
//! (admission: the previous hop of the stratified path, or a paying client at a provider) and where a processed packet goes (forward after its delay, store in a
//! mailbox, count and discard). The processing itself is [`MixProcessor`]; moving bytes,
//! holding packets and writing mailboxes is the shell's.
//!
//! [`MixProcessor`]: crate::MixProcessor

use crate::error::DropReason;
use crate::node_id::NodeId;
use crate::params::{ENTRY_VIEW_RETENTION, MAX_ENTRY_VIEWS};
use crate::payload::MixPayload;
use crate::processor::Processed;
use crate::topology::{RouteNode, Topology};
use std::collections::{HashSet, VecDeque};
use std::time::Duration;

/// The destination client drop cover (Loopix λ_D) is addressed to: its last hop, the
/// sender's provider chosen at random, discards it. No client has the all-zero id (ids are
/// Ed25519 public keys).
pub const COVER_DESTINATION: NodeId = NodeId([0; 32]);

/// What a relay is in the mixnet, as far as the hop rules care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayKind {
    Mix,
    /// The edge: clients connect here and its mailboxes keep final-hop payloads.
    Provider,
}

/// Whether a packet from a peer may enter the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// From a node of the hop before this relay in a recent routing view (relays do not
    /// pay each other).
    Relay,
    /// At a provider, from a client whose credit covers it.
    Paid,
    /// At a provider, from a client without credit: dropped.
    NoCredit,
    /// At a mix, from a peer that is not of the previous layer (or, at layer 1, not a
    /// provider) in any recent view: a client skipping its provider. Dropped.
    NotPreviousHop,
}

impl Admission {
    pub fn admitted(self) -> bool {
        matches!(self, Admission::Relay | Admission::Paid)
    }
}

/// Where one processed packet goes.
#[derive(Debug, PartialEq, Eq)]
pub enum HopAction {
    /// Hold for `delay` after arrival, then send `packet` to `next_hop`.
    Forward {
        next_hop: NodeId,
        packet: Vec<u8>,
        delay: Duration,
        /// The header asked for more than the maximum hop delay.
        clamped: bool,
    },
    /// Keep `payload` in mailbox `mailbox` (providers), then release its SURB-ack.
    Store { mailbox: [u8; 32], payload: Vec<u8> },
    /// One of this relay's own loops came back.
    LoopReturned,
    /// Addressed to this relay but not a loop (nothing to do with it).
    OwnOther,
    /// Client drop cover reached its provider.
    CoverDiscarded,
    /// Addressed to one of the provider's internal mailboxes: refused (nobody outside the
    /// provider writes there).
    InternalRefused,
    /// A final hop this relay cannot keep (a mix, or a provider without mailboxes).
    Undeliverable,
    /// The next hop is not in the routing view (or there is no view yet).
    UnknownNextHop,
    /// Sphinx processing refused the packet.
    Dropped(DropReason),
}

/// The hop rules of one relay.
#[derive(Clone, Debug)]
pub struct HopRules {
    me: NodeId,
    kind: RelayKind,
    keeps_mailboxes: bool,
}

impl HopRules {
    /// Rules for relay `me`; a provider keeps final-hop payloads when `keeps_mailboxes`.
    pub fn new(me: NodeId, kind: RelayKind, keeps_mailboxes: bool) -> Self {
        HopRules {
            me,
            kind,
            keeps_mailboxes: keeps_mailboxes && kind == RelayKind::Provider,
        }
    }

    /// The nodes that may hand this relay packets in `view`: the hop before it on the
    /// stratified path provider → layer 1 → layer 2 → layer 3 → provider. A layer-1 mix
    /// takes packets from providers, a layer-i mix from layer i-1, a provider from layer
    /// 3 (its clients pay instead). A mix outside the view takes from nobody. Every
    /// honest packet follows these links: client traffic and SURBs are routed provider →
    /// mixes → provider, and a mix's loop starts at the mix itself and steps layer by
    /// layer (`Topology::mix_loop_route`), so its first hop sees the layer before it.
    pub fn previous_hops(&self, view: &Topology) -> HashSet<NodeId> {
        let ids = |nodes: &[RouteNode]| nodes.iter().map(|n| n.id).collect();
        let layers = view.layers();
        match self.kind {
            RelayKind::Provider => layers.last().map(|l| ids(l)).unwrap_or_default(),
            RelayKind::Mix => match view.layer_of(&self.me) {
                Some(0) => ids(view.providers()),
                Some(k) => layers.get(k - 1).map(|l| ids(l)).unwrap_or_default(),
                None => HashSet::new(),
            },
        }
    }

    /// An empty admission guard for this relay; `retention` is how long a replaced view
    /// still admits (at least [`ENTRY_VIEW_RETENTION`]).
    pub fn entry_guard(&self, retention: Duration) -> EntryGuard {
        EntryGuard {
            rules: self.clone(),
            retention: retention.max(ENTRY_VIEW_RETENTION),
            views: VecDeque::new(),
        }
    }

    /// Whether a packet built on a SURB (a released SURB-ack, a reply on a registered
    /// SURB) may leave this relay: only if the SURB starts here. Honest senders build every
    /// SURB from the holder's provider (the recipient's, or the desk's); a SURB whose first
    /// hop is elsewhere would make this provider dial any peer its author names, and keep a
    /// link to it (issue 15, item 12).
    pub fn surb_starts_here(&self, first_hop: &NodeId) -> bool {
        *first_hop == self.me
    }

    /// Where a processed packet goes, given the routing view.
    pub fn decide(
        &self,
        processed: Result<Processed, DropReason>,
        view: Option<&Topology>,
    ) -> HopAction {
        match processed {
            Err(reason) => HopAction::Dropped(reason),
            Ok(Processed::Forward {
                next_hop,
                packet,
                delay,
                clamped,
            }) => {
                if view.is_some_and(|t| t.node(&next_hop).is_some()) {
                    HopAction::Forward {
                        next_hop,
                        packet,
                        delay,
                        clamped,
                    }
                } else {
                    HopAction::UnknownNextHop
                }
            }
            Ok(Processed::Final {
                destination,
                plaintext,
            }) => self.final_hop(destination, plaintext),
        }
    }

    fn final_hop(&self, destination: NodeId, plaintext: Vec<u8>) -> HopAction {
        if destination == self.me {
            return match MixPayload::decode(&plaintext) {
                Ok(MixPayload::Loop { .. }) => HopAction::LoopReturned,
                _ => HopAction::OwnOther,
            };
        }
        if self.kind != RelayKind::Provider {
            return HopAction::Undeliverable;
        }
        if destination == COVER_DESTINATION {
            return HopAction::CoverDiscarded;
        }
        if !self.keeps_mailboxes {
            return HopAction::Undeliverable;
        }
        if crate::mailbox::InternalMailbox::is_internal(&destination.0) {
            return HopAction::InternalRefused;
        }
        HopAction::Store {
            mailbox: destination.0,
            payload: plaintext,
        }
    }
}

/// The previous hops of one routing view, and when a newer view replaced it.
#[derive(Clone, Debug)]
struct ViewEntry {
    previous_hops: HashSet<NodeId>,
    replaced_at: Option<Duration>,
}

/// A relay's admission: who may hand it packets, by its current routing view and the
/// views replaced less than the retention ago (layers move when the mix set or the epoch
/// changes, and packets built on the old view are still on their way). Driven with the
/// shell's `now` (time since the relay's origin).
#[derive(Clone, Debug)]
pub struct EntryGuard {
    rules: HopRules,
    retention: Duration,
    /// Newest first.
    views: VecDeque<ViewEntry>,
}

impl EntryGuard {
    /// `view` becomes the current view at `now`; the one it replaces is kept for the
    /// retention, at most [`MAX_ENTRY_VIEWS`] views in all.
    pub fn install(&mut self, now: Duration, view: &Topology) {
        if let Some(current) = self.views.front_mut() {
            current.replaced_at = Some(now);
        }
        self.views.push_front(ViewEntry {
            previous_hops: self.rules.previous_hops(view),
            replaced_at: None,
        });
        let retention = self.retention;
        self.views.retain(|v| {
            v.replaced_at
                .is_none_or(|at| now.saturating_sub(at) < retention)
        });
        self.views.truncate(MAX_ENTRY_VIEWS);
    }

    /// Whether `sender` is a previous hop of this relay in a view still live at `now`.
    pub fn is_previous_hop(&self, now: Duration, sender: &NodeId) -> bool {
        self.views.iter().any(|v| {
            v.replaced_at
                .is_none_or(|at| now.saturating_sub(at) < self.retention)
                && v.previous_hops.contains(sender)
        })
    }

    /// Whether a packet from `sender` (None: its peer id is not a node id) enters at
    /// `now`. Previous hops pass free. Anyone else is a client: a mix refuses it (clients
    /// enter through their provider), a provider charges it one packet's credit (`debit`
    /// takes it and says whether there was any; a provider that does not charge passes
    /// `|| true`).
    pub fn admit(
        &self,
        now: Duration,
        sender: Option<&NodeId>,
        debit: impl FnOnce() -> bool,
    ) -> Admission {
        if sender.is_some_and(|s| self.is_previous_hop(now, s)) {
            return Admission::Relay;
        }
        match self.rules.kind {
            RelayKind::Mix => Admission::NotPreviousHop,
            RelayKind::Provider if debit() => Admission::Paid,
            RelayKind::Provider => Admission::NoCredit,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::topology::RouteNode;

    fn node(b: u8) -> RouteNode {
        RouteNode {
            id: NodeId([b; 32]),
            sphinx_key: [b; 32].into(),
        }
    }

    fn view() -> Topology {
        Topology::new(
            vec![vec![node(1)], vec![node(2)], vec![node(3)]],
            vec![node(9)],
        )
        .unwrap()
    }

    fn forward_to(b: u8) -> Processed {
        Processed::Forward {
            next_hop: NodeId([b; 32]),
            packet: vec![7; 4],
            delay: Duration::from_millis(5),
            clamped: false,
        }
    }

    #[test]
    fn surbs_leave_only_from_their_first_hop() {
        let rules = HopRules::new(NodeId([9; 32]), RelayKind::Provider, true);
        assert!(rules.surb_starts_here(&NodeId([9; 32])));
        assert!(!rules.surb_starts_here(&NodeId([1; 32])));
    }

    #[test]
    fn forwards_only_to_nodes_of_the_view() {
        let rules = HopRules::new(NodeId([1; 32]), RelayKind::Mix, false);
        let t = view();
        assert!(matches!(
            rules.decide(Ok(forward_to(2)), Some(&t)),
            HopAction::Forward { delay, .. } if delay == Duration::from_millis(5)
        ));
        assert_eq!(
            rules.decide(Ok(forward_to(42)), Some(&t)),
            HopAction::UnknownNextHop
        );
        assert_eq!(
            rules.decide(Ok(forward_to(2)), None),
            HopAction::UnknownNextHop
        );
        assert_eq!(
            rules.decide(Err(DropReason::Replay), Some(&t)),
            HopAction::Dropped(DropReason::Replay)
        );
    }

    #[test]
    fn final_hops_go_to_mailboxes_only_at_providers_that_keep_them() {
        let t = view();
        let fin = |d: NodeId, p: Vec<u8>| {
            Ok(Processed::Final {
                destination: d,
                plaintext: p,
            })
        };
        let provider = HopRules::new(NodeId([9; 32]), RelayKind::Provider, true);
        assert_eq!(
            provider.decide(fin(NodeId([5; 32]), vec![1, 2]), Some(&t)),
            HopAction::Store {
                mailbox: [5; 32],
                payload: vec![1, 2]
            }
        );
        assert_eq!(
            provider.decide(fin(COVER_DESTINATION, vec![1]), Some(&t)),
            HopAction::CoverDiscarded
        );
        for internal in crate::mailbox::InternalMailbox::ALL {
            assert_eq!(
                provider.decide(fin(NodeId(internal.id()), vec![1]), Some(&t)),
                HopAction::InternalRefused,
                "{internal:?}"
            );
        }
        let no_store = HopRules::new(NodeId([9; 32]), RelayKind::Provider, false);
        assert_eq!(
            no_store.decide(fin(NodeId([5; 32]), vec![1]), Some(&t)),
            HopAction::Undeliverable
        );
        let mix = HopRules::new(NodeId([1; 32]), RelayKind::Mix, true);
        assert_eq!(
            mix.decide(fin(NodeId([5; 32]), vec![1]), Some(&t)),
            HopAction::Undeliverable
        );
        let own_loop = MixPayload::Loop { id: 3 }.encode();
        assert_eq!(
            mix.decide(fin(NodeId([1; 32]), own_loop), Some(&t)),
            HopAction::LoopReturned
        );
        assert_eq!(
            mix.decide(fin(NodeId([1; 32]), vec![0xff]), Some(&t)),
            HopAction::OwnOther
        );
    }

    fn guard(me: u8, kind: RelayKind, t: &Topology) -> EntryGuard {
        let mut g = HopRules::new(NodeId([me; 32]), kind, false).entry_guard(Duration::ZERO);
        g.install(Duration::ZERO, t);
        g
    }

    fn admit(g: &EntryGuard, from: u8, credit: bool) -> Admission {
        g.admit(Duration::ZERO, Some(&NodeId([from; 32])), || credit)
    }

    /// Issue 15 item 8: a client (or any relay off the stratified path) that dials a mix
    /// directly is refused, credit or not; only the previous layer passes.
    #[test]
    fn mixes_admit_only_the_previous_layer() {
        let t = view();
        let (l1, l2, l3) = (
            guard(1, RelayKind::Mix, &t),
            guard(2, RelayKind::Mix, &t),
            guard(3, RelayKind::Mix, &t),
        );
        assert_eq!(admit(&l1, 9, false), Admission::Relay, "provider → layer 1");
        assert_eq!(admit(&l2, 1, false), Admission::Relay);
        assert_eq!(admit(&l3, 2, false), Admission::Relay);
        for (g, from) in [(&l1, 77), (&l1, 2), (&l1, 3), (&l2, 9), (&l2, 3), (&l3, 1)] {
            assert_eq!(admit(g, from, true), Admission::NotPreviousHop, "{from}");
        }
        assert_eq!(
            l1.admit(Duration::ZERO, None, || true),
            Admission::NotPreviousHop
        );
        // a mix that is not in the view takes from nobody
        assert_eq!(
            admit(&guard(42, RelayKind::Mix, &t), 9, true),
            Admission::NotPreviousHop
        );
        // no view yet: nobody
        let empty =
            HopRules::new(NodeId([1; 32]), RelayKind::Mix, false).entry_guard(Duration::ZERO);
        assert_eq!(admit(&empty, 9, true), Admission::NotPreviousHop);
        assert!(!Admission::NotPreviousHop.admitted());
    }

    /// Only the layer-3 mixes hand a provider packets for free; any other node of the view
    /// (a layer-1 mix, another provider, a client that published a descriptor) pays.
    #[test]
    fn providers_exempt_only_layer_three_and_charge_everyone_else() {
        let mut t = view();
        t = Topology::new(t.layers().to_vec(), vec![node(9), node(8)]).unwrap();
        let p = guard(9, RelayKind::Provider, &t);
        assert_eq!(admit(&p, 3, false), Admission::Relay);
        for from in [1, 2, 8, 77] {
            assert_eq!(admit(&p, from, false), Admission::NoCredit, "{from}");
            assert_eq!(admit(&p, from, true), Admission::Paid, "{from}");
        }
        assert_eq!(p.admit(Duration::ZERO, None, || false), Admission::NoCredit);
        let empty =
            HopRules::new(NodeId([9; 32]), RelayKind::Provider, true).entry_guard(Duration::ZERO);
        assert_eq!(admit(&empty, 3, false), Admission::NoCredit);
        assert_eq!(admit(&empty, 3, true), Admission::Paid);
        assert!(!Admission::NoCredit.admitted());
        assert!(Admission::Paid.admitted() && Admission::Relay.admitted());
    }

    /// Every link of honest traffic passes admission: client routes and SURBs (provider
    /// → layers → provider) and every mix's loop, whose first hop sees the mix itself.
    #[test]
    fn honest_routes_and_mix_loops_are_admitted_at_every_hop() {
        use rand::SeedableRng;
        let t = crate::topology::tests::topology(2);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let guard_of = |id: &NodeId| {
            let kind = if t.provider(id).is_some() {
                RelayKind::Provider
            } else {
                RelayKind::Mix
            };
            let mut g = HopRules::new(*id, kind, true).entry_guard(Duration::ZERO);
            g.install(Duration::ZERO, &t);
            g
        };
        let admitted = |from: &NodeId, to: &NodeId| {
            guard_of(to).admit(Duration::ZERO, Some(from), || false) == Admission::Relay
        };
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        for _ in 0..50 {
            for (from, to) in [(a, b), (b, a), (a, a)] {
                let r = t.forward_route(&mut rng, &from, &to).unwrap();
                for hop in r.windows(2) {
                    assert!(admitted(&hop[0].id, &hop[1].id), "{r:?}");
                }
            }
        }
        for layer in t.layers() {
            for me in layer {
                let r = t.mix_loop_route(&mut rng, &me.id).unwrap();
                let mut from = me.id;
                for hop in &r {
                    assert!(admitted(&from, &hop.id), "loop of {me:?}: {r:?}");
                    from = hop.id;
                }
            }
        }
    }

    /// Layers move when the view changes: the previous view keeps admitting for the
    /// retention (packets built on it are on their way), then stops; views are capped.
    #[test]
    fn replaced_views_admit_for_their_retention_then_expire() {
        let old = view();
        // 1 and 2 swap layers
        let new = Topology::new(
            vec![vec![node(2)], vec![node(1)], vec![node(3)]],
            vec![node(9)],
        )
        .unwrap();
        let retention = ENTRY_VIEW_RETENTION + Duration::from_secs(10);
        let rules = HopRules::new(NodeId([2; 32]), RelayKind::Mix, false);
        let mut g = rules.entry_guard(retention);
        g.install(Duration::ZERO, &old);
        let at = Duration::from_secs(100);
        g.install(at, &new);
        let from =
            |g: &EntryGuard, now: Duration, b: u8| g.admit(now, Some(&NodeId([b; 32])), || true);
        // in the new view 2 is in layer 1 (takes from 9); in the old it took from 1
        assert_eq!(from(&g, at, 9), Admission::Relay);
        assert_eq!(
            from(&g, at + retention - Duration::from_millis(1), 1),
            Admission::Relay
        );
        assert_eq!(from(&g, at + retention, 1), Admission::NotPreviousHop);
        assert_eq!(
            from(&g, at + retention * 5, 9),
            Admission::Relay,
            "current stays"
        );
        // a short retention is raised to the floor
        assert_eq!(
            rules.entry_guard(Duration::ZERO).retention,
            ENTRY_VIEW_RETENTION
        );
        // churn: at most MAX_ENTRY_VIEWS views are kept, the newest
        for i in 0..(MAX_ENTRY_VIEWS as u64 + 5) {
            g.install(at + Duration::from_millis(i), &new);
        }
        assert_eq!(g.views.len(), MAX_ENTRY_VIEWS);
        // installing long after: only the view just replaced stays, for its retention
        let later = at + retention * 3;
        g.install(later, &old);
        assert_eq!(g.views.len(), 2);
        assert_eq!(from(&g, later, 1), Admission::Relay);
        assert_eq!(from(&g, later, 9), Admission::Relay);
        assert_eq!(from(&g, later + retention, 9), Admission::NotPreviousHop);
    }
}
