//! `/wesh/mailbox/1` end to end over the sans-I/O server and client, with the in-memory
//! backend: register → challenge → pull → confirm, constant-size pulls, and every refusal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_mix::NodeId;
use wesh_mix::mailbox::auth::{pull_message, sign};
use wesh_mix::mailbox::wire::pull_response_bytes;
use wesh_mix::mailbox::{
    ClientError, InMemoryBackend, MailboxBackend, MailboxClient, MailboxId, MailboxServer,
    PendingPull, PullSecret, RefusalReason, Request, Response,
};
use wesh_mix::params::{
    CHALLENGE_LIFETIME_SECS, MAX_MAILBOX_REQUEST_BYTES, MAX_PLAINTEXT_BYTES, PULL_RESPONSE_BYTES,
    PULL_SLOTS,
};

const PROVIDER: NodeId = NodeId([0xaa; 32]);
const T0: u64 = 1_700_000_000;

struct Net {
    server: MailboxServer,
    backend: InMemoryBackend,
    rng: ChaCha20Rng,
    now: u64,
}

impl Net {
    fn new() -> Self {
        Net {
            server: MailboxServer::new(PROVIDER),
            backend: InMemoryBackend::default(),
            rng: ChaCha20Rng::seed_from_u64(7),
            now: T0,
        }
    }

    fn send(&mut self, request: &[u8]) -> Vec<u8> {
        self.server
            .handle(request, self.now, &mut self.rng, &mut self.backend)
    }

    fn send_typed(&mut self, request: &[u8]) -> Response {
        let bytes = self.send(request);
        Response::decode(&bytes).unwrap()
    }

    fn client(&mut self) -> MailboxClient {
        let client = MailboxClient::generate(PROVIDER, &mut self.rng);
        let response = self.send(&client.register_request());
        client.on_register_response(&response).unwrap();
        client
    }

    fn fill(&mut self, client: &MailboxClient, n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                // lengths from 1 byte to a full plaintext
                let len = 1 + (i * 997) % MAX_PLAINTEXT_BYTES;
                let payload = vec![i as u8; len];
                self.backend
                    .store(&client.mailbox(), &payload, self.now)
                    .unwrap();
                payload
            })
            .collect()
    }

    /// Challenge then signed pull; returns the raw response and what checks it.
    fn pull_raw(&mut self, client: &MailboxClient, max: u16) -> (Vec<u8>, PendingPull) {
        let challenge = self.send(&client.challenge_request());
        let (pull, pending) = client.pull_request(&challenge, max).unwrap();
        (self.send(&pull), pending)
    }

    fn nonce(&mut self, client: &MailboxClient) -> [u8; 32] {
        match self.send_typed(&client.challenge_request()) {
            Response::Challenge { nonce, .. } => nonce,
            other => panic!("expected a challenge, got {other:?}"),
        }
    }
}

