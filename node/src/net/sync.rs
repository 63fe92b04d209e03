//! The sync stream (`/kizuna/sync/2`): one reconciliation `Session`, then item transfer, on one
//! libp2p stream opened by the initiator. Every payload is `tag:u8 body` in a length-prefixed
//! frame (`frame.rs`), at most [`PAYLOAD_BYTES_MAX`].
//!
//! ```text
//! 1 RECONCILE  body = one kizuna-sync frame                       both ways, until both Done
//! 2 FETCH      body = n × (id[32] offset:u32), 1 ≤ n ≤ FETCH_IDS_MAX  initiator → responder
//! 3 ITEM       body = id[32] size:u32 offset:u32 nloc:u8 nloc × (facility[10] len:u16 path[len])
//!                     followed by ⌈(size − offset) / CHUNK_BYTES⌉ CHUNK frames  either way
//! 4 CHUNK      body = item bytes, ≤ CHUNK_BYTES
//! 5 MISSING    body = id[32]: requested but not held               responder → initiator
//! 6 BATCH_END  body = empty: the FETCH is fully answered           responder → initiator
//! 7 PUSH_END   body = empty: no more pushed ITEMs                  initiator → responder
//! 8 PUSH_ACK   body = stored:u32 rejected:u32                      responder → initiator
//! 9 CLOSE      body = empty: the initiator is finished             initiator → responder
//! ```
//!
//! The initiator drives both directions so one `kizuna sync` run is complete when it exits: it
//! fetches its `Need` in batches, pushes its `Have`, waits for the responder's acknowledgement
//! that the pushed items are stored, then closes. The responder accepts pushed items only if its
//! own session reported them as `Need`, and every received item is hashed before it is stored:
//! a mismatch aborts the sync and the peer is disconnected.
//!
//! Resumption (version 2): the fetching side keeps the received prefix of an item larger than
//! one chunk in its staging area (`daemon/partial.rs`); a later FETCH of that id names the
//! prefix length as `offset`, and the sender sends the ITEM from there (an offset at or beyond
//! the size is served from 0). The whole body is hashed when complete, as always. Pushed items
//! (initiator → responder) always start at 0: the pusher does not know the receiver's prefix.
//!
//! Why one stream and strict turn-taking: it keeps per-peer memory to one frame in flight per
//! direction plus bounded batches (house style 11: finish local work before accepting more).
//! The one overlap: the fetching side keeps [`FETCHES_IN_FLIGHT`] FETCHes out and stores
//! received items (gathered into insert batches of [`INSERT_BATCH_ITEMS`]) while the next
//! arrive: at most one insert running plus one insert batch and one fetch batch being filled.
//! Frames are written through a small buffer ([`WRITE_BUFFER_BYTES`]) flushed at every turn.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncWrite, WriteHalf};
use kizuna_sync::{Config, Event, FailReason, ItemId, MemItemSet, Millis, Session};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::frame::{self, FrameError, PAYLOAD_BYTES_MAX};
use crate::daemon::partial::{PartialWriter, Partials};
use crate::daemon::store::{
    Inserted, Item, LOCATIONS_PER_ITEM_MAX, Location, PATH_BYTES_MAX, StoreActorError, StoreHandle,
};

const TAG_RECONCILE: u8 = 1;
const TAG_FETCH: u8 = 2;
const TAG_ITEM: u8 = 3;
const TAG_CHUNK: u8 = 4;
const TAG_MISSING: u8 = 5;
const TAG_BATCH_END: u8 = 6;
const TAG_PUSH_END: u8 = 7;
const TAG_PUSH_ACK: u8 = 8;
const TAG_CLOSE: u8 = 9;

