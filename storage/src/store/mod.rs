//! The node's durable store: a data directory holding a sealed key file and one SQLite database
//! with the item bodies (compressed, then AES-256-GCM sealed), their locations in standardized
//! storages (paths sealed, looked up through keyed tokens) and the node record.
//!
//! ```text
//! DIR/keys.json        KDF parameters, DEK sealed under the passphrase, identity key sealed under the DEK
//! DIR/store.sqlite3    schema in `schema.rs`; WAL mode, so also -wal and -shm while open
//! ```
//!
//! Invariant: no patient data in clear anywhere below DIR. Item bytes and relative paths are
//! sealed; patient IDs, paths, record versions and file stat data appear only as HMAC tokens
//! under a key derived from the DEK. Errors carry no values (see `error.rs`).
//!
//! Operations: [`Store::init`], [`Store::open`], [`Store::import`], [`Store::export`],
//! [`Store::verify`], [`Store::item`].

use std::fmt;
use std::fs;
use std::io::Write;
use std::num::NonZeroU32;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

mod codec;
mod crypto;
mod error;
mod export;
mod import;
mod item;
mod normalize;
mod pack;
mod patient;
mod repack;
mod schema;
mod sealed_path;
pub mod summary;
mod verify;

pub use codec::{DICT_BYTES, TRAIN_SAMPLES_DEFAULT};
pub use crypto::{KDF_ITERATIONS_DEFAULT, KDF_ITERATIONS_MIN};
pub use error::{
    DbError, ExportError, ImportError, InitError, IoError, OpenError, ReadError, RepackError,
    SearchError, SummaryError, VerifyError,
};
pub use export::{ExportSummary, LocationView};
pub use import::{
    BATCH_BYTES_MAX, BATCH_FILES_MAX, ImportOptions, ImportProgress, ImportStages, ImportSummary,
    ImportedFile, ProgressFn, RECEIVED_PATH_BYTES_MAX, Received, ReceivedOutcome,
};
pub use normalize::kana as normalize_kana;
pub use patient::{KANA_PREFIX_MAX, PatientRecord, SEARCH_RESULTS_MAX, SearchQuery, SearchResults};
pub use repack::{
    REPACK_AFTER_SMALL_PACKS, RepackOptions, RepackSummary, SMALL_PACK_BYTES, SMALL_PACK_ITEMS,
};
pub use schema::VERSION as SCHEMA_VERSION;
pub use schema::prepare_to as prepare_schema_to;
pub use summary::{FLAG_RULES_VERSION, Summary, SummaryOptions};
pub use verify::{Problem, VerifyReport};

use crypto::Keys;
use error::{db, io};

/// File names inside a data directory.
pub const KEY_FILE: &str = "keys.json";
pub const DB_FILE: &str = "store.sqlite3";

/// A key file is a few hundred bytes; refuse to parse anything much larger.
const KEY_FILE_BYTES_MAX: u64 = 64 * 1024;
pub const NODE_NAME_CHARS_MAX: usize = 100;
/// A floor, not a policy: operators choose passphrases; this only rejects the trivially empty.
pub const PASSPHRASE_BYTES_MIN: usize = 8;

/// What kind of place a node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Facility,
    Shelter,
    Hub,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Facility => "facility",
            Role::Shelter => "shelter",
            Role::Hub => "hub",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "facility" => Some(Role::Facility),
            "shelter" => Some(Role::Shelter),
            "hub" => Some(Role::Hub),
            _ => None,
        }
    }
}

/// Parameters of `kizuna init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The node's own 10-digit facility code; files of storage roots not named by a facility
    /// code are imported under it.
    pub facility: String,
    pub role: Role,
    pub name: Option<String>,
    /// PBKDF2 iterations; [`KDF_ITERATIONS_DEFAULT`] unless a test needs speed.
    pub kdf_iterations: u32,
}

impl InitOptions {
    pub fn new(facility: &str, role: Role) -> InitOptions {
        InitOptions {
            facility: facility.to_owned(),
            role,
            name: None,
            kdf_iterations: KDF_ITERATIONS_DEFAULT,
        }
    }
}

/// The node record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    pub facility: String,
    pub role: Role,
    pub name: Option<String>,
    /// Ed25519 public key, 32 bytes.
    #[serde(serialize_with = "serialize_hex")]
    pub identity_public: Vec<u8>,
}

fn serialize_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crypto::hex(bytes))
}

