//! Live ingest: the daemon watches the SS-MIX2 roots of `[ingest] roots` (and, on a hub, the
//! central tree) with inotify (the `notify` crate) and imports new files as they appear,
//! without walking whole trees.
//!
//! ```text
//! inotify ──events──▶ pending (path → last event, last size/mtime, closed?)
//!                        │ every tick: ready = closed for writing, renamed into place,
//!                        │             or size and mtime unchanged across the debounce
//!                        ▼
//!                 batches of ≤ INGEST_BATCH_FILES per root ──▶ store thread: Store::import_files
//!                                                            ──▶ new items join the sync set
//! ```
//!
//! A folder created under a watched root is walked when its event arrives, because files
//! written into it before its inotify watch existed produce no events of their own (SS-MIX2
//! writers create patient, date and type folders all the time), and walked once more
//! [`FOLDER_REWALK_AFTER`] later: `notify` forwards a folder's creation event *before* it adds
//! the folder's own watch (after the whole inotify read batch), so a file created between the
//! first walk and that watch would otherwise be seen by nothing but the hourly rescan (seen in
//! a test under load: 1 file of 40). Missed events (a full inotify
//! queue, a full event channel, more pending paths than [`PENDING_MAX`]) schedule a full rescan:
//! `Store::import` over every root, which skips unchanged files by their stat token, so it costs
//! a directory walk. The same rescan runs at start (files written while the daemon was down)
//! and every `rescan_s` as a safety net.
//!
//! Names starting with `.` are ignored (temporary files by convention, including the hub
//! mirror's own), and so are the events of files the hub mirror itself wrote ([`Recent`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use kizuna_storage::store::{ImportOptions, Store};
use kizuna_sync::MemItemSet;
use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::mirror::{Mirror, Recent};
use super::status::ClassCounts;
use super::store::{Ingested, Item, StoreActorError, StoreHandle, key_of};

/// inotify events buffered between notify's thread and the ingest task. A burst beyond this is
/// not lost silently: the overflow flag schedules a rescan.
const EVENTS_MAX: usize = 4_096;
/// Paths waiting to be stable. ~200 bytes each; beyond this the ingest stops tracking single
/// files and rescans instead.
pub const PENDING_MAX: usize = 65_536;
/// Files per import request: one store transaction (the store's own batch size).
pub const INGEST_BATCH_FILES: usize = 1_000;
/// Files collected from one new folder's walk; a larger folder is left to the rescan.
const FOLDER_WALK_MAX: usize = 10_000;
/// New folders waiting for their second walk; more schedule a rescan instead.
const FOLDER_REWALKS_MAX: usize = 4_096;
/// Delay of a new folder's second walk: long after `notify` has added the folder's watch.
const FOLDER_REWALK_AFTER: Duration = Duration::from_millis(500);
/// Paths noted (by an event or a walk) are remembered this long, so a second walk passes over
/// files already handled instead of importing them again.
const NOTED_KEEP: Duration = Duration::from_secs(5);
/// Remembered paths at most (~200 bytes each); beyond, a second walk may re-import a file,
/// which the import's stat check makes cheap.
const NOTED_MAX: usize = 65_536;
/// After a missed-events signal, wait this long before rescanning so a burst rescans once.
const RESCAN_COALESCE: Duration = Duration::from_secs(2);

/// Settings of the ingest (`[ingest]` in the config).
#[derive(Clone, Debug)]
pub struct IngestSettings {
    pub roots: Vec<PathBuf>,
    /// A file whose writer did not close it is imported once its size and mtime stayed the
    /// same for this long.
    pub debounce: Duration,
    /// Full rescan interval (the safety net).
    pub rescan: Duration,
}

#[derive(Debug)]
struct Pending {
    root: usize,
    last_event: Instant,
    /// Closed after writing, or renamed into place: complete.
    complete: bool,
    /// (size, mtime) seen at the previous check.
    stat: Option<(u64, SystemTime)>,
}

