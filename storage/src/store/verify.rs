//! `verify`: the whole store read back and checked, nothing deleted.
//!
//! 1. `PRAGMA integrity_check` and `PRAGMA foreign_key_check`.
//! 2. Every item body opens (GCM tag over body, hash, size and codec), decompresses to its size
//!    and hashes to its address. A failing item is marked `damaged`, never removed: a peer can
//!    re-send it, and the damaged copy is evidence.
//! 3. Every location has its item, its sealed path opens, the path's token matches the row and
//!    its components are safe to export. A failing location is marked `damaged`.
//! 4. Items no location or replacement record refers to are reported as orphans.

use serde::Serialize;

use super::error::{VerifyError, db};
use super::{Store, crypto, export, item};
use crate::store::crypto::label;

/// At most this many problems are listed; all are counted and all are marked.
pub const PROBLEMS_LISTED_MAX: usize = 1_000;

/// One problem. Items are named by their hash and locations by their row id: neither is
/// patient data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable code: `db.integrity`, `db.foreign_key`, `item.tag`, `item.decompress`,
    /// `item.hash`, `item.codec`, `item.orphan`, `location.no_item`, `location.path_tag`,
    /// `location.path_encoding`, `location.path_token`, `location.path_unsafe`, `location.duplicate`, `dictionary.tag`, `patient.tag`,
    /// `patient.token`, `patient.no_location`, `patient.search_tokens`, `search.orphan`.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<i64>,
    /// SQLite's own sentence for integrity problems (page and index names, no row values).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub items: u64,
    pub locations: u64,
    /// Rows of the patient index checked.
    pub patients: u64,
    pub problem_count: u64,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }

    fn push(&mut self, problem: Problem) {
        self.problem_count += 1;
        if self.problems.len() < PROBLEMS_LISTED_MAX {
            self.problems.push(problem);
        }
    }
}

fn problem(code: &'static str) -> Problem {
    Problem {
        code,
        item: None,
        location: None,
        detail: None,
    }
}

