//! `import`: standardized-storage trees into the store, incrementally.
//!
//! Per file, in path order:
//! 1. Token of (facility, relative path). If a location with that token exists and the file's
//!    stat token (size, mtime, inode, device) is unchanged, skip it without reading: this is
//!    what makes a re-import cost a directory walk instead of a read of every byte.
//! 2. Read (bounded by `FILE_BYTES_MAX`), hash, and run the validator (`check::check_file`).
//! 3. Store the item unless its hash is present (dedup across paths and facilities).
//! 4. Record the location: quarantined with the error codes when the validator says `error`;
//!    otherwise with patient and version tokens. A new path whose version (the first six name
//!    fields) is already stored with the same bytes and a lower-ranked condition flag is a
//!    rename (`_1` → `_2`, `_1`/`_2` → `_0`): the existing location moves, no bytes are added.
//!
//! Files are committed in batches of at most [`BATCH_FILES_MAX`] files or [`BATCH_BYTES_MAX`]
//! read bytes, one transaction each, under `synchronous=FULL`. A killed import loses at most the
//! open batch; the re-run skips what was committed (step 1) and redoes the rest.
//!
//! Steps 1–2 (and the validator) run on a scanner thread, steps 3–4 and the commits on the
//! caller's thread (`import_inner`). Memory is bounded: the files in flight between them
//! ([`AHEAD_BYTES_MAX`], [`AHEAD_CHUNKS_MAX`] × [`CHUNK_FILES_MAX`]), one directory listing per
//! level of the walk (walkdir sorts per directory), and SQLite's bounded page cache.

use std::fs;
use std::io::Read;
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::time::Instant;

use ring::rand::SystemRandom;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

use super::codec::Codecs;
use super::crypto::{self, Keys, Token, label};
use super::error::{DbError, ImportError, IoError, db, io};
use super::item::{self, PutError};
use super::schema::{LOCATION_PATIENT_TOKEN_LEN, PATH_PREFIX_LEN};
use super::{Store, is_facility_code};
use crate::ssmix2::check::{self, FILE_BYTES_MAX, Level, Verdict};
use crate::ssmix2::path::{ConditionFlag, FileName};

mod files;
mod received;
pub use files::ImportedFile;
pub use received::{RECEIVED_PATH_BYTES_MAX, Received, ReceivedOutcome};

/// Files per committed batch. Each commit writes every index page the batch touched to the WAL
/// and fsyncs it; at 1,000 files per batch the commits were a third of the writer's time at
/// 100,000 patients (random path-token inserts touch one index page per file, so the pages per
/// commit stay near the files per commit until batches are large). 10,000 keeps a batch's WAL
/// growth near 40 MB; [`BATCH_SECONDS_MAX`] bounds how much a kill can lose in time.
pub const BATCH_FILES_MAX: u64 = 10_000;
/// Seconds a batch stays open at most: an interrupted import redoes at most this much work
/// (plus the file in hand), and progress is acknowledged at least this often.
pub const BATCH_SECONDS_MAX: f64 = 5.0;
/// Threads that walk, stat, read, hash and validate (the scanner). A cold tree is read at queue
/// depth 1 by one thread (a clock of disk latencies per directory and file); four overlap those
/// waits and the validator's CPU. Each holds one directory listing and one read-only connection.
const SCAN_THREADS: usize = 4;
/// Read bytes per committed batch, so a tree of large files still commits regularly.
pub const BATCH_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Bytes of the stat token stored per location. It is never looked up, only compared with the
/// file's current stat, so collisions between files do not matter: the only failure is a
/// changed file whose new (size, mtime, inode, device) gives the same truncated HMAC as the old,
/// probability 2⁻⁶⁴ per change — far below the chance that a rewrite keeps all four stat fields
/// equal, which the design already accepts (ARCHITECTURE.md, Import). Rows written before kept 16
/// bytes; [`stat_matches`] compares the length stored.
const STAT_TOKEN_LEN: usize = 8;
/// At most this many finding codes are kept as a quarantine reason.
const REASON_CODES_MAX: usize = 8;

/// Counts of one import run. Every regular file is exactly one of `new`, `unchanged` or
/// `quarantined`; `skipped` counts entries that are not regular files, cannot be read, or
/// exceed `FILE_BYTES_MAX` (they are reported, never stored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ImportSummary {
    pub files: u64,
    /// Files whose location is new or whose bytes changed (includes `renamed`).
    pub new: u64,
    pub unchanged: u64,
    /// Files in quarantine after this run: newly quarantined plus unchanged quarantined ones,
    /// so every run reminds the operator of them.
    pub quarantined: u64,
    /// New locations that were condition-flag renames of stored versions: no bytes stored.
    pub renamed: u64,
    /// Items (distinct byte strings) added to the store.
    pub items_added: u64,
    pub skipped: u64,
    /// Bytes read and hashed in this run.
    pub bytes: u64,
    pub seconds: f64,
    /// Directories whose files were counted unchanged without a look at each (unchanged since
    /// their last complete import; none with `full`). Not part of `--json`.
    #[serde(skip)]
    pub dirs_unchanged: u64,
    /// Seconds spent in each stage (for the benchmark's profile; not part of `--json`).
    #[serde(skip)]
    pub stages: ImportStages,
    /// The repack run at the end of an import that left many small packs (live ingest: a few
    /// files per patient per import); `None` when none ran. Not part of `--json`.
    #[serde(skip)]
    pub repack: Option<super::repack::RepackSummary>,
}

/// Seconds spent per import stage, summed over files (wall time of the thread doing it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ImportStages {
    /// Directory walk (readdir, sorting), between files.
    pub walk: f64,
    /// lstat, path and stat tokens, location lookup.
    pub stat_lookup: f64,
    /// open + read of changed files.
    pub read: f64,
    pub sha256: f64,
    /// The validator (`check_file`: decode, parse, rules) and name parsing.
    pub check: f64,
    /// Dedup lookup of the item hash.
    pub item_find: f64,
    /// zstd (with or without a dictionary), and dictionary sampling/training.
    pub compress: f64,
    /// AES-GCM of item bodies and paths.
    pub seal: f64,
    /// SQLite inserts and updates of item and location rows (and the rename lookup).
    pub db_write: f64,
    /// Patient record upkeep (lookup, decrypt, parse, seal, search tokens).
    pub patient: f64,
    /// Batch commits (WAL write and fsync).
    pub commit: f64,
    /// The writer waiting for the scanner (time the writer thread had nothing to do).
    pub writer_idle: f64,
    /// Wall time of the scanner thread, start to end (not a stage: for the balance).
    pub scanner_wall: f64,
}

