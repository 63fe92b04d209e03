//! The database schema and its migrations, keyed by SQLite's `user_version`.
//!
//! Opening a database sets the pragmas, then runs [`init`] (fresh file) or
//! [`upgrade_from`]`(v)` (older file) inside one transaction, so a crash mid-migration leaves
//! the old schema intact. A file newer than this build is refused, never downgraded.
//!
//! Field-by-field meaning is in ARCHITECTURE.md ("Node store"). What is stored in clear, and why
//! that is acceptable, is listed there too; everything else is sealed or tokenised.

use rusqlite::{Connection, Transaction};

use super::error::{DbError, OpenError, db};

/// The schema version this build writes.
pub const VERSION: i64 = 8;

/// Pragmas set on every connection. WAL lets readers run beside the importer; `FULL` syncs the
/// WAL at each commit, so an acknowledged import batch survives power loss (`NORMAL` would keep
/// the file consistent but could lose the last commits). `foreign_keys` is per connection.
/// The page cache is bounded (8 MiB) because nodes are small; temp data stays in memory so no
/// temp file is ever written beside the database.
pub const PRAGMAS: &[(&str, &str)] = &[
    ("journal_mode", "WAL"),
    ("synchronous", "FULL"),
    ("foreign_keys", "ON"),
    ("cache_size", "-8192"),
    ("temp_store", "MEMORY"),
    ("busy_timeout", "5000"),
];

const V1: &str = "
-- The node this data directory belongs to. One row.
CREATE TABLE node (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    facility        TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    name            TEXT,
    identity_public BLOB    NOT NULL,
    created_unix    INTEGER NOT NULL
);

-- Immutable items addressed by the SHA-256 of their raw bytes. The body is the (possibly
-- zstd-compressed) bytes sealed with AES-256-GCM; the associated data binds hash, size and codec.
CREATE TABLE item (
    id      INTEGER PRIMARY KEY,
    hash    BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    size    INTEGER NOT NULL CHECK (size >= 0),
    codec   INTEGER NOT NULL,
    nonce   BLOB    NOT NULL,
    body    BLOB    NOT NULL,
    damaged INTEGER NOT NULL DEFAULT 0
);

-- Where an item sits in a standardized storage: one row per (facility, relative path). The path
-- itself is sealed; lookups go through keyed tokens.
CREATE TABLE location (
    id            INTEGER PRIMARY KEY,
    facility      TEXT    NOT NULL,
    path_token    BLOB    NOT NULL,
    version_token BLOB,
    patient_token BLOB,
    item_id       INTEGER NOT NULL REFERENCES item (id),
    quarantined   INTEGER NOT NULL,
    reason        TEXT,
    stat_token    BLOB,
    path_nonce    BLOB    NOT NULL,
    path_sealed   BLOB    NOT NULL,
    damaged       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (facility, path_token)
);
CREATE INDEX location_version ON location (version_token);
CREATE INDEX location_patient ON location (patient_token);
CREATE INDEX location_item ON location (item_id);

-- Items a location held before its file's bytes changed in place. Standardized storage never
-- rewrites a file, but if a source does, the earlier bytes stay reachable instead of orphaned.
CREATE TABLE replaced (
    location_id INTEGER NOT NULL REFERENCES location (id),
    item_id     INTEGER NOT NULL REFERENCES item (id),
    PRIMARY KEY (location_id, item_id)
) WITHOUT ROWID;
";

/// Version 2: trained compression dictionaries (codec 2) and the patient index. Added by
/// [`upgrade_from`]`(1)`; a fresh database runs V1 then V2, so both paths give one schema.
const V2: &str = "
-- zstd dictionaries trained per data type, sealed. kind_token = HMAC(data type); version
-- counts the dictionaries of a kind (the newest compresses, all decompress); format is the
-- dictionary record format (1: raw zstd dictionary bytes).
CREATE TABLE dictionary (
    id         INTEGER PRIMARY KEY,
    kind_token BLOB    NOT NULL,
    version    INTEGER NOT NULL,
    format     INTEGER NOT NULL,
    nonce      BLOB    NOT NULL,
    sealed     BLOB    NOT NULL,
    UNIQUE (kind_token, version)
);

