//! Typed errors, one enum per operation. None of them carries a value read from a file, the
//! database or the key file: SQLite errors are reduced to their result code and a fixed context,
//! I/O errors to their kind, and file positions are counts, never paths (which hold patient IDs).

use std::fmt;
use std::io;

/// A database failure: which step failed and SQLite's result code, nothing else. rusqlite's own
/// messages can quote SQL text and, for conversion errors, stored values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbError {
    pub context: &'static str,
    pub code: Option<rusqlite::ErrorCode>,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "database error while {}: {code:?}", self.context),
            None => write!(f, "database error while {}", self.context),
        }
    }
}

impl std::error::Error for DbError {}

/// Maps a rusqlite error to a [`DbError`] with a fixed context.
pub(crate) fn db(context: &'static str) -> impl Fn(rusqlite::Error) -> DbError {
    move |err| DbError {
        context,
        code: err.sqlite_error_code(),
    }
}

/// An I/O failure: which step failed and the error kind. Paths are deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoError {
    pub context: &'static str,
    pub kind: io::ErrorKind,
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "I/O error while {}: {}", self.context, self.kind)
    }
}

impl std::error::Error for IoError {}

pub(crate) fn io(context: &'static str) -> impl Fn(io::Error) -> IoError {
    move |err| IoError {
        context,
        kind: err.kind(),
    }
}

/// Why `init` refused or failed. On any error, nothing is left at the data directory's path.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("the data directory already exists and is not empty; refusing to initialise over it")]
    AlreadyExists,
    #[error("the facility code must be 10 ASCII digits")]
    Facility,
    #[error("the node name must be 1 to {max} printable characters", max = super::NODE_NAME_CHARS_MAX)]
    Name,
    #[error("the passphrase must be at least {min} bytes", min = super::PASSPHRASE_BYTES_MIN)]
    WeakPassphrase,
    #[error("the key-derivation iteration count is outside {min}..={max}", min = super::crypto::KDF_ITERATIONS_MIN, max = super::crypto::KDF_ITERATIONS_MAX)]
    Iterations,
    #[error("the operating system's random source failed")]
    Random,
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why a data directory could not be opened. Nothing in the directory is modified before the
/// passphrase has been checked.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("not a Kizuna data directory (no key file or database)")]
    NotADataDir,
    #[error("the passphrase does not unlock this data directory")]
    WrongPassphrase,
    #[error("the key file is malformed: {0}")]
    KeyFile(&'static str),
    #[error("the database schema version {found} is newer than this build supports ({supported})")]
    TooNew { found: i64, supported: i64 },
    #[error("the database has no node record; it was not initialised by `kizuna init`")]
    NoNode,
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why an import stopped. Everything committed before the error stays; re-running continues.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("import interrupted after {files} files; re-run to continue")]
    Interrupted { files: u64 },
    #[error("import root number {index} does not exist or is not a directory")]
    RootMissing { index: usize },
    #[error("the operating system's random source failed")]
    Random,
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why an export could not run. Per-file failures do not stop an export; they are counted in
/// its summary.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the output directory exists and is not empty")]
    OutNotEmpty,
    #[error("the facility code must be 10 ASCII digits")]
    Facility,
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why verification could not run to its end (problems it finds are results, not errors).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why one item could not be read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the item's ciphertext fails authentication")]
    Tag,
    #[error("the item's body does not decompress to its recorded size")]
    Decompress,
    #[error("the item's bytes do not hash to its address")]
    Hash,
    #[error("the item's codec {0} is unknown")]
    Codec(i64),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why a patient search could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the search needs a query text or a birth date")]
    Empty,
    #[error("the query is longer than 64 characters")]
    TooLong,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why an emergency summary could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("the facility code must be 10 ASCII digits")]
    Facility,
    #[error("the patient ID must be 1 to 15 characters")]
    PatientId,
    #[error("the reference date must be YYYYMMDD")]
    Date,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why a repack stopped. Every chunk it committed before is complete (each moved item readable
/// in its new pack); the chunk in hand rolled back (its items still read from their old packs).
#[derive(Debug, thiserror::Error)]
pub enum RepackError {
    #[error("the operating system's random source failed")]
    Random,
    /// Only from `RepackOptions::fail_after_items` (crash tests).
    #[error("repack interrupted after {items} items (injected)")]
    Interrupted { items: u64 },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<super::pack::PackError> for RepackError {
    fn from(e: super::pack::PackError) -> RepackError {
        match e {
            super::pack::PackError::Seal => RepackError::Random,
            super::pack::PackError::Db(d) => RepackError::Db(d),
        }
    }
}
