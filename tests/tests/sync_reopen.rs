//! Regression test, outside the simulator, for a weakness the simulation found in
//! kizuna-sync (replay with `KIZUNA_SIM_STRICT=1 KIZUNA_SIM_SEED=24 cargo test --release -p
//! kizuna-tests --test sim -- --nocapture`).
//!
//! A responder whose last input opened nothing finishes without lingering (`poll_timeout` is
//! `None`), so its owner drops it. A delayed copy of the initiator's first frame then opens a
//! fresh responder for the same session. The initiator, still lingering, sees that responder's
//! round-1 frame, takes it for a retransmission of the one it answered, and replays its old
//! round-2 frame; the fresh responder accepts it and fails with a protocol error against an
//! honest peer (or, when bounds and list lengths happen to match, mis-reports silently).

use kizuna_sync::{Config, Event, FailReason, ItemId, Key, MemItemSet, Millis, Session};

fn key(n: u64) -> Key {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    id[31] = n as u8;
    Key::new(1_000 + n, ItemId(id))
}

fn drain(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

#[test]
fn stale_first_frame_does_not_fail_a_session_between_honest_peers() {
    let config = Config::default();
    let now = Millis(0);
    // 40 items on A (> one leaf: A opens with a fingerprint), 10 others on B (B answers with a
    // list, A settles it with a Diff and finishes; B finishes on that Diff without lingering).
    let a = MemItemSet::from_keys((0..40).map(key)).expect("item keys");
    let mut b = MemItemSet::from_keys((100..110).map(key)).expect("item keys");

    let mut initiator = Session::initiator(&a, config, now);
    let first = initiator.poll_transmit().expect("first frame");
    let mut responder = Session::responder(config, now);
    assert_eq!(responder.handle_message(&b, &first, now), Ok(()));
    let reply = responder.poll_transmit().expect("list");
    drain(&mut responder);
    assert_eq!(initiator.handle_message(&a, &reply, now), Ok(()));
    let last = initiator.poll_transmit().expect("diff");
    assert!(drain(&mut initiator).contains(&Event::Done));
    assert!(initiator.poll_timeout().is_some(), "the initiator lingers");
    assert_eq!(responder.handle_message(&b, &last, now), Ok(()));
    assert!(drain(&mut responder).contains(&Event::Done));
    assert_eq!(
        responder.poll_timeout(),
        None,
        "the responder may be dropped, as its owner is told"
    );

    // B fetched what it lacked; then a delayed copy of the first frame arrives.
    for k in a.keys() {
        assert!(b.insert(*k).is_ok());
    }
    let mut reopened = Session::responder(config, Millis(5_000));
    assert_eq!(reopened.handle_message(&b, &first, Millis(5_000)), Ok(()));
    drain(&mut reopened);
    let stale_answer = reopened.poll_transmit().expect("fresh round-1 frame");
    assert_eq!(
        initiator.handle_message(&a, &stale_answer, Millis(5_100)),
        Ok(())
    );
    drain(&mut initiator);
    if let Some(replayed) = initiator.poll_transmit() {
        assert_eq!(
            reopened.handle_message(&b, &replayed, Millis(5_200)),
            Ok(())
        );
    }
    let events = drain(&mut reopened);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Failed(FailReason::Protocol(_)))),
        "protocol error between honest peers: {events:?}"
    );
}