-- One row per (facility, patient ID): the display record (names, birth date, sex, address)
-- sealed; patient_token is location.patient_token.
CREATE TABLE patient (
    id            INTEGER PRIMARY KEY,
    patient_token BLOB    NOT NULL UNIQUE,
    nonce         BLOB    NOT NULL,
    sealed        BLOB    NOT NULL
);

-- Search tokens (HMAC of normalised kana, kana prefixes, kanji, patient ID, birth date) → patient.
CREATE TABLE search (
    token      BLOB    NOT NULL,
    patient_id INTEGER NOT NULL REFERENCES patient (id),
    PRIMARY KEY (token, patient_id)
) WITHOUT ROWID;
CREATE INDEX search_patient ON search (patient_id);
";

/// Version 3: drops `location_item`. Nothing looks locations up by item on a hot path: items are
/// never deleted or re-keyed (so the foreign key never searches children), and verify's orphan
/// check reads `location.item_id` once into a temporary index (`NOT IN`) instead. The index cost
/// about 12 bytes per stored file and one more B-tree write per new location.
const V3: &str = "
DROP INDEX location_item;
";

/// Version 4: drops `location_version` and clears `version_token`. A flag rename is found by
/// computing the earlier file's path token (same folder, same name but the flag), so the version
/// token is no longer written; clearing it also removes its leak (the rename history per
/// version). About 45 bytes per stored file.
const V4: &str = "
DROP INDEX location_version;
UPDATE location SET version_token = NULL WHERE version_token IS NOT NULL;
";

/// Version 5: drops `search_patient` (search rows by patient, ≈ 47 bytes per stored file at
/// 2,000 patients, as large as the search table itself). Replacing a patient record deletes the
/// old record's recomputed tokens by primary key; verify counts search rows per patient in one
/// grouped pass and looks each expected token up by primary key.
const V5: &str = "
DROP INDEX search_patient;
";

/// Version 6: brings `location_item` back. Serving a sync looks up the locations of each
/// requested item; without the index every 256-item batch scanned all locations (measured: 63 %
/// of a 24,171-file replication, quadratic in the store's size). About 12 bytes per stored file.
const V6: &str = "
CREATE INDEX location_item ON location (item_id);
";

/// Version 7: search tokens are 8 bytes (16 before; `patient::SEARCH_TOKEN_LEN` says why a
/// collision is harmless), and patient rows are sealed as positional JSON. Tokens need the keys,
/// which migrations never see, so the migration empties the patient index and `Store::open`
/// rebuilds it from the stored messages (as after v1 → v2), in one transaction: a crash during
/// the rebuild leaves the index empty and the next open rebuilds again. About 8 bytes per
/// search row (≈ 13 rows per patient). No location or item row changes.
///
/// It also re-creates `location_patient` on the patient token's first 4 bytes
/// ([`PATIENT_PREFIX_LEN`]) instead of all 16: the index only has to narrow a patient's files
/// down, and every query through it also compares the full token (a 4-byte prefix shared by
/// another patient adds, on average, P/2³² patients' rows to a lookup: nothing at any realistic
/// P). The prefix of a token in clear reveals nothing new. About 10 bytes per stored file.
const V7: &str = "
DELETE FROM search;
DELETE FROM patient;
DROP INDEX location_patient;
CREATE INDEX location_patient ON location (substr(patient_token, 1, 4));
";

