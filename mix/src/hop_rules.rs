//! What a relay does with a packet around its Sphinx processing: who may hand it packets
//! (admission) and where a processed packet goes (forward after its delay, store in a
//! mailbox, count and discard). The processing itself is [`MixProcessor`]; moving bytes,
//! holding packets and writing mailboxes is the shell's.
//!
//! [`MixProcessor`]: crate::MixProcessor

use crate::error::DropReason;
use crate::node_id::NodeId;
use crate::payload::MixPayload;
use crate::processor::Processed;
use crate::topology::Topology;
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
    /// From a relay of the routing view (relays do not pay each other).
    Relay,
    /// From a client whose credit covers it.
    Paid,
    /// From a client without credit: dropped.
    NoCredit,
}

impl Admission {
    pub fn admitted(self) -> bool {
        self != Admission::NoCredit
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

    /// Whether a packet from `sender` (None: its peer id is not a node id) enters a
    /// provider that charges its clients: relays of the routing view pass free, anyone
    /// else pays one packet's credit (`debit` takes it and says whether there was any).
    pub fn admit_at_provider(
        sender: Option<&NodeId>,
        view: Option<&Topology>,
        debit: impl FnOnce() -> bool,
    ) -> Admission {
        let is_relay = sender.is_some_and(|n| view.is_some_and(|t| t.node(n).is_some()));
        if is_relay {
            Admission::Relay
        } else if debit() {
            Admission::Paid
        } else {
            Admission::NoCredit
        }
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

    #[test]
    fn relays_of_the_view_pass_free_and_clients_pay() {
        let t = view();
        let relay = NodeId([2; 32]);
        let client = NodeId([77; 32]);
        assert_eq!(
            HopRules::admit_at_provider(Some(&relay), Some(&t), || false),
            Admission::Relay
        );
        assert_eq!(
            HopRules::admit_at_provider(Some(&client), Some(&t), || true),
            Admission::Paid
        );
        assert_eq!(
            HopRules::admit_at_provider(Some(&client), Some(&t), || false),
            Admission::NoCredit
        );
        assert_eq!(
            HopRules::admit_at_provider(None, Some(&t), || false),
            Admission::NoCredit
        );
        // no view yet: nobody is known to be a relay
        assert_eq!(
            HopRules::admit_at_provider(Some(&relay), None, || false),
            Admission::NoCredit
        );
        assert!(!Admission::NoCredit.admitted());
        assert!(Admission::Paid.admitted());
    }
}
