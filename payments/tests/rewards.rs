//! Secret-shopper scoring and reward settlement in a simulated epoch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use rand::{Rng, RngExt};
use std::collections::HashMap;
use wesh_payments::params::{SHOPPER_LOOPS_PER_EPOCH, WORK_CAP_SLACK};
use wesh_payments::*;

const LAYERS: usize = 3;
const WIDTH: usize = 5;

fn node(layer: usize, i: usize) -> NodeId {
    let mut id = [0u8; 32];
    id[0] = layer as u8 + 1;
    id[1] = i as u8;
    id
}

fn topology() -> (Vec<Vec<NodeId>>, Vec<NodeId>) {
    let layers = (0..LAYERS)
        .map(|l| (0..WIDTH).map(|i| node(l, i)).collect())
        .collect();
    let providers = (0..3).map(|i| node(9, i)).collect();
    (layers, providers)
}

/// Runs one epoch: test loops and client traffic over random routes; each node forwards
/// a packet with its delivery probability. Returns the scores and each node's report
/// (what it received — a dropper claims everything it received as relayed).
fn simulate(delivery: &HashMap<NodeId, f64>, seed: u64) -> (ShopperScores, Vec<WorkReport>) {
    let (layers, providers) = topology();
    let mut monitor = ShopperMonitor::new(layers.clone(), providers.clone()).unwrap();
    let mut r = rng(seed);
    let loops = monitor.plan_epoch(EPOCH, SHOPPER_LOOPS_PER_EPOCH, &mut r);
    assert_eq!(loops.len(), SHOPPER_LOOPS_PER_EPOCH);
    let mut received: HashMap<NodeId, u64> = HashMap::new();
    let mut run = |route: &[NodeId], r: &mut rand_chacha::ChaCha20Rng| {
        for hop in route {
            *received.entry(*hop).or_insert(0) += 1;
            let p = delivery.get(hop).copied().unwrap_or(0.99);
            if !r.random_bool(p) {
                return false;
            }
        }
        true
    };
    for l in &loops {
        if run(&l.route, &mut r) {
            assert!(monitor.record_return(l.id));
        }
    }
    // Client traffic, routed like the loops.
    for _ in 0..20_000 {
        let mut route = vec![providers[r.random_range(0..providers.len())]];
        for layer in &layers {
            route.push(layer[r.random_range(0..WIDTH)]);
        }
        route.push(providers[r.random_range(0..providers.len())]);
        run(&route, &mut r);
    }
    let reports = received
        .into_iter()
        .map(|(node, packets)| WorkReport {
            node,
            packets,
            replica_registrations: 0,
        })
        .collect();
    (monitor.scores(), reports)
}

#[test]
fn mix_dropping_half_earns_about_half_of_an_honest_mix() {
    let bad = node(1, 2);
    let delivery = HashMap::from([(bad, 0.5)]);
    let mut ratios = Vec::new();
    for seed in 1..=3 {
        let (scores, reports) = simulate(&delivery, seed);
        let mut issuer = issuer(1);
        let rewards = issuer.settle(EPOCH, &scores, &reports).unwrap().clone();
        let honest: Vec<u64> = (0..WIDTH)
            .filter(|i| *i != 2)
            .map(|i| rewards.entries[&node(1, i)].units)
            .collect();
        let honest_mean = honest.iter().sum::<u64>() as f64 / honest.len() as f64;
        let ratio = rewards.entries[&bad].units as f64 / honest_mean;
        assert!((0.4..=0.6).contains(&ratio), "seed {seed}: ratio {ratio}");
        // Honest mixes in other layers are not dragged down by the dropper.
        for l in [0, 2] {
            for i in 0..WIDTH {
                let s = scores.score(&node(l, i)).unwrap();
                assert!(s > 0.85, "seed {seed}: node ({l},{i}) score {s}");
            }
        }
        let paid: u64 = rewards.entries.values().map(|e| e.units).sum();
        assert_eq!(paid + rewards.undistributed, rewards.pool);
        assert!(rewards.undistributed < rewards.entries.len() as u64);
        ratios.push(ratio);
    }
    assert_eq!(ratios.len(), 3);
}

