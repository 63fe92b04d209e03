//! Bounds of scopes, transfer and documents, each with the reason for its value.
//!
//! Reconciliation's own bounds live beside the code that uses them (`wire`, `session`, `store`)
//! and are tabulated in DESIGN.md; the ones here belong to the layers built on top of it. Every
//! queue, map and buffer a peer can grow is capped by one of these (house style, principle 7).

use crate::wire::MESSAGE_BYTES_MAX;

// ---- Scopes --------------------------------------------------------------------------------

/// Longest scope tag, in bytes. Tags are short ASCII names (`fac:0412345678`, `region:04`,
/// `group:shelter-12`); 64 bytes leaves room for a facility code plus a qualifier.
pub const SCOPE_TAG_BYTES_MAX: usize = 64;

/// Scopes one hello may propose. A node serves a handful of facilities or one region; 256 tags
/// are at most ~17 KiB, well inside one frame, and cap the per-session scope list.
pub const SCOPES_PER_HELLO_MAX: usize = 256;

/// Scope tags one item may carry (its facility, region and a few patient groups). Bounds the
/// metadata a store returns per item and the cost of the in-scope check.
pub const SCOPE_TAGS_PER_ITEM_MAX: usize = 8;

/// Reconciliation sessions a scoped sync keeps at once: the current scope plus finished ones
/// that linger to resend a final frame the peer may have lost (that frame can carry differences,
/// so the peer's session for that scope cannot end without it). A lingering session holds one
/// frame (≤ 64 KiB), so 8 cost ≤ 512 KiB. When all slots hold live sessions, a frame for a new
/// scope is dropped (the peer resends it); when the oldest lingering session must make room, a
/// peer still waiting on it times out and the sync fails loudly rather than losing reports.
pub const SCOPE_SESSIONS_MAX: usize = 8;

/// Cap on an envelope frame: one reconciliation frame plus the envelope header (version, tag and
/// a 5-byte scope index).
pub const ENVELOPE_BYTES_MAX: usize = MESSAGE_BYTES_MAX + 8;

// ---- Priorities ----------------------------------------------------------------------------

/// Items at or above this size go to the last priority tier with documents: 256 KiB is ~13 s over
/// a 20 KB/s BLE link, long enough to delay every allergy and prescription queued behind it,
/// while HL7 messages are a few KiB.
pub const LARGE_ITEM_BYTES: u64 = 256 * 1024;

/// Items a [`crate::priority::TransferQueue`] holds per peer. 4,096 entries of ~100 bytes are
/// ~400 KiB; one `Request` frame holds at most 2,048 ids, so two frames fit. When full, the lowest
/// priority entry is evicted (the next reconciliation reports it again), never an emergency item
/// in favour of a document.
pub const TRANSFER_QUEUE_ITEMS_MAX: usize = 4096;

// ---- Transfer ------------------------------------------------------------------------------

/// Bytes per chunk. 64 KiB is the reconciliation frame cap too: one QUIC stream window on small
/// nodes, ~3 s over BLE, so a lost chunk costs at most that much resend.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Largest item a transfer moves. SS-MIX2 messages are a few KiB and CDA documents a few MiB; 64
/// MiB keeps a manifest (1,024 chunk hashes, 32 KiB) inside one frame. Images are out of scope.
pub const ITEM_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Chunks in an item of [`ITEM_BYTES_MAX`]; also the cap on hashes in a manifest.
pub const CHUNKS_PER_ITEM_MAX: usize = (ITEM_BYTES_MAX / CHUNK_BYTES as u64) as usize;

/// Cap on one transfer frame: a full chunk plus its header (version, tag, id, 10-byte index and
/// length varints).
pub const TRANSFER_FRAME_BYTES_MAX: usize = CHUNK_BYTES + 64;

/// Ids in one `Request` or `Unavailable` frame, from the reconciliation frame cap.
pub const REQUEST_IDS_MAX: usize = MESSAGE_BYTES_MAX / crate::item::ID_BYTES;

/// Chunks the receiver has asked for and not yet received, across all items of one peer: 16 × 64
/// KiB = 1 MiB in flight covers ~800 Mbit/s at 10 ms RTT, far above our links, while the receiver
/// keeps only an index per in-flight chunk (chunks go straight to the chunk store) and the sender
/// reads each chunk only when it transmits it.
pub const WINDOW_CHUNKS: usize = 16;

/// Chunk indices in one `Want` frame; at most the window.
pub const WANT_INDICES_MAX: usize = WINDOW_CHUNKS;

/// Items open at once per peer (manifest sent or received, chunks moving). Each open item holds
/// its manifest in memory (≤ 32 KiB), so 4 bound that to 128 KiB per side, and 4 are enough to
/// keep the window full with small items while a large one moves.
pub const OPEN_ITEMS_MAX: usize = 4;

/// Ids a receiver may have requested and not yet received per peer. Same as the sender's queue,
/// so an honest sender never has to refuse for lack of room.
pub const REQUESTED_ITEMS_MAX: usize = TRANSFER_QUEUE_ITEMS_MAX;

/// Chunk sends a sender keeps queued per peer. A receiver asks for at most [`WINDOW_CHUNKS`];
/// four windows absorb duplicated `Want` frames; anything beyond is dropped (the receiver asks
/// again), so a peer cannot grow this list.
pub const CHUNK_SENDS_QUEUED_MAX: usize = 4 * WINDOW_CHUNKS;

/// Silence from the peer, while we wait for something, before we resend our outstanding requests
/// and wants. 30 s: a 64 KiB chunk takes ~3 s over BLE, so a window of them in flight (plus a
/// queue of manifests) may legitimately take this long only on the slowest links.
pub const PEER_SILENCE_MS: u64 = 30_000;

/// Consecutive silent periods before the transfer gives up on the peer: 4 × 30 s = 2 minutes,
/// about as long as reconciliation waits (`session::REPLY_TIMEOUT_MS` with backoff).
pub const SILENCES_MAX: u32 = 4;

/// Times one item may be re-requested (lost chunks detected by reordering, or a failed whole-item
/// check) before it is reported failed. The next sync session tries it again from scratch.
pub const ITEM_RETRIES_MAX: u32 = 8;

/// How long a sender keeps an open item without hearing about it, before freeing its slot: two
/// silence periods, so the receiver has resent its wants at least once.
pub const SENDER_OPEN_IDLE_MS: u64 = 2 * PEER_SILENCE_MS;

// ---- Documents -----------------------------------------------------------------------------

/// Change items one document holds back while their dependencies are missing. Changes of one
/// document usually arrive within one reconciliation; 1,024 small changes are a few hundred KiB.
/// When full, new changes with missing dependencies are refused (and arrive again with the next
/// sync) rather than growing memory, the failure Automerge's unbounded queue allows.
pub const HELD_CHANGES_MAX: usize = 1024;

/// Largest change item accepted into a document: clinical notes and consent entries are small;
/// 1 MiB also keeps one change under Automerge's slow-load sizes (anchors: automerge#705).
pub const CHANGE_BYTES_MAX: usize = 1024 * 1024;

const _: () = {
    assert!(CHUNKS_PER_ITEM_MAX * crate::item::ID_BYTES + 64 <= MESSAGE_BYTES_MAX);
    assert!(WANT_INDICES_MAX <= WINDOW_CHUNKS);
    assert!(REQUESTED_ITEMS_MAX <= TRANSFER_QUEUE_ITEMS_MAX);
    assert!(SCOPES_PER_HELLO_MAX * (SCOPE_TAG_BYTES_MAX + 1) + 16 <= MESSAGE_BYTES_MAX);
};
