//! `import_files`: the live-ingest entry point. Imports a list of changed files below one
//! configured root instead of walking whole trees, with the same per-file rules as `import`
//! (stat skip, validation, quarantine, flag renames, dedup) and one transaction per
//! [`BATCH_FILES_MAX`] files. It reports, per file, the item its location now points to, so the
//! caller can add new items to its sync set without rescanning the store.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{OptionalExtension, params};

use super::{BATCH_FILES_MAX, Batch, Ctx, ImportSummary, Outcome, import_file};
use crate::ssmix2::check;
use crate::store::crypto::label;
use crate::store::error::{ImportError, db};
use crate::store::{Store, is_facility_code};

/// Where one imported file now sits in the store. `relative_path` names a patient: for the
/// caller to use (export to a mirror), never to log.
#[derive(Clone, PartialEq, Eq)]
pub struct ImportedFile {
    pub facility: String,
    pub relative_path: Vec<u8>,
    /// SHA-256 of the bytes the location points to after the import.
    pub hash: [u8; 32],
    /// The location is new or its bytes changed in this run.
    pub changed: bool,
}

impl std::fmt::Debug for ImportedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedFile")
            .field("facility", &self.facility)
            .field("changed", &self.changed)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Imports `files`, each a path below `root` (a storage root or a region directory of
    /// facility roots, as for [`Store::import`]). Files outside `root`, gone, or not regular
    /// files are counted as skipped and get `None`.
    pub fn import_files(
        &mut self,
        root: &Path,
        files: &[PathBuf],
    ) -> Result<(ImportSummary, Vec<Option<ImportedFile>>), ImportError> {
        self.codecs.get_mut().train_samples = super::super::codec::TRAIN_SAMPLES_DEFAULT;
        let result = self.import_files_inner(root, files);
        if result.is_err() {
            // As in `import`: drop dictionaries trained in the rolled-back batch.
            let codecs = super::super::codec::Codecs::load(&self.conn, &self.keys)?;
            *self.codecs.get_mut() = codecs;
        }
        self.codecs.get_mut().end_run();
        result
    }

    fn import_files_inner(
        &mut self,
        root: &Path,
        files: &[PathBuf],
    ) -> Result<(ImportSummary, Vec<Option<ImportedFile>>), ImportError> {
        let started = Instant::now();
        let storage_roots = check::storage_roots(root);
        let ctx = Ctx {
            conn: &self.conn,
            keys: &self.keys,
            rng: &self.rng,
            codecs: &self.codecs,
            facility_dictionaries: true,
        };
        let mut summary = ImportSummary::default();
        let mut imported = Vec::with_capacity(files.len());
        let mut batch = Batch::begin(&ctx)?;
        let mut batch_files = 0u64;
        for file in files {
            // The longest storage root containing the file (region roots hold facility roots).
            let Some(storage_root) = storage_roots
                .iter()
                .filter(|r| file.starts_with(r) && file != *r)
                .max_by_key(|r| r.as_os_str().len())
            else {
                summary.skipped += 1;
                imported.push(None);
                continue;
            };
            let facility = storage_root
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| is_facility_code(n))
                .unwrap_or(&self.node.facility)
                .to_owned();
            let is_file = std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_file());
            let outcome = if is_file {
                import_file(&ctx, &facility, storage_root, file, &mut summary.bytes)?
            } else {
                Outcome::Skipped
            };
            let changed = matches!(outcome, Outcome::New { .. } | Outcome::Quarantined { .. });
            if !summary.count(outcome) {
                imported.push(None);
                continue;
            }
            batch_files += 1;
            let relative = file
                .strip_prefix(storage_root)
                .map(|r| r.as_os_str().as_bytes().to_vec())
                .unwrap_or_default();
            let token = ctx
                .keys
                .token(label::PATH, &[facility.as_bytes(), &relative]);
            let hash: Option<Vec<u8>> = ctx
                .conn
                .prepare_cached(
                    "SELECT i.hash FROM location l JOIN item i ON i.id = l.item_id
                     WHERE substr(l.path_token, 1, 8) = ?3 AND l.facility = ?1
                       AND l.path_token = ?2",
                )
                .and_then(|mut s| {
                    s.query_row(
                        params![
                            facility,
                            &token[..],
                            &token[..crate::store::schema::PATH_PREFIX_LEN]
                        ],
                        |r| r.get(0),
                    )
                    .optional()
                })
                .map_err(db("reading an imported location"))?;
            imported.push(hash.and_then(|h| <[u8; 32]>::try_from(h).ok()).map(|hash| {
                ImportedFile {
                    facility,
                    relative_path: relative,
                    hash,
                    changed,
                }
            }));
            if batch_files >= BATCH_FILES_MAX {
                batch.commit()?;
                batch = Batch::begin(&ctx)?;
                batch_files = 0;
            }
        }
        batch.commit()?;
        summary.seconds = started.elapsed().as_secs_f64();
        Ok((summary, imported))
    }
}
