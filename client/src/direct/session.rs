//! One direct link between two devices, sans I/O: the caller feeds the bytes it read and
//! writes the frames it is given.
//!
//! 1. **Hello** (clear): version, a fresh X25519 key and 16 random bytes. Both sides hash
//!    the two hellos, in byte order, into the session's transcript and derive one AEAD key
//!    for each direction from the X25519 agreement and the transcript.
//! 2. **Offer** (encrypted): for each of the device's groups, a tag
//!    `HMAC(direct key, "wesh-direct-offer" ‖ transcript ‖ sender's X25519 key)`, padded
//!    with random tags and shuffled. A peer that holds the same key computes the tag it
//!    expects from this sender; any other tag is random to it. Each side learns the groups
//!    they share and nothing of the others (not even their exact number); a tag is bound
//!    to this session and to its sender, so it cannot be replayed into another session or
//!    echoed back as a proof.
//! 3. **Open**: encrypted messages for the layer above (the sync of shared groups' logs).
//!
//! Any malformed, oversized or undecryptable frame ends the session with a
//! [`DirectError`]; nothing outside the session has changed by then.

use x25519_dalek::{PublicKey as XPublicKey, StaticSecret};
use zeroize::Zeroize;

use super::beacon::{DirectKey, Tag, padded_len, random_tag, shuffle, tags_equal};
use super::frame::{FrameReader, frame};
use crate::crypto::{SecretKey32, aead_open, aead_seal, agree, derive_key32, sha256};
use crate::params::{AEAD_NONCE_LEN, DIRECT_MAX_OFFER, DIRECT_TAG_LEN, DIRECT_WIRE_VERSION};

const HELLO_LEN: usize = 1 + 32 + 16;
const MSG_OFFER: u8 = 1;
const MSG_APP: u8 = 2;

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectError {
    #[error("frame of {0} bytes is over the {max} byte limit", max = crate::params::DIRECT_MAX_FRAME)]
    FrameTooLarge(usize),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("peer speaks direct-link wire version {0}, this device {DIRECT_WIRE_VERSION}")]
    Version(u8),
    #[error("a frame failed to decrypt (tampered, replayed or out of order)")]
    Decrypt,
    #[error("offer of {0} tags is over the limit of {DIRECT_MAX_OFFER}")]
    TooManyTags(usize),
    #[error("the peer's key is not usable (low order)")]
    BadKey,
    #[error("the session already failed: {0}")]
    Failed(Box<DirectError>),
    #[error("no message can be sent before the handshake is done")]
    NotOpen,
}

/// A group both ends of a link are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedGroup {
    /// Its index in the groups the session was started with.
    pub index: usize,
    /// What both ends call it on this link (a value only members can compute, new in
    /// every session).
    pub channel: Tag,
}

/// The shared group a message's channel names (a channel the link does not have is a
/// malformed message).
pub(crate) fn by_channel(
    shared: &[SharedGroup],
    channel: &Tag,
) -> Result<SharedGroup, DirectError> {
    shared
        .iter()
        .find(|g| g.channel == *channel)
        .copied()
        .ok_or(DirectError::Malformed("channel (not a shared group)"))
}

/// What the caller should act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectEvent {
    /// Write this frame to the link.
    Send(Vec<u8>),
    /// The handshake is done: the groups this peer shares.
    Matched(Vec<SharedGroup>),
    /// A message from the peer for the layer above.
    Message(Vec<u8>),
}

enum State {
    AwaitHello,
    AwaitOffer,
    Open,
    Failed(DirectError),
}

struct Keys {
    send: SecretKey32,
    recv: SecretKey32,
    send_n: u64,
    recv_n: u64,
}

pub struct DirectSession {
    state: State,
    groups: Vec<DirectKey>,
    secret: StaticSecret,
    hello: [u8; HELLO_LEN],
    transcript: [u8; 32],
    peer_public: [u8; 32],
    keys: Option<Keys>,
    reader: FrameReader,
    /// Where each tag of the offer goes: a group's (by index) or random padding, in the
    /// order drawn at start.
    offer: Vec<OfferSlot>,
}

