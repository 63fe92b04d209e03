//! The store actor: one OS thread owns the [`Store`] (a rusqlite connection, which is not
//! `Sync` and does blocking I/O) and answers requests from async tasks over a bounded channel.
//!
//! The sync protocol reads the item set through [`MemItemSet`], shared behind an `RwLock`:
//! built from `Store::visit_locations` at startup and updated here after every insert. **First
//! version**: the store keeps no incremental fingerprints yet, so this costs O(N) memory
//! (~100 bytes per item) and an O(N) scan at startup; the sync engineers will give the store
//! its own `ItemSet` later, and then this copy goes away.
//!
//! Received items are stored with `Store::insert_received`: the import's per-file rules (path
//! grammar, quarantine, flag renames, dedup, patient index) applied to the bytes in memory, one
//! committed transaction per batch, no plaintext on disk. The `inbox` directory now holds only
//! the prefixes of interrupted transfers (`partial.rs`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use kizuna_storage::store::{ImportSummary, Received, RepackOptions, RepackSummary, Store};
use kizuna_sync::{ItemId, ItemSet, Key, MemItemSet};

use super::partial::Partials;
use super::status::ClassCounts;
use ring::digest;
use tokio::sync::{mpsc, oneshot, watch};

use super::mirror::{Mirror, MirrorStats};

/// Requests waiting for the store thread. Small: each holds at most one batch, and a full
/// queue makes sync tasks wait (backpressure) rather than buffer.
const REQUESTS_MAX: usize = 16;
/// Locations carried per item. An item (one exact byte string) sits at a handful of paths at
/// most (same message stored by several facilities); more means a hostile or broken peer.
pub const LOCATIONS_PER_ITEM_MAX: usize = 16;
/// Relative paths are `patient-prefix/patient/date/type/file`: far below this.
pub const PATH_BYTES_MAX: usize = 512;
/// Components of a relative path (mirrors the store's export rule).
const PATH_COMPONENTS_MAX: usize = 16;
/// Chunks (≤ 1,024 items each) one repack turn commits before the thread looks at its queue
/// again: a chunk takes ≈ 0.06 s (24 chunks in 1.4 s at 2,000 patients, ARCHITECTURE.md
/// "Repack"), so a request waits about a second at most.
pub const REPACK_CHUNKS_PER_TURN: u64 = 16;
/// While a replica fills, a repack starts once the small packs reach 1/this of the items held
/// (and at least `REPACK_AFTER_SMALL_PACKS`). Every repack lists candidates with one scan of
/// the item rows, so a fixed threshold would scan the growing store once per few insert
/// batches (quadratic: measured at 2,000 patients, a repack after every 1,024-item batch moved
/// each item 2.2 times and added 3.4 s to a 7.3 s sync); a fraction makes the scans a geometric
/// series (≈ 5 × the store in all) at the cost of up to a quarter of the items sitting in
/// one-item packs until the next turn or the session's end.
const REPACK_SMALL_FRACTION: u64 = 4;

/// Every item is keyed with timestamp 0: the store records no creation time that both peers
/// would agree on, and keys must be identical on both sides for the same item. Ordering falls
/// back to the id (SHA-256), which spreads items uniformly over the key space.
pub fn key_of(id: [u8; 32]) -> Key {
    Key::new(0, ItemId(id))
}

/// Where an item sits: facility code and relative path below that facility's storage root.
/// The path holds a patient ID: it is sent only to members and never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Location {
    pub facility: String,
    pub path: Vec<u8>,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The path names a patient: keep it out of any debug output.
        f.debug_struct("Location")
            .field("facility", &self.facility)
            .finish_non_exhaustive()
    }
}

/// An item with its bytes and locations, as sent or received.
pub struct Item {
    pub id: [u8; 32],
    pub bytes: Vec<u8>,
    pub locations: Vec<Location>,
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Item")
            .field("size", &self.bytes.len())
            .field("locations", &self.locations.len())
            .finish_non_exhaustive()
    }
}

impl Item {
    pub fn hash_matches(&self) -> bool {
        digest::digest(&digest::SHA256, &self.bytes).as_ref() == self.id
    }
}

