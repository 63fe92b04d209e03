//! `insert_received`: items a peer sent, stored from memory with the rules of `import`.
//!
//! A replicating node receives (facility, relative path, bytes) triples. Storing them used to
//! mean writing them as files into a staging directory and importing that: plaintext on disk
//! for the length of a batch, and a file create, write, walk, stat and read per item. This
//! entry point takes the triples as they are and runs the same per-file steps as `import`
//! (`judge` for the path grammar and the validator's verdict, quarantine of `error` files kept
//! as raw bytes, condition-flag renames without storing bytes twice, dedup by hash, patient
//! index upkeep: `write_file`), so a tree imported and the same files received give the same
//! store contents.
//!
//! What differs from a file: there is no stat. The location's stat token is derived from the
//! item's hash (`label::STAT`, "received", hash), so receiving the same bytes at a path again
//! is `unchanged`, different bytes replace the old ones (kept reachable, as `import` does), and
//! a later import of a real file at that path reads it once and then remembers its stat.
//!
//! Paths that could not come from a directory walk (empty, absolute, `.`/`..`, `\`, NUL, more
//! than 16 components or [`RECEIVED_PATH_BYTES_MAX`] bytes), facility codes that are not 10
//! digits and bodies over `FILE_BYTES_MAX` are refused: reported, never stored.
//!
//! One call is one transaction (split every [`BATCH_FILES_MAX`] locations or
//! [`BATCH_BYTES_MAX`] bytes, as `import` commits), committed under the store's
//! `synchronous=FULL` before it returns: what it reports as stored is durable.

use std::sync::Arc;
use std::time::Instant;

use super::{
    BATCH_BYTES_MAX, BATCH_FILES_MAX, Batch, Ctx, ImportStages, ImportSummary, Judged, Outcome,
    Scanned, judge, write_file,
};
use crate::ssmix2::check::FILE_BYTES_MAX;
use crate::store::crypto::{self, label};
use crate::store::error::ImportError;
use crate::store::export::safe_components;
use crate::store::{Store, is_facility_code};

/// Bytes of a received relative path. Standardized paths are under 120 bytes; this is the
/// usual PATH_MAX, so nothing an SS-MIX2 tree can hold is refused.
pub const RECEIVED_PATH_BYTES_MAX: usize = 4096;

/// Label of the stat token of a received location (no file, so no stat: see the module doc).
const RECEIVED: &[u8] = b"received";

/// One location received from a peer: the bytes of a file at `relative_path` below the storage
/// root of `facility`. Holds patient data (the path, the bytes): never log it.
#[derive(Clone, Copy)]
pub struct Received<'a> {
    pub facility: &'a str,
    pub relative_path: &'a [u8],
    pub bytes: &'a [u8],
}

impl std::fmt::Debug for Received<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("facility", &self.facility)
            .field("size", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// What `insert_received` did with one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceivedOutcome {
    /// Stored as a record (or extended-storage content): a new location, new bytes at a known
    /// location, or a condition-flag rename of a stored version.
    Stored { renamed: bool, item_added: bool },
    /// Stored in quarantine (the validator's verdict is `error`), bytes kept as received.
    Quarantined { item_added: bool },
    /// The location already held these bytes.
    Unchanged { quarantined: bool },
    /// Unsafe path, bad facility code or oversized body: nothing stored.
    Refused,
}

impl ReceivedOutcome {
    /// Whether the store holds the bytes at this location afterwards.
    pub fn held(self) -> bool {
        !matches!(self, ReceivedOutcome::Refused)
    }

    /// Whether the location is in quarantine afterwards (false when refused).
    pub fn quarantined(self) -> bool {
        matches!(
            self,
            ReceivedOutcome::Quarantined { .. } | ReceivedOutcome::Unchanged { quarantined: true }
        )
    }
}

impl From<Outcome> for ReceivedOutcome {
    fn from(outcome: Outcome) -> ReceivedOutcome {
        match outcome {
            Outcome::New {
                renamed,
                item_added,
            } => ReceivedOutcome::Stored {
                renamed,
                item_added,
            },
            Outcome::Quarantined { item_added } => ReceivedOutcome::Quarantined { item_added },
            Outcome::Unchanged => ReceivedOutcome::Unchanged { quarantined: false },
            Outcome::UnchangedQuarantined => ReceivedOutcome::Unchanged { quarantined: true },
            Outcome::Skipped => ReceivedOutcome::Refused,
        }
    }
}

