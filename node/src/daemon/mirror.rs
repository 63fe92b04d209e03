//! The hub's mirror into the central SS-MIX2 tree (`[hub] central = "DIR"`): every item the hub
//! stores is written to `DIR/<facility>/<relative path>` with its exact bytes (the store's own
//! bytes, decoded and hash-checked), so the central system sees the same files, at the same
//! paths, as the facilities wrote them, history files included.
//!
//! Writes are atomic for readers of the central tree: the bytes go to a temporary dot-file in
//! the target folder and are renamed into place, so the center never reads half a file. A file
//! that already exists is never overwritten (standardized storage never rewrites a file; the
//! center's own files win).
//!
//! The central tree is also an ingest root (what the center writes flows into the region), so
//! every path the mirror writes is remembered in [`Recent`] and the ingest skips the events it
//! causes. The content address would make the re-import harmless anyway; this avoids reading
//! and hashing every mirrored file a second time.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kizuna_storage::store::Store;

use super::store::safe_components;

/// Paths remembered as written by the mirror. A burst larger than this (a hub catching up on a
/// whole facility) only costs the ingest a re-read of the oldest ones, which is idempotent.
pub const RECENT_MAX: usize = 65_536;

/// Paths the mirror wrote that the ingest has not seen yet. Shared with the ingest task.
#[derive(Clone, Debug, Default)]
pub struct Recent(Arc<Mutex<RecentInner>>);

#[derive(Debug, Default)]
struct RecentInner {
    set: HashSet<PathBuf>,
    order: VecDeque<PathBuf>,
}

impl Recent {
    fn insert(&self, path: PathBuf) {
        let mut inner = crate::net::lock(&self.0);
        if inner.set.insert(path.clone()) {
            inner.order.push_back(path);
        }
        while inner.order.len() > RECENT_MAX {
            if let Some(old) = inner.order.pop_front() {
                inner.set.remove(&old);
            }
        }
    }

    /// Whether the mirror wrote `path` (and forgets it: one event burst per write).
    pub fn take(&self, path: &Path) -> bool {
        let mut inner = crate::net::lock(&self.0);
        if inner.set.remove(path) {
            inner.order.retain(|p| p != path);
            true
        } else {
            false
        }
    }
}

/// What one mirror pass did. Counts only: paths name patients.
#[derive(Debug, Default, Clone, Copy)]
pub struct MirrorStats {
    pub written: u64,
    pub existing: u64,
    pub failed: u64,
}

#[derive(Debug)]
pub struct Mirror {
    pub central: PathBuf,
    pub recent: Recent,
    pub stats: MirrorStats,
    temp_seq: u64,
}

impl Mirror {
    pub fn new(central: PathBuf, recent: Recent) -> Mirror {
        Mirror {
            central,
            recent,
            stats: MirrorStats::default(),
            temp_seq: 0,
        }
    }

    fn target(&self, facility: &str, relative: &[u8]) -> Option<PathBuf> {
        if !crate::region::is_facility_code(facility) {
            return None;
        }
        let parts = safe_components(relative)?;
        let mut target = self.central.join(facility);
        target.extend(parts);
        Some(target)
    }

    /// Whether the central tree lacks this location (so `write` would create it).
    pub fn missing(&self, facility: &str, relative: &[u8]) -> bool {
        self.target(facility, relative)
            .is_some_and(|t| std::fs::symlink_metadata(t).is_err())
    }

    /// Writes one location unless the file exists. Errors are counted, not returned: one bad
    /// path must not stop the mirror of the rest.
    pub fn write(&mut self, facility: &str, relative: &[u8], bytes: &[u8]) {
        let Some(target) = self.target(facility, relative) else {
            self.stats.failed += 1;
            return;
        };
        if std::fs::symlink_metadata(&target).is_ok() {
            self.stats.existing += 1;
            return;
        }
        match self.write_new(&target, bytes) {
            Ok(true) => self.stats.written += 1,
            Ok(false) => self.stats.existing += 1,
            Err(e) => {
                tracing::warn!(error = %e.kind(), "mirror write failed");
                self.stats.failed += 1;
            }
        }
    }

    fn write_new(&mut self, target: &Path, bytes: &[u8]) -> std::io::Result<bool> {
        let parent = target
            .parent()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
        self.temp_seq += 1;
        let temp = parent.join(format!(
            ".kizuna-mirror-{}-{}",
            std::process::id(),
            self.temp_seq
        ));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temp)?;
        let written = file.write_all(bytes).and_then(|()| file.sync_data());
        drop(file);
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        // Remembered before it appears, so the ingest's event for it is already known.
        self.recent.insert(target.to_owned());
        // hard_link fails if the target exists (rename would replace it): never overwrite.
        let linked = std::fs::hard_link(&temp, target);
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.recent.take(target);
                Ok(false)
            }
            Err(e) => {
                self.recent.take(target);
                Err(e)
            }
        }
    }

    /// Writes every stored location the central tree lacks: at start and after a rescan, the
    /// safety net behind the per-item mirror. O(locations) stats, plus one item read per
    /// missing file.
    pub fn full_pass(&mut self, store: &Store) -> MirrorStats {
        let before = self.stats;
        let mut missing: Vec<(String, Vec<u8>, [u8; 32])> = Vec::new();
        let visited = store.visit_locations(|loc| {
            if self.missing(&loc.facility, &loc.relative_path) {
                missing.push((loc.facility, loc.relative_path, loc.hash));
            }
        });
        if let Err(e) = visited {
            tracing::warn!(error = %e, "mirror pass could not list locations");
        }
        for (facility, relative, hash) in missing {
            match store.item(&hash) {
                Ok(Some(bytes)) => self.write(&facility, &relative, &bytes),
                _ => self.stats.failed += 1,
            }
        }
        MirrorStats {
            written: self.stats.written - before.written,
            existing: self.stats.existing - before.existing,
            failed: self.stats.failed - before.failed,
        }
    }
}
