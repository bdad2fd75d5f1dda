//! The event loop's other half: what each event does. Bytes move between cores and
//! timers are woken; every decision is the core's.

use super::MemNet;
use crate::memnet::MemNetError;
use crate::memnet::client::PULL_INTERVAL;
use crate::memnet::config::PROVIDER_ROUND;
use crate::memnet::device::RENDEZVOUS_CHECK;
use crate::memnet::events::Event;
use crate::memnet::mix::MemMix;
use crate::memnet::observer::Endpoint;
use std::time::Duration;
use wesh_mix::NodeId;
use wesh_mix::hop_rules::HopAction;

impl MemNet {
    pub(super) fn record(&mut self, at: Duration, event: &Event) {
        let tag = event.tag();
        match event {
            Event::Arrive { to, packet } => self.trace.record(at, tag, &to.0, Some(packet)),
            Event::Release { from, packet, .. } => {
                self.trace.record(at, tag, &from.0, Some(packet))
            }
            Event::ClientWake { client, .. }
            | Event::Pull { client, .. }
            | Event::DeviceTick { client } => {
                self.trace
                    .record(at, tag, &(*client as u64).to_le_bytes(), None)
            }
            Event::MixCover { mix } => self.trace.record(at, tag, &mix.0, None),
            Event::ProviderRound { provider } => self.trace.record(at, tag, &provider.0, None),
        }
    }

    pub(super) fn handle(&mut self, event: Event) {
        match event {
            Event::Arrive { to, packet } => self.arrive(to, &packet),
            Event::Release { from, to, packet } => self.send(from, to, packet),
            Event::ClientWake { client, generation } => self.client_wake(client, generation),
            Event::Pull { client, generation } => self.pull(client, generation),
            Event::DeviceTick { client } => {
                if self.device_tick(client).is_err() {
                    self.stats.device_tick_errors += 1;
                }
                if self.clients.get(client).is_some() {
                    self.queue.schedule(
                        self.clock.now() + RENDEZVOUS_CHECK,
                        Event::DeviceTick { client },
                    );
                }
            }
            Event::MixCover { mix } => self.mix_cover(mix),
            Event::ProviderRound { provider } => self.provider_round(provider),
        }
    }

    /// Puts a frame on the link `from` → `to` (a relay sending to its own pipeline, like
    /// a provider releasing a SURB-ack that starts at itself, skips the link).
    fn send(&mut self, from: NodeId, to: NodeId, packet: Vec<u8>) {
        let now = self.clock.now();
        if from == to {
            self.queue.schedule(now, Event::Arrive { to, packet });
            return;
        }
        // a dead node sends nothing (what it held dies with it), a lossy one loses some,
        // a replaying one sends twice; a frame to a dead node is on the wire, seen, lost
        let copies = self.link.copies_sent(&from);
        if copies == 0 {
            self.stats.frames_lost += 1;
            return;
        }
        for _ in 0..copies {
            self.stats.frames_sent += 1;
            self.observer.saw(now, Endpoint::Relay(from), to);
            if self.link.is_down(&to) {
                self.stats.frames_lost += 1;
            } else {
                let arrive = Event::Arrive {
                    to,
                    packet: packet.clone(),
                };
                self.queue.schedule(now + self.link.latency(), arrive);
            }
        }
    }

    fn arrive(&mut self, to: NodeId, packet: &[u8]) {
        if self.link.is_down(&to) {
            self.stats.frames_lost += 1;
            return;
        }
        let now = self.clock.now();
        let step = if let Some(mix) = self.mixes.get_mut(&to) {
            mix.on_packet(&self.topology, packet)
        } else if let Some(provider) = self.providers.get_mut(&to) {
            provider.on_packet(&self.topology, packet)
        } else {
            return;
        };
        match step {
            HopAction::Forward {
                next_hop,
                packet,
                delay,
                ..
            } => self.queue.schedule(
                now + delay,
                Event::Release {
                    from: to,
                    to: next_hop,
                    packet,
                },
            ),
            HopAction::Store { mailbox, payload } => {
                let unix = self.clock.unix_secs();
                let ack = self
                    .providers
                    .get_mut(&to)
                    .and_then(|p| p.store(mailbox, payload, unix));
                if let Some((first_hop, packet)) = ack {
                    self.send(to, first_hop, packet);
                }
            }
            _ => {}
        }
    }