/// Starts watching. Watches are installed before the first rescan, so a file written during
/// start-up is seen by one or the other.
pub fn spawn(settings: IngestSettings, store: StoreHandle, recent: Recent) -> anyhow::Result<()> {
    if settings.roots.is_empty() {
        return Ok(());
    }
    let (tx, rx) = mpsc::channel(EVENTS_MAX);
    let overflow = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&overflow);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if tx.try_send(event).is_err() {
            flag.store(true, Ordering::Relaxed);
        }
    })
    .context("starting the file watcher")?;
    let mut roots = Vec::with_capacity(settings.roots.len());
    for root in &settings.roots {
        std::fs::create_dir_all(root)
            .with_context(|| format!("creating the ingest root {}", root.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("resolving the ingest root {}", root.display()))?;
        watcher
            .watch(&root, RecursiveMode::Recursive)
            .with_context(|| format!("watching {}", root.display()))?;
        roots.push(root);
    }
    tracing::info!(roots = roots.len(), "live ingest watching");
    let task = Task {
        roots,
        debounce: settings.debounce,
        rescan_every: settings.rescan,
        store,
        recent,
        pending: HashMap::new(),
        rewalks: std::collections::VecDeque::new(),
        noted: HashMap::new(),
        overflow,
        rescan_at: Some(Instant::now()),
    };
    tokio::spawn(task.run(watcher, rx));
    Ok(())
}

struct Task {
    roots: Vec<PathBuf>,
    debounce: Duration,
    rescan_every: Duration,
    store: StoreHandle,
    recent: Recent,
    pending: HashMap<PathBuf, Pending>,
    /// New folders to walk a second time: (when, root, folder), in time order.
    rewalks: std::collections::VecDeque<(Instant, usize, PathBuf)>,
    /// Paths noted in the last [`NOTED_KEEP`], for the second walks.
    noted: HashMap<PathBuf, Instant>,
    overflow: Arc<AtomicBool>,
    /// When the next full rescan is due.
    rescan_at: Option<Instant>,
}

fn hidden(relative: &Path) -> bool {
    relative
        .components()
        .any(|c| c.as_os_str().as_encoded_bytes().first() == Some(&b'.'))
}

