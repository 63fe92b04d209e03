//! A lossless in-process driver for two sessions, shared by the tests and the benchmark.

#![allow(dead_code)]

use std::collections::BTreeSet;

use kizuna_sync::{Config, Event, ItemId, ItemSet, Millis, Session};

/// What two sessions reported after running to completion.
#[derive(Debug, Default)]
pub struct Outcome {
    pub a_have: BTreeSet<ItemId>,
    pub a_need: BTreeSet<ItemId>,
    pub b_have: BTreeSet<ItemId>,
    pub b_need: BTreeSet<ItemId>,
    pub a_done: bool,
    pub b_done: bool,
    pub failures: Vec<String>,
    pub messages: u64,
    pub bytes_a_to_b: u64,
    pub bytes_b_to_a: u64,
    pub largest_frame: usize,
}

/// Bound on messages in one driven session, far above what any test needs, so a livelock shows
/// up as a failed assertion instead of a hung test.
pub const DRIVE_MESSAGES_MAX: u64 = 1_000_000;

impl Outcome {
    pub fn round_trips(&self) -> u64 {
        self.messages.div_ceil(2)
    }
}

fn drain(
    session: &mut Session,
    have: &mut BTreeSet<ItemId>,
    need: &mut BTreeSet<ItemId>,
    done: &mut bool,
    failures: &mut Vec<String>,
) {
    while let Some(event) = session.poll_event() {
        match event {
            Event::Have(ids) => have.extend(ids),
            Event::Need(ids) => need.extend(ids),
            Event::Done => *done = true,
            Event::Failed(reason) => failures.push(format!("{:?}: {reason:?}", session.role())),
        }
    }
}

/// Runs an initiator over `a` against a responder over `b` on a perfect link.
pub fn run<A: ItemSet + ?Sized, B: ItemSet + ?Sized>(a: &A, b: &B, config: Config) -> Outcome {
    let now = Millis(0);
    let mut o = Outcome::default();
    let mut sa = Session::initiator(a, config, now);
    let mut sb = Session::responder(config, now);
    drain(
        &mut sa,
        &mut o.a_have,
        &mut o.a_need,
        &mut o.a_done,
        &mut o.failures,
    );
    let mut to_b = sa.poll_transmit();
    while let Some(frame) = to_b.take() {
        if o.messages >= DRIVE_MESSAGES_MAX {
            o.failures.push("message budget exhausted".into());
            break;
        }
        o.messages += 1;
        o.bytes_a_to_b += frame.len() as u64;
        o.largest_frame = o.largest_frame.max(frame.len());
        if sb.handle_message(b, &frame, now).is_err() {
            o.failures.push("b not drained".into());
        }
        drain(
            &mut sb,
            &mut o.b_have,
            &mut o.b_need,
            &mut o.b_done,
            &mut o.failures,
        );
        if let Some(reply) = sb.poll_transmit() {
            o.messages += 1;
            o.bytes_b_to_a += reply.len() as u64;
            o.largest_frame = o.largest_frame.max(reply.len());
            if sa.handle_message(a, &reply, now).is_err() {
                o.failures.push("a not drained".into());
            }
            drain(
                &mut sa,
                &mut o.a_have,
                &mut o.a_need,
                &mut o.a_done,
                &mut o.failures,
            );
            to_b = sa.poll_transmit();
        }
    }
    o
}
