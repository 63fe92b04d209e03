//! Decodes arbitrary bytes as scope envelopes and transfer frames, and feeds them to a live
//! scoped sync and a live transfer (both directions).
//!
//! Input: frames, each `len:u16le bytes`. The first frame is decoded alone as an envelope and as
//! a transfer frame (each must re-encode to an equal value); then all frames go, in order, to a
//! responder `ScopedSync` and to a `Transfer` that holds items in and out of the agreed scope and
//! has asked for some, and as change items to an Automerge document. Nothing may panic, emitted frames must decode and stay under their caps,
//! and no manifest or chunk for an out-of-scope item may ever be emitted.

#![no_main]

use kizuna_sync::doc::{Doc, DocId};
use kizuna_sync::limits::{ENVELOPE_BYTES_MAX, TRANSFER_FRAME_BYTES_MAX};
use kizuna_sync::meta::{DataType, ItemKind, ItemMeta, MemItemSource, ScopeTag, item_id_of};
use kizuna_sync::scope::{AgreedScope, AllowList, Envelope, MemScopedSets, ScopedSync};
use kizuna_sync::session::{Config, Millis};
use kizuna_sync::transfer::{Frame, MemChunkStore, Transfer};
use libfuzzer_sys::fuzz_target;

/// Frames per input; enough to reach per-scope sessions and chunk exchange.
const FRAMES_MAX: usize = 16;

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

fn meta(n: u8, facility: u64, len: usize) -> (ItemMeta, Vec<u8>) {
    let body = vec![n; len];
    let meta = ItemMeta {
        id: item_id_of(&body),
        timestamp_ms: u64::from(n),
        size: len as u64,
        kind: ItemKind::Message,
        data_type: DataType::parse("ADT-61"),
        facility,
        doc: None,
        scopes: vec![ScopeTag::facility(facility)],
    };
    (meta, body)
}

fuzz_target!(|data: &[u8]| {
    let frames = frames(data);
    let Some(first) = frames.first() else {
        return;
    };
    if let Ok(envelope) = Envelope::decode(first) {
        assert_eq!(Envelope::decode(&envelope.encode()), Ok(envelope));
    }
    if let Ok(frame) = Frame::decode(first) {
        assert_eq!(Frame::decode(&frame.encode()), Ok(frame));
    }

    let tags = [ScopeTag::facility(1)];
    let mut sets = MemScopedSets::new();
    let mut source = MemItemSource::new();
    let mut outside_ids = Vec::new();
    for n in 0..6u8 {
        let facility = 1 + u64::from(n % 2);
        let (meta, body) = meta(n, facility, 100 + usize::from(n) * 40_000);
        let _ = sets.insert(&meta);
        if facility != 1 {
            outside_ids.push(meta.id);
        }
        source.insert(meta, body);
    }

    let policy = AllowList::new(tags.iter().cloned());
    let mut sync = ScopedSync::responder(&policy, tags.iter().cloned(), Config::default(), Millis(0));
    let agreed = AgreedScope::intersect(&tags, &tags);
    let mut transfer = Transfer::new(agreed, Box::new(policy.clone()), Millis(0));
    let mut chunks = MemChunkStore::new();
    transfer.fetch(&[item_id_of(&[7; 10]), item_id_of(b"")], Millis(0));

    let mut doc = Doc::new(DocId([1; 16]), b"fuzz");
    for (i, frame) in frames.iter().enumerate() {
        // Hostile change bytes: verified, parsed, held back or applied, never a panic.
        let _ = doc.apply_item(&item_id_of(frame), frame);
        let _ = doc.conflicts(&["a", "b"]);
        let now = Millis(i as u64 * 7_000);
        while sync.poll_event().is_some() {}
        let _ = sync.handle_message(&sets, frame, now);
        while let Some(out) = sync.poll_transmit() {
            assert!(out.len() <= ENVELOPE_BYTES_MAX);
            assert!(Envelope::decode(&out).is_ok(), "we emit only decodable envelopes");
        }
        sync.handle_timeout(&sets, now);

        transfer.handle_frame(&source, &mut chunks, frame, now);
        transfer.handle_timeout(now);
        while let Some(out) = transfer.poll_transmit(&source) {
            assert!(out.len() <= TRANSFER_FRAME_BYTES_MAX);
            match Frame::decode(&out) {
                Ok(Frame::Manifest { id, .. }) | Ok(Frame::Chunk { id, .. }) => {
                    assert!(!outside_ids.contains(&id), "out-of-scope item emitted")
                }
                Ok(_) => {}
                Err(error) => panic!("we emit only decodable frames: {error:?}"),
            }
        }
        while transfer.poll_event().is_some() {}
    }
});
