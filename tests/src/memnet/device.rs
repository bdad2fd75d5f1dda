//! A Wesh device on a client, driven as `node/src/wesh_app/runner.rs` drives it: API
//! inputs go through the journal's `apply` (the in-memory account drops the records, as
//! the testnet's do), what the device queues is handed to the client's reliable sends,
//! incoming mixnet messages are unwrapped from rendezvous forwards (acked through the
//! production `RendezvousRegistrar`), and the registration is kept at the desk that the
//! current rendezvous point selects, with reply SURBs from the client's core.

use super::MemNetError;
use std::collections::BTreeMap;
use std::time::Duration;
use wesh_client::messenger::envelope::Outer;
use wesh_client::messenger::journal::{self, Applied, Input};
use wesh_client::messenger::rendezvous_registrar::{RendezvousRegistrar, UpdateRequest};
use wesh_client::messenger::rendezvous_wire::RendezvousFrame;
use wesh_client::messenger::{Outgoing, WeshDevice, WeshEvent};
use wesh_mix::{ClientAddress, ClientTraffic, NodeId, Topology};

/// How often the rendezvous registration is checked (the runner's `RENDEZVOUS_CHECK`).
pub const RENDEZVOUS_CHECK: Duration = Duration::from_secs(2);

pub struct MemDevice {
    device: WeshDevice,
    /// Provider ids, sorted: rendezvous hashing picks among them.
    providers: Vec<[u8; 32]>,
    registrar: RendezvousRegistrar,
    pending: Vec<Outgoing>,
    /// (group, replica provider) → last history sequence number fetched.
    pub(crate) history: BTreeMap<([u8; 32], [u8; 32]), u64>,
    /// What the app heard, oldest first.
    pub events: Vec<WeshEvent>,
    /// Inputs the device refused (duplicates of retransmitted messages are not refused).
    pub refused: u64,
}

impl std::fmt::Debug for MemDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemDevice")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

fn client_address(provider: [u8; 32], mailbox: [u8; 32]) -> ClientAddress {
    ClientAddress {
        provider: NodeId(provider),
        client: NodeId(mailbox),
    }
}

impl MemDevice {
    pub fn new(device: WeshDevice, mut providers: Vec<[u8; 32]>) -> Self {
        providers.sort_unstable();
        providers.dedup();
        MemDevice {
            device,
            providers,
            registrar: RendezvousRegistrar::new(),
            pending: Vec::new(),
            history: BTreeMap::new(),
            events: Vec::new(),
            refused: 0,
        }
    }

    /// The device, for reading its state (contacts, groups, messages, stats).
    pub fn wesh(&self) -> &WeshDevice {
        &self.device
    }

    pub fn providers(&self) -> &[[u8; 32]] {
        &self.providers
    }

    /// Gives an input to the device (an API call or a delivery).
    pub fn input(&mut self, input: Input) -> Applied {
        let result = journal::apply(&mut self.device, &input);
        // in-memory account: nothing to make durable before sending
        let _ = self.device.take_journal();
        result
    }

    /// A reliable message the client reassembled. Returns whether it was Wesh traffic
    /// (anything else stays in the client's inbox).
    pub fn take_message(&mut self, bytes: &[u8], now_ms: u64) -> bool {
        let mut wesh = Outer::decode(bytes).is_ok();
        let mut bytes = bytes.to_vec();
        if RendezvousFrame::is_frame(&bytes) {
            wesh = true;
            match RendezvousFrame::decode(&bytes) {
                Ok(RendezvousFrame::Forward {
                    mailbox,
                    id,
                    tag,
                    envelope,
                }) => {
                    // acked whatever the device makes of it: the desk must stop resending
                    let _ = self
                        .registrar
                        .on_forward(now_ms, &mailbox, id, &tag, &envelope);
                    bytes = envelope;
                }
                Ok(_) | Err(_) => return true,
            }
        }
        if self.input(Input::Message { bytes }).is_err() {
            self.refused += 1;
        }
        wesh
    }

    /// Takes the device's events and hands what it queued to the client's core; what the
    /// core refuses (queue full) is kept for the next flush.
    pub(crate) fn flush(&mut self, traffic: &mut ClientTraffic) {
        self.events.extend(self.device.take_events());
        self.pending.extend(self.device.take_outgoing());
        let mut kept = Vec::new();
        for out in std::mem::take(&mut self.pending) {
            let to = client_address(out.to.provider, out.to.mailbox);
            if traffic.send_message(to, out.bytes.clone()).is_err() {
                kept.push(out);
            }
        }
        self.pending = kept;
    }

    /// Keeps the rendezvous registration where the current point says (`unix_secs`,
    /// `now_ms` Unix time); when online, sends the updates due, with reply SURBs for the
    /// desk's provider built by the client's core at `now`.
    pub(crate) fn ensure_rendezvous(
        &mut self,
        unix_secs: u64,
        now_ms: u64,
        online: Option<(&mut ClientTraffic, &Topology, Duration)>,
    ) -> Result<(), MemNetError> {
        let registration = self
            .device
            .rendezvous_registration(unix_secs, &self.providers)?;
        self.registrar.set(registration);
        let Some((traffic, topology, now)) = online else {
            return Ok(());
        };
        for request in self.registrar.poll(now_ms) {
            if Self::send_update(traffic, topology, now, request).is_err() {
                // said again at the next check
                self.registrar.reset();
            }
        }
        Ok(())
    }

    fn send_update(
        traffic: &mut ClientTraffic,
        topology: &Topology,
        now: Duration,
        request: UpdateRequest,
    ) -> Result<u64, MemNetError> {
        let UpdateRequest {
            to,
            mut update,
            surbs_wanted,
        } = request;
        if surbs_wanted > 0 {
            // a memnet topology's keys never rotate: the SURBs never expire
            let surbs = traffic.reply_surbs(now, topology, NodeId(to.provider), surbs_wanted)?;
            update.surbs = surbs.iter().map(|s| s.to_bytes()).collect();
        }
        let frame = RendezvousFrame::Update(update).encode();
        Ok(traffic.send_message(client_address(to.provider, to.mailbox), frame)?)
    }

    /// Going offline: the desk must be told again when the device is back.
    pub(crate) fn went_offline(&mut self) {
        self.registrar.reset();
    }
}
