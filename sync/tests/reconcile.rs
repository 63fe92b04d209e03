//! End-to-end reconciliation between two sessions over in-memory sets.

mod common;

use std::collections::{BTreeSet, VecDeque};

use kizuna_sync::session::{Config, Event, Millis, Session};
use kizuna_sync::wire::MESSAGE_BYTES_MAX;
use kizuna_sync::{ItemId, ItemSet, Key, MemItemSet};
use proptest::prelude::*;

/// A deterministic id from a seed, standing in for SHA-256 of an item.
fn id_from(seed: u64) -> ItemId {
    let mut bytes = [0u8; 32];
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    for chunk in bytes.chunks_exact_mut(8) {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 29;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    ItemId(bytes)
}

fn keys(seeds: &[(u64, u64)]) -> Vec<Key> {
    seeds
        .iter()
        .map(|&(ts, seed)| Key::new(ts, id_from(seed)))
        .collect()
}

struct Case {
    a: MemItemSet,
    b: MemItemSet,
    a_only: BTreeSet<ItemId>,
    b_only: BTreeSet<ItemId>,
}

fn case(common: &[Key], a_extra: &[Key], b_extra: &[Key]) -> Case {
    let a = MemItemSet::from_keys(common.iter().chain(a_extra).copied()).expect("item keys");
    let b = MemItemSet::from_keys(common.iter().chain(b_extra).copied()).expect("item keys");
    let a_keys: BTreeSet<Key> = a.keys().copied().collect();
    let b_keys: BTreeSet<Key> = b.keys().copied().collect();
    let a_only = a_keys.difference(&b_keys).map(|k| k.id).collect();
    let b_only = b_keys.difference(&a_keys).map(|k| k.id).collect();
    Case {
        a,
        b,
        a_only,
        b_only,
    }
}

/// Runs the protocol and checks every report against the true symmetric difference, then applies
/// the reports and checks the sets became equal.
fn check(case: &Case, config: Config) -> common::Outcome {
    let outcome = common::run(&case.a, &case.b, config);
    assert!(
        outcome.failures.is_empty(),
        "failures: {:?}",
        outcome.failures
    );
    assert!(outcome.a_done && outcome.b_done, "both sides finish");
    assert_eq!(outcome.a_have, case.a_only, "a reports what only it has");
    assert_eq!(outcome.a_need, case.b_only, "a reports what it lacks");
    assert_eq!(outcome.b_have, case.b_only, "b reports what only it has");
    assert_eq!(outcome.b_need, case.a_only, "b reports what it lacks");
    assert!(outcome.largest_frame <= MESSAGE_BYTES_MAX);

    // Apply: each side inserts what it needs, looked up by id in the other's keys.
    let mut a = case.a.clone();
    let mut b = case.b.clone();
    for key in case.b.keys().filter(|k| outcome.a_need.contains(&k.id)) {
        assert_eq!(a.insert(*key), Ok(true));
    }
    for key in case.a.keys().filter(|k| outcome.b_need.contains(&k.id)) {
        assert_eq!(b.insert(*key), Ok(true));
    }
    assert!(a.keys().eq(b.keys()), "sets equal after applying");
    assert_eq!(
        a.accumulate(0, a.len().unwrap_or(0)),
        b.accumulate(0, b.len().unwrap_or(0))
    );
    outcome
}

fn arb_keys(max: usize, ts_max: u64) -> impl Strategy<Value = Vec<Key>> {
    proptest::collection::vec((0..ts_max, any::<u64>()), 0..max).prop_map(|raw| keys(&raw))
}

fn arb_config() -> impl Strategy<Value = Config> {
    (2usize..=16, 0usize..=24).prop_map(|(branching, extra)| {
        Config::new(branching, branching + extra).expect("valid by construction")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Random common part and random one-sided extras, including empty, identical, disjoint and
    /// one-sided sets; timestamps collide often so bounds need id prefixes.
    #[test]
    fn reports_exact_symmetric_difference(
        common in arb_keys(1500, 400),
        a_extra in arb_keys(300, 400),
        b_extra in arb_keys(300, 400),
        config in arb_config(),
    ) {
        check(&case(&common, &a_extra, &b_extra), config);
    }

    #[test]
    fn disjoint_sets(a_extra in arb_keys(600, 50), b_extra in arb_keys(600, 50), config in arb_config()) {
        check(&case(&[], &a_extra, &b_extra), config);
    }
}

#[test]
fn empty_and_identical_sets_finish_in_one_round_trip() {
    let common = keys(&(0..5000).map(|i| (i / 3, i)).collect::<Vec<_>>());
    for (name, c) in [
        ("empty", case(&[], &[], &[])),
        ("identical", case(&common, &[], &[])),
    ] {
        let outcome = check(&c, Config::default());
        assert_eq!(outcome.messages, 2, "{name}");
        assert!(
            outcome.bytes_a_to_b + outcome.bytes_b_to_a < 100,
            "{name}: {outcome:?}"
        );
    }
}

#[test]
fn one_difference_in_many_takes_few_round_trips() {
    let common = keys(
        &(0..100_000)
            .map(|i| (1_700_000_000_000 + i * 1000, i))
            .collect::<Vec<_>>(),
    );
    let extra = keys(&[(1_700_000_000_000 + 31_337_500, 1 << 40)]);
    let outcome = check(&case(&common, &[], &extra), Config::default());
    assert!(outcome.round_trips() <= 4, "{outcome:?}");
    assert!(
        outcome.bytes_a_to_b + outcome.bytes_b_to_a < 2 * 32 + 2048,
        "{outcome:?}"
    );
}

#[test]
fn one_sided_bulk_is_cut_into_bounded_frames() {
    // 20,000 ids are 640 KB: at least ten full frames, so cut-off and continuation are exercised.
    let extra = keys(&(0..20_000).map(|i| (i % 97, i)).collect::<Vec<_>>());
    for (a, b) in [(&[][..], &extra[..]), (&extra[..], &[][..])] {
        let outcome = check(&case(&[], a, b), Config::default());
        assert!(outcome.messages > 10, "{outcome:?}");
        // Ids dominate: overhead stays under 15% of the 32 bytes per id.
        let total = outcome.bytes_a_to_b + outcome.bytes_b_to_a;
        assert!(total < 20_000 * 32 * 115 / 100, "{total}");
    }
}

/// A seeded lossy link: frames are dropped, duplicated and delayed; time advances to the next
/// deadline when nothing is in flight. Prints the seed on failure so the run can be replayed.
#[test]
fn converges_over_a_lossy_link() {
    for seed in 0..40u64 {
        let mut rng = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let common = keys(&(0..3000).map(|i| (i, i)).collect::<Vec<_>>());
        let a_extra = keys(
            &(0..40)
                .map(|i| (next() % 3000, 10_000 + i))
                .collect::<Vec<_>>(),
        );
        let b_extra = keys(
            &(0..40)
                .map(|i| (next() % 3000, 20_000 + i))
                .collect::<Vec<_>>(),
        );
        let c = case(&common, &a_extra, &b_extra);
        let config = Config::default();
        let mut now = Millis(0);
        let mut sessions = [
            Session::initiator(&c.a, config, now),
            Session::responder(config, now),
        ];
        let stores: [&MemItemSet; 2] = [&c.a, &c.b];
        let mut have = [BTreeSet::new(), BTreeSet::new()];
        let mut need = [BTreeSet::new(), BTreeSet::new()];
        let mut done = [false, false];
        // (deliver_at, to, frame)
        let mut in_flight: VecDeque<(u64, usize, Vec<u8>)> = VecDeque::new();
        for _step in 0..10_000 {
            for side in 0..2 {
                while let Some(event) = sessions[side].poll_event() {
                    match event {
                        Event::Have(ids) => have[side].extend(ids),
                        Event::Need(ids) => need[side].extend(ids),
                        Event::Done => done[side] = true,
                        Event::Failed(reason) => {
                            panic!("seed {seed}: side {side} failed: {reason:?}")
                        }
                    }
                }
                while let Some(frame) = sessions[side].poll_transmit() {
                    let roll = next() % 10;
                    let delay = 5 + next() % 50;
                    if roll >= 2 {
                        in_flight.push_back((now.0 + delay, 1 - side, frame.clone()));
                    }
                    if roll == 9 {
                        in_flight.push_back((now.0 + delay + 7, 1 - side, frame));
                    }
                }
            }
            if let Some(i) = (0..in_flight.len()).min_by_key(|&i| in_flight[i].0) {
                let Some((at, to, frame)) = in_flight.remove(i) else {
                    break;
                };
                now = Millis(now.0.max(at));
                let result = sessions[to].handle_message(stores[to], &frame, now);
                assert!(result.is_ok(), "seed {seed}: events drained before input");
                continue;
            }
            let next_deadline = sessions.iter().filter_map(Session::poll_timeout).min();
            let Some(deadline) = next_deadline else { break };
            now = now.max(deadline);
            for session in &mut sessions {
                session.handle_timeout(now);
            }
        }
        assert!(done[0] && done[1], "seed {seed}: both finish");
        assert_eq!(have[0], c.a_only, "seed {seed}");
        assert_eq!(need[0], c.b_only, "seed {seed}");
        assert_eq!(have[1], c.b_only, "seed {seed}");
        assert_eq!(need[1], c.a_only, "seed {seed}");
    }
}

#[test]
fn garbage_and_aborts_fail_the_session_without_panicking() {
    let c = case(&keys(&[(1, 1), (2, 2)]), &[], &[]);
    let mut responder = Session::responder(Config::default(), Millis(0));
    assert_eq!(
        responder.handle_message(&c.b, &[1, 0, 0xff], Millis(1)),
        Ok(())
    );
    assert!(matches!(responder.poll_event(), Some(Event::Failed(_))));
    // It answers with an abort so the peer need not wait for a timeout.
    let abort = responder.poll_transmit().expect("abort frame");
    let mut initiator = Session::initiator(&c.a, Config::default(), Millis(0));
    assert!(initiator.poll_transmit().is_some());
    assert_eq!(initiator.handle_message(&c.a, &abort, Millis(2)), Ok(()));
    assert!(matches!(initiator.poll_event(), Some(Event::Failed(_))));
    assert!(initiator.is_finished());
}

#[test]
fn undrained_events_refuse_input() {
    let c = case(&keys(&[(1, 1)]), &[], &[]);
    let mut responder = Session::responder(Config::default(), Millis(0));
    let mut initiator = Session::initiator(&c.a, Config::default(), Millis(0));
    let frame = initiator.poll_transmit().expect("first frame");
    assert_eq!(responder.handle_message(&c.b, &frame, Millis(1)), Ok(()));
    // The responder holds a Done event; a second frame must be refused until it is drained.
    assert!(responder.handle_message(&c.b, &frame, Millis(2)).is_err());
    assert_eq!(responder.poll_event(), Some(Event::Done));
    assert_eq!(responder.handle_message(&c.b, &frame, Millis(2)), Ok(()));
}

#[test]
fn silent_peer_times_out_after_bounded_retransmissions() {
    let c = case(&keys(&[(1, 1)]), &[], &[]);
    let mut initiator = Session::initiator(&c.a, Config::default(), Millis(0));
    let mut sends = 0;
    while let Some(deadline) = initiator.poll_timeout() {
        sends += usize::from(initiator.poll_transmit().is_some());
        initiator.handle_timeout(deadline);
        assert!(sends <= 10, "retransmissions are bounded");
    }
    assert_eq!(sends, 1 + kizuna_sync::session::RETRANSMITS_MAX as usize);
    assert!(matches!(
        initiator.poll_event(),
        Some(Event::Failed(kizuna_sync::FailReason::Timeout))
    ));
}