/// Ids per FETCH: one store batch (the serving side scans locations once per batch).
pub const FETCH_IDS_MAX: usize = 256;
/// Item bytes per CHUNK frame: fits a payload with room for the tag.
pub const CHUNK_BYTES: usize = 60 * 1024;
/// Largest item accepted over the network. SS-MIX2 messages are 1–3 KB; extended-storage
/// documents can be larger. Bounds what one peer can make us buffer for one item.
pub const ITEM_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Received items are stored in batches of at most this many items or bytes, whichever comes
/// first: one import transaction (one fsync under `synchronous=FULL`) each, and a bounded buffer
/// per peer. Fetched batches ([`FETCH_IDS_MAX`] ids) are gathered up to this size, so a
/// replication of 200,000 items commits ~200 times rather than ~800.
pub const INSERT_BATCH_ITEMS: usize = 1024;
pub const INSERT_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Frames are gathered up to this many bytes before one write to the stream: an SS-MIX2 item
/// is two frames of ~1.5 KB, so this is one write (one lock of the QUIC connection) per ~40
/// items instead of three writes and a flush per frame. The buffer is written and flushed at
/// every turn boundary (BATCH_END, PUSH_END, ...), so turn-taking never waits on a buffered
/// frame; it holds at most this plus one frame.
pub const WRITE_BUFFER_BYTES: usize = 64 * 1024;
/// Read buffer below the frame reader: a frame header and body are then usually one read.
pub const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Ids a session may report each way. Beyond this the sync stops collecting and reports itself
/// partial; the next sync continues. 2^18 ids are 8 MiB, the session's own riblt bound.
pub const DIFF_IDS_MAX: usize = 1 << 18;

/// How a sync ended badly. Nothing here carries item contents or paths.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("framing: {0}")]
    Frame(#[from] FrameError),
    #[error("the peer closed the stream early")]
    Closed,
    #[error("reconciliation failed: {0:?}")]
    Session(FailReason),
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    #[error("item hash mismatch (tampered or corrupt item)")]
    HashMismatch,
    /// A resumed item failed its hash: the kept prefix or the peer's rest was wrong. Not held
    /// against the peer (the prefix may be stale); the prefix is dropped and the next sync
    /// fetches the item whole.
    #[error("resumed item hash mismatch; the kept prefix is dropped")]
    ResumedHashMismatch,
    #[error("store: {0}")]
    Store(#[from] StoreActorError),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl SyncError {
    /// Whether the peer misbehaved (as opposed to a local fault or a lossy link), so that the
    /// caller disconnects it.
    pub fn is_hostile(&self) -> bool {
        matches!(
            self,
            SyncError::Frame(FrameError::Oversized { .. })
                | SyncError::Protocol(_)
                | SyncError::HashMismatch
        )
    }
}

/// What one sync did, from this side's point of view.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Report {
    /// Items the peer had and we lacked, per the reconciliation.
    pub need: u64,
    /// Items we had and the peer lacked.
    pub have: u64,
    /// Items received and newly stored here.
    pub items_received: u64,
    /// Items sent (fetched from us or pushed by us).
    pub items_sent: u64,
    /// Items the peer stored from our push (initiator only; from the peer's acknowledgement).
    pub items_stored_by_peer: u64,
    /// Items refused on either side (no valid location, or the import did not keep them).
    pub items_rejected: u64,
    /// Requested items the peer no longer held.
    pub items_missing: u64,
    pub item_bytes_received: u64,
    pub item_bytes_sent: u64,
    pub wire_bytes_received: u64,
    pub wire_bytes_sent: u64,
    /// CHUNK frames received and sent (item bodies travel in chunks of [`CHUNK_BYTES`]).
    pub chunks_received: u64,
    pub chunks_sent: u64,
    /// Items fetched from an offset (an earlier, interrupted transfer kept their prefix), and
    /// the prefix bytes that were therefore not sent again.
    pub items_resumed: u64,
    pub bytes_resumed: u64,
    /// Reconciliation round trips (session messages / 2, rounded up).
    pub round_trips: u64,
    /// Whether the difference exceeded [`DIFF_IDS_MAX`] and only part of it was transferred.
    pub partial: bool,
    pub duration_ms: u64,
    /// Where the time went (for benchmarks): reconciliation; waiting for fetched batches
    /// (the peer's store read plus transfer); our own store reads; waiting for our inserts.
    /// Inserts run while the next batch is received ([`FETCHES_IN_FLIGHT`]), so
    /// `store_insert_ms` is only the time the session was blocked on them, and
    /// `store_insert_busy_ms` the inserts' whole duration (overlapping `fetch_wait_ms`).
    pub reconcile_ms: u64,
    pub fetch_wait_ms: u64,
    pub store_read_ms: u64,
    pub store_insert_ms: u64,
    pub store_insert_busy_ms: u64,
    /// Insert batches (one transaction each): `store_insert_busy_ms` / this is the mean time
    /// per committed batch.
    pub store_insert_batches: u64,
}