#[test]
fn naive_one_over_len_blame_would_not_halve_the_reward() {
    // Documents why the per-position ratio is used: with 1/len blame the dropper's
    // score stays near 0.9.
    let bad = node(1, 2);
    let (layers, providers) = topology();
    let mut monitor = ShopperMonitor::new(layers, providers).unwrap();
    let mut r = rng(11);
    let loops = monitor.plan_epoch(EPOCH, SHOPPER_LOOPS_PER_EPOCH, &mut r);
    let (mut blame, mut seen) = (0.0f64, 0u64);
    for l in &loops {
        let ok = !l.route.contains(&bad) || r.random_bool(0.5);
        if ok {
            monitor.record_return(l.id);
        }
        if l.route.contains(&bad) {
            seen += 1;
            if !ok {
                blame += 1.0 / l.route.len() as f64;
            }
        }
    }
    let naive = 1.0 - blame / seen as f64;
    assert!(naive > 0.85, "naive {naive}");
    let ours = monitor.scores().score(&bad).unwrap();
    assert!((0.4..=0.6).contains(&ours), "ours {ours}");
}

#[test]
fn inflated_work_reports_are_capped_by_measured_share() {
    let (scores, mut reports) = simulate(&HashMap::new(), 5);
    let cheat = node(0, 0);
    let honest = node(0, 1);
    for w in &mut reports {
        if w.node == cheat {
            w.packets *= 10;
        }
    }
    let rewards = split_pool(EPOCH, 1_000_000, &scores, &reports, WORK_CAP_SLACK);
    let c = &rewards.entries[&cheat];
    let h = &rewards.entries[&honest];
    assert!(
        c.counted < c.reported / 5,
        "{} of {}",
        c.counted,
        c.reported
    );
    // Honest reports are not capped.
    assert_eq!(h.counted, h.reported);
    // The cheat gains at most the slack (1.5) over an honest peer, plus noise.
    let gain = c.units as f64 / h.units as f64;
    assert!(gain < 1.7 && gain > 1.2, "gain {gain}");
}

#[test]
fn rewards_are_claimed_once_and_print_as_a_table() {
    let (scores, reports) = simulate(&HashMap::new(), 6);
    let mut issuer = issuer(1);
    issuer.settle(EPOCH, &scores, &reports).unwrap();
    assert_eq!(
        issuer.settle(EPOCH, &scores, &reports).unwrap_err(),
        SettleError::AlreadySettled(EPOCH)
    );
    let n = node(2, 3);
    let share = issuer.rewards().share(EPOCH, &n).unwrap();
    assert!(share > 0);
    assert_eq!(issuer.rewards_mut().claim(EPOCH, &n), Ok(share));
    assert_eq!(
        issuer.rewards_mut().claim(EPOCH, &n),
        Err(ClaimError::AlreadyClaimed)
    );
    assert_eq!(
        issuer.rewards_mut().claim(EPOCH + 1, &n),
        Err(ClaimError::NotSettled)
    );
    assert_eq!(
        issuer.rewards_mut().claim(EPOCH, &[0xee; 32]),
        Err(ClaimError::NoEntry)
    );
    let table = issuer.rewards().table(EPOCH).unwrap();
    assert!(table.contains(&hex::encode(&n[..8])));
    assert!(table.contains(&share.to_string()));
    assert_eq!(table.lines().count(), 2 + LAYERS * WIDTH + 3);
}