impl ImportStages {
    /// (name, seconds) of each stage, in pipeline order.
    pub fn rows(&self) -> [(&'static str, f64); 12] {
        [
            ("walk", self.walk),
            ("stat + tokens + lookup", self.stat_lookup),
            ("read", self.read),
            ("sha256", self.sha256),
            ("check (validate, parse)", self.check),
            ("item dedup lookup", self.item_find),
            ("zstd + dictionary training", self.compress),
            ("AES-GCM seal", self.seal),
            ("SQLite item/location writes", self.db_write),
            ("patient index upkeep", self.patient),
            ("commit (WAL + fsync)", self.commit),
            ("writer idle (waiting for the scanner)", self.writer_idle),
        ]
    }

    /// Adds the scanner thread's stages to the writer's.
    fn add_scan(&mut self, s: &ImportStages) {
        self.walk += s.walk;
        self.stat_lookup += s.stat_lookup;
        self.read += s.read;
        self.sha256 += s.sha256;
        self.check += s.check;
        self.scanner_wall += s.scanner_wall;
    }
}

/// Adds the seconds since `*t` to `acc` and restarts `*t`.
pub(super) fn lap(t: &mut Instant, acc: &mut f64) {
    let now = Instant::now();
    *acc += (now - *t).as_secs_f64();
    *t = now;
}

/// A snapshot passed to the progress callback after each file.
pub type ImportProgress = ImportSummary;

/// The progress callback: a summary so far in, continue or stop out.
pub type ProgressFn<'a> = &'a mut dyn FnMut(&ImportProgress) -> ControlFlow<()>;

/// Options of one import run.
pub struct ImportOptions<'a> {
    /// Files per committed batch, 1..=[`BATCH_FILES_MAX`]; smaller values let tests observe
    /// partially committed runs.
    pub batch_files_max: u64,
    /// Called after each file. Returning `Break` stops the import as a kill would: the open
    /// batch is rolled back and [`ImportError::Interrupted`] returned. Tests use it to simulate
    /// a crash after K files; the CLI uses it for the progress display.
    pub progress: Option<ProgressFn<'a>>,
    /// New items of a data type collected before its dictionary is trained
    /// ([`super::TRAIN_SAMPLES_DEFAULT`]); tests lower it to train on small trees.
    pub dictionary_samples: usize,
    /// Stat every file, even in directories whose (inode, mtime, ctime) is unchanged since
    /// their last complete import: catches files rewritten in place, which standardized
    /// storage never does (ARCHITECTURE.md, Import).
    pub full: bool,
    /// Put new items in packs (schema 8; the default). `false` seals each item alone, as
    /// schema 7 code did: only tests use it, to build stores they can take back to older
    /// schemas.
    pub pack: bool,
}

impl Default for ImportOptions<'_> {
    fn default() -> Self {
        ImportOptions {
            batch_files_max: BATCH_FILES_MAX,
            progress: None,
            dictionary_samples: super::codec::TRAIN_SAMPLES_DEFAULT,
            full: false,
            pack: true,
        }
    }
}

impl std::fmt::Debug for ImportOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("batch_files_max", &self.batch_files_max)
            .field("progress", &self.progress.is_some())
            .field("full", &self.full)
            .finish()
    }
}

/// What happened to one file.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    New { renamed: bool, item_added: bool },
    Unchanged,
    Quarantined { item_added: bool },
    UnchangedQuarantined,
    Skipped,
}

/// A write transaction that rolls back unless committed. `BEGIN IMMEDIATE` takes the write lock
/// up front, so a concurrent writer waits (busy_timeout) instead of failing mid-batch. The open
/// packs are sealed before the commit; a rollback forgets them.
struct Batch<'c> {
    ctx: &'c Ctx<'c>,
    open: bool,
}

impl<'c> Batch<'c> {
    fn begin(ctx: &'c Ctx<'c>) -> Result<Batch<'c>, DbError> {
        ctx.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(db("starting an import batch"))?;
        Ok(Batch { ctx, open: true })
    }

    fn commit(&mut self) -> Result<(), ImportError> {
        let ctx = self.ctx;
        super::pack::flush(ctx.conn, ctx.keys, ctx.rng, &mut ctx.codecs.borrow_mut()).map_err(
            |e| match e {
                super::pack::PackError::Seal => ImportError::Random,
                super::pack::PackError::Db(d) => ImportError::Db(d),
            },
        )?;
        ctx.conn
            .execute_batch("COMMIT")
            .map_err(db("committing an import batch"))?;
        self.open = false;
        Ok(())
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if self.open {
            // The reserved pack rows roll back with the batch; forget their contents. (Not
            // borrowed here: drops happen between per-file steps.)
            if let Ok(mut codecs) = self.ctx.codecs.try_borrow_mut() {
                super::pack::discard(&mut codecs);
            }
            // Nothing more can be done if the rollback fails: SQLite rolls back a hot journal
            // on the next open anyway.
            let _ = self.ctx.conn.execute_batch("ROLLBACK");
        }
    }
}

/// The writer's per-run context shared by every file.
struct Ctx<'s> {
    conn: &'s Connection,
    keys: &'s Keys,
    rng: &'s SystemRandom,
    codecs: &'s std::cell::RefCell<super::codec::Codecs>,
    /// Pack each facility's items with its own dictionary (`pack.rs`): files from a tree or a
    /// watched root, one facility at a time. Received items (every facility mixed) do not.
    facility_dictionaries: bool,
}

/// Entries per message from the scanner to the writer. Handing over one entry at a time cost a
/// thread wake-up per file (measured: half of a re-import's time under load); 64 amortise it.
const CHUNK_FILES_MAX: usize = 64;
/// File bytes per message, so a chunk of large files is handed over early.
const CHUNK_BYTES_MAX: u64 = 1024 * 1024;
/// Chunks in the channel: with the one being filled and the one being written, at most
/// (8 + 2) × 64 entries are between the walk and the database.
const AHEAD_CHUNKS_MAX: usize = 8;
/// File bytes the scanner may hold ahead of the writer (a single larger chunk is still sent,
/// alone), so memory stays bounded whatever the file sizes.
const AHEAD_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// Consecutive scans and the file bytes they hold.
#[derive(Default)]
struct Chunk {
    scans: Vec<Scan>,
    bytes: u64,
}

