//! `export`: standardized-storage trees from the store, byte for byte.
//!
//! Layout rule: with a facility given, `OUT` is that facility's storage root (the relative paths
//! sit directly below it, as in the tree that was imported); without one, `OUT` is a region
//! directory with one `OUT/<10-digit facility code>/` storage root per facility, the layout
//! `kizuna gen` writes and `import` reads back. Quarantined files are exported too: the store
//! keeps every file it was given.
//!
//! Nothing is written outside `OUT`: each stored relative path is split on `/` and every
//! component must be a plain name (not empty, `.`, `..`, and without `\` or NUL); files are
//! created with `O_EXCL`, so an existing file or symbolic link is never followed or overwritten.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{DbError, ExportError, db, io};
use super::{Store, is_facility_code, item};

/// Components in a stored path beyond this are refused (standardized paths have six, extended
/// ones a few more).
const PATH_COMPONENTS_MAX: usize = 16;

/// Counts of one export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub files: u64,
    pub bytes: u64,
    /// Of `files`, how many were quarantined on import.
    pub quarantined: u64,
    /// Locations that could not be exported (damaged path or item, unsafe path): counted, the
    /// export goes on.
    pub failed: u64,
}

/// Splits a stored relative path into plain components, or `None` if any is unsafe.
pub fn safe_components(rel: &[u8]) -> Option<Vec<&OsStr>> {
    let parts: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
    if parts.len() > PATH_COMPONENTS_MAX {
        return None;
    }
    parts
        .into_iter()
        .map(|c| {
            let plain = !c.is_empty()
                && c != b"."
                && c != b".."
                && !c.iter().any(|&b| b == b'\\' || b == 0);
            plain.then(|| OsStr::from_bytes(c))
        })
        .collect()
}

/// One location as the store holds it, decrypted. It holds patient data (the path): for the
/// caller to use, never to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationView {
    pub facility: String,
    /// The relative path below the storage root, `/`-separated, as found on import.
    pub relative_path: Vec<u8>,
    /// SHA-256 of the item's bytes.
    pub hash: [u8; 32],
    pub quarantined: bool,
    /// The validator's error codes, comma-separated, for quarantined files.
    pub reason: Option<String>,
}

/// Locations of the item with hash ?1 (?3: its first `HASH_PREFIX_LEN` bytes), at most ?2:
/// through `item_hash` and `location_item` (the plan is tested in `schema.rs`; a scan here
/// made serving a sync quadratic before schema 6).
pub(crate) const LOCATIONS_OF_SQL: &str =
    "SELECT l.facility, l.path_token, l.path_nonce, l.path_sealed, l.quarantined, l.reason
     FROM item i JOIN location l ON l.item_id = i.id
     WHERE substr(i.hash, 1, 8) = ?3 AND i.hash = ?1 ORDER BY l.id LIMIT ?2";

