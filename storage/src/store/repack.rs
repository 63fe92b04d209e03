//! `repack`: poorly filled packs merged, so replicas and live-ingest nodes stay small.
//!
//! An import walks a tree patient by patient, so its packs hold up to [`pack::PACK_ITEMS_MAX`]
//! messages of one patient. Items that arrive otherwise do not: a replica receives them in
//! hash order (a 1,024-item batch holds ~1,024 patients, so nearly every pack holds one item),
//! and live ingest imports a few files per patient at a time. A pack of one item compresses
//! alone and pays a nonce, a tag and a row for ~1.5 KB.
//!
//! A repack finds the *small* packs ([`is_small`]: fewer than [`SMALL_PACK_ITEMS`] items and
//! fewer than [`SMALL_PACK_BYTES`] raw bytes), keeps the groups (facility, location patient
//! token of an item's first location) whose items lie in at least two small packs (one small
//! pack of a group has nothing to merge with, so a second run moves nothing), and rewrites
//! those groups' items through the pack writer, sorted by group so each patient's items go
//! into as few packs as the writer's bounds allow. Full packs, and items of other groups in a
//! small pack, are never touched.
//!
//! Each item is read and re-hashed as every read is (`item::decode`). An item that fails is
//! left where it is, marked `damaged` (as `verify` would) and counted: never rewritten, never
//! lost; its old pack stays.
//!
//! Crash safety: the work is cut into chunks of at most [`CHUNK_ITEMS_MAX`] items /
//! [`CHUNK_BYTES_MAX`] raw bytes, each one `IMMEDIATE` transaction that writes and seals the new
//! packs, points every moved item row at its new (pack, offset) and deletes the old packs left
//! with no item. Commit or rollback, each item is readable exactly once, from its old pack or
//! its new one; the item's foreign key to `pack` makes deleting a pack that an item still
//! names fail rather than lose it.
//!
//! Readers: decoded packs are cached by (pack id, nonce). SQLite may give a deleted pack's id
//! to a new pack (the table has no `AUTOINCREMENT`), but the new pack has a fresh random
//! nonce, so the key differs; the cache is cleared after a repack anyway.
//!
//! Memory: a round keeps at most [`ROUND_ITEMS_MAX`] candidates, chunks hold their rows'
//! metadata and the writer's open packs (`OPEN_PACKS_MAX` × 64 KiB). But the listing itself is
//! not bounded yet: it groups every packed item row by pack and writes every small pack's
//! items to the temporary tables before cutting to the round's bound, and the store keeps
//! temporary data in memory, so it grows with the store (the 100,000-patient bench peaked at
//! 175 MB with the import's closing repack against 113 MB without; README "Store benchmark").
//! Next: an index on `item.pack` or a kept list of small packs, listed in bounded windows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::codec::Codecs;
use super::crypto::Token;
use super::error::{ReadError, RepackError, db};
use super::item::{self, COLUMNS, Stored};
use super::{Store, pack};

/// A pack with fewer items than this is small (and fewer than [`SMALL_PACK_BYTES`] bytes).
/// Measured at 2,000 patients (ARCHITECTURE.md "Repack"), sealed bytes per item by items per
/// pack: 1 → 165, 2 → 126, 4 → 100, 8 → 84, 16 → 77; past 8 a merge gains ≤ 7 bytes an item,
/// so a pack of 8 or more is left alone.
pub const SMALL_PACK_ITEMS: usize = 8;
/// Raw bytes under which a pack of few items is small: 16 KiB ≈ 11 average messages, a
/// quarter of `PACK_RAW_MAX`. A pack of a few large messages above it already amortises its
/// nonce, tag and row.
pub const SMALL_PACK_BYTES: usize = 16 * 1024;
/// Items moved per transaction at most: one chunk is about 1.5 MB of raw bytes, a few hundred
/// KB of WAL, and a kill redoes at most this much.
pub const CHUNK_ITEMS_MAX: usize = 1024;
/// Raw bytes moved per transaction at most (items are ≤ `PACK_ITEM_MAX` = 16 KiB each).
pub const CHUNK_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// A chunk ends at a group boundary; a group with more items than this past the chunk's bound
/// is cut anyway (its items then span two packs more than needed; a later run merges them).
pub const GROUP_TAIL_MAX: usize = 256;
/// Candidate items listed per round (temporary table in memory, ~50 bytes a row: ≈ 10 MB).
pub const ROUND_ITEMS_MAX: i64 = 200_000;
/// Rounds per run at most: each round lists candidates with one scan of the item rows; a
/// round that moves nothing ends the run earlier. Bounds a run even if a bug kept finding
/// the same groups.
pub const ROUNDS_MAX: u32 = 64;