    pub(super) fn schedule_cover(&mut self, mix: NodeId) {
        if let Some(at) = self.mixes.get(&mix).and_then(MemMix::next_cover_at) {
            self.queue
                .schedule(at.max(self.clock.now()), Event::MixCover { mix });
        }
    }

    fn mix_cover(&mut self, mix: NodeId) {
        if self.link.is_down(&mix) {
            return;
        }
        let now = self.clock.now();
        let Some(m) = self.mixes.get_mut(&mix) else {
            return;
        };
        for (first_hop, packet) in m.poll_cover(now, &self.topology) {
            self.send(mix, first_hop, packet);
        }
        self.schedule_cover(mix);
    }

    fn provider_round(&mut self, provider: NodeId) {
        let (now_ms, now) = (self.clock.unix_ms(), self.clock.now());
        let Some(p) = self.providers.get_mut(&provider) else {
            return;
        };
        for (first_hop, packet) in p.round(now_ms, now) {
            self.send(provider, first_hop, packet);
        }
        self.queue
            .schedule(now + PROVIDER_ROUND, Event::ProviderRound { provider });
    }

    /// Makes sure the queue holds a wake for client `c`'s core at its next deadline.
    pub(super) fn reschedule_client(&mut self, c: usize) {
        let now = self.clock.now();
        let Some(client) = self.clients.get_mut(c) else {
            return;
        };
        if !client.online {
            return;
        }
        let Some(at) = client.traffic.next_deadline() else {
            return;
        };
        let at = at.max(now);
        if client.wake.is_some_and(|(_, w)| w <= at) {
            return;
        }
        client.wake_generation += 1;
        let generation = client.wake_generation;
        client.wake = Some((generation, at));
        self.queue.schedule(
            at,
            Event::ClientWake {
                client: c,
                generation,
            },
        );
    }

    fn client_wake(&mut self, c: usize, generation: u64) {
        let now = self.clock.now();
        let Some(client) = self.clients.get_mut(c) else {
            return;
        };
        if !client.online || client.wake.map(|(g, _)| g) != Some(generation) {
            return;
        }
        client.wake = None;
        let provider = client.provider();
        let packets = client.poll(now, &self.topology);
        let latency = self.link.latency();
        for packet in packets {
            self.stats.frames_sent += 1;
            self.observer.saw(now, Endpoint::Client(c), provider);
            self.queue.schedule(
                now + latency,
                Event::Arrive {
                    to: provider,
                    packet,
                },
            );
        }
        self.reschedule_client(c);
    }

    fn pull(&mut self, c: usize, generation: u64) {
        let (now, unix) = (self.clock.now(), self.clock.unix_secs());
        let now_ms = self.clock.unix_ms();
        let Some(client) = self.clients.get_mut(c) else {
            return;
        };
        if !client.online || client.pull_generation != generation {
            return;
        }
        let Some(provider) = self.providers.get_mut(&client.provider()) else {
            return;
        };
        let messages = client.pull(now, |request| provider.mailbox_exchange(request, unix));
        for bytes in messages {
            let wesh = client
                .device
                .as_mut()
                .is_some_and(|d| d.take_message(&bytes, now_ms));
            if !wesh {
                client.inbox.push(bytes);
            }
        }
        self.flush_device(c);
        let pull = Event::Pull {
            client: c,
            generation,
        };
        self.queue.schedule(now + PULL_INTERVAL, pull);
    }

    pub(super) fn device_tick(&mut self, c: usize) -> Result<(), MemNetError> {
        let (now, unix, now_ms) = (
            self.clock.now(),
            self.clock.unix_secs(),
            self.clock.unix_ms(),
        );
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        let Some(device) = client.device.as_mut() else {
            return Ok(());
        };
        let online = client
            .online
            .then_some((&mut client.traffic, &self.topology, now));
        let result = device.ensure_rendezvous(unix, now_ms, online);
        self.flush_device(c);
        result
    }

    /// Hands what client `c`'s device queued to its core and wakes the core.
    pub(super) fn flush_device(&mut self, c: usize) {
        if let Some(client) = self.clients.get_mut(c)
            && let Some(device) = client.device.as_mut()
        {
            device.flush(&mut client.traffic);
        }
        self.reschedule_client(c);
    }
}