impl Store {
    pub fn verify(&mut self) -> Result<VerifyReport, VerifyError> {
        let mut report = VerifyReport::default();
        let conn = &self.conn;
        {
            let mut stmt = conn
                .prepare("PRAGMA integrity_check")
                .map_err(db("checking integrity"))?;
            let lines = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(db("checking integrity"))?;
            for line in lines {
                let line = line.map_err(db("checking integrity"))?;
                if line != "ok" {
                    report.push(Problem {
                        detail: Some(line),
                        ..problem("db.integrity")
                    });
                }
            }
            let mut stmt = conn
                .prepare("PRAGMA foreign_key_check")
                .map_err(db("checking foreign keys"))?;
            let mut rows = stmt.query([]).map_err(db("checking foreign keys"))?;
            while let Some(row) = rows.next().map_err(db("checking foreign keys"))? {
                let table: String = row.get(0).map_err(db("checking foreign keys"))?;
                report.push(Problem {
                    detail: Some(format!("table {table}")),
                    ..problem("db.foreign_key")
                });
            }
        }

        let mut damaged_items = Vec::new();
        {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT i.id, {} FROM item i ORDER BY i.id",
                    item::COLUMNS
                ))
                .map_err(db("reading items"))?;
            let mut rows = stmt.query([]).map_err(db("reading items"))?;
            while let Some(row) = rows.next().map_err(db("reading items"))? {
                report.items += 1;
                let id: i64 = row.get(0).map_err(db("reading an item"))?;
                let stored = item::Stored::from_row(row, 1).map_err(db("reading an item"))?;
                if let Err(err) =
                    item::decode(conn, &self.keys, &mut self.codecs.borrow_mut(), &stored)
                {
                    let code = match err {
                        super::ReadError::Tag => "item.tag",
                        super::ReadError::Decompress => "item.decompress",
                        super::ReadError::Hash => "item.hash",
                        super::ReadError::Codec(_) | super::ReadError::Db(_) => "item.codec",
                    };
                    report.push(Problem {
                        item: Some(crypto::hex(&stored.hash)),
                        ..problem(code)
                    });
                    damaged_items.push(id);
                }
            }
        }

        let mut damaged_locations = Vec::new();
        {
            let mut stmt = conn
                .prepare(
                    "SELECT l.id, l.facility, l.path_token, l.path_nonce, l.path_sealed, i.id
                     FROM location l LEFT JOIN item i ON i.id = l.item_id ORDER BY l.id",
                )
                .map_err(db("reading locations"))?;
            let mut rows = stmt.query([]).map_err(db("reading locations"))?;
            while let Some(row) = rows.next().map_err(db("reading locations"))? {
                report.locations += 1;
                let id: i64 = row.get(0).map_err(db("reading a location"))?;
                let facility: String = row.get(1).map_err(db("reading a location"))?;
                let token: Vec<u8> = row.get(2).map_err(db("reading a location"))?;
                let nonce: Vec<u8> = row.get(3).map_err(db("reading a location"))?;
                let sealed: Vec<u8> = row.get(4).map_err(db("reading a location"))?;
                let item: Option<i64> = row.get(5).map_err(db("reading a location"))?;
                let at = |code| Problem {
                    location: Some(id),
                    ..problem(code)
                };
                if item.is_none() {
                    report.push(at("location.no_item"));
                }
                let rel = match super::sealed_path::open(
                    &self.keys, &facility, &token, &nonce, &sealed,
                ) {
                    Ok(rel) => rel,
                    Err(err) => {
                        report.push(at(match err {
                            super::sealed_path::PathOpenError::Tag => "location.path_tag",
                            super::sealed_path::PathOpenError::Encoding => "location.path_encoding",
                        }));
                        damaged_locations.push(id);
                        continue;
                    }
                };
                if self.keys.token(label::PATH, &[facility.as_bytes(), &rel])[..] != token[..] {
                    report.push(at("location.path_token"));
                    damaged_locations.push(id);
                } else if export::safe_components(&rel).is_none() {
                    report.push(at("location.path_unsafe"));
                    damaged_locations.push(id);
                }
            }
        }

        {
            // Schema 8: (facility, path token) is kept unique by the writer (a lookup before
            // every insert, in the same write transaction), no longer by an index; a second
            // row for one path is reported on the later row. One prefix-index probe per row.
            let mut stmt = conn
                .prepare(
                    "SELECT b.id FROM location b WHERE EXISTS (SELECT 1 FROM location a
                         WHERE substr(a.path_token, 1, 8) = substr(b.path_token, 1, 8)
                           AND a.facility = b.facility AND a.path_token = b.path_token
                           AND a.id < b.id)
                     ORDER BY b.id",
                )
                .map_err(db("finding duplicate locations"))?;
            let mut rows = stmt.query([]).map_err(db("finding duplicate locations"))?;
            while let Some(row) = rows.next().map_err(db("finding duplicate locations"))? {
                let id: i64 = row.get(0).map_err(db("finding duplicate locations"))?;
                report.push(Problem {
                    location: Some(id),
                    ..problem("location.duplicate")
                });
            }
        }

        {
            let mut stmt = conn
                .prepare(
                    // `NOT IN` of an uncorrelated subquery builds one temporary index of
                    // each column; there is no stored index of locations by item (schema 3).
                    // Both columns are NOT NULL, so `NOT IN` means "absent".
                    "SELECT hash FROM item
                     WHERE id NOT IN (SELECT item_id FROM location)
                       AND id NOT IN (SELECT item_id FROM replaced)
                     ORDER BY id",
                )
                .map_err(db("finding orphan items"))?;
            let mut rows = stmt.query([]).map_err(db("finding orphan items"))?;
            while let Some(row) = rows.next().map_err(db("finding orphan items"))? {
                let hash: Vec<u8> = row.get(0).map_err(db("finding orphan items"))?;
                report.push(Problem {
                    item: Some(crypto::hex(&hash)),
                    ..problem("item.orphan")
                });
            }
        }

        // Schema 2: dictionaries open; patient rows open, match their token, have a location,
        // and their search tokens are exactly the ones their record yields.
        let bad = super::codec::check_dictionaries(&self.conn, &self.keys)?;
        for super::codec::BadDictionary(id) in bad {
            report.push(Problem {
                detail: Some(format!("dictionary #{id}")),
                ..problem("dictionary.tag")
            });
        }
        let (patients, problems) = self.check_patient_index()?;
        report.patients = patients;
        for (code, id) in problems {
            report.push(Problem {
                detail: Some(format!("patient row #{id}")),
                ..problem(code)
            });
        }

        if !damaged_items.is_empty() || !damaged_locations.is_empty() {
            let tx = self
                .conn
                .transaction()
                .map_err(db("marking damaged records"))?;
            for id in damaged_items {
                tx.execute("UPDATE item SET damaged = 1 WHERE id = ?1", [id])
                    .map_err(db("marking damaged records"))?;
            }
            for id in damaged_locations {
                tx.execute("UPDATE location SET damaged = 1 WHERE id = ?1", [id])
                    .map_err(db("marking damaged records"))?;
            }
            tx.commit().map_err(db("marking damaged records"))?;
        }
        Ok(report)
    }
}