/// Version 8: packed item bodies and a hash-prefix index (stored-size round 3).
///
/// - `pack`: several items' raw bytes concatenated, compressed as one zstd frame (with the
///   mixed-type pack dictionary once trained) and sealed once: one nonce and one tag per pack,
///   and neighbouring messages of a patient compress against each other. A packed item row
///   has `pack` and `pack_at` set (codec 4, empty nonce and body); its bytes are the slice
///   `pack_at .. pack_at + size` of the pack's plaintext, checked against the item's SHA-256
///   after reading (`pack.rs`). Items sealed before keep their own bodies (codecs 0–3, `pack`
///   NULL) and are read as before.
/// - `item` is rebuilt without `UNIQUE (hash)` (a 32-byte autoindex, ≈ 46 bytes per item) and
///   indexed on the hash's first [`HASH_PREFIX_LEN`] bytes instead; every lookup compares the
///   full hash too, so a shared prefix only adds a row to compare. Uniqueness is kept by the
///   single writer: `item::put` looks the hash up inside the write transaction before it
///   inserts. Row ids are kept, so locations and `replaced` rows stay valid; the rebuild runs
///   with foreign keys off (SQLite's documented table-rebuild procedure: the pragma cannot
///   change inside a transaction, so `prepare_to` sets it around the migration transaction).
/// - `location` is rebuilt the same way without `UNIQUE (facility, path_token)` (a 16-byte
///   token plus the facility in a 40-byte-per-file autoindex) and indexed on the path token's
///   first [`PATH_PREFIX_LEN`] bytes; lookups compare facility and full token too. The single
///   writer keeps (facility, path token) unique: every insert follows a lookup of that key in
///   the same write transaction; `verify` reports a duplicate (`location.duplicate`).
/// - `location.patient_token` keeps the first [`LOCATION_PATIENT_TOKEN_LEN`] bytes of the
///   patient token (16 before): it is only a lookup key for a patient's files, and every reader
///   re-checks the patient ID from the sealed path (the summary) or only asks whether a
///   patient has files at all (verify), so a shared 8-byte value (≈ P²/2⁶⁵ pairs for P
///   patients) costs a decryption, never a wrong answer. `patient.patient_token` stays 16.
/// - `location.version_token` (NULL since schema 4) is not carried over.
/// - `import_dir` (the re-import cache, created by the first import before) moves into the
///   versioned schema with its three counts in one integer (`counts` = subdirs | files << 1 |
///   quarantined << 32; one byte for a leaf directory of a few files). It is a cache, so the
///   old table is dropped: the first re-import after the upgrade stats every file once.
const V8: &str = "
CREATE TABLE pack (
    id      INTEGER PRIMARY KEY,
    size    INTEGER NOT NULL,
    codec   INTEGER NOT NULL,
    nonce   BLOB    NOT NULL,
    body    BLOB    NOT NULL,
    damaged INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE item8 (
    id      INTEGER PRIMARY KEY,
    hash    BLOB    NOT NULL CHECK (length(hash) = 32),
    size    INTEGER NOT NULL CHECK (size >= 0),
    codec   INTEGER NOT NULL,
    nonce   BLOB    NOT NULL,
    body    BLOB    NOT NULL,
    damaged INTEGER NOT NULL DEFAULT 0,
    pack    INTEGER REFERENCES pack (id),
    pack_at INTEGER
);
INSERT INTO item8 (id, hash, size, codec, nonce, body, damaged)
    SELECT id, hash, size, codec, nonce, body, damaged FROM item;
DROP TABLE item;
ALTER TABLE item8 RENAME TO item;
CREATE INDEX item_hash ON item (substr(hash, 1, 8));
CREATE TABLE location8 (
    id            INTEGER PRIMARY KEY,
    facility      TEXT    NOT NULL,
    path_token    BLOB    NOT NULL,
    patient_token BLOB,
    item_id       INTEGER NOT NULL REFERENCES item (id),
    quarantined   INTEGER NOT NULL,
    reason        TEXT,
    stat_token    BLOB,
    path_nonce    BLOB    NOT NULL,
    path_sealed   BLOB    NOT NULL,
    damaged       INTEGER NOT NULL DEFAULT 0
);
INSERT INTO location8 SELECT id, facility, path_token, substr(patient_token, 1, 8), item_id,
    quarantined, reason, stat_token, path_nonce, path_sealed, damaged FROM location;
DROP TABLE location;
ALTER TABLE location8 RENAME TO location;
CREATE INDEX location_path ON location (substr(path_token, 1, 8));
CREATE INDEX location_patient ON location (substr(patient_token, 1, 4));
CREATE INDEX location_item ON location (item_id);
DROP TABLE IF EXISTS import_dir;
CREATE TABLE import_dir (
    dir_token  BLOB    PRIMARY KEY,
    stat_token BLOB    NOT NULL,
    counts     INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Bytes of the path token that `location_path` indexes (schema 8); queries use the expression
/// `substr(path_token, 1, 8)` literally.
pub const PATH_PREFIX_LEN: usize = 8;

/// Bytes of the patient token stored in `location.patient_token` (schema 8).
pub const LOCATION_PATIENT_TOKEN_LEN: usize = 8;

/// Bytes of the item hash that `item_hash` indexes (schema 8). Queries must use the
/// expression `substr(hash, 1, 8)` literally for SQLite to use the index.
pub const HASH_PREFIX_LEN: usize = 8;

/// Bytes of the patient token that `location_patient` indexes (schema 7). Queries must use the
/// expression `substr(patient_token, 1, 4)` literally for SQLite to use the index.
pub const PATIENT_PREFIX_LEN: usize = 4;

/// Sets the pragmas and brings the schema to [`VERSION`].
pub fn prepare(conn: &mut Connection) -> Result<(), OpenError> {
    prepare_to(conn, VERSION)
}

/// Sets the pragmas and brings the schema to `target` (≤ [`VERSION`]). Only tests ask for an
/// older target: it is how they build a fixture with the older code path.
#[doc(hidden)]
pub fn prepare_to(conn: &mut Connection, target: i64) -> Result<(), OpenError> {
    for (name, value) in PRAGMAS {
        // `journal_mode` answers with a row; the others answer with nothing.
        conn.pragma_update_and_check(None, name, value, |_| Ok(()))
            .or_else(|err| match err {
                rusqlite::Error::QueryReturnedNoRows => Ok(()),
                other => Err(other),
            })
            .map_err(db("setting pragmas"))?;
    }
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db("reading the schema version"))?;
    if found > VERSION {
        return Err(OpenError::TooNew {
            found,
            supported: VERSION,
        });
    }
    if found >= target {
        return Ok(());
    }
    // Schema 8 rebuilds `item` and `location`, which `location` and `replaced` reference:
    // foreign keys must be off for the `DROP TABLE`s (row ids are kept, so no reference
    // changes). The pragma is a
    // no-op inside a transaction, so it is set around it and restored whatever the outcome.
    let rebuilds = found < 8 && target >= 8;
    if rebuilds {
        conn.pragma_update(None, "foreign_keys", "OFF")
            .map_err(db("setting pragmas"))?;
    }
    let result = migrate(conn, found, target);
    if rebuilds {
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db("setting pragmas"))?;
    }
    result
}