/// What an insert did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Items the store holds afterwards that it did not before.
    pub stored: u64,
    /// Items refused: no valid location, or the import did not keep them.
    pub rejected: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreActorError {
    #[error("the store thread has stopped")]
    Stopped,
    #[error("store failure: {0}")]
    Store(String),
    #[error("starting the store thread: {0}")]
    Thread(std::io::ErrorKind),
}

enum Request {
    Read {
        ids: Vec<[u8; 32]>,
        reply: oneshot::Sender<Result<Vec<Item>, StoreActorError>>,
    },
    Insert {
        items: Vec<Item>,
        reply: oneshot::Sender<Result<Inserted, StoreActorError>>,
    },
    /// Live ingest: import these files below `root` (`daemon/ingest.rs`).
    ImportFiles {
        root: PathBuf,
        files: Vec<PathBuf>,
        reply: oneshot::Sender<Result<Ingested, StoreActorError>>,
    },
    /// The ingest's safety net: a full (stat-skipping) import of the roots.
    Rescan {
        roots: Vec<PathBuf>,
        reply: oneshot::Sender<Result<Ingested, StoreActorError>>,
    },
    /// Hub role: mirror every stored item into the central tree from now on.
    Mirror(Box<Mirror>),
    /// A sync session that stored items ended: merge the small packs it left when idle.
    RepackSoon,
    /// Merge small packs now, to the end (the one-shot `kizuna sync` before it exits).
    Repack {
        reply: oneshot::Sender<Result<RepackSummary, StoreActorError>>,
    },
}

/// What an ingest request did. Counts only.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ingested {
    pub summary: ImportSummary,
    /// Items added to the sync set.
    pub new_items: u64,
    /// Files written into the central tree (hub only).
    pub mirrored: MirrorStats,
}

/// A handle to the store thread. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct StoreHandle {
    tx: mpsc::Sender<Request>,
    pub set: Arc<RwLock<MemItemSet>>,
    /// Items by class (operations: `status.rs`), kept current by inserts.
    pub classes: Arc<Mutex<ClassCounts>>,
    /// Prefixes of interrupted item transfers (`partial.rs`).
    pub partials: Arc<Partials>,
    /// Bumped whenever the set grows (sync or ingest): the scheduler syncs soon after.
    pub changed: Arc<watch::Sender<u64>>,
}

