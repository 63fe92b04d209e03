//! Resumable, verified item transfer with one peer: a sans-IO state machine.
//!
//! Reconciliation tells each side which ids to fetch; this moves the bodies. The receiver drives:
//!
//! 1. `Request{ids}`: the receiver asks for items. The sender checks each against the agreed
//!    scopes and its policy (refusing with `Unavailable`, which does not say whether the item
//!    exists) and queues the rest in a [`TransferQueue`], so emergency data goes first.
//! 2. `Manifest{id, size, hashes}`: for up to [`OPEN_ITEMS_MAX`] items at a time, the sender sends
//!    the SHA-256 of every chunk of at most [`CHUNK_BYTES`].
//! 3. `Want{id, indices}`: the receiver names the chunks it lacks; chunks already in its
//!    [`ChunkStore`] from an interrupted transfer (re-checked against the manifest) are never
//!    asked for again. At most [`WINDOW_CHUNKS`] are in flight per peer.
//! 4. `Chunk{id, index, bytes}`: each is checked against its manifest hash on arrival, so a
//!    corrupted chunk is caught and asked for again at the chunk, not at the end.
//! 5. When all chunks are stored, the receiver hashes the whole body and compares it with the id
//!    (the id is SHA-256 of the body) before [`ChunkStore::commit`] hands it to storage, then
//!    sends `Done{id, ok}` so the sender frees the slot. A failed whole-body check means the
//!    manifest itself lied; the item is discarded and reported, not retried with the same peer.
//!
//! Loss: the sender serves wants in order, so a chunk that arrives while an earlier-wanted chunk
//! of the same item has not is taken as a loss of the earlier one, which is wanted again (as QUIC
//! detects loss by reordering; no timer per chunk, which would need a link speed). Losses at the
//! tail are caught by [`PEER_SILENCE_MS`]: then every outstanding request and want is resent.
//!
//! ```text
//! tag 32 = Request:     n:varint n×32 bytes
//! tag 33 = Manifest:    id:32 size:varint n:varint n×32 bytes     (n = ⌈size / CHUNK_BYTES⌉)
//! tag 34 = Want:        id:32 n:varint n×index:varint
//! tag 35 = Chunk:       id:32 index:varint len:varint len bytes
//! tag 36 = Done:        id:32 ok:u8
//! tag 37 = Unavailable: n:varint n×32 bytes
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use crate::item::{ID_BYTES, ItemId};
use crate::limits::{
    CHUNK_BYTES, CHUNK_SENDS_QUEUED_MAX, CHUNKS_PER_ITEM_MAX, ITEM_BYTES_MAX, ITEM_RETRIES_MAX,
    OPEN_ITEMS_MAX, PEER_SILENCE_MS, REQUEST_IDS_MAX, REQUESTED_ITEMS_MAX, SENDER_OPEN_IDLE_MS,
    SILENCES_MAX, TRANSFER_FRAME_BYTES_MAX, WANT_INDICES_MAX, WINDOW_CHUNKS,
};
use crate::meta::ItemSource;
use crate::priority::{Pushed, TransferQueue};
use crate::scope::{AgreedScope, ScopePolicy};
use crate::session::Millis;
use crate::store::StoreError;
use crate::wire::{PROTOCOL_VERSION, Reader, WireError, put_ids, put_varint};

const TAG_REQUEST: u8 = 32;
const TAG_MANIFEST: u8 = 33;
const TAG_WANT: u8 = 34;
const TAG_CHUNK: u8 = 35;
const TAG_DONE: u8 = 36;
const TAG_UNAVAILABLE: u8 = 37;

/// SHA-256 of one chunk.
pub type ChunkHash = [u8; 32];

/// A transfer frame. Its `Debug` prints a chunk's length, never its bytes (item bodies are
/// patient data and debug output reaches logs).
#[derive(Clone, PartialEq, Eq)]
pub enum Frame {
    Request {
        ids: Vec<ItemId>,
    },
    Manifest {
        id: ItemId,
        size: u64,
        hashes: Vec<ChunkHash>,
    },
    Want {
        id: ItemId,
        indices: Vec<u32>,
    },
    Chunk {
        id: ItemId,
        index: u32,
        bytes: Vec<u8>,
    },
    Done {
        id: ItemId,
        ok: bool,
    },
    Unavailable {
        ids: Vec<ItemId>,
    },
}

/// Why a transfer frame did not decode. Carries no payload bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FrameError {
    Wire(WireError),
    /// A manifest's size exceeds [`ITEM_BYTES_MAX`] or its hash count does not match its size.
    ManifestShape,
    /// A chunk is larger than [`CHUNK_BYTES`] or its index beyond [`CHUNKS_PER_ITEM_MAX`].
    ChunkShape,
}

