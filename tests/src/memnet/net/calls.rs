//! What a story asks of the network: clients and Wesh accounts, API inputs, going
//! offline and back, replication, killing a mix.

use super::MemNet;
use super::seed_of;
use crate::memnet::MemNetError;
use crate::memnet::client::MemClient;
use crate::memnet::device::MemDevice;
use crate::memnet::events::Event;
use crate::memnet::link::Fault;
use wesh_client::messenger::journal::Input;
use wesh_client::messenger::replica::{ReplicaRequest, ReplicaResponse};
use wesh_client::messenger::{MailboxAddress, WeshDevice};
use wesh_mix::mailbox::{MailboxClient, MailboxId, PullSecret};
use wesh_mix::{ClientAddress, ClientKeys, ClientTraffic, NodeId};

/// Entries asked per history fetch (the node's `MAX_FETCH_ENTRIES`).
const HISTORY_FETCH_MAX: u16 = 512;

impl MemNet {
    // ------------------------------------------------------------------ building

    /// A client at the provider of index `provider`: a fresh id (also its mailbox id, the
    /// Sphinx destination its provider stores under), mailbox keys and traffic core.
    pub fn add_client(&mut self, provider: usize) -> Result<usize, MemNetError> {
        let provider = *self
            .provider_ids
            .get(provider)
            .ok_or(MemNetError::UnknownProvider)?;
        let identity = seed_of(&mut self.rng);
        let me = ClientKeys::id_of_seed(&identity);
        let key = seed_of(&mut self.rng);
        let mailbox = MailboxClient::from_parts(
            provider,
            MailboxId(me.0),
            &key,
            PullSecret(seed_of(&mut self.rng)),
        );
        let address = ClientAddress {
            provider,
            client: me,
        };
        let traffic = ClientTraffic::new(
            address,
            ClientKeys::from_ed25519_seed(&identity),
            self.config.client_traffic,
            self.clock.now(),
            seed_of(&mut self.rng),
        )?;
        let index = self.clients.len();
        self.clients.push(MemClient::new(index, traffic, mailbox));
        let pull = Event::Pull {
            client: index,
            generation: 0,
        };
        self.queue.schedule(self.clock.now(), pull);
        self.reschedule_client(index);
        Ok(index)
    }

    /// A client carrying a new Wesh account that accepts contact requests by itself.
    pub fn add_wesh_client(&mut self, provider: usize) -> Result<usize, MemNetError> {
        let c = self.add_client(provider)?;
        let address = self.client(c)?.address();
        let home = MailboxAddress {
            provider: address.provider.0,
            mailbox: address.client.0,
        };
        let device = WeshDevice::new_account(seed_of(&mut self.rng), home)?;
        let providers = self.provider_ids.iter().map(|p| p.0).collect();
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        client.device = Some(MemDevice::new(device, providers));
        self.input(c, Input::SetAutoAccept { on: true })?;
        self.queue
            .schedule(self.clock.now(), Event::DeviceTick { client: c });
        Ok(c)
    }

    // ------------------------------------------------------------------ calls

    /// Gives an API input to client `c`'s device and sends what it queued. Returns the
    /// group the input created or joined, if any.
    pub fn input(&mut self, c: usize, input: Input) -> Result<Option<[u8; 32]>, MemNetError> {
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        let device = client.device.as_mut().ok_or(MemNetError::NoDevice(c))?;
        let result = device.input(input);
        device.flush(&mut client.traffic);
        self.reschedule_client(c);
        Ok(result?)
    }

    /// ContactRequestSend from `c` with the card of `to`, at the current virtual time.
    pub fn contact_request(&mut self, c: usize, to: usize) -> Result<(), MemNetError> {
        let card = self.device(to)?.wesh().contact_request_reference();
        let providers = self.device(c)?.providers().to_vec();
        let now = self.clock.unix_secs();
        self.input(
            c,
            Input::ContactRequestSend {
                card,
                now,
                providers,
            },
        )?;
        Ok(())
    }

    /// ReplicationServiceRegisterGroup: registers `group` at the provider of index
    /// `provider` (a direct exchange, as the node's `/wesh/replication/1`), then adds it
    /// as the group's replica.
    pub fn register_replica(
        &mut self,
        c: usize,
        group: [u8; 32],
        provider: usize,
    ) -> Result<(), MemNetError> {
        let provider = *self
            .provider_ids
            .get(provider)
            .ok_or(MemNetError::UnknownProvider)?;
        let registration = self
            .device(c)?
            .wesh()
            .replication_registration(&group, provider.0)?;
        let request = ReplicaRequest::Register {
            registration: registration.encode(),
        };
        let me = self.client(c)?.address().client;
        match ReplicaResponse::decode(&self.replica_exchange(&provider, me, &request.encode())?)? {
            ReplicaResponse::Registered { .. } => {}
            ReplicaResponse::Refused { reason } | ReplicaResponse::Unpaid { reason, .. } => {
                return Err(MemNetError::ReplicaRefused(reason));
            }
            ReplicaResponse::Entries { .. } => return Err(MemNetError::ReplicaUnexpected),
        }
        self.input(
            c,
            Input::ReplicationRegisterGroup {
                group,
                provider: provider.0,
            },
        )?;
        Ok(())
    }