impl Store {
    /// Stores received locations as `import` would store the same files found in a tree (see
    /// the module doc), in the order given, and returns one outcome per location with the run's
    /// counts (`skipped` = refused). Durable when it returns `Ok`; on `Err` nothing of the
    /// open transaction is kept.
    pub fn insert_received(
        &mut self,
        received: &[Received<'_>],
    ) -> Result<(ImportSummary, Vec<ReceivedOutcome>), ImportError> {
        let result = self.insert_received_inner(received);
        if result.is_err() {
            // As in `import`: the rolled-back transaction may have held a newly trained
            // dictionary; reload the committed ones. Training samples otherwise stay across
            // calls, so a replica trains its dictionaries like an imported store does.
            let codecs = super::super::codec::Codecs::load(&self.conn, &self.keys)?;
            *self.codecs.get_mut() = codecs;
        }
        result
    }

    fn insert_received_inner(
        &mut self,
        received: &[Received<'_>],
    ) -> Result<(ImportSummary, Vec<ReceivedOutcome>), ImportError> {
        let started = Instant::now();
        let ctx = Ctx {
            conn: &self.conn,
            keys: &self.keys,
            rng: &self.rng,
            codecs: &self.codecs,
            facility_dictionaries: false,
        };
        let mut summary = ImportSummary::default();
        let mut outcomes = Vec::with_capacity(received.len());
        let mut batch = Batch::begin(&ctx)?;
        let (mut batch_files, mut batch_bytes) = (0u64, 0u64);
        for r in received {
            let outcome = match scan_received(ctx.keys, r, &mut summary.stages) {
                None => Outcome::Skipped,
                Some(file) => {
                    let size = file.bytes.len() as u64;
                    summary.bytes += size;
                    batch_bytes += size;
                    write_file(&ctx, file, &mut summary.stages)?
                }
            };
            let out = ReceivedOutcome::from(outcome);
            if summary.count(outcome) {
                batch_files += 1;
            }
            outcomes.push(out);
            if batch_files >= BATCH_FILES_MAX || batch_bytes >= BATCH_BYTES_MAX {
                let mut t = Instant::now();
                batch.commit()?;
                super::lap(&mut t, &mut summary.stages.commit);
                batch = Batch::begin(&ctx)?;
                (batch_files, batch_bytes) = (0, 0);
            }
        }
        let mut t = Instant::now();
        batch.commit()?;
        super::lap(&mut t, &mut summary.stages.commit);
        summary.seconds = started.elapsed().as_secs_f64();
        Ok((summary, outcomes))
    }
}

/// The scanner's part of one received location (`scan_file` without the file system), or
/// `None` when it is refused.
fn scan_received(keys: &crypto::Keys, r: &Received<'_>, st: &mut ImportStages) -> Option<Scanned> {
    let mut t = Instant::now();
    let rel = r.relative_path;
    if !is_facility_code(r.facility)
        || rel.len() > RECEIVED_PATH_BYTES_MAX
        || safe_components(rel).is_none()
        || r.bytes.len() as u64 > FILE_BYTES_MAX
    {
        return None;
    }
    let path_token = keys.token(label::PATH, &[r.facility.as_bytes(), rel]);
    let hash = crypto::sha256(r.bytes);
    super::lap(&mut t, &mut st.sha256);
    let stat_full = keys.token(label::STAT, &[RECEIVED, &hash]);
    super::lap(&mut t, &mut st.stat_lookup);
    let verdict = judge(rel, r.bytes);
    let kind = match &verdict {
        Judged::Keyed(Some(name)) => Some(super::super::codec::kind_token(keys, &name.data_type)),
        _ => None,
    };
    super::lap(&mut t, &mut st.check);
    Some(Scanned {
        facility: Arc::from(r.facility),
        rel: rel.to_vec(),
        path_token,
        stat_full,
        bytes: r.bytes.to_vec(),
        hash,
        verdict,
        kind,
    })
}