/// One side of a sync stream.
struct Conn<W> {
    rx: mpsc::Receiver<Result<Vec<u8>, FrameError>>,
    writer: WriteHalf<W>,
    report: Report,
    /// Where fetched items keep their received prefix (initiator only).
    partials: Option<Arc<Partials>>,
    /// Frames not yet written ([`WRITE_BUFFER_BYTES`]).
    out: Vec<u8>,
}

impl<W: AsyncRead + AsyncWrite + Unpin> Conn<W> {
    fn new(
        rx: mpsc::Receiver<Result<Vec<u8>, FrameError>>,
        writer: WriteHalf<W>,
        partials: Option<Arc<Partials>>,
    ) -> Conn<W> {
        Conn {
            rx,
            writer,
            report: Report::default(),
            partials,
            out: Vec::with_capacity(WRITE_BUFFER_BYTES + PAYLOAD_BYTES_MAX),
        }
    }

    /// Sends a frame and everything queued before it, and flushes: for frames the peer waits
    /// on before it answers.
    async fn send(&mut self, tag: u8, body: &[u8]) -> Result<(), SyncError> {
        self.queue(tag, body).await?;
        self.write_out(true).await
    }

    /// Queues a frame (same wire format as `frame::write_payload`); writes the queue once it
    /// holds [`WRITE_BUFFER_BYTES`]. A later [`Conn::send`] flushes it.
    async fn queue(&mut self, tag: u8, body: &[u8]) -> Result<(), SyncError> {
        let len = body.len() + frame::TAG_BYTES;
        if len > PAYLOAD_BYTES_MAX {
            return Err(FrameError::Oversized {
                len: len as u64,
                cap: PAYLOAD_BYTES_MAX,
            }
            .into());
        }
        // Invariant: PAYLOAD_BYTES_MAX fits in u32 (checked above).
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.out.extend_from_slice(&len.to_be_bytes());
        self.out.push(tag);
        self.out.extend_from_slice(body);
        self.report.wire_bytes_sent += 5 + body.len() as u64;
        if self.out.len() >= WRITE_BUFFER_BYTES {
            self.write_out(false).await?;
        }
        Ok(())
    }

    async fn write_out(&mut self, flush: bool) -> Result<(), SyncError> {
        use futures::io::AsyncWriteExt;
        let io = |e: std::io::Error| SyncError::Frame(FrameError::Io(e.kind()));
        if !self.out.is_empty() {
            self.writer.write_all(&self.out).await.map_err(io)?;
            self.out.clear();
        }
        if flush {
            self.writer.flush().await.map_err(io)?;
        }
        Ok(())
    }

    /// Cancel-safe: a channel receive loses nothing when dropped.
    async fn recv(&mut self) -> Result<(u8, Vec<u8>), SyncError> {
        let mut payload = self.rx.recv().await.ok_or(SyncError::Closed)??;
        self.report.wire_bytes_received += 4 + payload.len() as u64;
        // Invariant: the reader never yields an empty payload (FrameError::Empty).
        let tag = payload.remove(0);
        Ok((tag, payload))
    }