impl StoreHandle {
    /// Builds the item set from the store and starts the thread that owns it.
    ///
    /// `classes`: count items by class (decrypts every path once; the daemon's status shows
    /// the counts). Without it the set is listed from the item hashes alone, as the one-shot
    /// `kizuna sync` needs: its start is most of a small delta's time at 200,000 items.
    pub fn start(
        store: Store,
        inbox: PathBuf,
        classes: bool,
        repack: bool,
    ) -> Result<StoreHandle, StoreActorError> {
        let mut keys = Vec::new();
        let want_classes = classes;
        let mut classes = ClassCounts::default();
        let listed = if want_classes {
            let mut seen = HashSet::new();
            store.visit_locations(|loc| {
                keys.push(key_of(loc.hash));
                if seen.insert(loc.hash) {
                    classes.add(&loc.relative_path, loc.quarantined);
                }
            })
        } else {
            store.visit_held_hashes(|hash| keys.push(key_of(hash)))
        };
        listed.map_err(|e| StoreActorError::Store(e.to_string()))?;
        let classes = Arc::new(Mutex::new(classes));
        // Partials are named by this node's peer id, so nodes sharing an inbox keep apart.
        let public: Option<[u8; 32]> = store.node().identity_public.as_slice().try_into().ok();
        let name = public
            .and_then(|p| crate::region::PublicKey32(p).peer_id())
            .map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        let partials = Arc::new(Partials::new(&inbox, &name));
        keys.sort();
        keys.dedup();
        let set = MemItemSet::from_keys(keys)
            .map_err(|_| StoreActorError::Store("building the item set".into()))?;
        let set = Arc::new(RwLock::new(set));
        let (tx, rx) = mpsc::channel(REQUESTS_MAX);
        let thread_set = Arc::clone(&set);
        let thread_classes = Arc::clone(&classes);
        let changed = Arc::new(watch::Sender::new(0u64));
        let thread_changed = Arc::clone(&changed);
        std::thread::Builder::new()
            .name("kizuna-store".into())
            .spawn(move || {
                serve(
                    store,
                    rx,
                    thread_set,
                    thread_classes,
                    &thread_changed,
                    repack,
                )
            })
            .map_err(|e| StoreActorError::Thread(e.kind()))?;
        Ok(StoreHandle {
            tx,
            set,
            classes,
            partials,
            changed,
        })
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreActorError>>) -> Request,
    ) -> Result<T, StoreActorError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| StoreActorError::Stopped)?;
        rx.await.map_err(|_| StoreActorError::Stopped)?
    }

    /// Imports changed files below one ingest root and adds their items to the set.
    pub async fn import_files(
        &self,
        root: PathBuf,
        files: Vec<PathBuf>,
    ) -> Result<Ingested, StoreActorError> {
        self.ask(|reply| Request::ImportFiles { root, files, reply })
            .await
    }

    /// Full import of the roots (stat-skipping), then the set is rebuilt if anything was new.
    pub async fn rescan(&self, roots: Vec<PathBuf>) -> Result<Ingested, StoreActorError> {
        self.ask(|reply| Request::Rescan { roots, reply }).await
    }

    /// Starts mirroring into the central tree; runs a full mirror pass first.
    pub async fn enable_mirror(&self, mirror: Mirror) -> Result<(), StoreActorError> {
        self.tx
            .send(Request::Mirror(Box::new(mirror)))
            .await
            .map_err(|_| StoreActorError::Stopped)
    }

    /// Asks the store thread to merge small packs when it is idle (after a sync session that
    /// stored items). Never waits: a full queue means the thread is busy, and its own
    /// threshold starts a repack later anyway.
    pub fn repack_soon(&self) {
        let _ = self.tx.try_send(Request::RepackSoon);
    }

    /// Merges small packs to the end and reports what moved.
    pub async fn repack(&self) -> Result<RepackSummary, StoreActorError> {
        self.ask(|reply| Request::Repack { reply }).await
    }

    /// Reads items by id with their locations; absent ids are left out.
    ///
    /// Cancel-safe: dropping the future drops the reply; the store thread finishes the read and
    /// discards it.
    pub async fn read(&self, ids: Vec<[u8; 32]>) -> Result<Vec<Item>, StoreActorError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Read { ids, reply })
            .await
            .map_err(|_| StoreActorError::Stopped)?;
        rx.await.map_err(|_| StoreActorError::Stopped)?
    }

    /// Stores items whose hashes the caller has checked.
    ///
    /// Not cancel-safe in effect: the store thread completes the import even if the future is
    /// dropped, so the items may be stored without the caller learning it (a later sync sees
    /// them as already present, which is harmless).
    pub async fn insert(&self, items: Vec<Item>) -> Result<Inserted, StoreActorError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Insert { items, reply })
            .await
            .map_err(|_| StoreActorError::Stopped)?;
        rx.await.map_err(|_| StoreActorError::Stopped)?
    }
}