    /// Sends `bytes` from client `c` to client `to` as one reliable message.
    pub fn send_message(
        &mut self,
        c: usize,
        to: usize,
        bytes: Vec<u8>,
    ) -> Result<u64, MemNetError> {
        let to = self.client(to)?.address();
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        let id = client.send_message(to, bytes)?;
        self.reschedule_client(c);
        Ok(id)
    }

    /// Changes client `c`'s stream rates from now on (`ClientTraffic::set_rates`).
    pub fn set_client_rates(
        &mut self,
        c: usize,
        traffic: wesh_mix::ClientTrafficConfig,
    ) -> Result<(), MemNetError> {
        let now = self.clock.now();
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        client.traffic.set_rates(traffic, now)?;
        // the core's next deadline may now be earlier than the wake the queue holds
        client.wake = None;
        self.reschedule_client(c);
        Ok(())
    }

    /// Takes client `c` offline: its core is no longer polled and its mailbox no longer
    /// pulled (what it sent keeps crossing the network; its mail waits at the provider).
    pub fn go_offline(&mut self, c: usize) -> Result<(), MemNetError> {
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        client.online = false;
        client.wake = None;
        client.pull_generation += 1;
        if let Some(d) = client.device.as_mut() {
            d.went_offline();
        }
        Ok(())
    }

    /// Brings client `c` back: streams and pulls resume, the rendezvous registration is
    /// renewed, and the history of replicated groups is fetched (the runner's
    /// `come_online`). Returns how many entries the replicas returned.
    pub fn come_online(&mut self, c: usize) -> Result<usize, MemNetError> {
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        if client.online {
            return Err(MemNetError::AlreadyOnline(c));
        }
        client.online = true;
        let pull = Event::Pull {
            client: c,
            generation: client.pull_generation,
        };
        self.queue.schedule(self.clock.now(), pull);
        self.device_tick(c)?;
        self.catch_up(c)
    }

    /// Crashes a mix: what it holds is lost, nothing reaches it any more. The routing
    /// view still lists it (as after a crash), so clients learn to avoid it from their
    /// acks and timeouts.
    pub fn kill_mix(&mut self, mix: NodeId) {
        self.link.kill(mix);
    }

    /// Makes a relay misbehave from now on (see [`Fault`]).
    pub fn set_fault(&mut self, node: NodeId, fault: Fault) {
        self.link.set_fault(node, fault);
    }

    /// Fetches what the replication providers kept for `c`'s groups.
    fn catch_up(&mut self, c: usize) -> Result<usize, MemNetError> {
        let Some(device) = self.client(c)?.device() else {
            return Ok(0);
        };
        let mut wanted = Vec::new();
        for group in device.wesh().group_ids() {
            let Ok(meta) = device.wesh().group_metadata(&group) else {
                continue;
            };
            for replica in meta.replicas {
                let after = device
                    .history
                    .get(&(group, replica.provider))
                    .copied()
                    .unwrap_or(0);
                wanted.push((group, replica.provider, after));
            }
        }
        let me = self.client(c)?.address().client;
        let mut fetched = 0;
        for (group, provider, mut after) in wanted {
            let mut entries = Vec::new();
            loop {
                let request = ReplicaRequest::Fetch {
                    group_id: group,
                    after,
                    max: HISTORY_FETCH_MAX,
                };
                let answer = self.replica_exchange(&NodeId(provider), me, &request.encode())?;
                match ReplicaResponse::decode(&answer)? {
                    ReplicaResponse::Entries { entries: got, more } => {
                        after = got.last().map_or(after, |(s, _)| *s);
                        entries.extend(got.into_iter().map(|(_, e)| e));
                        if !more {
                            break;
                        }
                    }
                    ReplicaResponse::Refused { reason } => {
                        return Err(MemNetError::ReplicaRefused(reason));
                    }
                    ReplicaResponse::Registered { .. } | ReplicaResponse::Unpaid { .. } => {
                        return Err(MemNetError::ReplicaUnexpected);
                    }
                }
            }
            fetched += entries.len();
            let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
            if let Some(d) = client.device.as_mut() {
                d.history.insert((group, provider), after);
                // entries already held are duplicates, not errors
                let _ = d.input(Input::History { group, entries });
            }
        }
        self.flush_device(c);
        Ok(fetched)
    }

    fn replica_exchange(
        &mut self,
        provider: &NodeId,
        peer: NodeId,
        request: &[u8],
    ) -> Result<Vec<u8>, MemNetError> {
        let p = self
            .providers
            .get_mut(provider)
            .ok_or(MemNetError::UnknownProvider)?;
        Ok(p.replica
            .answer(request, peer, self.clock.unix_secs(), &mut p.mailboxes))
    }
}