/// Small packs sealed (`Store::small_packs_sealed`) after which the daemon's store thread and
/// `import` start a repack on their own. A repack's listing reads every item row once (a run
/// that moved nothing took 30–50 ms at 24,171 items); 1,024 small packs are a replica's one
/// insert batch and ≈ 80 KB of sealed bytes to gain (165 → 84 bytes an item).
pub const REPACK_AFTER_SMALL_PACKS: u64 = 1024;

/// Whether a pack of `items` items and `raw` plaintext bytes is poorly filled.
pub fn is_small(items: usize, raw: usize) -> bool {
    items < SMALL_PACK_ITEMS && raw < SMALL_PACK_BYTES
}

/// What to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepackOptions {
    /// Commit at most this many chunks, then return (`done` false): the daemon bounds the time
    /// a repack holds the store. `None`: until nothing is left.
    pub chunks_max: Option<u64>,
    /// Crash tests: fail with `Interrupted` after moving this many items (inside a chunk,
    /// before its commit), so that chunk rolls back.
    #[doc(hidden)]
    pub fail_after_items: Option<u64>,
}

/// What a repack did. Counts only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RepackSummary {
    /// Small packs found (first round).
    pub small_packs: u64,
    /// Items in groups to merge (all rounds).
    pub candidates: u64,
    pub items_moved: u64,
    /// Raw bytes of the moved items.
    pub bytes_moved: u64,
    pub packs_removed: u64,
    pub packs_written: u64,
    /// Sealed bytes of the removed packs and of the written ones: the saving is the difference.
    pub sealed_before: u64,
    pub sealed_after: u64,
    /// Items that failed their read (left in place, marked damaged).
    pub unreadable: u64,
    pub chunks: u64,
    pub rounds: u64,
    /// Nothing left to merge (false when `chunks_max` stopped the run).
    pub done: bool,
    pub seconds: f64,
}

/// One candidate row of a chunk.
struct Row {
    seq: i64,
    id: i64,
    old: i64,
    facility: String,
    group: Token,
    stored: Stored,
}

impl Store {
    /// Small packs sealed since this store was opened or last completely repacked (cheap: a
    /// counter kept by the pack writer). The daemon and import start a repack when it grows.
    pub fn small_packs_sealed(&self) -> u64 {
        self.codecs.borrow().packer.small_sealed
    }

    /// Merges poorly filled packs (module doc). Durable chunk by chunk; on `Err` the chunk in
    /// hand rolled back and every item is readable as before it.
    pub fn repack(&mut self, opts: RepackOptions) -> Result<RepackSummary, RepackError> {
        let sealed_before_run = self.small_packs_sealed();
        let started = Instant::now();
        let mut summary = RepackSummary::default();
        // Deleting a pack with foreign keys on makes SQLite look for items naming it, and no
        // index has `item.pack` (a scan of every item per deleted pack). The run keeps the
        // count of each listed pack's items instead (module doc); `verify` runs
        // `foreign_key_check`. The pragma cannot change inside a transaction: set around it.
        self.conn
            .execute_batch("PRAGMA foreign_keys = OFF")
            .map_err(db("starting a repack"))?;
        let result = self.repack_rounds(&opts, &mut summary);
        let restored = self
            .conn
            .execute_batch("PRAGMA foreign_keys = ON")
            .map_err(db("ending a repack"));
        // Temporary tables go with the run (ignored if they were never made).
        let _ = self.conn.execute_batch(
            "DROP TABLE IF EXISTS temp.repack_todo; DROP TABLE IF EXISTS temp.repack_pack;",
        );
        if result.is_err() {
            // As after a failed import batch: the rolled-back chunk may have trained a
            // dictionary; reload the committed ones (this also drops the open packs).
            let codecs = super::codec::Codecs::load(&self.conn, &self.keys)?;
            *self.codecs.get_mut() = codecs;
        }
        let codecs = self.codecs.get_mut();
        pack::forget_reads(codecs);
        codecs.packer.small_sealed = if summary.done { 0 } else { sealed_before_run };
        summary.seconds = started.elapsed().as_secs_f64();
        result?;
        restored?;
        Ok(summary)
    }