fn refused(response: &Response) -> RefusalReason {
    match response {
        Response::Refused(reason) => *reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn register_pull_confirm_round_trip() {
    let mut net = Net::new();
    let client = net.client();
    let sent = net.fill(&client, 3);

    let (response, pending) = net.pull_raw(&client, PULL_SLOTS as u16);
    let pulled = client.open_pull_response(&pending, &response).unwrap();
    let payloads: Vec<_> = pulled.payloads.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(payloads, sent);
    assert_eq!(pulled.remaining, 0);
    // pulling does not delete: only a confirm does
    assert_eq!(net.backend.stored(&client.mailbox()), 3);

    let seqs: Vec<u64> = pulled.payloads.iter().map(|(s, _)| *s).collect();
    let confirmed = net.send(&client.confirm_request(&seqs).unwrap());
    assert_eq!(client.on_confirm_response(&confirmed), Ok(3));
    assert_eq!(net.backend.stored(&client.mailbox()), 0);

    let (response, pending) = net.pull_raw(&client, 4);
    let empty = client.open_pull_response(&pending, &response).unwrap();
    assert!(empty.payloads.is_empty());
}

#[test]
fn pull_responses_have_one_size_and_large_mailboxes_drain_over_several_pulls() {
    let mut net = Net::new();
    let mut lengths = Vec::new();
    for n in [0usize, 1, 40] {
        let client = net.client();
        let sent = net.fill(&client, n);
        let mut received = Vec::new();
        let mut pulls = 0;
        loop {
            let (response, pending) = net.pull_raw(&client, PULL_SLOTS as u16);
            lengths.push(response.len());
            let pulled = client.open_pull_response(&pending, &response).unwrap();
            pulls += 1;
            assert!(pulled.payloads.len() <= PULL_SLOTS);
            let seqs: Vec<u64> = pulled.payloads.iter().map(|(s, _)| *s).collect();
            received.extend(pulled.payloads.into_iter().map(|(_, p)| p));
            assert_eq!(pulled.remaining as usize, n - received.len());
            if seqs.is_empty() {
                break;
            }
            let confirmed = net.send(&client.confirm_request(&seqs).unwrap());
            assert_eq!(
                client.on_confirm_response(&confirmed),
                Ok(seqs.len() as u32)
            );
        }
        assert_eq!(received, sent, "every payload, in order, exactly once");
        // 40 payloads: 16 + 16 + 8, then an empty pull
        assert_eq!(pulls, n.div_ceil(PULL_SLOTS) + 1);
    }
    assert!(
        lengths.iter().all(|&len| len == PULL_RESPONSE_BYTES),
        "{lengths:?}"
    );
}

#[test]
fn max_sets_the_answer_size_whatever_is_real() {
    // a profile's answer has `max` slots: as long with 2 real ones as with none
    let mut net = Net::new();
    let client = net.client();
    net.fill(&client, 5);
    let (response, pending) = net.pull_raw(&client, 2);
    assert_eq!(response.len(), pull_response_bytes(2));
    let pulled = client.open_pull_response(&pending, &response).unwrap();
    assert_eq!(pulled.payloads.len(), 2);
    assert_eq!(pulled.remaining, 3);
    let empty = net.client();
    let (response, pending) = net.pull_raw(&empty, 2);
    assert_eq!(response.len(), pull_response_bytes(2));
    assert!(
        empty
            .open_pull_response(&pending, &response)
            .unwrap()
            .payloads
            .is_empty()
    );
    // the whole answer frame, header included, grows by one sealed slot per slot asked
    assert_eq!(
        pull_response_bytes(3) - pull_response_bytes(2),
        wesh_mix::params::PULL_SLOT_BYTES
    );
    assert_eq!(pull_response_bytes(PULL_SLOTS), PULL_RESPONSE_BYTES);
}

#[test]
fn dummy_slots_differ_from_pull_to_pull() {
    // an empty mailbox answered twice: fresh key per pull, so no repeated ciphertext
    // betrays that both answers were all dummies
    let mut net = Net::new();
    let client = net.client();
    let (a, _) = net.pull_raw(&client, 1);
    let (b, _) = net.pull_raw(&client, 1);
    assert_eq!(a.len(), b.len());
    assert_ne!(a[34..], b[34..]);
}

#[test]
fn bad_pull_signatures_are_refused_and_delete_nothing() {
    let mut net = Net::new();
    let client = net.client();
    let other = net.client();
    net.fill(&client, 2);

    // a flipped signature bit
    let nonce = net.nonce(&client);
    let (mut pull, _) = client.pull_request_with(nonce, 4).unwrap();
    let last = pull.len() - 1;
    pull[last] ^= 1;
    assert_eq!(refused(&net.send_typed(&pull)), RefusalReason::BadSignature);

    // signed by another mailbox key for this mailbox
    let nonce = net.nonce(&client);
    let forged = MailboxClient::from_parts(
        PROVIDER,
        client.mailbox(),
        &other.secret_key(),
        other.pull_secret().clone(),
    );
    let (pull, _) = forged.pull_request_with(nonce, 4).unwrap();
    assert_eq!(refused(&net.send_typed(&pull)), RefusalReason::BadSignature);

    // signed for another provider
    let nonce = net.nonce(&client);
    let elsewhere = MailboxClient::from_parts(
        NodeId([0xbb; 32]),
        client.mailbox(),
        &client.secret_key(),
        client.pull_secret().clone(),
    );
    let (pull, _) = elsewhere.pull_request_with(nonce, 4).unwrap();
    assert_eq!(refused(&net.send_typed(&pull)), RefusalReason::BadSignature);

    // a signature over another max
    let nonce = net.nonce(&client);
    let message = pull_message(&PROVIDER, &client.mailbox(), &nonce, 4);
    let key = ed25519_dalek_key(&client);
    let pull = Request::Pull {
        mailbox: client.mailbox(),
        nonce,
        max: 5,
        signature: sign(&key, &message),
    }
    .encode();
    assert_eq!(refused(&net.send_typed(&pull)), RefusalReason::BadSignature);

    assert_eq!(net.backend.stored(&client.mailbox()), 2);
    assert_eq!(
        net.server.outstanding_challenges(),
        0,
        "each nonce was used up"
    );
}

fn ed25519_dalek_key(client: &MailboxClient) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&client.secret_key())
}

