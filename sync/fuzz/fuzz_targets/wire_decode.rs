//! Decodes arbitrary bytes as sync frames and feeds them to live sessions.
//!
//! Input: frames, each `len:u16le bytes`. The first frame is decoded alone (and must re-encode to
//! an equal message); then all frames go, in order, to a responder and to an initiator over small
//! sets, so riblt and RBSR states past the first message are reached. Nothing may panic, and
//! sessions must stay within their bounds.

#![no_main]

use kizuna_sync::session::{Config, Millis, Session};
use kizuna_sync::wire::{MESSAGE_BYTES_MAX, Message};
use kizuna_sync::{ItemId, Key, MemItemSet};
use libfuzzer_sys::fuzz_target;

/// Frames per input; a session spends at most a few rounds on fuzzed input anyway.
const FRAMES_MAX: usize = 16;

fn set(seed: u8, len: u8) -> MemItemSet {
    let keys = (0..len).map(|i| {
        let mut id = [i.wrapping_mul(37) ^ seed; 32];
        id[1] = i;
        id[2] = seed;
        Key::new(u64::from(i / 3), ItemId(id))
    });
    MemItemSet::from_keys(keys).unwrap_or_default()
}

fn frames(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while out.len() < FRAMES_MAX && data.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let take = len.min(rest.len());
        out.push(&rest[..take]);
        data = &rest[take..];
    }
    out
}

fn drive(session: &mut Session, store: &MemItemSet, frames: &[&[u8]]) {
    for (i, frame) in frames.iter().enumerate() {
        while session.poll_event().is_some() {}
        let now = Millis(i as u64 * 1000);
        let _ = session.handle_message(store, frame, now);
        if let Some(out) = session.poll_transmit() {
            assert!(out.len() <= MESSAGE_BYTES_MAX);
            assert!(Message::decode(&out).is_ok(), "we emit only decodable frames");
        }
        session.handle_timeout(now);
    }
}

fuzz_target!(|data: &[u8]| {
    let frames = frames(data);
    let Some(first) = frames.first() else {
        return;
    };
    if let Ok(message) = Message::decode(first) {
        assert_eq!(Message::decode(&message.encode()), Ok(message));
    }
    // A riblt threshold of 0 makes even these small sets take the riblt path.
    let config = Config::default().with_riblt_items_min(0);
    let (ours, theirs) = (set(1, 90), set(2, 70));
    let mut responder = Session::responder(config, Millis(0));
    drive(&mut responder, &ours, &frames);
    let mut initiator = Session::initiator(&theirs, config, Millis(0));
    let _ = initiator.poll_transmit();
    drive(&mut initiator, &theirs, &frames);
});