enum OfferSlot {
    Group(usize),
    Padding(Tag),
}

impl core::fmt::Debug for DirectSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectSession")
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl DirectSession {
    /// A session for a device in `groups`; the returned frame (its hello) goes first.
    pub fn start<R: rand::CryptoRng + ?Sized>(
        groups: Vec<DirectKey>,
        rng: &mut R,
    ) -> (Self, Vec<u8>) {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let secret = StaticSecret::from(seed);
        seed.zeroize();
        let public = XPublicKey::from(&secret);
        let mut hello = [0u8; HELLO_LEN];
        hello[0] = DIRECT_WIRE_VERSION;
        hello[1..33].copy_from_slice(public.as_bytes());
        rng.fill_bytes(&mut hello[33..]);
        // the offer's padding and order are drawn now: the session needs no generator later
        let mut offer: Vec<OfferSlot> = (0..groups.len()).map(OfferSlot::Group).collect();
        while offer.len() < padded_len(groups.len()) {
            offer.push(OfferSlot::Padding(random_tag(rng)));
        }
        shuffle(&mut offer, rng);
        let session = DirectSession {
            state: State::AwaitHello,
            groups,
            secret,
            hello,
            transcript: [0; 32],
            peer_public: [0; 32],
            keys: None,
            reader: FrameReader::default(),
            offer,
        };
        (session, frame(&hello))
    }

    /// Bytes read from the link: what to do about them. After an error every later call
    /// returns it again.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Vec<DirectEvent>, DirectError> {
        if let State::Failed(e) = &self.state {
            return Err(DirectError::Failed(Box::new(e.clone())));
        }
        let result = self.receive_frames(bytes);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
            self.keys = None;
        }
        result
    }

    fn receive_frames(&mut self, bytes: &[u8]) -> Result<Vec<DirectEvent>, DirectError> {
        self.reader.push(bytes)?;
        let mut events = Vec::new();
        while let Some(body) = self.reader.next_frame()? {
            match self.state {
                State::AwaitHello => events.extend(self.on_hello(&body)?),
                State::AwaitOffer => {
                    let plain = self.open(&body)?;
                    events.push(self.on_offer(&plain)?);
                }
                State::Open => {
                    let plain = self.open(&body)?;
                    match plain.split_first() {
                        Some((&MSG_APP, rest)) => events.push(DirectEvent::Message(rest.to_vec())),
                        _ => return Err(DirectError::Malformed("message")),
                    }
                }
                State::Failed(_) => break,
            }
        }
        Ok(events)
    }

    /// A message for the peer, framed and encrypted.
    pub fn send(&mut self, message: &[u8]) -> Result<Vec<u8>, DirectError> {
        if !matches!(self.state, State::Open) {
            return Err(DirectError::NotOpen);
        }
        let mut plain = Vec::with_capacity(1 + message.len());
        plain.push(MSG_APP);
        plain.extend_from_slice(message);
        self.seal(&plain)
    }

    fn on_hello(&mut self, body: &[u8]) -> Result<Vec<DirectEvent>, DirectError> {
        let hello: [u8; HELLO_LEN] = body
            .try_into()
            .map_err(|_| DirectError::Malformed("hello"))?;
        if hello[0] != DIRECT_WIRE_VERSION {
            return Err(DirectError::Version(hello[0]));
        }
        if hello == self.hello {
            return Err(DirectError::Malformed("hello (our own, reflected)"));
        }
        self.peer_public.copy_from_slice(&hello[1..33]);
        let (first, second) = if self.hello < hello {
            (&self.hello, &hello)
        } else {
            (&hello, &self.hello)
        };
        self.transcript = sha256(&[b"wesh-direct-v1", first, second]);
        let peer = XPublicKey::from(self.peer_public);
        let shared = agree(&self.secret, &peer).map_err(|_| DirectError::BadKey)?;
        let derive = |public: &[u8]| {
            derive_key32(shared.expose(), &self.transcript, public).map_err(|_| DirectError::BadKey)
        };
        let keys = Keys {
            send: derive(&self.hello[1..33])?,
            recv: derive(&self.peer_public)?,
            send_n: 0,
            recv_n: 0,
        };
        self.keys = Some(keys);
        // my tags, bound to this session and to me, in the slots drawn at start
        let my_public = self.public_bytes();
        let mut plain = Vec::with_capacity(1 + self.offer.len() * DIRECT_TAG_LEN);
        plain.push(MSG_OFFER);
        for slot in &self.offer {
            let tag = match slot {
                OfferSlot::Group(i) => self.groups.get(*i).map_or([0u8; DIRECT_TAG_LEN], |k| {
                    k.tag(b"wesh-direct-offer", &[&self.transcript, &my_public])
                }),
                OfferSlot::Padding(t) => *t,
            };
            plain.extend_from_slice(&tag);
        }
        self.state = State::AwaitOffer;
        Ok(vec![DirectEvent::Send(self.seal(&plain)?)])
    }

    fn on_offer(&mut self, plain: &[u8]) -> Result<DirectEvent, DirectError> {
        let Some((&MSG_OFFER, tags)) = plain.split_first() else {
            return Err(DirectError::Malformed("offer"));
        };
        if tags.len() % DIRECT_TAG_LEN != 0 {
            return Err(DirectError::Malformed("offer (not whole tags)"));
        }
        let n = tags.len() / DIRECT_TAG_LEN;
        if n > DIRECT_MAX_OFFER {
            return Err(DirectError::TooManyTags(n));
        }
        let theirs: Vec<Tag> = tags
            .chunks_exact(DIRECT_TAG_LEN)
            .filter_map(|c| Tag::try_from(c).ok())
            .collect();
        let matched = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, k)| {
                let expected = k.tag(b"wesh-direct-offer", &[&self.transcript, &self.peer_public]);
                theirs.iter().any(|t| tags_equal(t, &expected))
            })
            .map(|(index, k)| SharedGroup {
                index,
                channel: k.tag(b"wesh-direct-channel", &[&self.transcript]),
            })
            .collect();
        self.state = State::Open;
        Ok(DirectEvent::Matched(matched))
    }

    fn public_bytes(&self) -> [u8; 32] {
        let mut p = [0u8; 32];
        p.copy_from_slice(&self.hello[1..33]);
        p
    }

    fn seal(&mut self, plain: &[u8]) -> Result<Vec<u8>, DirectError> {
        let keys = self.keys.as_mut().ok_or(DirectError::NotOpen)?;
        let nonce = nonce(keys.send_n);
        keys.send_n += 1;
        let sealed = aead_seal(keys.send.expose(), &nonce, &self.transcript, plain)
            .map_err(|_| DirectError::FrameTooLarge(plain.len()))?;
        Ok(frame(&sealed))
    }

    fn open(&mut self, body: &[u8]) -> Result<Vec<u8>, DirectError> {
        let keys = self.keys.as_mut().ok_or(DirectError::NotOpen)?;
        let nonce = nonce(keys.recv_n);
        let plain = aead_open(keys.recv.expose(), &nonce, &self.transcript, body, "direct")
            .map_err(|_| DirectError::Decrypt)?;
        keys.recv_n += 1;
        Ok(plain)
    }
}

