//! Writes the seed corpora, fuzz/corpus/<target>/, from real values encoded by the crates'
//! own encoders (a real group, device, descriptors, SURBs, tokens...), so each target
//! starts from inputs that decode and the fuzzer mutates from there.
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo run --release --example seeds`.

use ed25519_dalek::SigningKey;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use wesh_client::app::api::ApiRequest;
use wesh_client::identity::Identity;
use wesh_client::messenger::WeshDevice;
use wesh_client::messenger::account_sync::AccountSync;
use wesh_client::messenger::envelope::{Inner, MailboxAddress, Outer, ReplyTo};
use wesh_client::messenger::invitation::MixnetInvitation;
use wesh_client::messenger::rendezvous_wire::{RendezvousFrame, RendezvousUpdate};
use wesh_client::messenger::replica::{ReplicaRequest, ReplicaResponse};
use wesh_client::messenger::sealed_box::seal_to;
use wesh_client::payload::Payload;
use wesh_fuzz::fixtures::{group, parties};
use wesh_fuzz::rng;
use wesh_mix::mailbox::seal::{pull_cipher, seal_pull};
use wesh_mix::mailbox::wire::{Request, Response};
use wesh_mix::mailbox::{MailboxClient, MailboxId, PullSecret};
use wesh_mix::params::MAILBOX_NONCE_BYTES;
use wesh_mix::{
    AckSlot, ClientAddress, ClientKeys, Fragment, MixPayload, NodeId, ReplySurb, RouteNode,
    SlotRoute, build_packet, seal_delivery, split_message,
};
use wesh_payments::codec::{encode_request, encode_response, encode_token};
use wesh_payments::credit_book::LedgerRecord;
use wesh_payments::wire::issuer::{ClaimAnswer, IssueAnswer, Redeemed, WorkAnswer, WorkRequest};
use wesh_payments::wire::{CreditAnswer, CreditRequest, SpendRefusal};
use wesh_payments::{
    Credential, EpochRewards, IssuanceRequest, IssuanceResponse, RewardEntry, Token, TokenKeyId,
    encode_rewards,
};
use wesh_pki::descriptor::{DescriptorBuilder, Role};
use wesh_pki::sync_wire::{encode_answer, encode_request as encode_sync_request};
use wesh_pki::{EpochClock, EquivocationProof, SphinxKeyRing};
use x25519_dalek::{PublicKey, StaticSecret};

type Seeds = Vec<Vec<u8>>;

fn write(root: &Path, target: &str, seeds: Seeds) -> std::io::Result<()> {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir)?;
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), s)?;
    }
    println!("{target}: {} seeds", seeds.len());
    Ok(())
}

fn with(selector: u8, body: &[u8]) -> Vec<u8> {
    [&[selector][..], body].concat()
}

fn route(n: usize) -> Vec<RouteNode> {
    (0..n)
        .map(|i| RouteNode {
            id: NodeId([i as u8 + 1; 32]),
            sphinx_key: PublicKey::from(&StaticSecret::from([i as u8 + 7; 32])),
        })
        .collect()
}

fn token(n: u8) -> Token {
    Token {
        token_type: wesh_payments::params::TOKEN_TYPE_BLIND_RSA,
        nonce: [n; wesh_payments::params::NONCE_BYTES],
        challenge_digest: [n + 1; wesh_payments::params::DIGEST_BYTES],
        token_key_id: TokenKeyId([n + 2; wesh_payments::params::DIGEST_BYTES]),
        authenticator: [n + 3; wesh_payments::params::AUTHENTICATOR_BYTES],
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut r = rng(99);
    let me = route(1);

    // --- mix
    let packet = build_packet(&mut r, &me, NodeId([3; 32]), b"hello", &[Duration::ZERO])?;
    let two = build_packet(
        &mut r,
        &route(2),
        NodeId([3; 32]),
        b"hi",
        &[Duration::ZERO; 2],
    )?;
    write(
        &root,
        "sphinx_process",
        vec![
            with(0, &packet),
            with(0, &two),
            [&[1u8, 0, 0, 0, 0][..], b"plaintext"].concat(),
            [&[1u8, 1, 0, 9, 1][..], b"two hops"].concat(),
        ],
    )?;
    // the keys the fuzz targets open stored payloads with
    let keys = ClientKeys::from_ed25519_seed(&[7; 32]);
    let (back, cover) = (route(5), route(5));
    let zero = [Duration::ZERO; 5];
    let ack = AckSlot::ack(
        &mut r,
        SlotRoute {
            route: &back,
            delays: &zero,
        },
        ClientKeys::id_of_seed(&[7; 32]),
        &keys.identity.public(),
        77,
        SlotRoute {
            route: &cover,
            delays: &zero,
        },
    )?;
    let (_, frags) = split_message(&mut r, &[5u8; 2000])?;
    let frag: Fragment = frags.first().cloned().ok_or("no fragment")?;
    write(
        &root,
        "mix_payload",
        vec![
            MixPayload::Real(b"real".to_vec()).encode(),
            MixPayload::Loop { id: 9 }.encode(),
            MixPayload::Drop.encode(),
            MixPayload::Ack { id: 3 }.encode(),
            MixPayload::Fragment {
                fragment: frag.clone(),
            }
            .encode(),
            MixPayload::SurbData {
                fragment: frag.clone(),
            }
            .encode(),
            seal_delivery(
                &mut r,
                &ack,
                &keys.identity.public(),
                &MixPayload::Fragment {
                    fragment: frag.clone(),
                },
            )?,
            seal_delivery(&mut r, &ack, &keys.reply.public(), &MixPayload::Loop { id: 5 })?,
        ],
    )?;
    write(
        &root,
        "mix_fragment",
        frags.iter().map(Fragment::encode).collect(),
    )?;
    let mut ack_bytes = Vec::new();
    ack.encode_into(&mut ack_bytes);
    let stored = seal_delivery(&mut r, &ack, &keys.identity.public(), &MixPayload::Drop)?;
    let surb = ReplySurb::build(
        &mut r,
        &route(5),
        &zero,
        NodeId([6; 32]),
        ack.clone(),
        keys.reply.public(),
    )?;
    write(&root, "surb_ack", vec![ack_bytes, stored, surb.to_bytes()])?;

    // --- mailbox
    let client = MailboxClient::generate(NodeId([5; 32]), &mut r);
    let nonce = [8u8; MAILBOX_NONCE_BYTES];
    let (pull, _) = client.pull_request_with(nonce, 4)?;
    let requests = vec![
        client.register_request(),
        client.challenge_request(),
        pull.clone(),
        client.confirm_request(&[1, 2, 5])?,
    ];
    let session: Vec<u8> = requests
        .iter()
        .flat_map(|q| [(q.len() as u16).to_be_bytes().to_vec(), q.clone()].concat())
        .collect();
    write(
        &root,
        "mailbox_request",
        [requests.clone(), vec![session]].concat(),
    )?;
    let cipher = pull_cipher(
        &client.pull_secret().clone(),
        &NodeId([5; 32]),
        &client.mailbox(),
        &nonce,
    )?;
    let sealed = seal_pull(&cipher, 2, &[(1, b"one".to_vec()), (2, b"two".to_vec())], 4)?;
    write(
        &root,
        "mailbox_response",
        vec![
            Response::Registered.encode(),
            Response::Challenge {
                nonce,
                expires_at: 1_000,
            }
            .encode(),
            Response::PullResponse { nonce, sealed }.encode(),
            Response::Confirmed { deleted: 3 }.encode(),
        ],
    )?;
    let signer = SigningKey::from_bytes(&[3; 32]);
    let sig = wesh_mix::mailbox::auth::sign(&signer, b"message");
    write(
        &root,
        "mailbox_auth",
        vec![[&signer.verifying_key().to_bytes()[..], &sig, b"message"].concat()],
    )?;
    let c2 = pull_cipher(
        &PullSecret([1; 32]),
        &NodeId([2; 32]),
        &MailboxId([3; 32]),
        &[4; MAILBOX_NONCE_BYTES],
    )?;
    write(
        &root,
        "mailbox_pull_sealed",
        vec![
            with(30, &seal_pull(&c2, 0, &[(1, b"x".to_vec())], 16)?),
            [&[1u8, 3, 2, 0, 0, 0][..], &[9u8; 200]].concat(),
        ],
    )?;
    let _ = Request::decode(&pull);
    write(
        &root,
        "client_address_text",
        vec![
            ClientAddress {
                provider: NodeId([1; 32]),
                client: NodeId([2; 32]),
            }
            .to_string()
            .into_bytes(),
        ],
    )?;

    // --- payments
    write(
        &root,
        "credit_wire",
        vec![
            CreditRequest::Spend(Box::new(token(1))).encode(),
            CreditRequest::Balance.encode(),
            CreditAnswer::Balance {
                balance: 10,
                dropped: 1,
            }
            .encode(),
            CreditAnswer::Refused(SpendRefusal::MalformedRequest).encode(),
        ],
    )?;
    let response = IssuanceResponse {
        blind_signatures: vec![[7; wesh_payments::params::AUTHENTICATOR_BYTES]],
    };
    write(
        &root,
        "issuer_answers",
        vec![
            with(0, &IssueAnswer::Done(response.clone()).encode()),
            with(1, &ClaimAnswer::Done(40).encode()),
            with(2, &WorkAnswer::Done(()).encode()),
            with(
                3,
                &Redeemed {
                    accepted: 3,
                    refused: vec![(1, SpendRefusal::MalformedRequest)],
                }
                .encode(),
            ),
            with(4, &[0]),
        ],
    )?;
    write(
        &root,
        "issuer_requests",
        vec![
            with(
                0,
                &wesh_payments::wire::issuer::encode_redeem_request(&[token(1), token(2)])?,
            ),
            with(
                1,
                &WorkRequest {
                    epoch: 3,
                    packets: 1000,
                    replica_registrations: 2,
                }
                .encode(),
            ),
            with(2, &7u64.to_be_bytes()),
        ],
    )?;
    write(
        &root,
        "payments_token",
        vec![encode_token(&token(1)), encode_token(&token(9))],
    )?;
    let request = IssuanceRequest {
        token_type: wesh_payments::params::TOKEN_TYPE_BLIND_RSA,
        epoch: 4,
        truncated_key_id: 9,
        credential: Credential::ClientKey([1; 32]),
        blinded: vec![[2; wesh_payments::params::AUTHENTICATOR_BYTES]; 2],
    };
    let voucher = IssuanceRequest {
        credential: Credential::Voucher([3; 32]),
        ..request.clone()
    };
    write(
        &root,
        "payments_issuance",
        vec![
            encode_request(&request),
            encode_request(&voucher),
            encode_response(&response),
        ],
    )?;
    let entry = |n: u8| RewardEntry {
        node: [n; 32],
        score: 0.5,
        reported: 10,
        counted: 9,
        replicas: 1,
        units: 100,
        claimed: n % 2 == 0,
    };
    let rewards = EpochRewards {
        epoch: 3,
        pool: 1000,
        entries: [1u8, 2]
            .into_iter()
            .map(|n| ([n; 32], entry(n)))
            .collect::<BTreeMap<_, _>>(),
        undistributed: 1,
    };
    write(&root, "reward_record", vec![encode_rewards(&rewards)])?;
    let record = LedgerRecord {
        balance: 5,
        dropped: 1,
        last_active: 1_700_000_000,
    };
    write(
        &root,
        "ledger_record",
        vec![
            record.encode(),
            record.encode()[..17]
                .iter()
                .copied()
                .enumerate()
                .map(|(i, b)| if i == 0 { 1 } else { b })
                .collect(),
        ],
    )?;

    // --- pki
    let id = SigningKey::from_bytes(&[4; 32]);
    let d1 = DescriptorBuilder::new(Role::Mix, 1, 5)
        .sphinx_key(5, [1; 32])
        .sphinx_key(6, [2; 32])
        .address("/ip4/127.0.0.1/tcp/4000")
        .capacity_pps(100)
        .sign(&id)?;
    let d2 = DescriptorBuilder::new(Role::Mix, 1, 5)
        .sphinx_key(5, [1; 32])
        .capacity_pps(200)
        .sign(&id)?;
    let d3 = DescriptorBuilder::new(Role::Provider, 2, 5)
        .address("/dns4/x/tcp/1")
        .sign(&id)?;
    write(
        &root,
        "pki_descriptor",
        vec![
            with(0, d1.as_bytes()),
            with(0, d3.as_bytes()),
            [&[1u8, 1, 3, 5, 2, 0, 1][..], b"/ip4/1.2.3.4/tcp/5"].concat(),
        ],
    )?;
    let proof = EquivocationProof::new(d1.clone(), d2.clone())?;
    write(
        &root,
        "pki_equivocation",
        vec![with(0, &proof.to_bytes()), vec![1, 3, 10, 20]],
    )?;
    let descs = vec![d1.as_bytes().to_vec(), d3.as_bytes().to_vec()];
    write(
        &root,
        "pki_sync",
        vec![
            encode_sync_request(5, [9; 32]).to_vec(),
            encode_answer([9; 32], None),
            encode_answer([9; 32], Some(&descs)),
        ],
    )?;
    let clock = EpochClock::new(0, 3600)?;
    let mut ring = SphinxKeyRing::new(clock, 600)?;
    ring.rotate(7200, &mut r);
    write(&root, "pki_keyring", vec![ring.to_bytes().to_vec()])?;

    // --- client
    let g = group();
    let identity = Identity::generate(&mut r);
    write(
        &root,
        "contact_card",
        vec![identity.contact_card().encode()],
    )?;
    write(&root, "group_invitation", vec![g.invitation.clone()])?;
    let address = MailboxAddress {
        provider: [1; 32],
        mailbox: [2; 32],
    };
    write(
        &root,
        "mixnet_invitation",
        vec![
            MixnetInvitation {
                group: g.invitation.clone(),
                inviter_device: [3; 32],
                inviter: address,
            }
            .encode(),
        ],
    )?;
    write(
        &root,
        "group_payload",
        vec![
            Payload::InitMember {
                member_id: [1; 32],
                group_sig: [2; 64],
            }
            .encode(),
            Payload::Member {
                member_id: [1; 32],
                device_id: [2; 32],
                member_sig: [3; 64],
            }
            .encode(),
            Payload::DeviceMailbox {
                device_id: [1; 32],
                provider: [2; 32],
                mailbox: [3; 32],
            }
            .encode(),
            Payload::ReplicaMailbox {
                provider: [2; 32],
                mailbox: [3; 32],
            }
            .encode(),
            Payload::Message {
                device_id: [1; 32],
                counter: 4,
                sealed: vec![5; 40],
                device_sig: [6; 64],
            }
            .encode(),
        ],
    )?;
    write(
        &root,
        "group_entry",
        g.entries.iter().take(4).cloned().collect(),
    )?;
    write(
        &root,
        "handshake",
        (0u8..5).map(|s| with(s, &[0x01, 0x10, 9, 9, 9])).collect(),
    )?;
    write(
        &root,
        "envelope_outer",
        vec![
            Outer::Sealed(vec![1; 80]).encode(),
            Outer::Replica {
                group_id: [0; 32],
                entries: g.entries.iter().take(2).cloned().collect(),
            }
            .encode(),
        ],
    )?;
    let inner_entries = Inner::GroupEntries {
        group_id: [1; 32],
        entries: g.entries.iter().take(2).cloned().collect(),
    };
    let inner_hs = Inner::Handshake {
        flow: [4; 16],
        reply: Some(ReplyTo {
            address,
            device: [5; 32],
        }),
        message: vec![1, 2, 3],
    };
    write(
        &root,
        "envelope_inner",
        vec![inner_entries.encode(), inner_hs.encode()],
    )?;
    let boxed = seal_to(
        &mut r,
        &parties().responder.verifying_key(),
        &inner_hs.encode(),
    )?;
    write(
        &root,
        "sealed_box",
        vec![with(0, &boxed), [&[1u8, 5, 0][..], b"secret"].concat()],
    )?;
    let rdv_surb = ReplySurb::build(
        &mut r,
        &route(5),
        &[Duration::ZERO; 5],
        NodeId([6; 32]),
        ack.clone(),
        [9; 32],
    )?;
    write(
        &root,
        "rendezvous_wire",
        vec![
            RendezvousFrame::Update(RendezvousUpdate {
                mailbox: [1; 32],
                auth: [2; 32].into(),
                seq: 3,
                revoke: false,
                acks: vec![4, 5],
                surbs: vec![rdv_surb.to_bytes()],
                surbs_expire_at: 1_700_000_000_000,
            })
            .encode(),
            RendezvousFrame::Drop {
                mailbox: [1; 32],
                envelope: vec![7; 50],
            }
            .encode(),
            RendezvousFrame::Forward {
                mailbox: [1; 32],
                id: 9,
                tag: [3; 32],
                envelope: vec![8; 50],
            }
            .encode(),
        ],
    )?;
    write(
        &root,
        "replication_view",
        vec![g.view.clone(), g.registration.clone()],
    )?;
    write(
        &root,
        "replica_wire",
        vec![
            ReplicaRequest::Register {
                registration: g.registration.clone(),
            }
            .encode(),
            ReplicaRequest::Fetch {
                group_id: [1; 32],
                after: 3,
                max: 10,
            }
            .encode(),
            ReplicaResponse::Registered {
                group_id: [1; 32],
                expires_at: 1_700_000_000,
            }
            .encode(),
            ReplicaResponse::Unpaid {
                price: 1_000,
                reason: "0 held".into(),
            }
            .encode(),
            ReplicaResponse::Entries {
                entries: g
                    .entries
                    .iter()
                    .take(2)
                    .cloned()
                    .enumerate()
                    .map(|(i, e)| (i as u64, e))
                    .collect(),
                more: true,
            }
            .encode(),
            ReplicaResponse::Refused {
                reason: "full".into(),
            }
            .encode(),
        ],
    )?;
    let mut device = WeshDevice::new_account([21; 32], address)?;
    let link = device.device_link()?;
    let journal: Seeds = device
        .take_journal()
        .iter()
        .map(|j| j.encode())
        .take(3)
        .collect();
    write(&root, "journal_record", journal)?;
    write(&root, "link_code", vec![link.encode().to_vec()])?;
    write(
        &root,
        "account_sync",
        vec![
            AccountSync::Contact {
                account: [1; 32],
                metadata: g.entries.iter().take(1).cloned().collect(),
            }
            .encode(),
            AccountSync::Group {
                invitation: g.invitation.clone(),
                metadata: g.entries.iter().take(2).cloned().collect(),
            }
            .encode(),
        ],
    )?;
    let api = |r: &ApiRequest| serde_json::to_vec(r);
    write(
        &root,
        "api_line",
        vec![
            api(&ApiRequest::GroupList)?,
            api(&ApiRequest::AppMessageSend {
                group: "00".repeat(32),
                payload: "6869".into(),
            })?,
            api(&ApiRequest::GroupMessageList {
                group: "ab".repeat(32),
                follow: true,
            })?,
            api(&ApiRequest::ContactRequestSend {
                contact: hex::encode(identity.contact_card().encode()),
            })?,
            "01".repeat(32).into_bytes(),
        ],
    )?;
    Ok(())
}