/// Where a receiver keeps chunks of items in transit, and hands verified items to storage.
///
/// Chunks persist across sessions, so an interrupted transfer resumes with what arrived.
pub trait ChunkStore {
    fn has_chunk(&self, id: &ItemId, index: u32) -> Result<bool, StoreError>;

    /// Appends chunk `index` of `id` to `out`; false if absent.
    fn read_chunk(&self, id: &ItemId, index: u32, out: &mut Vec<u8>) -> Result<bool, StoreError>;

    fn put_chunk(&mut self, id: &ItemId, index: u32, bytes: &[u8]) -> Result<(), StoreError>;

    /// Stores chunks `0..chunks` of `id`, in order, as the item. Called only after the whole body
    /// hashed to `id`.
    fn commit(&mut self, id: &ItemId, chunks: u32) -> Result<(), StoreError>;

    /// Drops every chunk of `id`.
    fn discard(&mut self, id: &ItemId) -> Result<(), StoreError>;
}

/// In-memory [`ChunkStore`]: the reference model for tests.
#[derive(Clone, Debug, Default)]
pub struct MemChunkStore {
    staged: BTreeMap<(ItemId, u32), Vec<u8>>,
    committed: BTreeMap<ItemId, Vec<u8>>,
}

/// What a [`Transfer`] reports to its owner.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TransferEvent {
    /// The item arrived, matched its id and was committed to the chunk store.
    Stored(ItemId),
    /// The peer will not send this item (absent, out of scope, or its queue was full).
    Unavailable(ItemId),
    /// Fetching this item failed; the next sync may try again.
    Failed(ItemId, ItemFailure),
    /// The peer stayed silent [`SILENCES_MAX`] times; every outstanding fetch was dropped (chunks
    /// already stored stay for the next attempt).
    PeerSilent,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ItemFailure {
    /// A chunk failed its hash more than [`ITEM_RETRIES_MAX`] times.
    CorruptChunks,
    /// A chunk was asked for more than [`ITEM_RETRIES_MAX`] times without arriving intact.
    TooManyRetries,
    /// Every chunk matched the manifest but the body did not match the id: the manifest lied.
    BodyMismatch,
    /// Our chunk store failed.
    Storage(StoreError),
}

/// Counters, for metrics and tests.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TransferStats {
    /// Requests (or wants) for items outside the agreed scopes or refused by the policy.
    pub refused_out_of_scope: u64,
    /// Requests for items we do not hold or cannot send (too large, queue full).
    pub refused_other: u64,
    pub manifests_sent: u64,
    pub chunks_sent: u64,
    pub chunks_received: u64,
    /// Chunks found in the chunk store at manifest time and not asked for again.
    pub chunks_resumed: u64,
    /// Chunks that failed their manifest hash, on arrival or when resuming.
    pub chunks_corrupt: u64,
    /// Chunks asked for again after a loss.
    pub chunks_rewanted: u64,
    pub items_stored: u64,
    pub items_failed: u64,
    /// Our own stored items that did not match their id or manifest when read for sending.
    pub local_corrupt: u64,
    /// Frames about items we had not asked for or did not have open.
    pub unsolicited: u64,
    /// Frames that did not decode.
    pub bad_frames: u64,
}

/// Item transfer with one peer, both directions.
///
/// # Driving it
///
/// Feed frames to [`handle_frame`](Transfer::handle_frame) and deadlines to
/// [`handle_timeout`](Transfer::handle_timeout); after each, drain
/// [`poll_transmit`](Transfer::poll_transmit) until `None` (it reads chunks from the item source
/// lazily, so at most one chunk is in memory), then [`poll_event`](Transfer::poll_event), then arm
/// [`poll_timeout`](Transfer::poll_timeout). Ask for items with [`fetch`](Transfer::fetch).
///
/// Memory per peer: ≤ [`OPEN_ITEMS_MAX`] manifests each way (≤ 32 KiB each), the sender's queue
/// (≤ [`crate::limits::TRANSFER_QUEUE_ITEMS_MAX`] ids), ≤ [`REQUESTED_ITEMS_MAX`] requested ids,
/// ≤ [`CHUNK_SENDS_QUEUED_MAX`] queued chunk indices, and one frame being built.
#[derive(Debug)]
pub struct Transfer {
    agreed: AgreedScope,
    policy: Box<dyn ScopePolicy + Send>,
    now: Millis,
    // Sending side.
    queue: TransferQueue,
    open_out: Vec<OpenOut>,
    sends: VecDeque<(ItemId, u32)>,
    refusals: BTreeSet<ItemId>,
    // Receiving side.
    /// Requested ids awaiting a manifest, with when each was last requested.
    requested: BTreeMap<ItemId, Millis>,
    open_in: Vec<OpenIn>,
    last_heard: Millis,
    silences: u32,
    /// Small control frames (requests, wants, done) waiting to go out.
    control: VecDeque<Frame>,
    events: VecDeque<TransferEvent>,
    stats: TransferStats,
}