#[test]
fn unknown_mailbox_is_refused() {
    let mut net = Net::new();
    let stranger = MailboxClient::generate(PROVIDER, &mut ChaCha20Rng::seed_from_u64(99));
    assert_eq!(
        refused(&net.send_typed(&stranger.challenge_request())),
        RefusalReason::UnknownMailbox
    );
    let (pull, pending) = stranger.pull_request_with([5; 32], 1).unwrap();
    let response = net.send(&pull);
    assert_eq!(
        stranger.open_pull_response(&pending, &response),
        Err(ClientError::Refused(RefusalReason::UnknownMailbox))
    );
    assert_eq!(
        refused(&net.send_typed(&stranger.confirm_request(&[1]).unwrap())),
        RefusalReason::UnknownMailbox
    );
    assert_eq!(net.server.outstanding_challenges(), 0);
}

#[test]
fn replayed_nonce_is_refused() {
    let mut net = Net::new();
    let client = net.client();
    net.fill(&client, 1);
    let challenge = net.send(&client.challenge_request());
    let (pull, pending) = client.pull_request(&challenge, 1).unwrap();
    let first = net.send(&pull);
    assert_eq!(
        client
            .open_pull_response(&pending, &first)
            .unwrap()
            .payloads
            .len(),
        1
    );
    assert_eq!(
        refused(&net.send_typed(&pull)),
        RefusalReason::UnknownChallenge
    );
    // a nonce the provider never issued
    let (pull, _) = client.pull_request_with([0x42; 32], 1).unwrap();
    assert_eq!(
        refused(&net.send_typed(&pull)),
        RefusalReason::UnknownChallenge
    );
    assert_eq!(net.backend.stored(&client.mailbox()), 1);
}

#[test]
fn expired_nonce_is_refused() {
    let mut net = Net::new();
    let client = net.client();
    net.fill(&client, 1);
    let challenge = net.send(&client.challenge_request());
    let Response::Challenge { expires_at, .. } = Response::decode(&challenge).unwrap() else {
        panic!("expected a challenge");
    };
    assert_eq!(expires_at, T0 + CHALLENGE_LIFETIME_SECS);
    let (pull, _) = client.pull_request(&challenge, 1).unwrap();
    net.now = expires_at + 1;
    assert_eq!(
        refused(&net.send_typed(&pull)),
        RefusalReason::ChallengeExpired
    );
    // still valid at the last second
    net.now = T0;
    let challenge = net.send(&client.challenge_request());
    let (pull, pending) = client.pull_request(&challenge, 1).unwrap();
    net.now = T0 + CHALLENGE_LIFETIME_SECS;
    let response = net.send(&pull);
    assert!(client.open_pull_response(&pending, &response).is_ok());
    assert_eq!(net.backend.stored(&client.mailbox()), 1);
}