/// Runs the migration from `found` to `target` in one `IMMEDIATE` transaction.
fn migrate(conn: &mut Connection, found: i64, target: i64) -> Result<(), OpenError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db("starting the migration"))?;
    if found == 0 {
        tx.execute_batch(V1).map_err(db("creating the schema"))?;
        upgrade_from(&tx, 1, target)?;
    } else {
        upgrade_from(&tx, found, target)?;
    }
    tx.pragma_update(None, "user_version", target)
        .map_err(db("writing the schema version"))?;
    tx.commit().map_err(db("committing the migration"))?;
    Ok(())
}

/// Upgrades a database from version `from` to `to` step by step, each step one arm, all in
/// the caller's transaction.
fn upgrade_from(tx: &Transaction<'_>, from: i64, to: i64) -> Result<(), DbError> {
    let mut v = from;
    while v < to {
        match v {
            // v1 → v2: dictionaries and the patient index. The index of data imported under v1
            // is rebuilt by `Store::open` (it needs the keys, which migrations never see).
            1 => tx.execute_batch(V2).map_err(db("migrating to schema 2"))?,
            // v2 → v3: one index dropped; no row changes.
            2 => tx.execute_batch(V3).map_err(db("migrating to schema 3"))?,
            // v3 → v4: one index dropped, one column cleared.
            3 => tx.execute_batch(V4).map_err(db("migrating to schema 4"))?,
            // v4 → v5: one index dropped; no row changes.
            4 => tx.execute_batch(V5).map_err(db("migrating to schema 5"))?,
            // v5 → v6: one index created; no row changes.
            5 => tx.execute_batch(V6).map_err(db("migrating to schema 6"))?,
            // v6 → v7: the patient index emptied; `Store::open` rebuilds it with the keys.
            6 => tx.execute_batch(V7).map_err(db("migrating to schema 7"))?,
            // v7 → v8: packs, `item` rebuilt on a hash-prefix index, `import_dir` versioned.
            7 => tx.execute_batch(V8).map_err(db("migrating to schema 8"))?,
            _ => {
                return Err(DbError {
                    context: "migrating from an unknown schema version",
                    code: None,
                });
            }
        }
        v += 1;
    }
    Ok(())
}