    /// Sends an item from byte `offset` on (0 unless the peer resumes).
    async fn send_item(&mut self, item: &Item, offset: u32) -> Result<(), SyncError> {
        let size = u32::try_from(item.bytes.len())
            .ok()
            .filter(|s| (*s as usize) <= ITEM_BYTES_MAX);
        let Some(size) = size else {
            // Too large for the peer to accept; it will count it missing.
            return Ok(());
        };
        let offset = if offset < size { offset } else { 0 };
        let mut header = Vec::with_capacity(64);
        header.extend_from_slice(&item.id);
        header.extend_from_slice(&size.to_be_bytes());
        header.extend_from_slice(&offset.to_be_bytes());
        let locations: Vec<&Location> = item
            .locations
            .iter()
            .filter(|l| l.facility.len() == 10 && l.path.len() <= PATH_BYTES_MAX)
            .take(LOCATIONS_PER_ITEM_MAX)
            .collect();
        header.push(locations.len() as u8);
        for loc in locations {
            header.extend_from_slice(loc.facility.as_bytes());
            header.extend_from_slice(&(loc.path.len() as u16).to_be_bytes());
            header.extend_from_slice(&loc.path);
        }
        self.queue(TAG_ITEM, &header).await?;
        for chunk in item.bytes[offset as usize..].chunks(CHUNK_BYTES) {
            self.queue(TAG_CHUNK, chunk).await?;
            self.report.chunks_sent += 1;
        }
        self.report.items_sent += 1;
        self.report.item_bytes_sent += (item.bytes.len() - offset as usize) as u64;
        Ok(())
    }