impl Task {
    async fn run(
        mut self,
        _watcher: notify::RecommendedWatcher,
        mut rx: mpsc::Receiver<notify::Result<notify::Event>>,
    ) {
        // Ticks at half the debounce, so a stable file waits between one and 1.5 debounces.
        let mut tick = tokio::time::interval((self.debounce / 2).max(Duration::from_millis(50)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Some(Ok(event)) => self.on_event(event),
                    Some(Err(error)) => {
                        tracing::warn!(error = %error, "file watcher error; rescanning");
                        self.schedule_rescan();
                    }
                    None => return,
                },
                _ = tick.tick() => {
                    if self.overflow.swap(false, Ordering::Relaxed) {
                        tracing::warn!("file events were lost; rescanning");
                        self.schedule_rescan();
                    }
                    if self.rescan_at.is_some_and(|at| at <= Instant::now()) {
                        self.rescan().await;
                    }
                    let now = Instant::now();
                    while self.rewalks.front().is_some_and(|(at, _, _)| *at <= now) {
                        if let Some((_, root, dir)) = self.rewalks.pop_front() {
                            self.walk_folder(root, &dir, true);
                        }
                    }
                    if !self.noted.is_empty() {
                        self.noted.retain(|_, at| now.duration_since(*at) < NOTED_KEEP);
                    }
                    self.flush().await;
                }
            }
        }
    }

    fn schedule_rescan(&mut self) {
        let soon = Instant::now() + RESCAN_COALESCE;
        if self.rescan_at.is_none_or(|at| at > soon) {
            self.rescan_at = Some(soon);
        }
    }

    fn root_of(&self, path: &Path) -> Option<usize> {
        self.roots
            .iter()
            .enumerate()
            .filter(|(_, r)| path.starts_with(r) && path != *r)
            .max_by_key(|(_, r)| r.as_os_str().len())
            .map(|(i, _)| i)
    }

    fn on_event(&mut self, event: notify::Event) {
        if event.need_rescan() {
            self.schedule_rescan();
        }
        let complete = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => true,
            EventKind::Create(_) | EventKind::Modify(_) => false,
            EventKind::Remove(_) => {
                for path in &event.paths {
                    self.pending.remove(path);
                }
                return;
            }
            _ => return,
        };
        let folder = matches!(event.kind, EventKind::Create(CreateKind::Folder));
        for path in event.paths {
            let Some(root) = self.root_of(&path) else {
                continue;
            };
            if path.strip_prefix(&self.roots[root]).map_or(true, hidden) {
                continue;
            }
            if folder || (!complete && path.is_dir()) {
                self.walk_folder(root, &path, false);
                if self.rewalks.len() < FOLDER_REWALKS_MAX {
                    let at = Instant::now() + FOLDER_REWALK_AFTER;
                    self.rewalks.push_back((at, root, path));
                } else {
                    self.schedule_rescan();
                }
                continue;
            }
            self.note(root, path, complete);
        }
    }

    fn note(&mut self, root: usize, path: PathBuf, complete: bool) {
        if self.noted.len() < NOTED_MAX {
            self.noted.insert(path.clone(), Instant::now());
        }
        if let Some(p) = self.pending.get_mut(&path) {
            p.last_event = Instant::now();
            p.complete |= complete;
            return;
        }
        if self.pending.len() >= PENDING_MAX {
            self.schedule_rescan();
            return;
        }
        self.pending.insert(
            path,
            Pending {
                root,
                last_event: Instant::now(),
                complete,
                stat: None,
            },
        );
    }

    /// Files that landed in a folder before its watch existed. The second walk (`again`) skips
    /// files noted in the last [`NOTED_KEEP`].
    fn walk_folder(&mut self, root: usize, dir: &Path, again: bool) {
        let walker = walkdir::WalkDir::new(dir).follow_links(false);
        let mut seen = 0usize;
        for entry in walker.into_iter().filter_map(Result::ok) {
            if !entry.file_type().is_file() {
                continue;
            }
            seen += 1;
            if seen > FOLDER_WALK_MAX {
                self.schedule_rescan();
                return;
            }
            let path = entry.into_path();
            if path.strip_prefix(&self.roots[root]).map_or(true, hidden)
                || (again && self.noted.contains_key(&path))
            {
                continue;
            }
            // Not known to be complete: it waits for a stable size and mtime.
            self.note(root, path, false);
        }
    }

    /// Imports every pending file that is ready.
    async fn flush(&mut self) {
        let now = Instant::now();
        let mut ready: Vec<Vec<PathBuf>> = vec![Vec::new(); self.roots.len()];
        let mut gone = Vec::new();
        for (path, p) in &mut self.pending {
            if !p.complete && now.duration_since(p.last_event) < self.debounce {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(path) else {
                gone.push(path.clone());
                continue;
            };
            if !meta.file_type().is_file() {
                gone.push(path.clone());
                continue;
            }
            let stat = (
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            );
            if p.complete || p.stat == Some(stat) {
                ready[p.root].push(path.clone());
            } else {
                // Still changing (or first look): check again after another debounce.
                p.stat = Some(stat);
                p.last_event = now;
            }
        }
        for path in gone {
            self.pending.remove(&path);
        }
        for (root, mut files) in ready.into_iter().enumerate() {
            for path in &files {
                self.pending.remove(path);
            }
            // The mirror's own writes are in the store already.
            files.retain(|f| !self.recent.take(f));
            files.sort();
            for batch in files.chunks(INGEST_BATCH_FILES) {
                match self
                    .store
                    .import_files(self.roots[root].clone(), batch.to_vec())
                    .await
                {
                    Ok(done) => log_ingest("ingested", &done),
                    Err(error) => {
                        tracing::warn!(error = %error, "ingest failed; rescanning later");
                        self.schedule_rescan();
                    }
                }
            }
        }
    }

    async fn rescan(&mut self) {
        self.rescan_at = Some(Instant::now() + self.rescan_every);
        match self.store.rescan(self.roots.clone()).await {
            Ok(done) => log_ingest("rescanned", &done),
            Err(error) => tracing::warn!(error = %error, "rescan failed"),
        }
    }
}