impl Store {
    /// Calls `visit` with every location in (facility, insertion) order. Streams rows, so memory
    /// does not grow with the store. Locations whose path fails authentication are skipped
    /// (`verify` reports them).
    pub fn visit_locations(&self, mut visit: impl FnMut(LocationView)) -> Result<(), DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT l.facility, l.path_token, l.path_nonce, l.path_sealed, l.quarantined,
                        l.reason, i.hash
                 FROM location l JOIN item i ON i.id = l.item_id ORDER BY l.facility, l.id",
            )
            .map_err(db("listing locations"))?;
        let mut rows = stmt.query([]).map_err(db("listing locations"))?;
        while let Some(row) = rows.next().map_err(db("listing locations"))? {
            let facility: String = row.get(0).map_err(db("reading a location"))?;
            let token: Vec<u8> = row.get(1).map_err(db("reading a location"))?;
            let nonce: Vec<u8> = row.get(2).map_err(db("reading a location"))?;
            let sealed: Vec<u8> = row.get(3).map_err(db("reading a location"))?;
            let quarantined: bool = row.get(4).map_err(db("reading a location"))?;
            let reason: Option<String> = row.get(5).map_err(db("reading a location"))?;
            let hash: Vec<u8> = row.get(6).map_err(db("reading a location"))?;
            let Ok(hash) = <[u8; 32]>::try_from(hash) else {
                continue;
            };
            let Ok(relative_path) =
                super::sealed_path::open(&self.keys, &facility, &token, &nonce, &sealed)
            else {
                continue;
            };
            visit(LocationView {
                facility,
                relative_path,
                hash,
                quarantined,
                reason,
            });
        }
        Ok(())
    }

    /// Calls `visit` with the hash of every item that has at least one location, each once, in
    /// no particular order: the item set without decrypting a single path, for a node that
    /// needs the set but not what is in it (the one-shot `kizuna sync`; at 200,000 files it
    /// is ≈ 0.3 CPU-s against ≈ 1.5 s for [`Store::visit_locations`] before any decryption).
    /// Unlike `visit_locations` it does not skip an item whose every path fails authentication;
    /// `verify` reports those, and serving such an item finds no location to send.
    pub fn visit_held_hashes(&self, mut visit: impl FnMut([u8; 32])) -> Result<(), DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT hash FROM item WHERE id IN (SELECT item_id FROM location)")
            .map_err(db("listing item hashes"))?;
        let mut rows = stmt.query([]).map_err(db("listing item hashes"))?;
        while let Some(row) = rows.next().map_err(db("listing item hashes"))? {
            let hash: Vec<u8> = row.get(0).map_err(db("reading an item hash"))?;
            if let Ok(hash) = <[u8; 32]>::try_from(hash) {
                visit(hash);
            }
        }
        Ok(())
    }

    /// Calls `visit` with at most `max` locations of the item `hash` (none if it is not stored):
    /// one indexed lookup, for serving items to a peer. Locations whose path fails
    /// authentication are skipped, as in [`Store::visit_locations`].
    pub fn locations_of(
        &self,
        hash: &[u8; 32],
        max: usize,
        mut visit: impl FnMut(LocationView),
    ) -> Result<(), DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(LOCATIONS_OF_SQL)
            .map_err(db("looking up an item's locations"))?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut rows = stmt
            .query(rusqlite::params![
                &hash[..],
                limit,
                &hash[..super::schema::HASH_PREFIX_LEN]
            ])
            .map_err(db("looking up an item's locations"))?;
        while let Some(row) = rows.next().map_err(db("reading a location"))? {
            let facility: String = row.get(0).map_err(db("reading a location"))?;
            let token: Vec<u8> = row.get(1).map_err(db("reading a location"))?;
            let nonce: Vec<u8> = row.get(2).map_err(db("reading a location"))?;
            let sealed: Vec<u8> = row.get(3).map_err(db("reading a location"))?;
            let quarantined: bool = row.get(4).map_err(db("reading a location"))?;
            let reason: Option<String> = row.get(5).map_err(db("reading a location"))?;
            let Ok(relative_path) =
                super::sealed_path::open(&self.keys, &facility, &token, &nonce, &sealed)
            else {
                continue;
            };
            visit(LocationView {
                facility,
                relative_path,
                hash: *hash,
                quarantined,
                reason,
            });
        }
        Ok(())
    }

    /// Writes the stored trees below `out`, which must not exist or be empty.
    pub fn export(&self, out: &Path, facility: Option<&str>) -> Result<ExportSummary, ExportError> {
        if facility.is_some_and(|f| !is_facility_code(f)) {
            return Err(ExportError::Facility);
        }
        match fs::read_dir(out) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(ExportError::OutNotEmpty);
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(out)
                    .map_err(io("creating the output directory"))?;
            }
            Err(err) => return Err(io("reading the output directory")(err).into()),
        }
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT l.facility, l.path_token, l.path_nonce, l.path_sealed, l.quarantined,
                            {}
                     FROM location l JOIN item i ON i.id = l.item_id
                     WHERE ?1 IS NULL OR l.facility = ?1
                     ORDER BY l.facility, l.id",
                item::COLUMNS
            ))
            .map_err(db("listing locations"))?;
        let mut rows = stmt.query([facility]).map_err(db("listing locations"))?;
        let mut summary = ExportSummary::default();
        while let Some(row) = rows.next().map_err(db("listing locations"))? {
            let fac: String = row.get(0).map_err(db("reading a location"))?;
            let token: Vec<u8> = row.get(1).map_err(db("reading a location"))?;
            let path_nonce: Vec<u8> = row.get(2).map_err(db("reading a location"))?;
            let path_sealed: Vec<u8> = row.get(3).map_err(db("reading a location"))?;
            let quarantined: bool = row.get(4).map_err(db("reading a location"))?;
            let stored = item::Stored::from_row(row, 5).map_err(db("reading an item"))?;
            let Ok(rel) =
                super::sealed_path::open(&self.keys, &fac, &token, &path_nonce, &path_sealed)
            else {
                summary.failed += 1;
                continue;
            };
            let Some(components) = safe_components(&rel) else {
                summary.failed += 1;
                continue;
            };
            if facility.is_none() && !is_facility_code(&fac) {
                summary.failed += 1;
                continue;
            }
            let Ok(bytes) = item::decode(
                &self.conn,
                &self.keys,
                &mut self.codecs.borrow_mut(),
                &stored,
            ) else {
                summary.failed += 1;
                continue;
            };
            let mut target = PathBuf::from(out);
            if facility.is_none() {
                target.push(&fac);
            }
            target.extend(components);
            if let Some(parent) = target.parent() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(io("creating an output folder"))?;
            }
            // O_EXCL: never follow or overwrite anything already there.
            let file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&target);
            let mut file = match file {
                Ok(file) => file,
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    summary.failed += 1;
                    continue;
                }
                Err(err) => return Err(io("creating an output file")(err).into()),
            };
            file.write_all(&bytes)
                .map_err(io("writing an output file"))?;
            summary.files += 1;
            summary.bytes += bytes.len() as u64;
            summary.quarantined += u64::from(quarantined);
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_components_are_refused() {
        for bad in [
            &b"../x"[..],
            b"a/../b",
            b"/abs",
            b"a//b",
            b"a/./b",
            b"a\\b/c",
            b"a/b\0",
            b"",
            b"a/",
        ] {
            assert_eq!(safe_components(bad), None, "{bad:?}");
        }
        let ok = safe_components(b"999/901/9999013/-/ADT-00/f").unwrap();
        assert_eq!(ok.len(), 6);
        let deep = vec!["a"; PATH_COMPONENTS_MAX + 1].join("/");
        assert_eq!(safe_components(deep.as_bytes()), None);
    }
}