    fn repack_rounds(
        &mut self,
        opts: &RepackOptions,
        summary: &mut RepackSummary,
    ) -> Result<(), RepackError> {
        for round in 0..ROUNDS_MAX {
            let (small, listed) = self.list_candidates()?;
            if round == 0 {
                summary.small_packs = small;
            }
            if listed == 0 {
                summary.done = true;
                return Ok(());
            }
            summary.rounds += 1;
            summary.candidates += listed;
            let moved_before = summary.items_moved + summary.unreadable;
            let mut after = 0i64;
            loop {
                if opts.chunks_max.is_some_and(|max| summary.chunks >= max) {
                    return Ok(());
                }
                match self.move_chunk(after, opts, summary)? {
                    Some(last) => after = last,
                    None => break,
                }
                summary.chunks += 1;
            }
            if summary.items_moved + summary.unreadable == moved_before {
                // Listed but nothing moved: cannot happen (every listed item is moved or
                // marked damaged); stop rather than list the same rows again.
                summary.done = true;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Lists this round's candidates into `temp.repack_todo`, sorted by group; returns (small
    /// packs, rows listed). One scan of the item rows (small: packed items have no body).
    fn list_candidates(&self) -> Result<(u64, u64), RepackError> {
        let conn = &self.conn;
        conn.execute_batch(
            "DROP TABLE IF EXISTS temp.repack_todo; DROP TABLE IF EXISTS temp.repack_pack;
             CREATE TEMP TABLE repack_pack (id INTEGER PRIMARY KEY, items INTEGER NOT NULL);
             CREATE TEMP TABLE repack_todo (
                 seq INTEGER PRIMARY KEY, item INTEGER NOT NULL, pack INTEGER NOT NULL,
                 facility TEXT NOT NULL, patient BLOB NOT NULL);",
        )
        .map_err(db("listing small packs"))?;
        let small = conn
            .execute(
                "INSERT INTO repack_pack (id, items)
                 SELECT pack, count(*) FROM item WHERE codec = ?1 AND pack IS NOT NULL
                 GROUP BY pack HAVING count(*) < ?2 AND sum(size) < ?3",
                params![
                    item::CODEC_PACKED,
                    SMALL_PACK_ITEMS as i64,
                    SMALL_PACK_BYTES as i64
                ],
            )
            .map_err(db("listing small packs"))?;
        // Group of an item: its first location (lowest row id); an item only a `replaced` row
        // names has no location and forms the facility-less group.
        conn.execute(
            "INSERT INTO repack_todo (item, pack, facility, patient)
             SELECT i.id, i.pack, coalesce(l.facility, ''), coalesce(l.patient_token, x'')
             FROM item i JOIN repack_pack p ON p.id = i.pack
             LEFT JOIN location l ON l.id = (SELECT min(id) FROM location WHERE item_id = i.id)
             WHERE i.damaged = 0
             ORDER BY 3, 4, i.pack, i.pack_at",
            [],
        )
        .map_err(db("listing small packs"))?;
        // Groups whose items lie in one small pack have nothing to merge with.
        conn.execute(
            "DELETE FROM repack_todo WHERE (facility, patient) IN (
                 SELECT facility, patient FROM repack_todo GROUP BY facility, patient
                 HAVING count(DISTINCT pack) < 2)",
            [],
        )
        .map_err(db("listing small packs"))?;
        // Bounded per round: whole groups first in order; a group cut here is finished by the
        // next round.
        conn.execute(
            "DELETE FROM repack_todo WHERE seq > (SELECT seq FROM repack_todo ORDER BY seq
                 LIMIT 1 OFFSET ?1)",
            [ROUND_ITEMS_MAX - 1],
        )
        .map_err(db("listing small packs"))?;
        let listed: i64 = conn
            .query_row("SELECT count(*) FROM repack_todo", [], |r| r.get(0))
            .map_err(db("listing small packs"))?;
        Ok((small as u64, u64::try_from(listed).unwrap_or(0)))
    }

    /// The next chunk's rows after `seq`: at least [`CHUNK_ITEMS_MAX`] items or
    /// [`CHUNK_BYTES_MAX`] bytes when there are that many, ended at a group boundary unless the
    /// group runs on for more than [`GROUP_TAIL_MAX`] items.
    fn next_chunk(&self, after: i64) -> Result<Vec<Row>, RepackError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT t.seq, t.item, t.pack, t.facility, t.patient, {COLUMNS}
                 FROM repack_todo t JOIN item i ON i.id = t.item
                 WHERE t.seq > ?1 ORDER BY t.seq LIMIT ?2"
            ))
            .map_err(db("reading a repack chunk"))?;
        let limit = (CHUNK_ITEMS_MAX + GROUP_TAIL_MAX) as i64;
        let mut rows = stmt
            .query(params![after, limit])
            .map_err(db("reading a repack chunk"))?;
        let mut out: Vec<Row> = Vec::new();
        let mut bytes = 0u64;
        while let Some(r) = rows.next().map_err(db("reading a repack chunk"))? {
            let facility: String = r.get(3).map_err(db("reading a repack chunk"))?;
            let patient: Vec<u8> = r.get(4).map_err(db("reading a repack chunk"))?;
            let row = Row {
                seq: r.get(0).map_err(db("reading a repack chunk"))?,
                id: r.get(1).map_err(db("reading a repack chunk"))?,
                old: r.get(2).map_err(db("reading a repack chunk"))?,
                group: group_token(&facility, &patient),
                facility,
                stored: Stored::from_row(r, 5).map_err(db("reading a repack chunk"))?,
            };
            let full = out.len() >= CHUNK_ITEMS_MAX || bytes >= CHUNK_BYTES_MAX;
            if full && out.last().is_some_and(|last| last.group != row.group) {
                break;
            }
            bytes += u64::try_from(row.stored.size).unwrap_or(0);
            out.push(row);
        }
        Ok(out)
    }

    /// Moves the chunk after `after` in one transaction (module doc); returns its last
    /// sequence number, `None` when the round's list is exhausted. The rows are read inside
    /// the transaction, so an item another writer moved meanwhile is skipped.
    fn move_chunk(
        &mut self,
        after: i64,
        opts: &RepackOptions,
        summary: &mut RepackSummary,
    ) -> Result<Option<i64>, RepackError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(db("starting a repack chunk"))?;
        let rows = match self.next_chunk(after) {
            Ok(rows) => rows,
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        let Some(last) = rows.last().map(|r| r.seq) else {
            self.conn
                .execute_batch("COMMIT")
                .map_err(db("committing a repack chunk"))?;
            return Ok(None);
        };
        let conn = &self.conn;
        let codecs = self.codecs.get_mut();
        let moved = (|| -> Result<(), RepackError> {
            let mut emptied: BTreeMap<i64, i64> = BTreeMap::new();
            let mut written: BTreeSet<i64> = BTreeSet::new();
            let mut chunk = RepackSummary::default();
            for row in &rows {
                if row.stored.pack != Some(row.old) {
                    continue;
                }
                match item::decode(conn, &self.keys, codecs, &row.stored) {
                    Ok(bytes) => {
                        // The facility's own pack dictionary when it has one (an imported
                        // facility's items); else the shared one, as received items use, so a
                        // repack never starts training a dictionary per facility.
                        let own = Codecs::facility_pack_kind(&self.keys, &row.facility);
                        let facility = codecs.has_dictionary(&own).then_some(own);
                        // The one call site of `pack::add` in a repack.
                        let (new, at) = pack::add(
                            conn,
                            &self.keys,
                            &self.rng,
                            codecs,
                            facility.as_ref(),
                            Some(&row.group),
                            &bytes,
                        )?;
                        conn.prepare_cached(
                            "UPDATE item SET pack = ?1, pack_at = ?2 WHERE id = ?3",
                        )
                        .and_then(|mut s| {
                            s.execute(params![new, i64::try_from(at).unwrap_or(i64::MAX), row.id])
                        })
                        .map_err(db("moving an item"))?;
                        *emptied.entry(row.old).or_default() += 1;
                        written.insert(new);
                        chunk.items_moved += 1;
                        chunk.bytes_moved += bytes.len() as u64;
                    }
                    Err(ReadError::Db(e)) => return Err(e.into()),
                    Err(_) => {
                        conn.execute("UPDATE item SET damaged = 1 WHERE id = ?1", [row.id])
                            .map_err(db("marking a damaged item"))?;
                        chunk.unreadable += 1;
                    }
                }
                if let Some(fail) = opts.fail_after_items
                    && summary.items_moved + chunk.items_moved >= fail
                {
                    return Err(RepackError::Interrupted {
                        items: summary.items_moved + chunk.items_moved,
                    });
                }
            }
            pack::flush(conn, &self.keys, &self.rng, codecs)?;
            for (old, n) in emptied {
                conn.prepare_cached("UPDATE repack_pack SET items = items - ?1 WHERE id = ?2")
                    .and_then(|mut s| s.execute(params![n, old]))
                    .map_err(db("counting a pack's items"))?;
                let left: i64 = conn
                    .prepare_cached("SELECT items FROM repack_pack WHERE id = ?1")
                    .and_then(|mut s| s.query_row([old], |r| r.get(0)))
                    .map_err(db("counting a pack's items"))?;
                if left > 0 {
                    continue;
                }
                let sealed: Option<i64> = conn
                    .query_row("SELECT length(body) FROM pack WHERE id = ?1", [old], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(db("removing a pack"))?;
                // Every item the listing counted in this pack has been moved out of it (by this
                // run: items moved by another writer were skipped, not counted), and no item
                // is ever added to a sealed pack.
                conn.execute("DELETE FROM pack WHERE id = ?1", [old])
                    .map_err(db("removing a pack"))?;
                chunk.packs_removed += 1;
                chunk.sealed_before += sealed.map_or(0, |n| u64::try_from(n).unwrap_or(0));
            }
            for new in written {
                let sealed: i64 = conn
                    .query_row("SELECT length(body) FROM pack WHERE id = ?1", [new], |r| {
                        r.get(0)
                    })
                    .map_err(db("measuring a pack"))?;
                chunk.packs_written += 1;
                chunk.sealed_after += u64::try_from(sealed).unwrap_or(0);
            }
            conn.execute_batch("COMMIT")
                .map_err(db("committing a repack chunk"))?;
            summary.items_moved += chunk.items_moved;
            summary.bytes_moved += chunk.bytes_moved;
            summary.unreadable += chunk.unreadable;
            summary.packs_removed += chunk.packs_removed;
            summary.packs_written += chunk.packs_written;
            summary.sealed_before += chunk.sealed_before;
            summary.sealed_after += chunk.sealed_after;
            Ok(())
        })();
        let moved = moved.map(|()| Some(last));
        if moved.is_err() {
            pack::discard(codecs);
            // Nothing more can be done if the rollback fails: SQLite rolls back a hot journal
            // on the next open anyway.
            let _ = conn.execute_batch("ROLLBACK");
        }
        moved
    }
}