#[test]
fn replayed_or_unknown_loop_returns_do_not_count() {
    let (layers, providers) = topology();
    let mut monitor = ShopperMonitor::new(layers, providers).unwrap();
    let mut r = rng(12);
    let loops = monitor.plan_epoch(EPOCH, 50, &mut r);
    assert!(monitor.record_return(loops[0].id));
    assert!(!monitor.record_return(loops[0].id));
    let unknown = (0..)
        .map(|_| r.next_u64())
        .find(|id| loops.iter().all(|l| l.id != *id))
        .unwrap();
    assert!(!monitor.record_return(unknown));
    let s = monitor.scores();
    let returned: u64 = s.nodes.values().map(|n| n.loops_returned).sum();
    assert_eq!(returned, LAYERS as u64 + 2);
    // Routes: entry provider, one mix per layer, exit provider.
    for l in &loops {
        assert_eq!(l.route.len(), LAYERS + 2);
        assert_eq!(l.route[1][0], 1);
        assert_eq!(l.route[3][0], 3);
    }
}

#[test]
fn empty_topologies_are_refused() {
    assert_eq!(
        ShopperMonitor::new(vec![], vec![[1; 32]]).unwrap_err(),
        TopologyError::NoLayers
    );
    assert_eq!(
        ShopperMonitor::new(vec![vec![[1; 32]], vec![]], vec![[1; 32]]).unwrap_err(),
        TopologyError::EmptyLayer(1)
    );
    assert_eq!(
        ShopperMonitor::new(vec![vec![[1; 32]]], vec![]).unwrap_err(),
        TopologyError::NoProviders
    );
}

/// Issue 18 item 5: a provider's paid replication registrations count in its reward
/// weight (each as the packets of the token that paid for it), but no more of them than
/// tokens it redeemed in the epoch and the next: a provider claiming registrations it was
/// never paid for gains nothing from the claim.
#[test]
fn replication_work_counts_up_to_the_tokens_the_provider_redeemed() {
    use wesh_payments::params::{REPLICA_REGISTRATION_WORK, TOKEN_VALIDITY_EPOCHS};
    let (scores, mut reports) = simulate(&HashMap::new(), 4);
    let (keeper, claimer) = (node(0, 0), node(0, 1));
    let plain = |issuer: &mut Issuer<FreeQuotaPolicy, InMemorySpentSet>, reports: &[WorkReport]| {
        issuer.settle(EPOCH, &scores, reports).unwrap().clone()
    };
    let baseline = plain(&mut issuer(20), &reports);
    for r in reports.iter_mut() {
        if r.node == keeper || r.node == claimer {
            r.replica_registrations = 3;
        }
    }
    // the keeper redeemed three tokens (one in the next epoch); the claimer none
    let mut issuer = issuer(20);
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    assert_eq!(
        fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, 3, 9).unwrap(),
        3
    );
    for epoch in [EPOCH, EPOCH, EPOCH + 1] {
        let token = wallet.pop(EPOCH).unwrap();
        issuer.redeem(epoch, keeper, &token).unwrap();
    }
    let rewards = plain(&mut issuer, &reports);
    let (k, c) = (&rewards.entries[&keeper], &rewards.entries[&claimer]);
    assert_eq!(k.replicas, 3);
    assert_eq!(c.replicas, 0, "no tokens redeemed, no replication counted");
    assert!(
        k.units > baseline.entries[&keeper].units,
        "replication earned"
    );
    assert!(c.units <= baseline.entries[&claimer].units);
    // the keeper's units over the claimer's follow their weights: three tokens' worth of
    // packets more for the keeper
    let weight =
        |e: &RewardEntry| e.score * (e.counted + e.replicas * REPLICA_REGISTRATION_WORK) as f64;
    let ratio = k.units as f64 / c.units as f64;
    assert!((ratio - weight(k) / weight(c)).abs() < 0.01, "{ratio}");
    assert!(weight(k) > weight(c) + 2.0 * REPLICA_REGISTRATION_WORK as f64 * k.score);
    assert!(rewards.to_string().contains("replicas"));
}
