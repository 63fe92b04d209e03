//! Partially received items, kept so that an interrupted transfer resumes where it stopped.
//!
//! While an item larger than one chunk arrives, each chunk is appended to
//! `INBOX/kizuna-partial-<this node's peer id>/<hex id>`. If the stream breaks, the file stays;
//! the next FETCH of that id asks the peer for the bytes from the file's length on, so the
//! chunks already received are not sent again. When the last chunk arrives the whole body is
//! hashed against the id (the id is SHA-256 of the bytes) and the file is removed either way: a
//! match is stored, a mismatch discards the prefix too, so a corrupt or poisoned prefix costs
//! one re-fetch, never a wrong item. The prefix alone is not verifiable (the protocol carries no
//! per-chunk hashes); only the whole-body hash decides.
//!
//! Bounds: at most [`PARTIALS_MAX`] files and [`PARTIAL_BYTES_MAX`] bytes (counting each new
//! partial at its full announced size), each dropped after [`PARTIAL_TTL`]. An item that would
//! exceed a bound is received without a partial file (it then restarts from zero if cut).
//!
//! Plaintext: like the inbox batches, partial files hold item bytes in clear, in the inbox
//! (RAM-backed `/dev/shm` by default), mode 0600 in a 0700 directory.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Partial items kept at once: a handful of large documents in flight per node.
pub const PARTIALS_MAX: usize = 32;
/// Bytes of partial items kept at once: four of the largest items (16 MiB).
pub const PARTIAL_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// A partial older than this is dropped: the peer that had it may be gone for good, and stale
/// plaintext should not linger.
pub const PARTIAL_TTL: Duration = Duration::from_secs(3600);

/// The partial-item directory of one node.
#[derive(Debug)]
pub struct Partials {
    dir: PathBuf,
}

/// An open partial being appended to.
#[derive(Debug)]
pub struct PartialWriter {
    file: std::fs::File,
}

impl PartialWriter {
    /// Appends one received chunk. A failure is returned so the caller stops appending (the
    /// transfer itself goes on).
    pub fn append(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.file.write_all(chunk)
    }
}

fn hex(id: &[u8; 32]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

impl Partials {
    /// `node` names this node (its peer id), so nodes sharing an inbox keep apart.
    pub fn new(inbox: &std::path::Path, node: &str) -> Partials {
        Partials {
            dir: inbox.join(format!("kizuna-partial-{node}")),
        }
    }

    fn path(&self, id: &[u8; 32]) -> PathBuf {
        self.dir.join(hex(id))
    }

    /// Files in the directory with their lengths, after dropping expired ones.
    fn sweep(&self) -> Vec<(PathBuf, u64)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let now = SystemTime::now();
        let mut kept = Vec::new();
        // More entries than the bound can only come from outside; look at a bounded number.
        for entry in entries.take(PARTIALS_MAX * 4).flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if !meta.is_file() || age > PARTIAL_TTL {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            kept.push((path, meta.len()));
        }
        kept
    }

    /// How many bytes of `id` are held (0 if none, or expired).
    pub fn offset(&self, id: &[u8; 32]) -> u64 {
        let path = self.path(id);
        let Ok(meta) = std::fs::metadata(&path) else {
            return 0;
        };
        let fresh = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age <= PARTIAL_TTL);
        if !fresh {
            let _ = std::fs::remove_file(&path);
            return 0;
        }
        meta.len()
    }

    /// Reads the held prefix of `id`; `None` if it is absent or not `len` bytes long.
    pub fn read(&self, id: &[u8; 32], len: u64) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.path(id)).ok()?;
        (bytes.len() as u64 == len).then_some(bytes)
    }

    /// Opens the partial of `id` for appending (creating it when `from` is 0), if the bounds
    /// allow an item of `size` bytes. `None` means: receive without keeping a partial.
    pub fn writer(&self, id: &[u8; 32], size: u64, from: u64) -> Option<PartialWriter> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .ok()?;
        let path = self.path(id);
        if from == 0 {
            let others: Vec<(PathBuf, u64)> = self
                .sweep()
                .into_iter()
                .filter(|(p, _)| *p != path)
                .collect();
            let held: u64 = others.iter().map(|(_, len)| len).sum();
            if others.len() >= PARTIALS_MAX || held + size > PARTIAL_BYTES_MAX {
                return None;
            }
        }
        let mut options = std::fs::OpenOptions::new();
        options.mode(0o600);
        if from == 0 {
            options.write(true).create(true).truncate(true);
        } else {
            options.append(true);
        }
        let file = options.open(&path).ok()?;
        // Appending must continue exactly at `from`; anything else is a stale file.
        if file.metadata().ok()?.len() != from {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some(PartialWriter { file })
    }

    /// Drops the partial of `id` (the item completed, or its hash failed).
    pub fn remove(&self, id: &[u8; 32]) {
        let _ = std::fs::remove_file(self.path(id));
    }

    /// (partial items, bytes) held now.
    pub fn held(&self) -> (u64, u64) {
        let kept = self.sweep();
        (kept.len() as u64, kept.iter().map(|(_, len)| len).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_offsets_and_bounds() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = Partials::new(tmp.path(), "node");
        let id = [7u8; 32];
        assert_eq!(p.offset(&id), 0);
        let mut w = p.writer(&id, 1000, 0).expect("room");
        w.append(&[1; 300]).expect("append");
        drop(w);
        assert_eq!(p.offset(&id), 300);
        assert_eq!(p.held(), (1, 300));
        // Appending must start where the file ends.
        assert!(p.writer(&id, 1000, 200).is_none());
        assert_eq!(p.offset(&id), 0, "a stale partial is dropped");
        let mut w = p.writer(&id, 1000, 0).expect("room");
        w.append(&[1; 300]).expect("append");
        let mut w = p.writer(&id, 1000, 300).expect("resume");
        w.append(&[2; 100]).expect("append");
        assert_eq!(p.read(&id, 400).map(|b| b.len()), Some(400));
        assert!(p.read(&id, 399).is_none());
        p.remove(&id);
        assert_eq!(p.held(), (0, 0));
        // Byte bound: an item that would not fit gets no partial.
        assert!(p.writer(&[1; 32], PARTIAL_BYTES_MAX + 1, 0).is_none());
        // Count bound.
        for i in 0..PARTIALS_MAX {
            let mut id = [0u8; 32];
            id[0] = i as u8;
            p.writer(&id, 10, 0)
                .expect("room")
                .append(&[0])
                .expect("append");
        }
        assert!(p.writer(&[0xff; 32], 10, 0).is_none());
    }
}