/// The schema as SQLite reports it, for comparing a migrated database with a fresh one.
#[cfg(test)]
pub fn dump(conn: &Connection) -> Result<Vec<String>, DbError> {
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .map_err(db("reading the schema"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(format!(
                "{} {}: {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?
            ))
        })
        .map_err(db("reading the schema"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading the schema"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_gets_the_current_version_and_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("db")).unwrap();
        prepare(&mut conn).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        // Preparing again is a no-op: same schema, no error.
        let before = dump(&conn).unwrap();
        prepare(&mut conn).unwrap();
        assert_eq!(dump(&conn).unwrap(), before);
        assert!(before.iter().any(|s| s.starts_with("table item:")));
    }

    #[test]
    fn v1_database_upgrades_to_the_fresh_schema() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = Connection::open(dir.path().join("old")).unwrap();
        prepare_to(&mut old, 1).unwrap();
        let v1 = dump(&old).unwrap();
        assert!(!v1.iter().any(|s| s.contains("dictionary")));
        assert!(v1.iter().any(|s| s.contains("location_item")));
        old.execute(
            "INSERT INTO node VALUES (1, '1234567890', 'shelter', NULL, x'00', 0)",
            [],
        )
        .unwrap();
        prepare(&mut old).unwrap();
        let mut fresh = Connection::open(dir.path().join("fresh")).unwrap();
        prepare(&mut fresh).unwrap();
        assert_eq!(dump(&old).unwrap(), dump(&fresh).unwrap());
        assert!(
            dump(&fresh)
                .unwrap()
                .iter()
                .any(|s| s.contains("location_item")),
            "schema 6 indexes locations by item again (dropped in 3)"
        );
        let kept: i64 = old
            .query_row("SELECT count(*) FROM node", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1, "rows written under v1 survive the upgrade");
        let version: i64 = old
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
    }

    #[test]
    fn a_patients_files_are_found_through_the_prefix_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("db")).unwrap();
        prepare(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                crate::store::summary::PATIENT_FILES_SQL
            ))
            .unwrap()
            .query_map(
                rusqlite::params![[7u8; 16], "0400000001", [7u8; PATIENT_PREFIX_LEN]],
                |r| r.get::<_, String>(3),
            )
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter()
                .any(|d| d.contains("USING INDEX location_patient")),
            "{plan:?}"
        );
        // Verify's per-patient check too (a scan there would be quadratic).
        let plan: Vec<String> = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                crate::store::patient::PATIENTS_WITH_FILES_SQL
            ))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter()
                .any(|d| d.contains("USING INDEX location_patient")),
            "{plan:?}"
        );
    }

    #[test]
    fn items_and_locations_are_found_through_their_prefix_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("db")).unwrap();
        prepare(&mut conn).unwrap();
        let plan = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Vec<String> {
            conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params, |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let hash = [7u8; 32];
        let p = plan(
            crate::store::item::FIND_SQL,
            &[&&hash[..HASH_PREFIX_LEN], &&hash[..]],
        );
        assert!(
            p.iter().any(|d| d.contains("USING INDEX item_hash")),
            "{p:?}"
        );
        let token = [7u8; 16];
        let p = plan(
            crate::store::import::FIND_LOCATION_SQL,
            &[&"0400000001", &&token[..], &&token[..PATH_PREFIX_LEN]],
        );
        assert!(
            p.iter().any(|d| d.contains("USING INDEX location_path")),
            "{p:?}"
        );
        let p = plan(
            crate::store::export::LOCATIONS_OF_SQL,
            &[&&hash[..], &5i64, &&hash[..HASH_PREFIX_LEN]],
        );
        assert!(
            p.iter().any(|d| d.contains("USING INDEX item_hash")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|d| d.contains("USING INDEX location_item (item_id=?)")),
            "{p:?}"
        );
        // No 32-byte hash or (facility, token) autoindex is left.
        let autoindexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_item%'
                    OR name LIKE 'sqlite_autoindex_location%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(autoindexes, 0);
    }

    #[test]
    fn newer_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("db")).unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        let err = prepare(&mut conn).unwrap_err();
        assert!(matches!(err, OpenError::TooNew { found, .. } if found == VERSION + 1));
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn failed_migration_leaves_the_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("db")).unwrap();
        // A table named like one the schema creates makes `init` fail halfway through.
        conn.execute_batch("CREATE TABLE location (x)").unwrap();
        assert!(prepare(&mut conn).is_err());
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 0);
        let node: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('node', 'item')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            node, 0,
            "the transaction rolled back the tables created before the failure"
        );
    }
}