fn log_ingest(what: &str, done: &Ingested) {
    let s = &done.summary;
    tracing::info!(
        files = s.files,
        new = s.new,
        unchanged = s.unchanged,
        quarantined = s.quarantined,
        skipped = s.skipped,
        new_items = done.new_items,
        mirrored = done.mirrored.written,
        "{what}"
    );
}

fn store_error(e: impl std::fmt::Display) -> StoreActorError {
    StoreActorError::Store(e.to_string())
}

fn add_to_set(set: &RwLock<MemItemSet>, hash: [u8; 32]) -> bool {
    // Invariant: a poisoned lock means a panic elsewhere; keep the set usable.
    let mut set = set.write().unwrap_or_else(|p| p.into_inner());
    set.insert(key_of(hash)).unwrap_or(false)
}

/// Store thread: live-ingest batch.
pub fn import_files(
    store: &mut Store,
    set: &RwLock<MemItemSet>,
    classes: &Mutex<ClassCounts>,
    mut mirror: Option<&mut Mirror>,
    root: &Path,
    files: &[PathBuf],
) -> Result<Ingested, StoreActorError> {
    let (summary, imported) = store.import_files(root, files).map_err(store_error)?;
    let mut done = Ingested {
        summary,
        ..Ingested::default()
    };
    let mut counts = classes.lock().unwrap_or_else(|p| p.into_inner());
    counts.quarantined += summary.quarantined;
    for file in imported.into_iter().flatten() {
        if add_to_set(set, file.hash) {
            done.new_items += 1;
            counts.add(&file.relative_path, false);
        }
        if let Some(m) = mirror.as_deref_mut()
            && file.changed
            && m.missing(&file.facility, &file.relative_path)
            && let Ok(Some(bytes)) = store.item(&file.hash)
        {
            let before = m.stats.written;
            m.write(&file.facility, &file.relative_path, &bytes);
            done.mirrored.written += m.stats.written - before;
        }
    }
    Ok(done)
}

/// Store thread: full rescan of the roots, then the set and the mirror catch up.
pub fn rescan(
    store: &mut Store,
    set: &RwLock<MemItemSet>,
    classes: &Mutex<ClassCounts>,
    mirror: Option<&mut Mirror>,
    roots: &[PathBuf],
) -> Result<Ingested, StoreActorError> {
    let existing: Vec<PathBuf> = roots.iter().filter(|r| r.is_dir()).cloned().collect();
    let summary = store
        .import(&existing, ImportOptions::default())
        .map_err(store_error)?;
    let mut done = Ingested {
        summary,
        ..Ingested::default()
    };
    if summary.new > 0 || summary.items_added > 0 {
        let mut counts = classes.lock().unwrap_or_else(|p| p.into_inner());
        store
            .visit_locations(|loc| {
                if add_to_set(set, loc.hash) {
                    done.new_items += 1;
                    counts.add(&loc.relative_path, loc.quarantined);
                }
            })
            .map_err(store_error)?;
    }
    if let Some(m) = mirror {
        done.mirrored = m.full_pass(store);
    }
    Ok(done)
}

/// Store thread: after a sync insert, write the stored items' locations into the central tree.
pub fn mirror_items(mirror: &mut Mirror, store: &Store, items: &[Item]) {
    for item in items {
        // Only what the store holds: a rejected item is not mirrored.
        if !matches!(store.item(&item.id), Ok(Some(_))) {
            continue;
        }
        for loc in &item.locations {
            mirror.write(&loc.facility, &loc.path, &item.bytes);
        }
    }
}