/// What the scanner thread learned about one directory entry, in walk order.
enum Scan {
    /// Not a regular file, unreadable, or larger than `FILE_BYTES_MAX`.
    Skipped,
    /// A regular file whose location was committed with its current stat: nothing read.
    Unchanged { quarantined: bool },
    /// A regular file that was read (new, changed, or not yet committed when scanned).
    File(Box<Scanned>),
    /// The scanner could not go on (a database error in its lookup).
    Failed(ImportError),
    /// A directory unchanged since its last complete import: its files were not looked at.
    UnchangedDir { files: u64, quarantined: u64 },
    /// Every file of a directory was sent before this (by the same thread, so the writer gets
    /// them first): record the directory's stat for the next run.
    DirDone {
        dir_token: Token,
        stat_token: [u8; DIR_STAT_LEN],
        files: u64,
        quarantined: u64,
        subdirs: bool,
    },
}

/// A read file with everything computed from its bytes and path alone.
struct Scanned {
    facility: Arc<str>,
    rel: Vec<u8>,
    path_token: Token,
    stat_full: Token,
    bytes: Vec<u8>,
    hash: [u8; 32],
    verdict: Judged,
    kind: Option<Token>,
}

/// A byte budget between the scanner and the writer: the scanner takes a chunk's file bytes
/// before sending it, the writer gives them back when it has written the chunk. `halt` releases a waiting scanner for good.
struct Budget {
    used: Mutex<u64>,
    freed: Condvar,
    halted: AtomicBool,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            used: Mutex::new(0),
            freed: Condvar::new(),
            halted: AtomicBool::new(false),
        }
    }

    /// Waits until `n` more bytes fit (or nothing is in flight); false once halted.
    fn take(&self, n: u64) -> bool {
        // A poisoned lock only means the other thread panicked; the counter is still usable.
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        while *used > 0 && *used + n > AHEAD_BYTES_MAX {
            if self.halted.load(Ordering::Acquire) {
                return false;
            }
            used = self
                .freed
                .wait(used)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *used += n;
        !self.halted.load(Ordering::Acquire)
    }

    fn give(&self, n: u64) {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        *used = used.saturating_sub(n);
        self.freed.notify_one();
    }

    fn halt(&self) {
        self.halted.store(true, Ordering::Release);
        let _used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        self.freed.notify_all();
    }
}

impl Store {
    /// Imports standardized-storage trees. Each root is a storage root or a region directory
    /// of 10-digit facility roots (`check::storage_roots`). Files of a root named by a facility
    /// code belong to that facility, all others to this node's facility.
    pub fn import(
        &mut self,
        roots: &[PathBuf],
        opts: ImportOptions<'_>,
    ) -> Result<ImportSummary, ImportError> {
        self.codecs.get_mut().train_samples = opts.dictionary_samples;
        self.codecs.get_mut().pack_items = opts.pack;
        let opts_pack = opts.pack;
        let result = self.import_inner(roots, opts);
        if result.is_err() {
            // The open batch rolled back, and with it any dictionary trained in it: reload the
            // committed ones so no later item refers to a dictionary that is not stored.
            let codecs = super::codec::Codecs::load(&self.conn, &self.keys)?;
            *self.codecs.get_mut() = codecs;
        }
        self.codecs.get_mut().end_run();
        let mut summary = result?;
        // Items that arrive a few per patient at a time (live ingest) leave one small pack per
        // patient and import; merge them once enough accumulated (cheap counter, no scan).
        if opts_pack && self.small_packs_sealed() >= super::repack::REPACK_AFTER_SMALL_PACKS {
            let repacked = self
                .repack(super::repack::RepackOptions::default())
                .map_err(|e| match e {
                    super::error::RepackError::Db(d) => ImportError::Db(d),
                    super::error::RepackError::Random
                    | super::error::RepackError::Interrupted { .. } => ImportError::Random,
                })?;
            summary.repack = Some(repacked);
        }
        Ok(summary)
    }

    /// Two threads: the scanner walks the trees, takes each file's tokens, skips files whose
    /// committed location has the same stat, and reads, hashes and validates the rest; this
    /// thread (the writer) compresses, seals and writes them in batches. A bounded channel
    /// of chunks ([`AHEAD_CHUNKS_MAX`], [`AHEAD_BYTES_MAX`]) keeps the walk order and bounds
    /// memory.
    fn import_inner(
        &mut self,
        roots: &[PathBuf],
        mut opts: ImportOptions<'_>,
    ) -> Result<ImportSummary, ImportError> {
        for (index, root) in roots.iter().enumerate() {
            if !root.is_dir() {
                return Err(ImportError::RootMissing { index });
            }
        }
        let batch_files_max = opts.batch_files_max.clamp(1, BATCH_FILES_MAX);
        let started = Instant::now();
        let db_path = self.conn.path().map(PathBuf::from);
        let own_facility: Arc<str> = Arc::from(self.node.facility.as_str());
        let ctx = Ctx {
            conn: &self.conn,
            keys: &self.keys,
            rng: &self.rng,
            codecs: &self.codecs,
            facility_dictionaries: true,
        };
        let full = opts.full;
        let keys = &self.keys;
        let budget = Budget::new();
        let (tx, rx) = mpsc::sync_channel::<Chunk>(AHEAD_CHUNKS_MAX);
        std::thread::scope(|scope| {
            let scanner = scope.spawn(|| {
                let t = Instant::now();
                let mut st = scan(
                    roots,
                    &own_facility,
                    db_path.as_deref(),
                    keys,
                    &budget,
                    &tx,
                    full,
                );
                st.scanner_wall = t.elapsed().as_secs_f64();
                drop(tx);
                st
            });
            let result = write_all(&ctx, rx, &budget, batch_files_max, &mut opts, started);
            // Whatever the writer's outcome, release a scanner waiting for budget; the closed
            // channel stops it at its next send.
            budget.halt();
            let scanned = scanner.join();
            let mut summary = result?;
            let scan_stages = scanned.map_err(|_| {
                ImportError::Io(IoError {
                    context: "the import's scanner thread stopped",
                    kind: std::io::ErrorKind::Other,
                })
            })?;
            summary.stages.add_scan(&scan_stages);
            summary.seconds = started.elapsed().as_secs_f64();
            Ok(summary)
        })
    }
}

/// A directory waiting to be listed by a scanner thread.
struct DirJob {
    facility: Arc<str>,
    storage_root: Arc<Path>,
    dir: PathBuf,
}

/// The scanner threads' shared stack of directories still to list, depth first (LIFO), so it
/// holds at most the siblings pending along each thread's current path: bounded by the tree's
/// depth × fan-out, not by its file count.
struct DirQueue {
    state: Mutex<DirState>,
    changed: Condvar,
}

struct DirState {
    stack: Vec<DirJob>,
    /// Threads listing a directory (which may push more).
    busy: usize,
    stop: bool,
}