/// The pack writer's group of a (facility, location patient token): only an in-memory key,
/// so the 8 stored token bytes and the facility code as a number identify it.
fn group_token(facility: &str, patient: &[u8]) -> Token {
    let mut group = Token::default();
    let n = patient.len().min(8);
    group[..n].copy_from_slice(&patient[..n]);
    let code = facility.parse::<u64>().unwrap_or(u64::MAX);
    group[8..].copy_from_slice(&code.to_be_bytes());
    group
}

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use crate::store::crypto::sha256;
    use crate::store::item::CODEC_PACKED;
    use crate::store::{InitOptions, KDF_ITERATIONS_MIN, Role, Store, pack};

    /// Writes `bytes` alone into a new pack with an item row naming it; returns the pack id.
    fn put_packed(s: &mut Store, bytes: &[u8]) -> i64 {
        s.conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let codecs = s.codecs.get_mut();
        let (id, at) = pack::add(&s.conn, &s.keys, &s.rng, codecs, None, None, bytes).unwrap();
        pack::flush(&s.conn, &s.keys, &s.rng, codecs).unwrap();
        s.conn
            .execute(
                "INSERT INTO item (hash, size, codec, nonce, body, pack, pack_at)
                 VALUES (?1, ?2, ?3, x'', x'', ?4, ?5)",
                params![
                    &sha256(bytes)[..],
                    bytes.len() as i64,
                    CODEC_PACKED,
                    id,
                    at as i64
                ],
            )
            .unwrap();
        s.conn.execute_batch("COMMIT").unwrap();
        id
    }

    /// SQLite gives a deleted pack's row id to the next pack (no `AUTOINCREMENT`); a reader
    /// that had decoded the old pack must not serve its bytes for the new one. The cache key
    /// includes the pack's random nonce (and a repack clears the cache; not here).
    #[test]
    fn a_reused_pack_id_is_not_read_from_the_stale_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        let opts = InitOptions {
            kdf_iterations: KDF_ITERATIONS_MIN,
            ..InitOptions::new("0400000001", Role::Shelter)
        };
        Store::init(&dir, &opts, b"reused pack ids").unwrap();
        let mut s = Store::open(&dir, b"reused pack ids").unwrap();
        let first = b"first message, sixty-four bytes long ...........................";
        let second = b"other message, sixty-four bytes long ...........................";
        assert_eq!(first.len(), second.len());
        let old = put_packed(&mut s, first);
        assert_eq!(s.item(&sha256(first)).unwrap().unwrap(), first);
        // The pack and its item go (as a repack deletes an emptied pack), then a new pack.
        s.conn
            .execute_batch("PRAGMA foreign_keys = OFF; DELETE FROM item; DELETE FROM pack;")
            .unwrap();
        let new = put_packed(&mut s, second);
        assert_eq!(new, old, "premise: SQLite reuses the id");
        assert_eq!(s.item(&sha256(second)).unwrap().unwrap(), second);
        assert!(s.item(&sha256(first)).unwrap().is_none());
    }
}
