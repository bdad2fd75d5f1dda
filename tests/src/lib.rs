//! Workspace integration tests across the protocol cores, and the harness they share.
//!
//! # `memnet`: the whole network in memory, on a virtual clock
//!
//! [`memnet::MemNet`] runs mixes, providers, clients and Wesh devices in one process with
//! no sockets, no threads and no wall clock, driving the production cores exactly as the
//! node's shell does (it is a second shell; it moves bytes and wakes timers and decides
//! nothing):
//!
//! - [`memnet::VirtualClock`] and [`memnet::EventQueue`]: a discrete-event loop (a binary
//!   heap of timed [`memnet::Event`]s, ties broken by scheduling order);
//! - [`memnet::MemLink`]: links with a fixed latency, and [`memnet::Fault`]s the harness
//!   installs on a relay (dead: loses what it holds and what is sent to it; lossy;
//!   replaying), so that production types carry no fault-injection fields;
//! - [`memnet::MemMix`]: `MixProcessor` (Sphinx, replay filter) and `MixCover` (λ_M);
//! - [`memnet::MemProvider`]: the same processing, mailboxes in the mix core's
//!   `InMemoryBackend` behind `MailboxServer`, the SURB-ack released after the store
//!   (`ack_after_store`), the `RendezvousDesk` and the `ReplicaKeeper` reading the
//!   provider's own mailboxes every 200 ms;
//! - [`memnet::MemClient`]: `ClientTraffic` (Poisson streams, fragments, SURB-acks,
//!   retransmission, route health) and `MailboxClient`, pulling every 500 ms;
//! - [`memnet::MemDevice`]: a `WeshDevice` with its `RendezvousRegistrar`, fed as the
//!   node's Wesh runner feeds it;
//! - [`memnet::LinkObserver`]: when switched on, every frame on a link (time, ends, never
//!   bytes): the view of a global passive adversary, for the anonymity lab.
//!
//! A story drives it through [`memnet::MemNet`]'s calls (`add_wesh_client`, `input` with
//! the journal's API inputs, `contact_request`, `register_replica`, `go_offline`,
//! `come_online`, `kill_mix`, `set_fault`, `set_client_rates`) and runs the clock with
//! `run_for` or `run_until(limit, condition)`; see `tests/memnet_story.rs`.
//!
//! Everything is seeded from [`memnet::MemNetConfig::seed`]: the same seed and the same
//! calls give the same run, which [`memnet::MemNet::trace_digest`] summarises. Mailbox,
//! replication and history exchanges are direct calls (they are request/response streams
//! in the node) and take no virtual time; Sphinx packets cross links with their latency.
//! Not modelled yet: the issuer and payments (providers admit every client: the credit
//! rules still live in the node's shell, and a harness must not copy rules), the gossip
//! PKI (the topology is fixed, keys do not rotate), disk durability and restarts.

pub mod memnet;