/// A frame counter as an AEAD nonce (each key is used for one session and direction).
fn nonce(n: u64) -> [u8; AEAD_NONCE_LEN] {
    let mut out = [0u8; AEAD_NONCE_LEN];
    out[AEAD_NONCE_LEN - 8..].copy_from_slice(&n.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn key(b: u8) -> DirectKey {
        DirectKey::derive(&[b; 32], &[b; 32]).unwrap()
    }

    /// Runs the handshake between `a` and `b` (their hellos given), returning what each
    /// matched.
    fn handshake(
        a: &mut DirectSession,
        hello_a: &[u8],
        b: &mut DirectSession,
        hello_b: &[u8],
    ) -> (Vec<usize>, Vec<usize>) {
        let offer_a = sends(a.receive(hello_b).unwrap());
        let offer_b = sends(b.receive(hello_a).unwrap());
        (
            matched(a.receive(&offer_b).unwrap()),
            matched(b.receive(&offer_a).unwrap()),
        )
    }

    fn sends(events: Vec<DirectEvent>) -> Vec<u8> {
        events
            .into_iter()
            .filter_map(|e| match e {
                DirectEvent::Send(f) => Some(f),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn matched(events: Vec<DirectEvent>) -> Vec<usize> {
        shared(events).iter().map(|g| g.index).collect()
    }

    fn shared(events: Vec<DirectEvent>) -> Vec<SharedGroup> {
        events
            .into_iter()
            .find_map(|e| match e {
                DirectEvent::Matched(m) => Some(m),
                _ => None,
            })
            .expect("matched")
    }

    #[test]
    fn two_devices_find_exactly_the_groups_they_share_and_talk() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (mut a, ha) = DirectSession::start(vec![key(1), key(2), key(3)], &mut rng);
        let (mut b, hb) = DirectSession::start(vec![key(4), key(3), key(1)], &mut rng);
        let (ma, mb) = handshake(&mut a, &ha, &mut b, &hb);
        assert_eq!(ma, vec![0, 2], "a shares its groups 1 and 3");
        assert_eq!(mb, vec![1, 2], "b shares its groups 3 and 1");
        let f = a.send(b"heads").unwrap();
        assert_eq!(
            b.receive(&f).unwrap(),
            vec![DirectEvent::Message(b"heads".to_vec())]
        );
        let g = b.send(b"entries").unwrap();
        assert_eq!(
            a.receive(&g).unwrap(),
            vec![DirectEvent::Message(b"entries".to_vec())]
        );
    }

    #[test]
    fn both_ends_name_a_shared_group_alike_and_anew_each_session() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let mut channels = Vec::new();
        for _ in 0..2 {
            let (mut a, ha) = DirectSession::start(vec![key(1), key(2)], &mut rng);
            let (mut b, hb) = DirectSession::start(vec![key(2)], &mut rng);
            let offer_a = sends(a.receive(&hb).unwrap());
            let offer_b = sends(b.receive(&ha).unwrap());
            let sa = shared(a.receive(&offer_b).unwrap());
            let sb = shared(b.receive(&offer_a).unwrap());
            assert_eq!((sa.len(), sb.len()), (1, 1));
            assert_eq!(sa[0].channel, sb[0].channel);
            channels.push(sa[0].channel);
        }
        assert_ne!(channels[0], channels[1]);
    }

    #[test]
    fn a_stranger_learns_no_group_and_sees_new_tags_each_session() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (mut a, ha) = DirectSession::start(vec![key(1), key(2)], &mut rng);
            let (mut s, hs) = DirectSession::start(vec![key(9)], &mut rng);
            let offer_a = sends(a.receive(&hs).unwrap());
            let offer_s = sends(s.receive(&ha).unwrap());
            // what the stranger reads of a's offer
            let mut reader = FrameReader::default();
            reader.push(&offer_a).unwrap();
            let plain = s.open(&reader.next_frame().unwrap().unwrap()).unwrap();
            assert_eq!(
                plain.len(),
                1 + 8 * DIRECT_TAG_LEN,
                "two groups look like eight"
            );
            seen.push(plain);
            assert!(matched(a.receive(&offer_s).unwrap()).is_empty());
        }
        let tags = |p: &Vec<u8>| -> Vec<Vec<u8>> {
            p[1..].chunks(DIRECT_TAG_LEN).map(<[u8]>::to_vec).collect()
        };
        let (first, second) = (tags(&seen[0]), tags(&seen[1]));
        assert!(
            first.iter().all(|t| !second.contains(t)),
            "no tag repeats across sessions"
        );
    }

    #[test]
    fn tags_echoed_back_prove_nothing() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let (mut a, ha) = DirectSession::start(vec![key(1)], &mut rng);
        let (mut m, hm) = DirectSession::start(vec![], &mut rng);
        let offer_a = sends(a.receive(&hm).unwrap());
        sends(m.receive(&ha).unwrap());
        // m decrypts a's offer and sends it back as its own
        let mut reader = FrameReader::default();
        reader.push(&offer_a).unwrap();
        let plain = m.open(&reader.next_frame().unwrap().unwrap()).unwrap();
        // in place of m's own offer (the first frame a expects from it)
        m.keys.as_mut().unwrap().send_n = 0;
        let echoed = m.seal(&plain).unwrap();
        assert!(matched(a.receive(&echoed).unwrap()).is_empty());
    }

    #[test]
    fn garbage_ends_the_session_with_a_clear_error() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let (mut a, _) = DirectSession::start(vec![key(1)], &mut rng);
        assert_eq!(
            a.receive(&frame(b"not a hello")),
            Err(DirectError::Malformed("hello"))
        );
        assert!(matches!(a.receive(b"more"), Err(DirectError::Failed(_))));
        assert_eq!(a.send(b"x"), Err(DirectError::NotOpen));

        let (mut a, ha) = DirectSession::start(vec![key(1)], &mut rng);
        assert_eq!(
            a.receive(&[0xff, 0xff, 0xff, 0xff]),
            Err(DirectError::FrameTooLarge(u32::MAX as usize))
        );
        // a wrong version, and our own hello reflected
        let (mut b, _) = DirectSession::start(vec![key(1)], &mut rng);
        let mut bad = ha.clone();
        bad[4] = 9;
        assert_eq!(b.receive(&bad), Err(DirectError::Version(9)));
        let (mut c, hc) = DirectSession::start(vec![key(1)], &mut rng);
        assert!(matches!(c.receive(&hc), Err(DirectError::Malformed(_))));
    }

    #[test]
    fn a_tampered_or_replayed_frame_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let (mut a, ha) = DirectSession::start(vec![key(1)], &mut rng);
        let (mut b, hb) = DirectSession::start(vec![key(1)], &mut rng);
        let (ma, _) = handshake(&mut a, &ha, &mut b, &hb);
        assert_eq!(ma, vec![0]);
        let f = a.send(b"one").unwrap();
        let mut tampered = f.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(b.receive(&tampered), Err(DirectError::Decrypt));

        let (mut a, ha) = DirectSession::start(vec![key(1)], &mut rng);
        let (mut b, hb) = DirectSession::start(vec![key(1)], &mut rng);
        handshake(&mut a, &ha, &mut b, &hb);
        let f = a.send(b"one").unwrap();
        b.receive(&f).unwrap();
        assert_eq!(b.receive(&f), Err(DirectError::Decrypt), "a replay");
    }

    #[test]
    fn bytes_cut_anywhere_give_the_same_session() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let (mut a, ha) = DirectSession::start(vec![key(1), key(2)], &mut rng);
        let (mut b, hb) = DirectSession::start(vec![key(2)], &mut rng);
        let mut events = Vec::new();
        for byte in &hb {
            events.extend(a.receive(std::slice::from_ref(byte)).unwrap());
        }
        let offer_a = sends(events);
        let offer_b = sends(b.receive(&ha).unwrap());
        let mut got = Vec::new();
        for byte in &offer_b {
            got.extend(a.receive(std::slice::from_ref(byte)).unwrap());
        }
        assert_eq!(matched(got), vec![1]);
        assert_eq!(matched(b.receive(&offer_a).unwrap()), vec![0]);
    }
}