#[test]
fn nonce_issued_for_another_mailbox_is_refused() {
    let mut net = Net::new();
    let alice = net.client();
    let mallory = net.client();
    net.fill(&alice, 1);
    let alices_nonce = net.nonce(&alice);
    let (pull, _) = mallory.pull_request_with(alices_nonce, 1).unwrap();
    assert_eq!(
        refused(&net.send_typed(&pull)),
        RefusalReason::UnknownChallenge
    );
    // a pull naming alice's mailbox with her nonce, signed by mallory
    let forged = MailboxClient::from_parts(
        PROVIDER,
        alice.mailbox(),
        &mallory.secret_key(),
        mallory.pull_secret().clone(),
    );
    let alices_second = net.nonce(&alice);
    let (pull, _) = forged.pull_request_with(alices_second, 1).unwrap();
    assert_eq!(refused(&net.send_typed(&pull)), RefusalReason::BadSignature);
    // alice's first nonce survived mallory's attempt
    let (pull, pending) = alice.pull_request_with(alices_nonce, 1).unwrap();
    let response = net.send(&pull);
    assert_eq!(
        alice
            .open_pull_response(&pending, &response)
            .unwrap()
            .payloads
            .len(),
        1
    );
    assert_eq!(net.backend.stored(&alice.mailbox()), 1);
}

#[test]
fn truncated_and_garbage_frames_are_refused_as_malformed() {
    let mut net = Net::new();
    let client = net.client();
    net.fill(&client, 3);
    let nonce = net.nonce(&client);
    let (pull, _) = client.pull_request_with(nonce, 3).unwrap();
    let confirm = client.confirm_request(&[1, 2, 3]).unwrap();
    for frame in [client.register_request(), pull, confirm] {
        for cut in 0..frame.len() {
            assert_eq!(
                refused(&net.send_typed(&frame[..cut])),
                RefusalReason::Malformed,
                "prefix of {cut} bytes"
            );
        }
        let mut longer = frame.clone();
        longer.push(0);
        assert_eq!(refused(&net.send_typed(&longer)), RefusalReason::Malformed);
    }
    let mut garbage_rng = ChaCha20Rng::seed_from_u64(3);
    for len in [1usize, 2, 50, 500, MAX_MAILBOX_REQUEST_BYTES + 1, 40_000] {
        let mut frame = vec![0u8; len];
        rand::Rng::fill_bytes(&mut garbage_rng, &mut frame);
        frame[0] = 1;
        assert_eq!(refused(&net.send_typed(&frame)), RefusalReason::Malformed);
    }
    assert_eq!(
        refused(&net.send_typed(&[2, 2])),
        RefusalReason::UnsupportedVersion
    );
    // a response sent as a request
    assert_eq!(
        refused(&net.send_typed(&Response::Registered.encode())),
        RefusalReason::Malformed
    );
    assert_eq!(net.backend.stored(&client.mailbox()), 3);
    // the client refuses truncated responses too
    let (response, pending) = net.pull_raw(&client, 3);
    assert!(matches!(
        client.open_pull_response(&pending, &response[..response.len() - 1]),
        Err(ClientError::Wire(_))
    ));
}

#[test]
fn confirm_with_a_bad_signature_deletes_nothing() {
    let mut net = Net::new();
    let client = net.client();
    let other = net.client();
    net.fill(&client, 2);
    let mut confirm = client.confirm_request(&[1, 2]).unwrap();
    let last = confirm.len() - 1;
    confirm[last] ^= 0x80;
    assert_eq!(
        refused(&net.send_typed(&confirm)),
        RefusalReason::BadSignature
    );
    let forged = MailboxClient::from_parts(
        PROVIDER,
        client.mailbox(),
        &other.secret_key(),
        other.pull_secret().clone(),
    );
    assert_eq!(
        refused(&net.send_typed(&forged.confirm_request(&[1, 2]).unwrap())),
        RefusalReason::BadSignature
    );
    // a genuine confirm of [1] with its seq list changed to [2]
    let mut altered = client.confirm_request(&[1]).unwrap();
    let seq_at = 2 + 32 + 2;
    altered[seq_at..seq_at + 8].copy_from_slice(&2u64.to_be_bytes());
    assert_eq!(
        refused(&net.send_typed(&altered)),
        RefusalReason::BadSignature
    );
    assert_eq!(net.backend.stored(&client.mailbox()), 2);
    // a replayed genuine confirm deletes nothing more
    let genuine = client.confirm_request(&[1]).unwrap();
    assert_eq!(client.on_confirm_response(&net.send(&genuine)), Ok(1));
    assert_eq!(client.on_confirm_response(&net.send(&genuine)), Ok(0));
    assert_eq!(net.backend.stored(&client.mailbox()), 1);
}