    /// Receives the chunks of an item whose ITEM header is `header`, and checks its hash.
    async fn recv_item(&mut self, header: &[u8]) -> Result<Item, SyncError> {
        let bad = SyncError::Protocol("malformed ITEM header");
        let (id, rest) = header.split_first_chunk::<32>().ok_or(bad)?;
        let (size, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(SyncError::Protocol("malformed ITEM header"))?;
        let size = u32::from_be_bytes(*size) as usize;
        if size > ITEM_BYTES_MAX {
            return Err(SyncError::Protocol("item larger than ITEM_BYTES_MAX"));
        }
        let (offset, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(SyncError::Protocol("malformed ITEM header"))?;
        let offset = u32::from_be_bytes(*offset) as usize;
        let (&nloc, mut rest) = rest
            .split_first()
            .ok_or(SyncError::Protocol("malformed ITEM header"))?;
        if nloc as usize > LOCATIONS_PER_ITEM_MAX {
            return Err(SyncError::Protocol("too many locations"));
        }
        let mut locations = Vec::with_capacity(nloc as usize);
        for _ in 0..nloc {
            let (facility, after) = rest
                .split_first_chunk::<10>()
                .ok_or(SyncError::Protocol("malformed location"))?;
            let (len, after) = after
                .split_first_chunk::<2>()
                .ok_or(SyncError::Protocol("malformed location"))?;
            let len = u16::from_be_bytes(*len) as usize;
            if len > PATH_BYTES_MAX || after.len() < len {
                return Err(SyncError::Protocol("malformed location"));
            }
            let facility = std::str::from_utf8(facility)
                .map_err(|_| SyncError::Protocol("malformed facility"))?;
            locations.push(Location {
                facility: facility.to_owned(),
                path: after[..len].to_vec(),
            });
            rest = &after[len..];
        }
        if !rest.is_empty() {
            return Err(SyncError::Protocol("trailing bytes in ITEM"));
        }
        // A prefix is used only if we asked for this offset (we hold exactly that many bytes).
        let partials = self.partials.clone();
        let mut bytes = match (&partials, offset) {
            (_, 0) => Vec::with_capacity(size.min(CHUNK_BYTES)),
            (Some(p), offset) if offset < size => p
                .read(id, offset as u64)
                .ok_or(SyncError::Protocol("ITEM offset we did not ask for"))?,
            _ => return Err(SyncError::Protocol("ITEM offset we did not ask for")),
        };
        let resumed = offset > 0;
        let mut writer: Option<PartialWriter> = match &partials {
            Some(p) if size > CHUNK_BYTES => p.writer(id, size as u64, offset as u64),
            _ => None,
        };
        while bytes.len() < size {
            let (tag, chunk) = self.recv().await?;
            if tag != TAG_CHUNK || chunk.len() > CHUNK_BYTES || bytes.len() + chunk.len() > size {
                return Err(SyncError::Protocol("bad CHUNK"));
            }
            bytes.extend_from_slice(&chunk);
            self.report.chunks_received += 1;
            if let Some(w) = &mut writer
                && w.append(&chunk).is_err()
            {
                // The staging area is full or gone: go on without a partial.
                writer = None;
                if let Some(p) = &partials {
                    p.remove(id);
                }
            }
        }
        drop(writer);
        if let Some(p) = &partials {
            p.remove(id);
        }
        let item = Item {
            id: *id,
            bytes,
            locations,
        };
        if !item.hash_matches() {
            return Err(if resumed {
                SyncError::ResumedHashMismatch
            } else {
                SyncError::HashMismatch
            });
        }
        if resumed {
            self.report.items_resumed += 1;
            self.report.bytes_resumed += offset as u64;
        }
        self.report.item_bytes_received += (item.bytes.len() - offset) as u64;
        Ok(item)
    }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Fetch batches requested ahead of the one being received: the responder reads the next
/// batch from its store while this side receives and stores the current one. Two bound what
/// the responder queues for us to one batch beyond the one it is sending.
pub const FETCHES_IN_FLIGHT: usize = 2;

/// At most one insert running on the store thread while the stream is read on: the next
/// insert batch waits for the previous one (so at most two insert batches are held per peer),
/// and the store thread keeps batches in order.
struct Inserter {
    running: Option<tokio::task::JoinHandle<(Result<Inserted, StoreActorError>, u64)>>,
    stored: u64,
    rejected: u64,
    /// Time the session spent waiting for inserts to finish.
    waited_ms: u64,
    /// Time the inserts took on the store thread (overlaps with receiving).
    busy_ms: u64,
    /// Inserts started.
    batches: u64,
}

impl Inserter {
    fn new() -> Inserter {
        Inserter {
            running: None,
            stored: 0,
            rejected: 0,
            waited_ms: 0,
            busy_ms: 0,
            batches: 0,
        }
    }

    /// Waits for the running insert, if any, and counts its result.
    async fn finish(&mut self) -> Result<(), SyncError> {
        let Some(task) = self.running.take() else {
            return Ok(());
        };
        let waiting = Instant::now();
        let joined = task.await;
        self.waited_ms += millis(waiting);
        let (result, took) = joined.map_err(|_| StoreActorError::Stopped)?;
        self.busy_ms += took;
        let inserted = result?;
        self.stored += inserted.stored;
        self.rejected += inserted.rejected;
        Ok(())
    }

    /// Starts storing `items` once the previous insert is done.
    async fn start(&mut self, store: &StoreHandle, items: Vec<Item>) -> Result<(), SyncError> {
        self.finish().await?;
        if items.is_empty() {
            return Ok(());
        }
        let store = store.clone();
        self.batches += 1;
        self.running = Some(tokio::spawn(async move {
            let started = Instant::now();
            let result = store.insert(items).await;
            (result, millis(started))
        }));
        Ok(())
    }
}

/// FETCH body: each id with the byte offset to send it from.
fn fetch_body(entries: &[([u8; 32], u32)]) -> Vec<u8> {
    let mut body = Vec::with_capacity(entries.len() * 36);
    for (id, offset) in entries {
        body.extend_from_slice(id);
        body.extend_from_slice(&offset.to_be_bytes());
    }
    body
}

fn parse_fetch(body: &[u8]) -> Result<Vec<([u8; 32], u32)>, SyncError> {
    let (entries, rest) = body.as_chunks::<36>();
    if !rest.is_empty() || entries.is_empty() || entries.len() > FETCH_IDS_MAX {
        return Err(SyncError::Protocol("malformed FETCH"));
    }
    Ok(entries
        .iter()
        .map(|e| {
            let (id, offset) = e.split_at(32);
            let mut i = [0u8; 32];
            i.copy_from_slice(id);
            let mut o = [0u8; 4];
            o.copy_from_slice(offset);
            (i, u32::from_be_bytes(o))
        })
        .collect())
}

/// The difference found by reconciliation.
struct Diff {
    have: Vec<[u8; 32]>,
    need: Vec<[u8; 32]>,
}

/// Drives one session to Done over the stream (house style 1: the core stays sans-IO; this loop
/// is the polling order documented on `Session`: transmit, events, timeout).
async fn reconcile<W: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<W>,
    set: &RwLock<MemItemSet>,
    initiator: bool,
) -> Result<Diff, SyncError> {
    let base = Instant::now();
    let now = || Millis(base.elapsed().as_millis() as u64);
    let read = || set.read().unwrap_or_else(|p| p.into_inner());
    let config = Config::default();
    let mut session = if initiator {
        Session::initiator(&*read(), config, now())
    } else {
        Session::responder(config, now())
    };
    let (mut have, mut need) = (HashSet::new(), HashSet::new());
    let collect = |into: &mut HashSet<[u8; 32]>, ids: Vec<ItemId>, partial: &mut bool| {
        for id in ids {
            if into.len() >= DIFF_IDS_MAX {
                *partial = true;
                return;
            }
            into.insert(id.0);
        }
    };
    loop {
        if let Some(frame) = session.poll_transmit() {
            conn.send(TAG_RECONCILE, &frame).await?;
        }
        let mut finished = None;
        while let Some(event) = session.poll_event() {
            match event {
                Event::Have(ids) => collect(&mut have, ids, &mut conn.report.partial),
                Event::Need(ids) => collect(&mut need, ids, &mut conn.report.partial),
                Event::Done => finished = Some(Ok(())),
                Event::Failed(reason) => finished = Some(Err(SyncError::Session(reason))),
            }
        }
        if let Some(result) = finished {
            // A reliable stream never loses the final frame, so the session need not linger.
            result?;
            let stats = session.stats();
            conn.report.round_trips = (stats.messages_sent + stats.messages_received).div_ceil(2);
            let mut diff = Diff {
                have: have.into_iter().collect(),
                need: need.into_iter().collect(),
            };
            // Sorted so that transfers are deterministic (and tests reproducible).
            diff.have.sort_unstable();
            diff.need.sort_unstable();
            conn.report.have = diff.have.len() as u64;
            conn.report.need = diff.need.len() as u64;
            return Ok(diff);
        }
        let deadline = session
            .poll_timeout()
            .map(|t| base + Duration::from_millis(t.0));
        tokio::select! {
            received = conn.recv() => {
                let (tag, body) = received?;
                if tag != TAG_RECONCILE {
                    return Err(SyncError::Protocol("non-reconcile frame during reconciliation"));
                }
                session
                    .handle_message(&*read(), &body, now())
                    .map_err(|_| SyncError::Protocol("events not drained"))?;
            }
            () = sleep_until_opt(deadline) => session.handle_timeout(now()),
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs a whole sync as the initiator on a freshly opened stream.
///
/// Cancel-safety: dropping the future abandons the stream (the peer sees it reset); items
/// already acknowledged by an insert stay stored.
pub async fn initiate<S>(stream: S, store: &StoreHandle) -> Result<Report, SyncError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let started = Instant::now();
    let (reader, writer) = futures::io::AsyncReadExt::split(stream);
    let reader = futures::io::BufReader::with_capacity(READ_BUFFER_BYTES, reader);
    let rx = frame::spawn_reader(reader, PAYLOAD_BYTES_MAX);
    let mut conn = Conn::new(rx, writer, Some(Arc::clone(&store.partials)));
    let diff = reconcile(&mut conn, &store.set, true).await?;
    conn.report.reconcile_ms = millis(started);
    let batches: Vec<&[[u8; 32]]> = diff.need.chunks(FETCH_IDS_MAX).collect();
    let mut inserter = Inserter::new();
    let mut pending: Vec<Item> = Vec::new();
    let mut pending_bytes = 0usize;
    let mut fetched = 0;
    for (index, batch) in batches.iter().enumerate() {
        // Keep FETCHES_IN_FLIGHT requests out (the first pass sends the first ones).
        while fetched < batches.len() && fetched < index + FETCHES_IN_FLIGHT {
            let entries: Vec<([u8; 32], u32)> = batches[fetched]
                .iter()
                .map(|id| {
                    let held = store.partials.offset(id);
                    (*id, u32::try_from(held).unwrap_or(0))
                })
                .collect();
            conn.send(TAG_FETCH, &fetch_body(&entries)).await?;
            fetched += 1;
        }
        let asked = Instant::now();
        let requested: HashSet<[u8; 32]> = batch.iter().copied().collect();
        let mut received = Vec::new();
        let mut seen = HashSet::new();
        loop {
            let (tag, body) = conn.recv().await?;
            match tag {
                TAG_ITEM => {
                    let item = conn.recv_item(&body).await?;
                    if !requested.contains(&item.id) || !seen.insert(item.id) {
                        return Err(SyncError::Protocol("unrequested item"));
                    }
                    received.push(item);
                }
                TAG_MISSING => conn.report.items_missing += 1,
                TAG_BATCH_END => break,
                _ => return Err(SyncError::Protocol("unexpected frame while fetching")),
            }
        }
        conn.report.fetch_wait_ms += millis(asked);
        for item in received {
            pending_bytes += item.bytes.len();
            pending.push(item);
        }
        if pending.len() >= INSERT_BATCH_ITEMS || pending_bytes >= INSERT_BATCH_BYTES {
            // Stored while the next batches arrive.
            inserter.start(store, std::mem::take(&mut pending)).await?;
            pending_bytes = 0;
        }
    }
    inserter.start(store, pending).await?;
    inserter.finish().await?;
    conn.report.store_insert_ms += inserter.waited_ms;
    conn.report.store_insert_busy_ms += inserter.busy_ms;
    conn.report.store_insert_batches += inserter.batches;
    conn.report.items_received += inserter.stored;
    conn.report.items_rejected += inserter.rejected;
    for batch in diff.have.chunks(FETCH_IDS_MAX) {
        let reading = Instant::now();
        let items = store.read(batch.to_vec()).await?;
        conn.report.store_read_ms += millis(reading);
        for item in items {
            conn.send_item(&item, 0).await?;
        }
    }
    conn.send(TAG_PUSH_END, &[]).await?;
    let (tag, body) = conn.recv().await?;
    let ack: Option<&[u8; 8]> = body.as_slice().try_into().ok();
    match (tag, ack) {
        (TAG_PUSH_ACK, Some(ack)) => {
            let stored = u32::from_be_bytes([ack[0], ack[1], ack[2], ack[3]]);
            let rejected = u32::from_be_bytes([ack[4], ack[5], ack[6], ack[7]]);
            conn.report.items_stored_by_peer = stored.into();
            conn.report.items_rejected += u64::from(rejected);
        }
        _ => return Err(SyncError::Protocol("expected PUSH_ACK")),
    }
    conn.send(TAG_CLOSE, &[]).await?;
    // Closing our write half tells the peer we are done; errors here change nothing.
    let _ = futures::io::AsyncWriteExt::close(&mut conn.writer).await;
    // Wait for the peer to close its side: it has then read CLOSE, so exiting now (as the
    // one-shot `kizuna sync` does) cannot cut the frame off and leave the peer waiting for an
    // idle timeout. Bounded by the caller's session timeout; stray frames are ignored.
    while conn.rx.recv().await.is_some() {}
    conn.report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(conn.report)
}

/// Serves one sync as the responder on an accepted stream. Cancel-safety as [`initiate`].
pub async fn respond<S>(stream: S, store: &StoreHandle) -> Result<Report, SyncError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let started = Instant::now();
    let (reader, writer) = futures::io::AsyncReadExt::split(stream);
    let reader = futures::io::BufReader::with_capacity(READ_BUFFER_BYTES, reader);
    let rx = frame::spawn_reader(reader, PAYLOAD_BYTES_MAX);
    let mut conn = Conn::new(rx, writer, None);
    let diff = reconcile(&mut conn, &store.set, false).await?;
    conn.report.reconcile_ms = millis(started);
    let mut acceptable: HashSet<[u8; 32]> = diff.need.iter().copied().collect();
    let mut pending: Vec<Item> = Vec::new();
    let mut pending_bytes = 0usize;
    let mut inserter = Inserter::new();
    loop {
        let (tag, body) = conn.recv().await?;
        match tag {
            // The initiator may finish its session a frame before we see our last one
            // acknowledged; a stray reconcile frame after Done carries nothing we need.
            TAG_RECONCILE => {}
            TAG_FETCH => {
                let entries = parse_fetch(&body)?;
                let offsets: std::collections::HashMap<[u8; 32], u32> =
                    entries.iter().copied().collect();
                let ids: Vec<[u8; 32]> = entries.iter().map(|(id, _)| *id).collect();
                let reading = Instant::now();
                let items = store.read(ids.clone()).await?;
                conn.report.store_read_ms += millis(reading);
                let held: HashSet<[u8; 32]> = items.iter().map(|i| i.id).collect();
                for item in &items {
                    let offset = offsets.get(&item.id).copied().unwrap_or(0);
                    conn.send_item(item, offset).await?;
                }
                for id in ids.iter().filter(|id| !held.contains(*id)) {
                    conn.queue(TAG_MISSING, id).await?;
                }
                conn.send(TAG_BATCH_END, &[]).await?;
            }
            TAG_ITEM => {
                let item = conn.recv_item(&body).await?;
                if !acceptable.remove(&item.id) {
                    return Err(SyncError::Protocol("pushed item we did not need"));
                }
                pending_bytes += item.bytes.len();
                pending.push(item);
                if pending.len() >= INSERT_BATCH_ITEMS || pending_bytes >= INSERT_BATCH_BYTES {
                    inserter.start(store, std::mem::take(&mut pending)).await?;
                    pending_bytes = 0;
                }
            }
            TAG_PUSH_END => {
                inserter.start(store, std::mem::take(&mut pending)).await?;
                inserter.finish().await?;
                pending_bytes = 0;
                conn.report.store_insert_ms = inserter.waited_ms;
                conn.report.store_insert_busy_ms = inserter.busy_ms;
                conn.report.store_insert_batches = inserter.batches;
                let (stored, rejected) = (inserter.stored, inserter.rejected);
                conn.report.items_received = stored;
                conn.report.items_rejected = rejected;
                let mut ack = Vec::with_capacity(8);
                ack.extend_from_slice(&u32::try_from(stored).unwrap_or(u32::MAX).to_be_bytes());
                ack.extend_from_slice(&u32::try_from(rejected).unwrap_or(u32::MAX).to_be_bytes());
                conn.send(TAG_PUSH_ACK, &ack).await?;
            }
            TAG_CLOSE => break,
            _ => return Err(SyncError::Protocol("unexpected frame")),
        }
    }
    let _ = futures::io::AsyncWriteExt::close(&mut conn.writer).await;
    conn.report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(conn.report)
}