#[derive(Debug)]
struct OpenOut {
    id: ItemId,
    size: u64,
    hashes: Vec<ChunkHash>,
    last_heard: Millis,
    send_manifest: bool,
}

#[derive(Debug)]
struct OpenIn {
    id: ItemId,
    size: u64,
    hashes: Vec<ChunkHash>,
    have: Vec<bool>,
    /// Times each chunk was wanted.
    wants: Vec<u8>,
    /// Wanted and not yet arrived, in the order wanted.
    in_flight: VecDeque<u32>,
    /// When this item last made progress (opened, or a chunk of it arrived).
    progress: Millis,
}

/// Chunks of an item of `size` bytes.
pub fn chunk_count(size: u64) -> usize {
    usize::try_from(size.div_ceil(CHUNK_BYTES as u64)).unwrap_or(usize::MAX)
}

/// Length of chunk `index` of an item of `size` bytes.
fn chunk_len(size: u64, index: u32) -> usize {
    let start = u64::from(index) * CHUNK_BYTES as u64;
    // At most CHUNK_BYTES, so the cast cannot truncate.
    size.saturating_sub(start).min(CHUNK_BYTES as u64) as usize
}

fn sha256(bytes: &[u8]) -> ChunkHash {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Request { ids } => f.debug_struct("Request").field("ids", ids).finish(),
            Frame::Manifest { id, size, hashes } => f
                .debug_struct("Manifest")
                .field("id", id)
                .field("size", size)
                .field("chunks", &hashes.len())
                .finish(),
            Frame::Want { id, indices } => f
                .debug_struct("Want")
                .field("id", id)
                .field("indices", indices)
                .finish(),
            Frame::Chunk { id, index, bytes } => f
                .debug_struct("Chunk")
                .field("id", id)
                .field("index", index)
                .field("len", &bytes.len())
                .finish(),
            Frame::Done { id, ok } => f
                .debug_struct("Done")
                .field("id", id)
                .field("ok", ok)
                .finish(),
            Frame::Unavailable { ids } => f.debug_struct("Unavailable").field("ids", ids).finish(),
        }
    }
}

impl From<WireError> for FrameError {
    fn from(error: WireError) -> FrameError {
        FrameError::Wire(error)
    }
}

fn read_id(reader: &mut Reader<'_>) -> Result<ItemId, WireError> {
    let mut id = [0u8; ID_BYTES];
    id.copy_from_slice(reader.bytes(ID_BYTES)?);
    Ok(ItemId(id))
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![PROTOCOL_VERSION];
        match self {
            Frame::Request { ids } => {
                out.push(TAG_REQUEST);
                put_ids(&mut out, ids);
            }
            Frame::Manifest { id, size, hashes } => {
                out.push(TAG_MANIFEST);
                out.extend_from_slice(&id.0);
                put_varint(&mut out, *size);
                put_varint(&mut out, hashes.len() as u64);
                hashes.iter().for_each(|h| out.extend_from_slice(h));
            }
            Frame::Want { id, indices } => {
                out.push(TAG_WANT);
                out.extend_from_slice(&id.0);
                put_varint(&mut out, indices.len() as u64);
                indices
                    .iter()
                    .for_each(|&i| put_varint(&mut out, u64::from(i)));
            }
            Frame::Chunk { id, index, bytes } => {
                out.push(TAG_CHUNK);
                out.extend_from_slice(&id.0);
                put_varint(&mut out, u64::from(*index));
                put_varint(&mut out, bytes.len() as u64);
                out.extend_from_slice(bytes);
            }
            Frame::Done { id, ok } => {
                out.push(TAG_DONE);
                out.extend_from_slice(&id.0);
                out.push(u8::from(*ok));
            }
            Frame::Unavailable { ids } => {
                out.push(TAG_UNAVAILABLE);
                put_ids(&mut out, ids);
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        if bytes.len() > TRANSFER_FRAME_BYTES_MAX {
            return Err(WireError::TooLarge.into());
        }
        let mut reader = Reader { rest: bytes };
        let version = reader.u8()?;
        if version != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion(version).into());
        }
        let frame = match reader.u8()? {
            TAG_REQUEST => Frame::Request { ids: reader.ids()? },
            TAG_UNAVAILABLE => Frame::Unavailable { ids: reader.ids()? },
            TAG_MANIFEST => {
                let id = read_id(&mut reader)?;
                let size = reader.varint()?;
                let count = reader.count(CHUNKS_PER_ITEM_MAX)?;
                if size > ITEM_BYTES_MAX || count != chunk_count(size) {
                    return Err(FrameError::ManifestShape);
                }
                // Check the input holds them all before allocating anything sized by the peer.
                let raw = reader.bytes(count * 32)?;
                let hashes = raw
                    .chunks_exact(32)
                    .map(|h| {
                        let mut hash = [0u8; 32];
                        hash.copy_from_slice(h);
                        hash
                    })
                    .collect();
                Frame::Manifest { id, size, hashes }
            }
            TAG_WANT => {
                let id = read_id(&mut reader)?;
                let count = reader.count(WANT_INDICES_MAX)?;
                let mut indices = Vec::with_capacity(count);
                for _ in 0..count {
                    let index = reader.index()?;
                    if index as usize >= CHUNKS_PER_ITEM_MAX {
                        return Err(FrameError::ChunkShape);
                    }
                    indices.push(index);
                }
                Frame::Want { id, indices }
            }
            TAG_CHUNK => {
                let id = read_id(&mut reader)?;
                let index = reader.index()?;
                let len = reader.count(CHUNK_BYTES)?;
                if index as usize >= CHUNKS_PER_ITEM_MAX {
                    return Err(FrameError::ChunkShape);
                }
                let bytes = reader.bytes(len)?.to_vec();
                Frame::Chunk { id, index, bytes }
            }
            TAG_DONE => {
                let id = read_id(&mut reader)?;
                let ok = reader.flag()?;
                Frame::Done { id, ok }
            }
            tag => return Err(WireError::UnknownTag(tag).into()),
        };
        reader.end()?;
        Ok(frame)
    }
}