fn serve(
    mut store: Store,
    mut rx: mpsc::Receiver<Request>,
    set: Arc<RwLock<MemItemSet>>,
    classes: Arc<Mutex<ClassCounts>>,
    changed: &watch::Sender<u64>,
    repack: bool,
) {
    let mut mirror: Option<Box<Mirror>> = None;
    let mut repack_wanted = false;
    while let Some(request) = rx.blocking_recv() {
        let before = set.read().map_or(0, |s| ItemSet::len(&*s).unwrap_or(0));
        match request {
            Request::Read { ids, reply } => {
                let _ = reply.send(read(&store, &ids));
            }
            Request::Insert { items, reply } => {
                let result = insert(&mut store, &set, &items);
                if let Ok((_, added)) = &result {
                    let mut c = classes.lock().unwrap_or_else(|p| p.into_inner());
                    c.emergency += added.emergency;
                    c.routine += added.routine;
                    c.other += added.other;
                    c.quarantined += added.quarantined;
                }
                if let (Some(m), Ok(_)) = (mirror.as_deref_mut(), &result) {
                    super::ingest::mirror_items(m, &store, &items);
                }
                let _ = reply.send(result.map(|(inserted, _)| inserted));
            }
            Request::ImportFiles { root, files, reply } => {
                let result = super::ingest::import_files(
                    &mut store,
                    &set,
                    &classes,
                    mirror.as_deref_mut(),
                    &root,
                    &files,
                );
                let _ = reply.send(result);
            }
            Request::Rescan { roots, reply } => {
                let result = super::ingest::rescan(
                    &mut store,
                    &set,
                    &classes,
                    mirror.as_deref_mut(),
                    &roots,
                );
                let _ = reply.send(result);
            }
            Request::RepackSoon => repack_wanted = true,
            Request::Repack { reply } => {
                let result = store
                    .repack(RepackOptions::default())
                    .map_err(|e| StoreActorError::Store(e.to_string()));
                if let Ok(s) = &result {
                    log_repack(s);
                }
                let _ = reply.send(result);
            }
            Request::Mirror(mut m) => {
                let stats = m.full_pass(&store);
                tracing::info!(
                    written = stats.written,
                    existing = stats.existing,
                    failed = stats.failed,
                    "central mirror enabled"
                );
                mirror = Some(m);
            }
        }
        let after = set.read().map_or(0, |s| ItemSet::len(&*s).unwrap_or(0));
        if after != before {
            changed.send_modify(|n| *n += 1);
            let (items, digest) =
                super::digest::of_set(&set.read().unwrap_or_else(|p| p.into_inner()));
            // Machine-readable for operators and tests: counts and a set digest, no ids.
            tracing::info!(items, digest = %digest, "item set changed");
        }
        if repack {
            repack_wanted = repack_when_idle(&mut store, &rx, repack_wanted, after);
        }
    }
}

/// Merges small packs in bounded turns while no request waits, once enough accumulated
/// (`REPACK_SMALL_FRACTION` of the `held` items, at least `REPACK_AFTER_SMALL_PACKS`: replicas
/// fill one item per pack) or a sync session asked for it. Returns whether a repack is still wanted. A failed repack leaves every item readable
/// (the storage crate's guarantee); it is logged and retried at the next trigger.
fn repack_when_idle(
    store: &mut Store,
    rx: &mpsc::Receiver<Request>,
    wanted: bool,
    held: u64,
) -> bool {
    let threshold =
        kizuna_storage::store::REPACK_AFTER_SMALL_PACKS.max(held / REPACK_SMALL_FRACTION);
    loop {
        let small = store.small_packs_sealed();
        let due = small >= threshold || (wanted && small > 0);
        if !due {
            return false;
        }
        if !rx.is_empty() {
            return wanted;
        }
        match store.repack(RepackOptions {
            chunks_max: Some(REPACK_CHUNKS_PER_TURN),
            ..RepackOptions::default()
        }) {
            Ok(s) => {
                log_repack(&s);
                if s.done {
                    return false;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "repack failed; items stay in their packs");
                return false;
            }
        }
    }
}

fn log_repack(s: &RepackSummary) {
    // Counts only.
    tracing::info!(
        items_moved = s.items_moved,
        packs_removed = s.packs_removed,
        packs_written = s.packs_written,
        sealed_before = s.sealed_before,
        sealed_after = s.sealed_after,
        unreadable = s.unreadable,
        done = s.done,
        ms = (s.seconds * 1000.0) as u64,
        "packs merged"
    );
}

/// Reads bytes and locations. Locations come from one pass over `visit_locations` per batch:
/// O(N) per batch, acceptable for a first version (a store index by hash removes it).
fn read(store: &Store, ids: &[[u8; 32]]) -> Result<Vec<Item>, StoreActorError> {
    let mut items: Vec<Item> = Vec::with_capacity(ids.len());
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(*id) {
            continue;
        }
        let Some(bytes) = store
            .item(id)
            .map_err(|e| StoreActorError::Store(e.to_string()))?
        else {
            continue;
        };
        let mut locations = Vec::new();
        // One indexed lookup per item (schema 6), not a scan of every location per batch.
        store
            .locations_of(id, LOCATIONS_PER_ITEM_MAX, |loc| {
                locations.push(Location {
                    facility: loc.facility,
                    path: loc.relative_path,
                });
            })
            .map_err(|e| StoreActorError::Store(e.to_string()))?;
        items.push(Item {
            id: *id,
            bytes,
            locations,
        });
    }
    Ok(items)
}