#[test]
fn registration_needs_a_proof_and_cannot_take_a_mailbox_over() {
    let mut net = Net::new();
    let owner = net.client();
    let thief = MailboxClient::generate(PROVIDER, &mut ChaCha20Rng::seed_from_u64(5));
    let takeover = MailboxClient::from_parts(
        PROVIDER,
        owner.mailbox(),
        &thief.secret_key(),
        PullSecret([1; 32]),
    );
    assert_eq!(
        refused(&net.send_typed(&takeover.register_request())),
        RefusalReason::MailboxTaken
    );
    // a proof made for another provider
    let elsewhere = MailboxClient::generate(NodeId([0xcc; 32]), &mut ChaCha20Rng::seed_from_u64(6));
    assert_eq!(
        refused(&net.send_typed(&elsewhere.register_request())),
        RefusalReason::BadSignature
    );
    // the identity point as key
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let request = Request::Register {
        mailbox: MailboxId([9; 32]),
        public_key: weak,
        pull_secret: PullSecret([2; 32]),
        proof: [0; 64],
    };
    assert_eq!(
        refused(&net.send_typed(&request.encode())),
        RefusalReason::BadKey
    );
    // the owner may register again (idempotent)
    owner
        .on_register_response(&net.send(&owner.register_request()))
        .unwrap();
    // and the thief's attempt changed nothing: the owner still pulls with its own secret
    net.fill(&owner, 1);
    let (response, pending) = net.pull_raw(&owner, 1);
    assert_eq!(
        owner
            .open_pull_response(&pending, &response)
            .unwrap()
            .payloads
            .len(),
        1
    );
}

#[test]
fn the_client_rejects_tampered_or_foreign_pull_responses() {
    let mut net = Net::new();
    let client = net.client();
    net.fill(&client, 2);
    let (response, pending) = net.pull_raw(&client, 2);
    for at in [40, 34 + 20 + 5, response.len() - 1] {
        let mut tampered = response.clone();
        tampered[at] ^= 1;
        assert!(matches!(
            client.open_pull_response(&pending, &tampered),
            Err(ClientError::Seal(_))
        ));
    }
    let other = PendingPull {
        nonce: [0; 32],
        max: 2,
    };
    assert_eq!(
        client.open_pull_response(&other, &response),
        Err(ClientError::NonceMismatch)
    );
    // another client cannot open it (its pull secret differs)
    let stranger = MailboxClient::from_parts(
        PROVIDER,
        client.mailbox(),
        &client.secret_key(),
        PullSecret([3; 32]),
    );
    assert!(matches!(
        stranger.open_pull_response(&pending, &response),
        Err(ClientError::Seal(_))
    ));
    assert!(client.open_pull_response(&pending, &response).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
    }

    #[test]
    fn server_and_client_never_panic_on_arbitrary_frames(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        kind in any::<u8>(),
    ) {
        let mut net = Net::new();
        let client = net.client();
        let mut frame = vec![1, kind];
        frame.extend_from_slice(&body);
        let response = net.send(&frame);
        prop_assert!(Response::decode(&response).is_ok());
        let pending = PendingPull { nonce: [0; 32], max: 1 };
        let _ = client.open_pull_response(&pending, &frame);
        let _ = client.pull_request(&frame, 1);
        let _ = client.on_confirm_response(&frame);
    }
}