impl MemChunkStore {
    pub fn new() -> MemChunkStore {
        MemChunkStore::default()
    }

    /// The committed body of `id`.
    pub fn item(&self, id: &ItemId) -> Option<&[u8]> {
        self.committed.get(id).map(Vec::as_slice)
    }

    pub fn staged_chunks(&self, id: &ItemId) -> usize {
        self.staged.range((*id, 0)..=(*id, u32::MAX)).count()
    }

    /// Flips a byte of a staged chunk, to test that resumed chunks are re-checked.
    pub fn corrupt_chunk(&mut self, id: &ItemId, index: u32) -> bool {
        match self
            .staged
            .get_mut(&(*id, index))
            .and_then(|c| c.first_mut())
        {
            Some(byte) => {
                *byte ^= 0xff;
                true
            }
            None => false,
        }
    }
}

impl ChunkStore for MemChunkStore {
    fn has_chunk(&self, id: &ItemId, index: u32) -> Result<bool, StoreError> {
        Ok(self.staged.contains_key(&(*id, index)))
    }

    fn read_chunk(&self, id: &ItemId, index: u32, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        match self.staged.get(&(*id, index)) {
            Some(chunk) => {
                out.extend_from_slice(chunk);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn put_chunk(&mut self, id: &ItemId, index: u32, bytes: &[u8]) -> Result<(), StoreError> {
        self.staged.insert((*id, index), bytes.to_vec());
        Ok(())
    }

    fn commit(&mut self, id: &ItemId, chunks: u32) -> Result<(), StoreError> {
        let mut body = Vec::new();
        for index in 0..chunks {
            let chunk = self
                .staged
                .remove(&(*id, index))
                .ok_or(StoreError::Corrupt)?;
            body.extend_from_slice(&chunk);
        }
        self.committed.insert(*id, body);
        Ok(())
    }

    fn discard(&mut self, id: &ItemId) -> Result<(), StoreError> {
        let keys: Vec<(ItemId, u32)> = self
            .staged
            .range((*id, 0)..=(*id, u32::MAX))
            .map(|(k, _)| *k)
            .collect();
        keys.iter().for_each(|k| {
            self.staged.remove(k);
        });
        Ok(())
    }
}

impl Transfer {
    /// A transfer under `agreed` scopes (from the scoped sync), checked with `policy` per item.
    pub fn new(agreed: AgreedScope, policy: Box<dyn ScopePolicy + Send>, now: Millis) -> Transfer {
        Transfer {
            agreed,
            policy,
            now,
            queue: TransferQueue::new(),
            open_out: Vec::new(),
            sends: VecDeque::new(),
            refusals: BTreeSet::new(),
            requested: BTreeMap::new(),
            open_in: Vec::new(),
            last_heard: now,
            silences: 0,
            control: VecDeque::new(),
            events: VecDeque::new(),
            stats: TransferStats::default(),
        }
    }

    pub fn stats(&self) -> TransferStats {
        self.stats
    }

    /// Whether nothing is being fetched or sent.
    pub fn is_idle(&self) -> bool {
        self.requested.is_empty()
            && self.open_in.is_empty()
            && self.open_out.is_empty()
            && self.queue.is_empty()
            && self.sends.is_empty()
    }

    /// Asks the peer for these items (from reconciliation's `Need`). Returns how many were taken;
    /// ids beyond [`REQUESTED_ITEMS_MAX`] outstanding are not, and the caller offers them again
    /// later (the next reconciliation reports them again anyway).
    pub fn fetch(&mut self, ids: &[ItemId], now: Millis) -> usize {
        self.now = now;
        if self.requested.is_empty() && self.open_in.is_empty() {
            // Silence is measured from when we start waiting, not from the last old frame.
            self.last_heard = now;
        }
        let mut batch = Vec::new();
        let mut taken = 0;
        for id in ids {
            if self.requested.len() + self.open_in.len() >= REQUESTED_ITEMS_MAX {
                break;
            }
            taken += 1;
            if self.requested.contains_key(id) || self.open_in.iter().any(|o| o.id == *id) {
                continue;
            }
            self.requested.insert(*id, now);
            batch.push(*id);
            if batch.len() == REQUEST_IDS_MAX {
                self.control.push_back(Frame::Request {
                    ids: std::mem::take(&mut batch),
                });
            }
        }
        if !batch.is_empty() {
            self.control.push_back(Frame::Request { ids: batch });
        }
        taken
    }

    pub fn handle_frame<S: ItemSource + ?Sized, C: ChunkStore + ?Sized>(
        &mut self,
        source: &S,
        chunks: &mut C,
        bytes: &[u8],
        now: Millis,
    ) {
        self.now = now;
        let frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(_) => {
                self.stats.bad_frames += 1;
                return;
            }
        };
        self.last_heard = now;
        self.silences = 0;
        match frame {
            Frame::Request { ids } => ids.iter().for_each(|id| self.serve(source, id)),
            Frame::Want { id, indices } => self.handle_want(source, id, &indices),
            Frame::Done { id, .. } => {
                self.open_out.retain(|o| o.id != id);
                self.sends.retain(|(sent, _)| *sent != id);
            }
            Frame::Manifest { id, size, hashes } => {
                self.handle_manifest(chunks, id, size, hashes);
                self.fill_window();
            }
            Frame::Chunk { id, index, bytes } => {
                self.handle_chunk(chunks, id, index, &bytes);
                self.fill_window();
            }
            Frame::Unavailable { ids } => {
                for id in ids {
                    let requested = self.requested.remove(&id).is_some();
                    let open = self.open_in.iter().position(|o| o.id == id);
                    if let Some(position) = open {
                        self.open_in.remove(position);
                    }
                    if requested || open.is_some() {
                        self.events.push_back(TransferEvent::Unavailable(id));
                    } else {
                        self.stats.unsolicited += 1;
                    }
                }
                self.fill_window();
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Millis) {
        self.now = now;
        // Free send slots the receiver has stopped asking about.
        self.open_out
            .retain(|o| now.0 < o.last_heard.0.saturating_add(SENDER_OPEN_IDLE_MS));
        if !self.awaiting() {
            return;
        }
        if now.0 < self.last_heard.0.saturating_add(PEER_SILENCE_MS) {
            // The peer talks, but maybe about other items: an item whose request, manifest or
            // last chunks were lost makes no progress of its own and is asked for again.
            self.resend_stalled(now);
            return;
        }
        self.silences += 1;
        self.last_heard = now;
        if self.silences > SILENCES_MAX {
            self.requested.clear();
            self.open_in.clear();
            self.control.clear();
            self.events.push_back(TransferEvent::PeerSilent);
            return;
        }
        // Resend what we wait for: requests not yet answered, and the wants in flight.
        let ids: Vec<ItemId> = self.requested.keys().copied().collect();
        for batch in ids.chunks(REQUEST_IDS_MAX) {
            self.control.push_back(Frame::Request {
                ids: batch.to_vec(),
            });
        }
        self.requested.values_mut().for_each(|at| *at = now);
        for open in &mut self.open_in {
            self.stats.chunks_rewanted += open.in_flight.len() as u64;
            open.in_flight.clear();
            open.progress = now;
        }
        self.fill_window();
    }

    /// Asks again for requests unanswered and wants unmet for [`PEER_SILENCE_MS`], item by item.
    /// Found by the simulation: with the silence timer alone, a peer busy sending other items
    /// never falls silent, and an item whose manifest or tail chunk was lost waited forever.
    fn resend_stalled(&mut self, now: Millis) {
        let stalled = |at: Millis| now.0 >= at.0.saturating_add(PEER_SILENCE_MS);
        let ids: Vec<ItemId> = self
            .requested
            .iter()
            .filter(|(_, at)| stalled(**at))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.requested.insert(*id, now);
        }
        for batch in ids.chunks(REQUEST_IDS_MAX) {
            self.control.push_back(Frame::Request {
                ids: batch.to_vec(),
            });
        }
        let mut rewant = false;
        for open in &mut self.open_in {
            if !open.in_flight.is_empty() && stalled(open.progress) {
                self.stats.chunks_rewanted += open.in_flight.len() as u64;
                open.in_flight.clear();
                open.progress = now;
                rewant = true;
            }
        }
        if rewant {
            self.fill_window();
        }
    }

    /// The next frame to send; drain until `None`. Reads at most one chunk or one item (to build
    /// a manifest) from `source` per call.
    pub fn poll_transmit<S: ItemSource + ?Sized>(&mut self, source: &S) -> Option<Vec<u8>> {
        if let Some(frame) = self.control.pop_front() {
            return Some(frame.encode());
        }
        // Opening an item may refuse it instead; then the refusal goes out first.
        loop {
            if let Some(frame) = self.refusal_frame() {
                return Some(frame);
            }
            if let Some(open) = self.open_out.iter_mut().find(|o| o.send_manifest) {
                open.send_manifest = false;
                self.stats.manifests_sent += 1;
                return Some(
                    Frame::Manifest {
                        id: open.id,
                        size: open.size,
                        hashes: open.hashes.clone(),
                    }
                    .encode(),
                );
            }
            if self.open_out.len() >= OPEN_ITEMS_MAX {
                break;
            }
            let Some(id) = self.queue.pop() else { break };
            if let Some(frame) = self.open(source, id) {
                return Some(frame);
            }
        }
        while let Some((id, index)) = self.sends.pop_front() {
            if let Some(frame) = self.chunk_frame(source, id, index) {
                return Some(frame);
            }
        }
        // A chunk read that failed its check refused the item just now.
        self.refusal_frame()
    }

    fn refusal_frame(&mut self) -> Option<Vec<u8>> {
        if self.refusals.is_empty() {
            return None;
        }
        let ids: Vec<ItemId> = self
            .refusals
            .iter()
            .take(REQUEST_IDS_MAX)
            .copied()
            .collect();
        ids.iter().for_each(|id| {
            self.refusals.remove(id);
        });
        Some(Frame::Unavailable { ids }.encode())
    }

    pub fn poll_event(&mut self) -> Option<TransferEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        let silence = self
            .awaiting()
            .then(|| Millis(self.last_heard.0.saturating_add(PEER_SILENCE_MS)));
        // Per-item stalls (see `resend_stalled`); O(requested), bounded by REQUESTED_ITEMS_MAX.
        let stall = self
            .requested
            .values()
            .copied()
            .chain(
                self.open_in
                    .iter()
                    .filter(|o| !o.in_flight.is_empty())
                    .map(|o| o.progress),
            )
            .min()
            .map(|at| Millis(at.0.saturating_add(PEER_SILENCE_MS)));
        let idle = self
            .open_out
            .iter()
            .map(|o| Millis(o.last_heard.0.saturating_add(SENDER_OPEN_IDLE_MS)))
            .min();
        silence.into_iter().chain(stall).chain(idle).min()
    }

    fn awaiting(&self) -> bool {
        !self.requested.is_empty() || !self.open_in.is_empty()
    }

    // ---- Sending side ----

    /// Queues a requested item if it is in scope, or refuses it.
    fn serve<S: ItemSource + ?Sized>(&mut self, source: &S, id: &ItemId) {
        if let Some(open) = self.open_out.iter_mut().find(|o| o.id == *id) {
            // The receiver asked again: our manifest was lost.
            open.send_manifest = true;
            open.last_heard = self.now;
            return;
        }
        if self.queue.contains(id) {
            return;
        }
        let meta = match source.meta(id) {
            Ok(Some(meta)) => meta,
            Ok(None) | Err(_) => return self.refuse(id, false),
        };
        if !self.agreed.covers(&meta, self.policy.as_ref()) {
            return self.refuse(id, true);
        }
        if meta.size > ITEM_BYTES_MAX {
            return self.refuse(id, false);
        }
        match self.queue.push(&meta) {
            Pushed::Queued | Pushed::Duplicate => {}
            Pushed::Evicted(other) => self.refuse(&other, false),
            Pushed::Refused => self.refuse(id, false),
        }
    }

    fn refuse(&mut self, id: &ItemId, out_of_scope: bool) {
        if out_of_scope {
            self.stats.refused_out_of_scope += 1;
        } else {
            self.stats.refused_other += 1;
        }
        // Bounded like the queue; beyond it the receiver learns by silence and asks again.
        if self.refusals.len() < REQUESTED_ITEMS_MAX {
            self.refusals.insert(*id);
        }
    }

    fn handle_want<S: ItemSource + ?Sized>(&mut self, source: &S, id: ItemId, indices: &[u32]) {
        let Some(open) = self.open_out.iter_mut().find(|o| o.id == id) else {
            // Not open (freed after idling, or never requested): treat it as a request, so the
            // scope check applies and a fresh manifest goes out.
            self.stats.unsolicited += 1;
            return self.serve(source, &id);
        };
        open.last_heard = self.now;
        let chunks = open.hashes.len();
        for &index in indices {
            if (index as usize) < chunks
                && self.sends.len() < CHUNK_SENDS_QUEUED_MAX
                && !self.sends.contains(&(id, index))
            {
                self.sends.push_back((id, index));
            }
        }
    }

    /// Reads a queued item, checks it against its id, and opens it with a manifest frame.
    fn open<S: ItemSource + ?Sized>(&mut self, source: &S, id: ItemId) -> Option<Vec<u8>> {
        // Re-check: metadata may have changed since the request was queued.
        let meta = match source.meta(&id) {
            Ok(Some(meta)) if self.agreed.covers(&meta, self.policy.as_ref()) => meta,
            Ok(Some(_)) => {
                self.refuse(&id, true);
                return None;
            }
            Ok(None) | Err(_) => {
                self.refuse(&id, false);
                return None;
            }
        };
        let count = chunk_count(meta.size);
        let mut hashes = Vec::with_capacity(count.min(CHUNKS_PER_ITEM_MAX));
        let mut whole = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buffer = Vec::with_capacity(CHUNK_BYTES);
        for index in 0..count {
            buffer.clear();
            let offset = index as u64 * CHUNK_BYTES as u64;
            let want = chunk_len(meta.size, index as u32);
            if source.read(&id, offset, want, &mut buffer).is_err() || buffer.len() != want {
                self.stats.local_corrupt += 1;
                self.refuse(&id, false);
                return None;
            }
            whole.update(&buffer);
            hashes.push(sha256(&buffer));
        }
        // Check the record's hash after reading (house style 6): never serve a rotten item.
        if whole.finish().as_ref() != id.0 {
            self.stats.local_corrupt += 1;
            self.refuse(&id, false);
            return None;
        }
        self.stats.manifests_sent += 1;
        let frame = Frame::Manifest {
            id,
            size: meta.size,
            hashes: hashes.clone(),
        }
        .encode();
        self.open_out.push(OpenOut {
            id,
            size: meta.size,
            hashes,
            last_heard: self.now,
            send_manifest: false,
        });
        Some(frame)
    }

    fn chunk_frame<S: ItemSource + ?Sized>(
        &mut self,
        source: &S,
        id: ItemId,
        index: u32,
    ) -> Option<Vec<u8>> {
        let position = self.open_out.iter().position(|o| o.id == id)?;
        let open = &self.open_out[position];
        let expected = open.hashes.get(index as usize).copied()?;
        let want = chunk_len(open.size, index);
        let mut bytes = Vec::with_capacity(want);
        let offset = u64::from(index) * CHUNK_BYTES as u64;
        if source.read(&id, offset, want, &mut bytes).is_err()
            || bytes.len() != want
            || sha256(&bytes) != expected
        {
            // The stored body changed under us since the manifest: stop serving it.
            self.stats.local_corrupt += 1;
            self.open_out.remove(position);
            self.sends.retain(|(sent, _)| *sent != id);
            self.refuse(&id, false);
            return None;
        }
        self.stats.chunks_sent += 1;
        Some(Frame::Chunk { id, index, bytes }.encode())
    }

    // ---- Receiving side ----

    fn handle_manifest<C: ChunkStore + ?Sized>(
        &mut self,
        chunks: &mut C,
        id: ItemId,
        size: u64,
        hashes: Vec<ChunkHash>,
    ) {
        if self.open_in.iter().any(|o| o.id == id) {
            // A duplicate, or the sender re-served a want of ours: the item is already open.
            self.stats.unsolicited += 1;
            return;
        }
        if !self.requested.contains_key(&id) {
            // Not ours (any more): we restarted, or fetched it elsewhere. Say so, or the sender
            // holds one of its few open slots for us until it idles out, and a queue of requests
            // we forgot would stall what we do want for minutes per item (found by the
            // simulation). One small frame per frame received, drained with it.
            self.stats.unsolicited += 1;
            self.control.push_back(Frame::Done { id, ok: false });
            return;
        }
        if self.open_in.len() >= OPEN_ITEMS_MAX {
            // Stays requested; the sender resends the manifest when we ask again.
            return;
        }
        self.requested.remove(&id);
        let count = hashes.len();
        let mut open = OpenIn {
            id,
            size,
            hashes,
            have: vec![false; count],
            wants: vec![0; count],
            in_flight: VecDeque::new(),
            progress: self.now,
        };
        // Resume: keep the chunks an earlier transfer stored, if they still match.
        let mut buffer = Vec::with_capacity(CHUNK_BYTES);
        for index in 0..count {
            buffer.clear();
            match chunks.read_chunk(&id, index as u32, &mut buffer) {
                Ok(true) if sha256(&buffer) == open.hashes[index] => {
                    open.have[index] = true;
                    self.stats.chunks_resumed += 1;
                }
                Ok(true) => self.stats.chunks_corrupt += 1,
                Ok(false) => {}
                Err(error) => return self.fail_item(chunks, id, ItemFailure::Storage(error)),
            }
        }
        self.open_in.push(open);
        self.try_complete(chunks, id);
    }

    fn handle_chunk<C: ChunkStore + ?Sized>(
        &mut self,
        chunks: &mut C,
        id: ItemId,
        index: u32,
        bytes: &[u8],
    ) {
        let Some(open) = self.open_in.iter_mut().find(|o| o.id == id) else {
            self.stats.unsolicited += 1;
            if index == 0 && !self.requested.contains_key(&id) {
                // As for a manifest we did not ask for (once per item, not per chunk).
                self.control.push_back(Frame::Done { id, ok: false });
            }
            return;
        };
        let i = index as usize;
        if i >= open.hashes.len() || open.have[i] {
            self.stats.unsolicited += 1;
            open.in_flight.retain(|&x| x != index);
            return;
        }
        // Chunks wanted before this one and still missing were lost (the sender keeps order).
        if let Some(position) = open.in_flight.iter().position(|&x| x == index) {
            self.stats.chunks_rewanted += position as u64;
            open.in_flight.drain(..=position);
        }
        if bytes.len() != chunk_len(open.size, index) || sha256(bytes) != open.hashes[i] {
            self.stats.chunks_corrupt += 1;
            if open.wants[i] as u32 > ITEM_RETRIES_MAX {
                return self.fail_item(chunks, id, ItemFailure::CorruptChunks);
            }
            return;
        }
        if let Err(error) = chunks.put_chunk(&id, index, bytes) {
            return self.fail_item(chunks, id, ItemFailure::Storage(error));
        }
        open.have[i] = true;
        open.progress = self.now;
        self.stats.chunks_received += 1;
        self.try_complete(chunks, id);
    }

    /// If every chunk of `id` is stored, checks the whole body against the id and commits it.
    fn try_complete<C: ChunkStore + ?Sized>(&mut self, chunks: &mut C, id: ItemId) {
        let Some(open) = self.open_in.iter().find(|o| o.id == id) else {
            return;
        };
        if !open.have.iter().all(|&h| h) {
            return;
        }
        let count = open.hashes.len();
        let mut whole = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buffer = Vec::with_capacity(CHUNK_BYTES);
        for index in 0..count {
            buffer.clear();
            match chunks.read_chunk(&id, index as u32, &mut buffer) {
                Ok(true) => whole.update(&buffer),
                Ok(false) => {
                    return self.fail_item(chunks, id, ItemFailure::Storage(StoreError::Corrupt));
                }
                Err(error) => return self.fail_item(chunks, id, ItemFailure::Storage(error)),
            }
        }
        if whole.finish().as_ref() != id.0 {
            return self.fail_item(chunks, id, ItemFailure::BodyMismatch);
        }
        // `count` is at most CHUNKS_PER_ITEM_MAX, checked when the manifest was decoded.
        if let Err(error) = chunks.commit(&id, count as u32) {
            return self.fail_item(chunks, id, ItemFailure::Storage(error));
        }
        self.open_in.retain(|o| o.id != id);
        self.stats.items_stored += 1;
        self.events.push_back(TransferEvent::Stored(id));
        self.control.push_back(Frame::Done { id, ok: true });
    }

    fn fail_item<C: ChunkStore + ?Sized>(&mut self, chunks: &mut C, id: ItemId, why: ItemFailure) {
        self.open_in.retain(|o| o.id != id);
        self.requested.remove(&id);
        // A bad body or chunks must not be resumed from; a failing store is left as it is.
        if !matches!(why, ItemFailure::Storage(_)) {
            let _ = chunks.discard(&id);
        }
        self.stats.items_failed += 1;
        self.events.push_back(TransferEvent::Failed(id, why));
        self.control.push_back(Frame::Done { id, ok: false });
    }

    /// Wants missing chunks, oldest open item first, up to the window.
    fn fill_window(&mut self) {
        let mut in_flight: usize = self.open_in.iter().map(|o| o.in_flight.len()).sum();
        let mut failed = Vec::new();
        for open in &mut self.open_in {
            let mut indices = Vec::new();
            for index in 0..open.hashes.len() {
                if in_flight >= WINDOW_CHUNKS {
                    break;
                }
                let index32 = index as u32;
                if open.have[index] || open.in_flight.contains(&index32) {
                    continue;
                }
                if open.wants[index] as u32 > ITEM_RETRIES_MAX {
                    failed.push(open.id);
                    break;
                }
                open.wants[index] = open.wants[index].saturating_add(1);
                open.in_flight.push_back(index32);
                indices.push(index32);
                in_flight += 1;
            }
            if !indices.is_empty() {
                self.control.push_back(Frame::Want {
                    id: open.id,
                    indices,
                });
            }
        }
        for id in failed {
            self.open_in.retain(|o| o.id != id);
            self.stats.items_failed += 1;
            self.events
                .push_back(TransferEvent::Failed(id, ItemFailure::TooManyRetries));
            self.control.push_back(Frame::Done { id, ok: false });
        }
    }
}