/// Splits a relative path into plain components, refusing anything that could leave the
/// staging directory (the same rule as the store's export).
pub fn safe_components(path: &[u8]) -> Option<Vec<&str>> {
    let text = std::str::from_utf8(path).ok()?;
    let parts: Vec<&str> = text.split('/').collect();
    if parts.is_empty() || parts.len() > PATH_COMPONENTS_MAX || path.len() > PATH_BYTES_MAX {
        return None;
    }
    let plain = |p: &&str| {
        !p.is_empty() && *p != "." && *p != ".." && !p.contains('\\') && !p.contains('\0')
    };
    parts.iter().all(plain).then_some(parts)
}

fn insert(
    store: &mut Store,
    set: &RwLock<MemItemSet>,
    items: &[Item],
) -> Result<(Inserted, ClassCounts), StoreActorError> {
    // One entry per (item, location) that passes the node's own path rule; the store applies
    // the import's rules (and refuses what could not come from a tree) itself.
    let mut received = Vec::new();
    let mut owner = Vec::new();
    for (index, item) in items.iter().enumerate() {
        for loc in &item.locations {
            if safe_components(&loc.path).is_none()
                || !crate::region::is_facility_code(&loc.facility)
            {
                continue;
            }
            received.push(Received {
                facility: &loc.facility,
                relative_path: &loc.path,
                bytes: &item.bytes,
            });
            owner.push(index);
        }
    }
    // The store's rename rule needs a version's lower flag before its higher one, as a
    // directory walk (sorted by name) would give them; a batch is sorted the same way.
    let mut order: Vec<usize> = (0..received.len()).collect();
    order.sort_by(|&a, &b| {
        (received[a].facility, received[a].relative_path)
            .cmp(&(received[b].facility, received[b].relative_path))
    });
    let sorted: Vec<Received<'_>> = order.iter().map(|&i| received[i]).collect();
    let (_, outcomes) = if sorted.is_empty() {
        Default::default()
    } else {
        store
            .insert_received(&sorted)
            .map_err(|e| StoreActorError::Store(e.to_string()))?
    };
    // Per item: held at some location, and quarantined at its first held one.
    let mut held: Vec<Option<(bool, usize)>> = vec![None; items.len()];
    for (&i, outcome) in order.iter().zip(&outcomes) {
        let item = owner[i];
        if outcome.held() && held[item].is_none() {
            held[item] = Some((outcome.quarantined(), i));
        }
    }
    let mut inserted = Inserted::default();
    let mut classes = ClassCounts::default();
    for (item, held) in items.iter().zip(held) {
        let Some((quarantined, first)) = held else {
            inserted.rejected += 1;
            continue;
        };
        // Invariant: a poisoned lock means a panic elsewhere, which is already a bug; keep the
        // set usable rather than cascade.
        let mut set = set.write().unwrap_or_else(|p| p.into_inner());
        if set.insert(key_of(item.id)).unwrap_or(false) {
            inserted.stored += 1;
            classes.add(received[first].relative_path, quarantined);
        }
    }
    Ok((inserted, classes))
}

#[cfg(test)]
mod tests {
    use super::safe_components;

    #[test]
    fn paths_that_could_escape_are_refused() {
        assert!(safe_components(b"000/0000000001/20240101/ADT-00/f_1").is_some());
        for bad in [
            &b""[..],
            b"/abs",
            b"a//b",
            b"a/../b",
            b"./a",
            b"a\\b",
            b"a\0b",
            b"\xff",
        ] {
            assert!(safe_components(bad).is_none(), "{bad:?}");
        }
        let deep = "a/".repeat(20) + "a";
        assert!(safe_components(deep.as_bytes()).is_none());
    }
}