impl DirQueue {
    /// The next directory, or `None` when the walk is over (or stopped).
    fn pop(&self) -> Option<DirJob> {
        // A poisoned lock only means another scanner panicked; the stack is still consistent.
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if s.stop {
                return None;
            }
            if let Some(job) = s.stack.pop() {
                s.busy += 1;
                return Some(job);
            }
            if s.busy == 0 {
                self.changed.notify_all();
                return None;
            }
            s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn push(&self, jobs: impl DoubleEndedIterator<Item = DirJob>) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Reversed, so the first subdirectory by name is listed first.
        s.stack.extend(jobs.rev());
        self.changed.notify_all();
    }

    fn done(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.busy = s.busy.saturating_sub(1);
        self.changed.notify_all();
    }

    fn stop(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.stop = true;
        self.changed.notify_all();
    }
}

/// What the scanner threads share besides the queue.
struct ScanCtx<'a> {
    db_path: Option<&'a Path>,
    keys: &'a Keys,
    budget: &'a Budget,
    tx: &'a mpsc::SyncSender<Chunk>,
    /// Stat every file even in directories unchanged since their last complete import.
    full: bool,
    queue: DirQueue,
}

/// The scanner: [`SCAN_THREADS`] threads list directories from a shared stack and send one
/// [`Scan`] per non-directory entry (or one per unchanged directory). Returns when the walk is
/// done, when the writer hangs up, or after a failure was sent. Stages are summed over the
/// threads.
fn scan(
    roots: &[PathBuf],
    own_facility: &Arc<str>,
    db_path: Option<&Path>,
    keys: &Keys,
    budget: &Budget,
    tx: &mpsc::SyncSender<Chunk>,
    full: bool,
) -> ImportStages {
    let mut st = ImportStages::default();
    let mut jobs = Vec::new();
    for root in roots {
        for storage_root in check::storage_roots(root) {
            let facility: Arc<str> = storage_root
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| is_facility_code(n))
                .map_or_else(|| Arc::clone(own_facility), Arc::from);
            jobs.push(DirJob {
                facility,
                dir: storage_root.clone(),
                storage_root: Arc::from(storage_root.as_path()),
            });
        }
    }
    let ctx = ScanCtx {
        db_path,
        keys,
        budget,
        tx,
        full,
        queue: DirQueue {
            state: Mutex::new(DirState {
                stack: Vec::new(),
                busy: 0,
                stop: false,
            }),
            changed: Condvar::new(),
        },
    };
    ctx.queue.push(jobs.into_iter());
    let stages: Vec<ImportStages> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..SCAN_THREADS)
            .map(|_| scope.spawn(|| scan_thread(&ctx)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_default())
            .collect()
    });
    for s in &stages {
        st.add_scan(s);
    }
    st
}