/// The key file. Everything secret in it is sealed; the rest is parameters.
#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    kdf: String,
    iterations: u32,
    salt: String,
    dek_nonce: String,
    dek_sealed: String,
    identity_public: String,
    identity_nonce: String,
    identity_sealed: String,
}

const KEY_FILE_FORMAT: u32 = 1;
const KDF_NAME: &str = "pbkdf2-hmac-sha256";

/// An open data directory.
pub struct Store {
    conn: Connection,
    keys: Keys,
    /// Prepared dictionaries and zstd contexts; a `RefCell` because reads (`&self`) reuse the
    /// decompression context. `Store` is single-threaded (rusqlite's `Connection` is `!Sync`).
    codecs: std::cell::RefCell<codec::Codecs>,
    rng: SystemRandom,
    /// The node's Ed25519 private seed, unsealed at open for the network layer.
    identity_seed: [u8; 32],
    node: NodeInfo,
}

/// Where ring's Ed25519 PKCS#8 v2 document carries the 32-byte seed (after the version,
/// algorithm identifier and OCTET STRING headers).
const PKCS8_SEED_AT: usize = 16;

/// Unseals the identity document of the key file and returns its seed, checked against the public
/// key stored in clear, so a format drift fails here instead of giving the node a wrong identity.
fn unseal_identity(keys: &Keys, kf: &KeyFile) -> Result<[u8; 32], OpenError> {
    let field = |s: &str| crypto::unhex(s).ok_or(OpenError::KeyFile("bad hex"));
    let public = field(&kf.identity_public)?;
    let pkcs8 = crypto::open(
        &keys.record,
        &field(&kf.identity_nonce)?,
        &[crypto::aad::IDENTITY, &public],
        &field(&kf.identity_sealed)?,
    )
    .map_err(|_| OpenError::KeyFile("identity does not unseal"))?;
    let seed: [u8; 32] = pkcs8
        .get(PKCS8_SEED_AT..PKCS8_SEED_AT + 32)
        .and_then(|s| s.try_into().ok())
        .ok_or(OpenError::KeyFile("identity document too short"))?;
    // ring checks that the seed yields exactly this public key.
    Ed25519KeyPair::from_seed_and_public_key(&seed, &public)
        .map_err(|_| OpenError::KeyFile("identity does not match its public key"))?;
    Ok(seed)
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys stay out of debug output.
        f.debug_struct("Store")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

pub fn is_facility_code(s: &str) -> bool {
    s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Store {
    /// Creates a data directory at `dir`. The directory must not exist or be empty. Everything
    /// is built in a sibling temporary directory and renamed into place, so a crash leaves
    /// either no data directory or a complete one.
    pub fn init(dir: &Path, opts: &InitOptions, passphrase: &[u8]) -> Result<NodeInfo, InitError> {
        if !is_facility_code(&opts.facility) {
            return Err(InitError::Facility);
        }
        if let Some(name) = &opts.name {
            let chars = name.chars().count();
            if chars == 0 || chars > NODE_NAME_CHARS_MAX || name.chars().any(char::is_control) {
                return Err(InitError::Name);
            }
        }
        if passphrase.len() < PASSPHRASE_BYTES_MIN {
            return Err(InitError::WeakPassphrase);
        }
        let Some(iterations) = NonZeroU32::new(opts.kdf_iterations).filter(|n| {
            (crypto::KDF_ITERATIONS_MIN..=crypto::KDF_ITERATIONS_MAX).contains(&n.get())
        }) else {
            return Err(InitError::Iterations);
        };
        match fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(InitError::AlreadyExists);
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(InitError::AlreadyExists);
            }
            Err(err) => return Err(io("reading the data directory")(err).into()),
        }
        let Some(leaf) = dir.file_name() else {
            return Err(InitError::Io(IoError {
                context: "naming the data directory",
                kind: std::io::ErrorKind::InvalidInput,
            }));
        };
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let tmp = parent.join(format!(
            ".{}.kizuna-init-{}",
            leaf.to_string_lossy(),
            std::process::id()
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(io("creating the temporary data directory"))?;
        let built = build(&tmp, opts, iterations, passphrase);
        let result = built.and_then(|node| {
            fsync_dir(&tmp)?;
            // rename(2) replaces an empty directory atomically; a non-empty one makes it fail.
            fs::rename(&tmp, dir).map_err(io("moving the data directory into place"))?;
            fsync_dir(&parent)?;
            Ok(node)
        });
        if result.is_err() {
            // The temporary directory is ours and holds no patient data yet.
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Opens a data directory. The passphrase is checked against the key file before the
    /// database is opened, so a wrong passphrase leaves every file untouched.
    pub fn open(dir: &Path, passphrase: &[u8]) -> Result<Store, OpenError> {
        let key_path = dir.join(KEY_FILE);
        let meta = match fs::metadata(&key_path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(OpenError::NotADataDir);
            }
            Err(err) => return Err(io("reading the key file")(err).into()),
        };
        if meta.len() > KEY_FILE_BYTES_MAX {
            return Err(OpenError::KeyFile("too large"));
        }
        let text = fs::read(&key_path).map_err(io("reading the key file"))?;
        let kf: KeyFile =
            serde_json::from_slice(&text).map_err(|_| OpenError::KeyFile("not valid JSON"))?;
        if kf.format != KEY_FILE_FORMAT || kf.kdf != KDF_NAME {
            return Err(OpenError::KeyFile("unknown format or KDF"));
        }
        let iterations = NonZeroU32::new(kf.iterations)
            .filter(|n| n.get() <= crypto::KDF_ITERATIONS_MAX)
            .ok_or(OpenError::KeyFile("iteration count out of range"))?;
        let field = |s: &str| crypto::unhex(s).ok_or(OpenError::KeyFile("bad hex"));
        let salt = field(&kf.salt)?;
        let kek = crypto::kek(passphrase, &salt, iterations);
        let dek = crypto::open(
            &kek,
            &field(&kf.dek_nonce)?,
            &[crypto::aad::DEK, &salt, &kf.iterations.to_be_bytes()],
            &field(&kf.dek_sealed)?,
        )
        .map_err(|_| OpenError::WrongPassphrase)?;
        let dek: [u8; crypto::DEK_LEN] = dek
            .try_into()
            .map_err(|_| OpenError::KeyFile("data key has the wrong length"))?;
        let keys = Keys::derive(&dek);
        let identity_seed = unseal_identity(&keys, &kf)?;
        let db_path = dir.join(DB_FILE);
        if !db_path.is_file() {
            return Err(OpenError::NotADataDir);
        }
        let mut conn = Connection::open_with_flags(
            &db_path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db("opening the database"))?;
        schema::prepare(&mut conn)?;
        let node = conn
            .query_row(
                "SELECT facility, role, name, identity_public FROM node WHERE id = 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(db("reading the node record"))?
            .ok_or(OpenError::NoNode)?;
        let role = Role::parse(&node.1).ok_or(OpenError::NoNode)?;
        let codecs = codec::Codecs::load(&conn, &keys)?;
        let mut store = Store {
            conn,
            keys,
            codecs: std::cell::RefCell::new(codecs),
            rng: SystemRandom::new(),
            identity_seed,
            node: NodeInfo {
                facility: node.0,
                role,
                name: node.2,
                identity_public: node.3,
            },
        };
        // A store migrated from schema 1 has locations but no patient index yet; one migrated
        // from schema 6 has had its index emptied (tokens changed length in 7).
        if patient::needs_rebuild(&store.conn)? {
            store.rebuild_patient_index()?;
        }
        Ok(store)
    }

    /// The node's Ed25519 private seed (32 bytes), from which the network layer builds its
    /// identity. A secret: never log it, never write it anywhere.
    pub fn identity_seed(&self) -> [u8; 32] {
        self.identity_seed
    }

    pub fn node(&self) -> &NodeInfo {
        &self.node
    }

    /// Counts of what the store holds.
    pub fn stats(&self) -> Result<Stats, DbError> {
        let q = |sql: &str| -> Result<u64, DbError> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(db("counting"))
        };
        Ok(Stats {
            items: q("SELECT count(*) FROM item")?,
            item_bytes: q("SELECT coalesce(sum(size), 0) FROM item")?,
            stored_bytes: q("SELECT coalesce(sum(length(body)), 0) FROM item")?
                + q("SELECT coalesce(sum(length(body)), 0) FROM pack")?,
            locations: q("SELECT count(*) FROM location")?,
            quarantined: q("SELECT count(*) FROM location WHERE quarantined = 1")?,
            facilities: q("SELECT count(DISTINCT facility) FROM location")?,
            patients: q("SELECT count(*) FROM patient")?,
            search_tokens: q("SELECT count(*) FROM search")?,
            dictionaries: q("SELECT count(*) FROM dictionary")?,
            dictionary_items: q("SELECT count(*) FROM item WHERE codec IN (2, 3)
                 OR pack IN (SELECT id FROM pack WHERE codec IN (2, 3))")?,
        })
    }
}

/// What a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub items: u64,
    /// Raw bytes of all items.
    pub item_bytes: u64,
    /// Bytes of all sealed bodies, items' and packs' (after compression, with GCM tags).
    pub stored_bytes: u64,
    pub locations: u64,
    pub quarantined: u64,
    pub facilities: u64,
    /// Rows of the patient index (one per facility and patient ID).
    pub patients: u64,
    pub search_tokens: u64,
    pub dictionaries: u64,
    /// Items stored with a trained dictionary (codec 2 or 3, alone or in a pack).
    pub dictionary_items: u64,
}

/// Builds a complete data directory in `dir` (the temporary one).
fn build(
    dir: &Path,
    opts: &InitOptions,
    iterations: NonZeroU32,
    passphrase: &[u8],
) -> Result<NodeInfo, InitError> {
    let rng = SystemRandom::new();
    let salt: [u8; crypto::SALT_LEN] = crypto::random(&rng).map_err(|_| InitError::Random)?;
    let dek: [u8; crypto::DEK_LEN] = crypto::random(&rng).map_err(|_| InitError::Random)?;
    let kek = crypto::kek(passphrase, &salt, iterations);
    let iterations_be = iterations.get().to_be_bytes();
    let (dek_nonce, dek_sealed) =
        crypto::seal(&kek, &rng, &[crypto::aad::DEK, &salt, &iterations_be], &dek)
            .map_err(|_| InitError::Random)?;
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| InitError::Random)?;
    // Invariant: ring parses the PKCS#8 document it has just generated.
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| InitError::Random)?;
    let public = pair.public_key().as_ref().to_vec();
    let keys = Keys::derive(&dek);
    let (identity_nonce, identity_sealed) = crypto::seal(
        &keys.record,
        &rng,
        &[crypto::aad::IDENTITY, &public],
        pkcs8.as_ref(),
    )
    .map_err(|_| InitError::Random)?;
    let kf = KeyFile {
        format: KEY_FILE_FORMAT,
        kdf: KDF_NAME.to_owned(),
        iterations: iterations.get(),
        salt: crypto::hex(&salt),
        dek_nonce: crypto::hex(&dek_nonce),
        dek_sealed: crypto::hex(&dek_sealed),
        identity_public: crypto::hex(&public),
        identity_nonce: crypto::hex(&identity_nonce),
        identity_sealed: crypto::hex(&identity_sealed),
    };
    // Invariant: a struct of strings and integers always serialises.
    let json = serde_json::to_vec_pretty(&kf).map_err(|_| InitError::Random)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(KEY_FILE))
        .map_err(io("writing the key file"))?;
    file.write_all(&json).map_err(io("writing the key file"))?;
    file.sync_all().map_err(io("syncing the key file"))?;

    // Created empty with owner-only permissions first: SQLite gives the -wal and -shm files the
    // database file's mode.
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(DB_FILE))
        .map_err(io("creating the database"))?;
    let mut conn = Connection::open(dir.join(DB_FILE)).map_err(db("creating the database"))?;
    schema::prepare(&mut conn).map_err(|err| match err {
        OpenError::Db(e) => InitError::Db(e),
        OpenError::Io(e) => InitError::Io(e),
        _ => InitError::Db(DbError {
            context: "creating the schema",
            code: None,
        }),
    })?;
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    conn.execute(
        "INSERT INTO node (id, facility, role, name, identity_public, created_unix)
         VALUES (1, ?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            opts.facility,
            opts.role.as_str(),
            opts.name,
            public,
            created
        ],
    )
    .map_err(db("writing the node record"))?;
    // Closing checkpoints the WAL into the main file and removes it, so the directory moved
    // into place is one key file and one database file.
    conn.close()
        .map_err(|(_, e)| db("closing the database")(e))?;
    Ok(NodeInfo {
        facility: opts.facility.clone(),
        role: opts.role,
        name: opts.name.clone(),
        identity_public: public,
    })
}

fn fsync_dir(dir: &Path) -> Result<(), IoError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing a directory"))
}