/// One scanner thread: lists directories until the stack is empty.
fn scan_thread(ctx: &ScanCtx<'_>) -> ImportStages {
    let mut st = ImportStages::default();
    // Each thread's own read-only connection sees committed rows only. A location the writer
    // has not committed yet is found by the writer's own lookup instead.
    let lookup = match ctx.db_path.map(|p| {
        Connection::open_with_flags(
            p,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
    }) {
        None => None,
        Some(Ok(conn)) => Some(conn),
        Some(Err(e)) => {
            let _ = ctx.tx.send(Chunk {
                scans: vec![Scan::Failed(
                    db("opening the scanner's connection")(e).into(),
                )],
                bytes: 0,
            });
            ctx.queue.stop();
            return st;
        }
    };
    let mut chunk = Chunk::default();
    // Sends a chunk; false when the scanner must stop (writer gone or halted).
    let send = |chunk: Chunk| ctx.budget.take(chunk.bytes) && ctx.tx.send(chunk).is_ok();
    let mut go_on = true;
    while go_on && let Some(job) = ctx.queue.pop() {
        let mut emit = |msg: Scan, chunk: &mut Chunk| -> bool {
            let failed = matches!(msg, Scan::Failed(_));
            if let Scan::File(f) = &msg {
                chunk.bytes += f.bytes.len() as u64;
            }
            chunk.scans.push(msg);
            if failed || chunk.scans.len() >= CHUNK_FILES_MAX || chunk.bytes >= CHUNK_BYTES_MAX {
                return send(std::mem::take(chunk)) && !failed;
            }
            true
        };
        go_on = scan_dir(ctx, lookup.as_ref(), &job, &mut chunk, &mut emit, &mut st);
        ctx.queue.done();
    }
    if go_on && !chunk.scans.is_empty() {
        go_on = send(chunk);
    }
    if !go_on {
        ctx.queue.stop();
    }
    st
}

/// Bytes of a directory's stat token kept in `import_dir` (2⁻⁶⁴ chance that a changed
/// directory keeps its token, as for files' [`STAT_TOKEN_LEN`]).
const DIR_STAT_LEN: usize = 8;
/// Bytes of a directory's keyed path token (which covers the facility) kept as the key of
/// `import_dir`: 8 bytes (a 16-byte token and the facility column cost 27 more bytes per row,
/// 1.8 M rows at 100,000 patients). Two directories whose tokens collide (about 10⁻⁷ for 1.8 M
/// directories) share a row: each finds the other's stat and is listed again, never skipped
/// wrongly.
const DIR_TOKEN_LEN: usize = 8;
/// A directory changed less than this long before it was listed is not recorded as complete:
/// file-system timestamps are coarse (a clock tick), so a file created in the same tick after
/// the listing could leave the directory's mtime unchanged.
const DIR_RACY_SECONDS: i64 = 2;

/// A directory's row in `import_dir`: its stat when it was last imported completely.
struct DirRow {
    stat: Vec<u8>,
    files: u64,
    quarantined: u64,
    subdirs: bool,
}

/// Largest file or quarantined count `import_dir` records (31 bits each in `counts`); a
/// directory holding more is simply not recorded (listed on every import).
const DIR_COUNT_MAX: u64 = (1 << 31) - 1;

/// `import_dir.counts` (schema 8): subdirs in bit 0, files in bits 1–31, quarantined above, so
/// a leaf directory of a few files takes one byte.
fn dir_counts_encode(files: u64, quarantined: u64, subdirs: bool) -> Option<i64> {
    if files > DIR_COUNT_MAX || quarantined > DIR_COUNT_MAX {
        return None;
    }
    i64::try_from(quarantined << 32 | files << 1 | u64::from(subdirs)).ok()
}

/// Inverse of [`dir_counts_encode`]; a negative value (never written) reads as nothing.
fn dir_counts(counts: i64) -> (u64, u64, bool) {
    let c = u64::try_from(counts).unwrap_or(0);
    ((c >> 1) & DIR_COUNT_MAX, c >> 32, c & 1 == 1)
}

fn find_dir(conn: &Connection, dir_token: &Token) -> Result<Option<DirRow>, ImportError> {
    conn.prepare_cached("SELECT stat_token, counts FROM import_dir WHERE dir_token = ?1")
        .and_then(|mut s| {
            s.query_row(params![&dir_token[..DIR_TOKEN_LEN]], |r| {
                let (files, quarantined, subdirs) = dir_counts(r.get(1)?);
                Ok(DirRow {
                    stat: r.get(0)?,
                    files,
                    quarantined,
                    subdirs,
                })
            })
            .optional()
        })
        .map_err(|e| db("looking up a directory")(e).into())
}

/// The stat of a directory that changes whenever an entry is created, renamed or deleted in it.
fn dir_stat_token(keys: &Keys, meta: &fs::Metadata) -> Token {
    keys.token(
        label::STAT,
        &[
            b"dir",
            &meta.ino().to_be_bytes(),
            &meta.dev().to_be_bytes(),
            &meta.mtime().to_be_bytes(),
            &meta.mtime_nsec().to_be_bytes(),
            &meta.ctime().to_be_bytes(),
            &meta.ctime_nsec().to_be_bytes(),
        ],
    )
}

/// Lists one directory: pushes its subdirectories, and either reports its files unchanged as a
/// whole (its stat is the one recorded after its last complete import, and not `full`) or
/// scans each file. A directory whose files were all scanned is recorded (`Scan::DirDone`,
/// written by the writer after them). False when the scanner must stop.
fn scan_dir(
    ctx: &ScanCtx<'_>,
    lookup: Option<&Connection>,
    job: &DirJob,
    chunk: &mut Chunk,
    emit: &mut dyn FnMut(Scan, &mut Chunk) -> bool,
    st: &mut ImportStages,
) -> bool {
    let mut t = Instant::now();
    let Ok(meta) = fs::metadata(&job.dir) else {
        return emit(Scan::Skipped, chunk);
    };
    let rel_dir = job
        .dir
        .strip_prefix(&*job.storage_root)
        .map(|r| r.as_os_str().as_bytes())
        .unwrap_or_default();
    // A trailing '/' keeps directory tokens apart from file tokens (no file path ends in one).
    let mut dir_key = rel_dir.to_vec();
    dir_key.push(b'/');
    let dir_token = ctx
        .keys
        .token(label::PATH, &[job.facility.as_bytes(), &dir_key]);
    let stat_full = dir_stat_token(ctx.keys, &meta);
    let stat = &stat_full[..DIR_STAT_LEN];
    let recorded = match lookup {
        Some(conn) => match find_dir(conn, &dir_token) {
            Ok(row) => row.filter(|r| r.stat == stat),
            Err(e) => return emit(Scan::Failed(e), chunk),
        },
        None => None,
    };
    // With `full`, a directory recorded with this stat is listed anyway, and written again only
    // if its counts differ (a file rewritten in place may have changed its verdict).
    let recorded_counts = recorded
        .as_ref()
        .map(|r| (r.files, r.quarantined, r.subdirs));
    let known = if ctx.full { None } else { recorded };
    if let Some(row) = &known
        && !row.subdirs
    {
        // Unchanged and without subdirectories: not even listed.
        lap(&mut t, &mut st.walk);
        return emit(
            Scan::UnchangedDir {
                files: row.files,
                quarantined: row.quarantined,
            },
            chunk,
        );
    }
    let Ok(read) = fs::read_dir(&job.dir) else {
        return emit(Scan::Skipped, chunk);
    };
    let mut entries: Vec<(std::ffi::OsString, Option<fs::FileType>)> = read
        .map(|e| match e {
            Ok(e) => (e.file_name(), e.file_type().ok()),
            Err(_) => (std::ffi::OsString::new(), None),
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let subdirs: Vec<DirJob> = entries
        .iter()
        .filter(|(_, ft)| ft.is_some_and(|f| f.is_dir()))
        .map(|(name, _)| DirJob {
            facility: Arc::clone(&job.facility),
            storage_root: Arc::clone(&job.storage_root),
            dir: job.dir.join(name),
        })
        .collect();
    let has_subdirs = !subdirs.is_empty();
    ctx.queue.push(subdirs.into_iter());
    lap(&mut t, &mut st.walk);
    if let Some(row) = known {
        return emit(
            Scan::UnchangedDir {
                files: row.files,
                quarantined: row.quarantined,
            },
            chunk,
        );
    }
    let (mut files, mut quarantined, mut complete) = (0u64, 0u64, true);
    for (name, ft) in &entries {
        if ft.is_some_and(|f| f.is_dir()) {
            continue;
        }
        let msg = if ft.is_some_and(|f| f.is_file()) {
            match scan_file(
                lookup,
                ctx.keys,
                &job.facility,
                &job.storage_root,
                &job.dir.join(name),
                st,
            ) {
                Ok(msg) => msg,
                Err(e) => Scan::Failed(e),
            }
        } else {
            Scan::Skipped
        };
        match &msg {
            Scan::Skipped | Scan::Failed(_) => complete = false,
            Scan::Unchanged { quarantined: q } => {
                files += 1;
                quarantined += u64::from(*q);
            }
            Scan::File(f) => {
                files += 1;
                quarantined += u64::from(matches!(f.verdict, Judged::Quarantine(_)));
            }
            Scan::UnchangedDir { .. } | Scan::DirDone { .. } => {}
        }
        if !emit(msg, chunk) {
            return false;
        }
    }
    let ns = |secs: i64, nsec: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsec);
    let changed_at = ns(meta.mtime(), meta.mtime_nsec()).max(ns(meta.ctime(), meta.ctime_nsec()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(i128::MAX, |d| {
            i128::try_from(d.as_nanos()).unwrap_or(i128::MAX)
        });
    let racy = changed_at > now.saturating_sub(i128::from(DIR_RACY_SECONDS) * 1_000_000_000);
    let already_recorded = recorded_counts == Some((files, quarantined, has_subdirs));
    if complete && !already_recorded && !racy {
        let mut stat_token = [0u8; DIR_STAT_LEN];
        stat_token.copy_from_slice(stat);
        return emit(
            Scan::DirDone {
                dir_token,
                stat_token,
                files,
                quarantined,
                subdirs: has_subdirs,
            },
            chunk,
        );
    }
    true
}

/// The scanner's part of one regular file: tokens, the committed-stat check, and for a file
/// that must be stored its bytes, hash and verdict.
fn scan_file(
    lookup: Option<&Connection>,
    keys: &Keys,
    facility: &Arc<str>,
    storage_root: &Path,
    path: &Path,
    st: &mut ImportStages,
) -> Result<Scan, ImportError> {
    let mut t = Instant::now();
    let Ok(relative) = path.strip_prefix(storage_root) else {
        return Ok(Scan::Skipped);
    };
    let rel = relative.as_os_str().as_bytes();
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(Scan::Skipped);
    };
    let path_token = keys.token(label::PATH, &[facility.as_bytes(), rel]);
    let stat_full = stat_token(keys, &meta);
    if let Some(conn) = lookup {
        let existing = find_location(conn, facility, &path_token)?;
        if let Some(e) = &existing
            && e.stat_token
                .as_deref()
                .is_some_and(|t| stat_matches(t, &stat_full))
        {
            lap(&mut t, &mut st.stat_lookup);
            return Ok(Scan::Unchanged {
                quarantined: e.quarantined,
            });
        }
    }
    lap(&mut t, &mut st.stat_lookup);
    if meta.len() > FILE_BYTES_MAX {
        return Ok(Scan::Skipped);
    }
    let Some(bytes) = read_bounded(path) else {
        return Ok(Scan::Skipped);
    };
    lap(&mut t, &mut st.read);
    let hash = crypto::sha256(&bytes);
    lap(&mut t, &mut st.sha256);
    let verdict = judge(rel, &bytes);
    let kind = match &verdict {
        Judged::Keyed(Some(name)) => Some(super::codec::kind_token(keys, &name.data_type)),
        _ => None,
    };
    lap(&mut t, &mut st.check);
    Ok(Scan::File(Box::new(Scanned {
        facility: Arc::clone(facility),
        rel: rel.to_vec(),
        path_token,
        stat_full,
        bytes,
        hash,
        verdict,
        kind,
    })))
}

/// One file scanned and written on the calling thread, inside the caller's batch: live ingest's
/// per-path import (`import/files.rs`), which has too few files to gain from the pipeline.
fn import_file(
    ctx: &Ctx<'_>,
    facility: &str,
    storage_root: &Path,
    path: &Path,
    read: &mut u64,
) -> Result<Outcome, ImportError> {
    let mut stages = ImportStages::default();
    let facility: Arc<str> = Arc::from(facility);
    match scan_file(
        Some(ctx.conn),
        ctx.keys,
        &facility,
        storage_root,
        path,
        &mut stages,
    )? {
        Scan::Skipped => Ok(Outcome::Skipped),
        Scan::Unchanged { quarantined: true } => Ok(Outcome::UnchangedQuarantined),
        Scan::Unchanged { quarantined: false } => Ok(Outcome::Unchanged),
        Scan::File(file) => {
            *read += file.bytes.len() as u64;
            write_file(ctx, *file, &mut stages)
        }
        Scan::Failed(error) => Err(error),
        // `scan_file` sends neither: they come from `scan_dir`.
        Scan::UnchangedDir { .. } | Scan::DirDone { .. } => Ok(Outcome::Skipped),
    }
}

fn stat_token(keys: &Keys, meta: &fs::Metadata) -> Token {
    keys.token(
        label::STAT,
        &[
            &meta.len().to_be_bytes(),
            &meta.mtime().to_be_bytes(),
            &meta.mtime_nsec().to_be_bytes(),
            &meta.ino().to_be_bytes(),
            &meta.dev().to_be_bytes(),
        ],
    )
}

/// A location by (?1 facility, ?2 path token) through the prefix index (?3: the token's first
/// `PATH_PREFIX_LEN` bytes; the expression is literally the index's, tested in `schema.rs`).
pub(crate) const FIND_LOCATION_SQL: &str =
    "SELECT id, item_id, quarantined, stat_token FROM location
     WHERE substr(path_token, 1, 8) = ?3 AND facility = ?1 AND path_token = ?2";

fn find_location(
    conn: &Connection,
    facility: &str,
    path_token: &Token,
) -> Result<Option<Existing>, ImportError> {
    conn.prepare_cached(FIND_LOCATION_SQL)
        .and_then(|mut s| {
            s.query_row(
                params![facility, &path_token[..], &path_token[..PATH_PREFIX_LEN]],
                |r| {
                    Ok(Existing {
                        id: r.get(0)?,
                        item_id: r.get(1)?,
                        quarantined: r.get::<_, i64>(2)? != 0,
                        stat_token: r.get(3)?,
                    })
                },
            )
            .optional()
        })
        .map_err(|e| db("looking up a location")(e).into())
}

/// The writer: takes the scanner's messages in walk order, writes them in batches, reports
/// progress after each file and commits.
fn write_all(
    ctx: &Ctx<'_>,
    rx: mpsc::Receiver<Chunk>,
    budget: &Budget,
    batch_files_max: u64,
    opts: &mut ImportOptions<'_>,
    started: Instant,
) -> Result<ImportSummary, ImportError> {
    let mut summary = ImportSummary::default();
    let mut committed_files = 0u64;
    let mut batch = Batch::begin(ctx)?;
    let mut batch_opened = Instant::now();
    let (mut batch_files, mut batch_bytes) = (0u64, 0u64);
    loop {
        let mut t = Instant::now();
        let Ok(chunk) = rx.recv() else { break };
        lap(&mut t, &mut summary.stages.writer_idle);
        for msg in chunk.scans {
            let outcome = match msg {
                Scan::Failed(e) => return Err(e),
                Scan::Skipped => Some(Outcome::Skipped),
                Scan::Unchanged { quarantined: true } => Some(Outcome::UnchangedQuarantined),
                Scan::Unchanged { quarantined: false } => Some(Outcome::Unchanged),
                Scan::UnchangedDir { files, quarantined } => {
                    summary.files += files;
                    summary.unchanged += files.saturating_sub(quarantined);
                    summary.quarantined += quarantined;
                    summary.dirs_unchanged += 1;
                    None
                }
                Scan::DirDone {
                    dir_token,
                    stat_token,
                    files,
                    quarantined,
                    subdirs,
                } => {
                    let mut t = Instant::now();
                    if let Some(counts) = dir_counts_encode(files, quarantined, subdirs) {
                        ctx.conn
                            .prepare_cached(
                                "INSERT OR REPLACE INTO import_dir (dir_token, stat_token, counts)
                                 VALUES (?1, ?2, ?3)",
                            )
                            .and_then(|mut s| {
                                s.execute(params![
                                    &dir_token[..DIR_TOKEN_LEN],
                                    &stat_token[..],
                                    counts
                                ])
                            })
                            .map_err(db("recording an imported directory"))?;
                    }
                    lap(&mut t, &mut summary.stages.db_write);
                    continue;
                }
                Scan::File(file) => {
                    let size = file.bytes.len() as u64;
                    summary.bytes += size;
                    batch_bytes += size;
                    Some(write_file(ctx, *file, &mut summary.stages)?)
                }
            };
            if let Some(outcome) = outcome
                && summary.count(outcome)
            {
                batch_files += 1;
            }
            summary.seconds = started.elapsed().as_secs_f64();
            if let Some(progress) = opts.progress.as_mut()
                && progress(&summary).is_break()
            {
                // Dropping the batch rolls back its files, exactly as a kill would.
                return Err(ImportError::Interrupted {
                    files: committed_files,
                });
            }
            if batch_files >= batch_files_max
                || batch_bytes >= BATCH_BYTES_MAX
                || batch_opened.elapsed().as_secs_f64() >= BATCH_SECONDS_MAX
            {
                let mut t = Instant::now();
                batch.commit()?;
                lap(&mut t, &mut summary.stages.commit);
                committed_files = summary.files;
                batch = Batch::begin(ctx)?;
                batch_opened = Instant::now();
                (batch_files, batch_bytes) = (0, 0);
            }
        }
        budget.give(chunk.bytes);
    }
    let mut t = Instant::now();
    batch.commit()?;
    lap(&mut t, &mut summary.stages.commit);
    Ok(summary)
}

impl ImportSummary {
    /// Adds one file's outcome to the run's counts; true when it counts as a file (anything but
    /// `Skipped`). The one place the three entry points (`import`, `import_files`,
    /// `insert_received`) count outcomes.
    fn count(&mut self, outcome: Outcome) -> bool {
        match outcome {
            Outcome::New {
                renamed,
                item_added,
            } => {
                self.new += 1;
                self.renamed += u64::from(renamed);
                self.items_added += u64::from(item_added);
            }
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Quarantined { item_added } => {
                self.quarantined += 1;
                self.items_added += u64::from(item_added);
            }
            Outcome::UnchangedQuarantined => self.quarantined += 1,
            Outcome::Skipped => {
                self.skipped += 1;
                return false;
            }
        }
        self.files += 1;
        true
    }
}

/// The writer's part of one read file: the location lookup (which also sees this batch's
/// uncommitted rows), the item, the location and the patient record.
fn write_file(ctx: &Ctx<'_>, file: Scanned, st: &mut ImportStages) -> Result<Outcome, ImportError> {
    let mut t = Instant::now();
    let Scanned {
        facility,
        rel,
        path_token,
        stat_full,
        bytes,
        hash,
        verdict,
        kind,
    } = file;
    let facility: &str = &facility;
    let rel = rel.as_slice();
    let stat_token = &stat_full[..STAT_TOKEN_LEN];
    let existing = find_location(ctx.conn, facility, &path_token)?;
    lap(&mut t, &mut st.stat_lookup);
    if let Some(e) = &existing
        && e.stat_token
            .as_deref()
            .is_some_and(|t| stat_matches(t, &stat_full))
    {
        return Ok(e.unchanged());
    }
    let (quarantined, reason, name) = match verdict {
        Judged::Keyed(name) => (false, None, name),
        Judged::Quarantine(reason) => (true, Some(reason), None),
    };
    let patient_token = name.as_ref().map(|n| {
        ctx.keys.token(
            label::PATIENT,
            &[facility.as_bytes(), n.patient_id.as_bytes()],
        )
    });
    // A patient's new items share packs (they compress against each other); items without a
    // patient (quarantined, extended storage) share the ungrouped pack.
    let facility_kind = ctx
        .facility_dictionaries
        .then(|| Codecs::facility_pack_kind(ctx.keys, facility));
    let put = item::put(
        ctx.conn,
        ctx.keys,
        ctx.rng,
        &mut ctx.codecs.borrow_mut(),
        kind.as_ref(),
        facility_kind.as_ref(),
        patient_token.as_ref(),
        &hash,
        &bytes,
        st,
    );
    t = Instant::now();
    let (item_id, item_added) = match put {
        Ok(put) => put,
        Err(PutError::Seal) => return Err(ImportError::Random),
        Err(PutError::Db(e)) => return Err(e.into()),
    };

    if let Some(e) = existing {
        if e.item_id == item_id {
            // Touched (new mtime or inode) but the same bytes: only remember the new stat.
            ctx.conn
                .prepare_cached("UPDATE location SET stat_token = ?1 WHERE id = ?2")
                .and_then(|mut s| s.execute(params![stat_token, e.id]))
                .map_err(db("updating a location"))?;
            return Ok(e.unchanged());
        }
        // Standardized storage never rewrites a file; if a source did, keep the old bytes
        // reachable and point the location at the new ones.
        ctx.conn
            .prepare_cached("INSERT OR IGNORE INTO replaced (location_id, item_id) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![e.id, e.item_id]))
            .map_err(db("recording replaced bytes"))?;
        ctx.conn
            .prepare_cached(
                "UPDATE location SET item_id = ?1, quarantined = ?2, reason = ?3, stat_token = ?4,
                 patient_token = ?5 WHERE id = ?6",
            )
            .and_then(|mut s| {
                s.execute(params![
                    item_id,
                    quarantined,
                    reason,
                    stat_token,
                    patient_token
                        .as_ref()
                        .map(|t| &t[..LOCATION_PATIENT_TOKEN_LEN]),
                    e.id
                ])
            })
            .map_err(db("updating a location"))?;
        if let (Some(name), Some(pt)) = (&name, &patient_token) {
            lap(&mut t, &mut st.db_write);
            super::patient::note(ctx.conn, ctx.keys, ctx.rng, facility, name, &bytes, pt)?;
            lap(&mut t, &mut st.patient);
        }
        return Ok(if quarantined {
            Outcome::Quarantined { item_added }
        } else {
            Outcome::New {
                renamed: false,
                item_added,
            }
        });
    }

    lap(&mut t, &mut st.db_write);
    let (path_nonce, path_sealed) =
        super::sealed_path::seal(ctx.keys, ctx.rng, facility, &path_token, rel)
            .map_err(|_| ImportError::Random)?;
    lap(&mut t, &mut st.seal);
    if let Some(name) = &name
        && let Some(id) = rename_candidate(ctx, facility, rel, item_id, name)?
    {
        ctx.conn
            .prepare_cached(
                "UPDATE location SET path_token = ?1, path_nonce = ?2, path_sealed = ?3,
                 stat_token = ?4 WHERE id = ?5",
            )
            .and_then(|mut s| {
                s.execute(params![
                    &path_token[..],
                    &path_nonce[..],
                    path_sealed,
                    stat_token,
                    id
                ])
            })
            .map_err(db("recording a condition-flag change"))?;
        if let Some(pt) = &patient_token {
            lap(&mut t, &mut st.db_write);
            super::patient::note(ctx.conn, ctx.keys, ctx.rng, facility, name, &bytes, pt)?;
            lap(&mut t, &mut st.patient);
        }
        return Ok(Outcome::New {
            renamed: true,
            item_added,
        });
    }
    ctx.conn
        .prepare_cached(
            "INSERT INTO location (facility, path_token, patient_token, item_id,
             quarantined, reason, stat_token, path_nonce, path_sealed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .and_then(|mut s| {
            s.execute(params![
                facility,
                &path_token[..],
                patient_token
                    .as_ref()
                    .map(|t| &t[..LOCATION_PATIENT_TOKEN_LEN]),
                item_id,
                quarantined,
                reason,
                stat_token,
                &path_nonce[..],
                path_sealed
            ])
        })
        .map_err(db("writing a location"))?;
    if let (Some(name), Some(pt)) = (&name, &patient_token) {
        lap(&mut t, &mut st.db_write);
        super::patient::note(ctx.conn, ctx.keys, ctx.rng, facility, name, &bytes, pt)?;
        lap(&mut t, &mut st.patient);
    }
    lap(&mut t, &mut st.db_write);
    Ok(if quarantined {
        Outcome::Quarantined { item_added }
    } else {
        Outcome::New {
            renamed: false,
            item_added,
        }
    })
}

/// Whether a stored stat token (8 bytes, or 16 from before [`STAT_TOKEN_LEN`]) is the prefix
/// of the file's current full token.
fn stat_matches(stored: &[u8], current: &Token) -> bool {
    stored.len() >= STAT_TOKEN_LEN && current.get(..stored.len()) == Some(stored)
}

struct Existing {
    id: i64,
    item_id: i64,
    quarantined: bool,
    stat_token: Option<Vec<u8>>,
}

impl Existing {
    fn unchanged(&self) -> Outcome {
        if self.quarantined {
            Outcome::UnchangedQuarantined
        } else {
            Outcome::Unchanged
        }
    }
}

/// A stored location of the same version and bytes whose flag ranks below the new file's:
/// the new file is that location renamed. The condition flag is the only part of a name that
/// changes (ssmix2.md §2.3) and no folder holds it, so the earlier file sat in the same folder
/// under the same name with another last field: its path token is computed, not searched for.
/// (Schema 4 dropped the version-token index this used to search.)
fn rename_candidate(
    ctx: &Ctx<'_>,
    facility: &str,
    rel: &[u8],
    item_id: i64,
    name: &FileName,
) -> Result<Option<i64>, ImportError> {
    // The last `_` of a standardized path precedes the flag (its name parsed, so it has one).
    let Some(cut) = rel.iter().rposition(|&b| b == b'_') else {
        return Ok(None);
    };
    let mut stmt = ctx
        .conn
        .prepare_cached(
            "SELECT id FROM location
             WHERE substr(path_token, 1, 8) = ?4 AND facility = ?1 AND path_token = ?2
               AND item_id = ?3 AND quarantined = 0",
        )
        .map_err(db("looking up a record version"))?;
    for flag in [
        ConditionFlag::Current,
        ConditionFlag::Superseded,
        ConditionFlag::Deleted,
    ] {
        if flag.history_rank() >= name.flag.history_rank() {
            continue;
        }
        let mut old = rel[..=cut].to_vec();
        old.push(u8::try_from(flag.as_char()).unwrap_or(b'?'));
        let token = ctx.keys.token(label::PATH, &[facility.as_bytes(), &old]);
        let id = stmt
            .query_row(
                params![facility, &token[..], item_id, &token[..PATH_PREFIX_LEN]],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(db("looking up a record version"))?;
        if id.is_some() {
            return Ok(id);
        }
    }
    Ok(None)
}

enum Judged {
    /// Stored as a record; `None` for files that are not standardized messages but no error
    /// either (extended-storage content), which are kept and exported without name tokens.
    Keyed(Option<FileName>),
    Quarantine(String),
}

/// Runs the validator; an `error` verdict quarantines the file with its error codes.
fn judge(rel: &[u8], bytes: &[u8]) -> Judged {
    let components: Option<Vec<&str>> = rel
        .split(|&b| b == b'/')
        .map(|c| std::str::from_utf8(c).ok())
        .collect();
    let Some(components) = components else {
        return Judged::Quarantine("path.not_utf8".to_owned());
    };
    // The display path is only echoed into the report, which is dropped here.
    let report = check::check_file("", &components, bytes);
    if report.verdict == Verdict::Error {
        let mut codes: Vec<&str> = Vec::new();
        for f in report.findings.iter().filter(|f| f.level == Level::Error) {
            if !codes.contains(&f.code) && codes.len() < REASON_CODES_MAX {
                codes.push(f.code);
            }
        }
        return Judged::Quarantine(codes.join(","));
    }
    let name = if report.kind == check::EntryKind::Standard {
        components
            .last()
            .and_then(|n| FileName::parse(n).ok())
            .map(|(n, _)| n)
    } else {
        None
    };
    Judged::Keyed(name)
}

fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    let file = fs::File::open(path).map_err(io("reading a file")).ok()?;
    let mut bytes = Vec::new();
    // `take` bounds the read even if the file grew after its size was checked.
    file.take(FILE_BYTES_MAX + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > FILE_BYTES_MAX {
        return None;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_counts_round_trip_and_a_leaf_takes_one_byte() {
        for (f, q, d) in [
            (0, 0, false),
            (1, 0, false),
            (3, 1, true),
            (DIR_COUNT_MAX, DIR_COUNT_MAX, true),
        ] {
            let c = dir_counts_encode(f, q, d).unwrap();
            assert_eq!(dir_counts(c), (f, q, d));
        }
        assert!(
            dir_counts_encode(40, 0, false).unwrap() < 128,
            "one-byte varint"
        );
        assert_eq!(dir_counts_encode(DIR_COUNT_MAX + 1, 0, false), None);
        assert_eq!(dir_counts_encode(0, DIR_COUNT_MAX + 1, false), None);
    }

    #[test]
    fn stat_tokens_of_both_lengths_match_only_their_own_file() {
        let current: Token = std::array::from_fn(|i| i as u8);
        assert!(stat_matches(&current[..STAT_TOKEN_LEN], &current));
        assert!(
            stat_matches(&current, &current),
            "16-byte rows of earlier runs"
        );
        let mut other = current;
        other[3] ^= 1;
        assert!(!stat_matches(&other[..STAT_TOKEN_LEN], &current));
        assert!(!stat_matches(&other, &current));
        let mut late = current;
        late[15] ^= 1;
        assert!(
            !stat_matches(&late, &current),
            "all 16 stored bytes compared"
        );
        assert!(!stat_matches(&[], &current), "an empty token never matches");
        assert!(!stat_matches(&current[..4], &current));
    }
}
