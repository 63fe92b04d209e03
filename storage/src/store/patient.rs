//! The patient index: one sealed display record per (facility, patient ID) and keyed search
//! tokens, so `kizuna patient search` is a handful of token lookups and never a scan.
//!
//! **Record.** Demographics (names, birth date, sex, address) from the PID of the newest
//! current (flag 1) ADT-00 of that patient at that facility, by time of occurrence; until an
//! ADT-00 arrives, the PID of the first current message seen. Sealed with AES-256-GCM,
//! associated data = the patient token, so a record moved to another row fails its tag.
//!
//! **Tokens** (HMAC-SHA256 under the token key, label `search`, first part the field name):
//! `kana` (normalised full kana name), `kanap` (each prefix of it of 1..=[`KANA_PREFIX_MAX`]
//! characters), `kanag` (given-name kana), `kanji`, `kanjif`, `kanjig` (full, family and given
//! kanji name without spaces), `id` (facility patient ID as written), `dob` (`YYYYMMDD`).
//! Tokens are not per facility: a search covers every facility.
//!
//! **Leakage** (ARCHITECTURE.md): equal tokens reveal equal values, so someone with the data
//! directory learns which patients share a birth date, a full name, a given name or a name
//! prefix of up to [`KANA_PREFIX_MAX`] kana, and how many search tokens each patient has (about
//! the length of the kana name). No value itself; sex has no token (two values would reveal
//! everyone's sex class) and is filtered after decryption.

use std::collections::HashMap;

use ring::rand::SystemRandom;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::crypto::{self, Keys, Token, label};
use super::error::{DbError, ImportError, OpenError, SearchError, db};
use super::{Store, item, normalize};
use crate::ssmix2::extract::{self, Name};
use crate::ssmix2::hl7::Message;
use crate::ssmix2::jis;
use crate::ssmix2::path::{ConditionFlag, FileName};

/// Kana prefixes up to this length are tokens, so a prefix query of 1..=6 kana is one lookup;
/// a longer query looks up its 6-kana prefix and filters the decrypted records. Six covers
/// most family names in kana; each more character leaks a longer shared prefix.
pub const KANA_PREFIX_MAX: usize = 6;
/// Results returned at most per query.
pub const SEARCH_RESULTS_MAX: usize = 200;
/// Candidate rows decrypted at most per query (bounds the time of a query whose candidates
/// mostly fail the re-check, e.g. a long kana query looked up by its 6-kana prefix).
const CANDIDATES_MAX: usize = 2_000;

/// What a search result shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientRecord {
    pub facility: String,
    pub patient_id: String,
    /// Family and given name separated by one space.
    pub kanji_name: Option<String>,
    pub kana_name: Option<String>,
    /// `YYYYMMDD` as sent.
    pub birth_date: Option<String>,
    /// PID-8 (`M`, `F`, `O`, `U`).
    pub sex: Option<String>,
    pub postcode: Option<String>,
    pub address: Option<String>,
}

/// The sealed row: the record and where it came from.
#[derive(Debug, Serialize, Deserialize)]
struct Sealed {
    record: PatientRecord,
    /// 2: a current ADT-00; 1: another current message.
    rank: u8,
    occurred: String,
}

/// The plaintext of a patient row: JSON with the fields by position (`[[facility, id, kanji,
/// kana, birth date, sex, postcode, address], rank, occurred]`). Rows written before hold a JSON
/// object with field names; serde reads both into [`Sealed`] (a derived struct accepts a
/// sequence in field order), so no migration is needed. Leaving the names out saves ≈ 110 bytes
/// per patient (≈ 9 bytes per stored file). Appending a field is compatible only at the end and
/// with `#[serde(default)]`.
fn sealed_plaintext(s: &Sealed) -> Result<Vec<u8>, serde_json::Error> {
    let r = &s.record;
    serde_json::to_vec(&(
        (
            &r.facility,
            &r.patient_id,
            &r.kanji_name,
            &r.kana_name,
            &r.birth_date,
            &r.sex,
            &r.postcode,
            &r.address,
        ),
        s.rank,
        &s.occurred,
    ))
}

/// A search. `text` is a patient ID, kana (any width, spaces ignored, prefix allowed), a kanji
/// name or a birth date `YYYYMMDD`; `dob` and `sex` narrow it.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    pub dob: Option<String>,
    pub sex: Option<String>,
    /// Results at most, 1..=[`SEARCH_RESULTS_MAX`].
    pub limit: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchResults {
    pub patients: Vec<PatientRecord>,
    /// More patients matched than were returned.
    pub truncated: bool,
}

fn name_text(n: &Option<Name<'_>>) -> Option<String> {
    let n = n.as_ref()?;
    let parts: Vec<&str> = [n.family.as_deref(), n.given.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Parses the PID of a message into a record; `None` if it has none.
pub fn record_from_message(
    facility: &str,
    bytes: &[u8],
) -> Option<(PatientRecord, Name<'static>, Name<'static>)> {
    let text = jis::decode(bytes).ok()?.text;
    let msg = Message::parse(&text).ok()?;
    let pid = msg.segment("PID")?;
    let p = extract::patient(&pid);
    let kanji = p
        .kanji_name
        .clone()
        .map(Name::into_owned)
        .unwrap_or_default();
    let kana = p
        .kana_name
        .clone()
        .map(Name::into_owned)
        .unwrap_or_default();
    let record = PatientRecord {
        facility: facility.to_owned(),
        patient_id: p.id.as_deref().unwrap_or_default().to_owned(),
        kanji_name: name_text(&p.kanji_name),
        kana_name: name_text(&p.kana_name),
        birth_date: p.birth_date.map(|d| d.to_string()),
        sex: p.sex.map(|d| d.to_string()),
        postcode: p
            .address
            .as_ref()
            .and_then(|a| a.postcode.as_ref())
            .map(|d| d.to_string()),
        address: p.address.and_then(|a| a.text).map(|d| d.to_string()),
    };
    Some((record, kanji, kana))
}

/// Bytes of a search token (schema 7; 16 before). A search token is only ever a lookup key
/// whose hits are re-checked: every candidate is decrypted and must answer the query (ID, kana,
/// kanji, birth date compared in clear after opening), so a collision between two different
/// values costs one extra decryption, never a wrong answer. 64 bits make that rare (≈ n²/2⁶⁵
/// for n distinct values: 10⁻⁸ at 10⁶) and the table 8 bytes per row smaller. Leakage is
/// unchanged (equality of values between patients), if anything blurred by collisions.
pub const SEARCH_TOKEN_LEN: usize = 8;
/// A search token: the first [`SEARCH_TOKEN_LEN`] bytes of the keyed HMAC.
type SearchToken = [u8; SEARCH_TOKEN_LEN];

fn token(keys: &Keys, field: &str, value: &str) -> SearchToken {
    let t = keys.token(label::SEARCH, &[field.as_bytes(), value.as_bytes()]);
    let mut out = [0u8; SEARCH_TOKEN_LEN];
    out.copy_from_slice(&t[..SEARCH_TOKEN_LEN]);
    out
}

/// The search tokens of a record.
fn tokens(keys: &Keys, r: &PatientRecord, kanji: &Name<'_>, kana: &Name<'_>) -> Vec<SearchToken> {
    let mut out = Vec::new();
    let join = |n: &Name<'_>| {
        format!(
            "{}{}",
            n.family.as_deref().unwrap_or(""),
            n.given.as_deref().unwrap_or("")
        )
    };
    let full = normalize::kana(&join(kana));
    if !full.is_empty() {
        out.push(token(keys, "kana", &full));
        let mut prefix = String::new();
        for c in full.chars().take(KANA_PREFIX_MAX) {
            prefix.push(c);
            out.push(token(keys, "kanap", &prefix));
        }
    }
    if let Some(g) = kana
        .given
        .as_deref()
        .map(normalize::kana)
        .filter(|g| !g.is_empty())
    {
        out.push(token(keys, "kanag", &g));
    }
    let kj = normalize::kanji(&join(kanji));
    if !kj.is_empty() {
        out.push(token(keys, "kanji", &kj));
    }
    for (field, part) in [("kanjif", &kanji.family), ("kanjig", &kanji.given)] {
        if let Some(p) = part
            .as_deref()
            .map(normalize::kanji)
            .filter(|p| !p.is_empty())
        {
            out.push(token(keys, field, &p));
        }
    }
    if !r.patient_id.is_empty() {
        out.push(token(keys, "id", &r.patient_id));
    }
    if let Some(d) = r.birth_date.as_deref().filter(|d| !d.is_empty()) {
        out.push(token(keys, "dob", d));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A display name ("family given") as the name parts tokens are made of.
fn split_name(t: &Option<String>) -> Name<'_> {
    let mut p = t.as_deref().unwrap_or("").splitn(2, ' ');
    Name {
        family: p.next().filter(|x| !x.is_empty()).map(Into::into),
        given: p.next().filter(|x| !x.is_empty()).map(Into::into),
    }
}

/// The search tokens a stored record yields (the ones import wrote for it).
fn record_tokens(keys: &Keys, r: &PatientRecord) -> Vec<SearchToken> {
    tokens(
        keys,
        r,
        &split_name(&r.kanji_name),
        &split_name(&r.kana_name),
    )
}

fn open_row(keys: &Keys, patient_token: &[u8], nonce: &[u8], sealed: &[u8]) -> Option<Sealed> {
    let plain = crypto::open(
        &keys.record,
        nonce,
        &[crypto::aad::PATIENT, patient_token],
        sealed,
    )
    .ok()?;
    serde_json::from_slice(&plain).ok()
}

/// Updates the patient index for one stored current message (called by import inside its
/// batch). Cheap when nothing changes: one indexed lookup and one decryption, and the message
/// is parsed only when it would replace the record.
pub fn note(
    conn: &Connection,
    keys: &Keys,
    rng: &SystemRandom,
    facility: &str,
    name: &FileName,
    bytes: &[u8],
    patient_token: &Token,
) -> Result<(), ImportError> {
    if name.flag != ConditionFlag::Current {
        return Ok(());
    }
    let rank: u8 = if name.data_type == "ADT-00" { 2 } else { 1 };
    let existing = conn
        .prepare_cached("SELECT id, nonce, sealed FROM patient WHERE patient_token = ?1")
        .and_then(|mut s| {
            s.query_row([&patient_token[..]], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .optional()
        })
        .map_err(db("looking up a patient"))?;
    // The search tokens of the record being replaced; `None` if it does not open.
    let mut old_tokens: Option<Vec<SearchToken>> = None;
    if let Some((_, nonce, sealed)) = &existing {
        // Only an ADT-00 replaces a record, and only a newer one. An unreadable row is
        // replaced (verify reports it).
        if rank == 1 {
            return Ok(());
        }
        let old = open_row(keys, patient_token, nonce, sealed);
        if let Some(old) = &old
            && (old.rank, old.occurred.as_str()) >= (rank, name.occurred.as_str())
        {
            return Ok(());
        }
        old_tokens = old.map(|o| record_tokens(keys, &o.record));
    }
    let Some((mut record, kanji, kana)) = record_from_message(facility, bytes) else {
        return Ok(());
    };
    // The storage key's patient ID is the one every lookup uses (PID-3 should equal it; the
    // validator reports when it does not).
    record.patient_id.clone_from(&name.patient_id);
    let sealed = Sealed {
        record,
        rank,
        occurred: name.occurred.clone(),
    };
    // Invariant: a struct of strings serialises.
    let plain = sealed_plaintext(&sealed).map_err(|_| ImportError::Random)?;
    let (nonce, ct) = crypto::seal(
        &keys.record,
        rng,
        &[crypto::aad::PATIENT, patient_token],
        &plain,
    )
    .map_err(|_| ImportError::Random)?;
    let id = match existing {
        Some((id, _, _)) => {
            conn.prepare_cached("UPDATE patient SET nonce = ?1, sealed = ?2 WHERE id = ?3")
                .and_then(|mut s| s.execute(params![&nonce[..], ct, id]))
                .map_err(db("updating a patient"))?;
            match &old_tokens {
                // Schema 5 has no index of search rows by patient: the old record's tokens are
                // recomputed and deleted by primary key.
                Some(old) => {
                    let mut del = conn
                        .prepare_cached("DELETE FROM search WHERE token = ?1 AND patient_id = ?2")
                        .map_err(db("updating a patient"))?;
                    for t in old {
                        del.execute(params![&t[..], id])
                            .map_err(db("updating a patient"))?;
                    }
                }
                // The old record does not open, so its tokens are unknown: a scan of the
                // search table finds them (rare: a damaged row, which verify reports).
                None => {
                    conn.prepare_cached("DELETE FROM search WHERE patient_id = ?1")
                        .and_then(|mut s| s.execute([id]))
                        .map_err(db("updating a patient"))?;
                }
            }
            id
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO patient (patient_token, nonce, sealed) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![&patient_token[..], &nonce[..], ct]))
            .map_err(db("writing a patient"))?;
            conn.last_insert_rowid()
        }
    };
    let mut ins = conn
        .prepare_cached("INSERT OR IGNORE INTO search (token, patient_id) VALUES (?1, ?2)")
        .map_err(db("writing search tokens"))?;
    for t in tokens(keys, &sealed.record, &kanji, &kana) {
        ins.execute(params![&t[..], id])
            .map_err(db("writing search tokens"))?;
    }
    Ok(())
}

/// True for a store that has locations with patients but no patient index (migrated from
/// schema 1).
pub fn needs_rebuild(conn: &Connection) -> Result<bool, DbError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM location WHERE patient_token IS NOT NULL AND quarantined = 0)
            AND NOT EXISTS (SELECT 1 FROM patient)",
        [],
        |r| r.get(0),
    )
    .map_err(db("checking the patient index"))
}

/// Whether a decrypted record answers the query text (tokens are exact; this removes the
/// candidates of a long kana query looked up by its prefix).
fn answers(r: &PatientRecord, text: &str, kana_q: &str, kanji_q: &str) -> bool {
    if text.is_empty() || r.patient_id == text || r.birth_date.as_deref() == Some(text) {
        return true;
    }
    if normalize::is_katakana(kana_q)
        && let Some(k) = &r.kana_name
    {
        let full = normalize::kana(k);
        let given = k.split(' ').nth(1).map(normalize::kana);
        if full.starts_with(kana_q) || given.as_deref() == Some(kana_q) {
            return true;
        }
    }
    if let Some(k) = &r.kanji_name {
        let mut parts = k.split(' ');
        if normalize::kanji(k) == kanji_q
            || parts.next().map(normalize::kanji).as_deref() == Some(kanji_q)
            || parts.next().map(normalize::kanji).as_deref() == Some(kanji_q)
        {
            return true;
        }
    }
    false
}

impl Store {
    /// Finds patients by ID, kana (prefix), kanji name or birth date, across facilities.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let text = q.text.trim();
        let dob = q.dob.as_deref().map(str::trim).filter(|d| !d.is_empty());
        if text.is_empty() && dob.is_none() {
            return Err(SearchError::Empty);
        }
        if text.chars().count() > 64 {
            return Err(SearchError::TooLong);
        }
        let limit = q.limit.clamp(1, SEARCH_RESULTS_MAX);
        let kana_q = normalize::kana(text);
        let kanji_q = normalize::kanji(text);
        let mut any: Vec<SearchToken> = Vec::new();
        if !text.is_empty() {
            if normalize::is_katakana(&kana_q) {
                any.push(token(&self.keys, "kana", &kana_q));
                any.push(token(&self.keys, "kanag", &kana_q));
                let prefix: String = kana_q.chars().take(KANA_PREFIX_MAX).collect();
                any.push(token(&self.keys, "kanap", &prefix));
            } else {
                for field in ["kanji", "kanjif", "kanjig"] {
                    any.push(token(&self.keys, field, &kanji_q));
                }
            }
            if text.is_ascii() {
                any.push(token(&self.keys, "id", text));
            }
            if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
                any.push(token(&self.keys, "dob", text));
            }
        }
        let dob_token = dob.map(|d| token(&self.keys, "dob", d));
        let (sql, all): (String, Vec<SearchToken>) = match (&dob_token, any.is_empty()) {
            (Some(d), true) => (
                "SELECT patient_id FROM search WHERE token = ?1 LIMIT ?2".to_owned(),
                vec![*d],
            ),
            (d, _) => {
                let marks: Vec<String> = (1..=any.len()).map(|i| format!("?{i}")).collect();
                let mut sql = format!(
                    "SELECT DISTINCT s.patient_id FROM search s WHERE s.token IN ({})",
                    marks.join(", ")
                );
                let mut all = any.clone();
                if let Some(d) = d {
                    all.push(*d);
                    sql.push_str(&format!(
                        " AND EXISTS (SELECT 1 FROM search d WHERE d.token = ?{} AND d.patient_id = s.patient_id)",
                        all.len()
                    ));
                }
                sql.push_str(&format!(" LIMIT ?{}", all.len() + 1));
                (sql, all)
            }
        };
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(db("searching patients"))?;
        let mut params: Vec<&dyn rusqlite::ToSql> =
            all.iter().map(|t| t as &dyn rusqlite::ToSql).collect();
        let cap = (CANDIDATES_MAX + 1) as i64;
        params.push(&cap);
        // Candidates are read lazily and decrypted one by one; the query stops at `limit + 1`
        // answering records (more would only be cut off below) or `CANDIDATES_MAX` candidates.
        // A common family-name prefix at 100,000 patients has thousands of candidates: decrypting
        // all of them (up to 2,000 × ≈ 20 µs) was the search p99; now it costs about `limit`.
        let mut rows = stmt
            .query(params.as_slice())
            .map_err(db("searching patients"))?;
        let mut get = self
            .conn
            .prepare_cached("SELECT patient_token, nonce, sealed FROM patient WHERE id = ?1")
            .map_err(db("reading a patient"))?;
        let mut out = Vec::new();
        let mut candidates = 0usize;
        let mut truncated = false;
        while let Some(row) = rows.next().map_err(db("searching patients"))? {
            if candidates == CANDIDATES_MAX || out.len() > limit {
                truncated = true;
                break;
            }
            candidates += 1;
            let id: i64 = row.get(0).map_err(db("searching patients"))?;
            let (pt, nonce, sealed) = get
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .map_err(db("reading a patient"))?;
            let Some(s) = open_row(&self.keys, &pt, &nonce, &sealed) else {
                continue;
            };
            let r = s.record;
            if !answers(&r, text, &kana_q, &kanji_q)
                || dob.is_some_and(|d| r.birth_date.as_deref() != Some(d))
                || q.sex
                    .as_deref()
                    .is_some_and(|x| !r.sex.as_deref().unwrap_or("").eq_ignore_ascii_case(x))
            {
                continue;
            }
            out.push(r);
        }
        out.sort_by(|a, b| {
            (&a.kana_name, &a.facility, &a.patient_id).cmp(&(
                &b.kana_name,
                &b.facility,
                &b.patient_id,
            ))
        });
        if out.len() > limit {
            out.truncate(limit);
            truncated = true;
        }
        Ok(SearchResults {
            patients: out,
            truncated,
        })
    }

    /// The display record of one patient at one facility.
    pub fn patient(
        &self,
        facility: &str,
        patient_id: &str,
    ) -> Result<Option<PatientRecord>, DbError> {
        let pt = patient_token(&self.keys, facility, patient_id);
        let row = self
            .conn
            .prepare_cached("SELECT nonce, sealed FROM patient WHERE patient_token = ?1")
            .and_then(|mut s| {
                s.query_row([&pt[..]], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .optional()
            })
            .map_err(db("reading a patient"))?;
        Ok(row
            .and_then(|(n, s)| open_row(&self.keys, &pt, &n, &s))
            .map(|s| s.record))
    }

    /// Rebuilds the patient index from every stored current message (after the v1 → v2 and
    /// v6 → v7 migrations). One transaction; reads each location's path once and decodes only
    /// the items that can set a record (current ADT-00s, and a patient's first current message).
    pub(crate) fn rebuild_patient_index(&mut self) -> Result<(), OpenError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(db("rebuilding the patient index"))?;
        {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT l.facility, l.patient_token, l.path_token, l.path_nonce,
                                l.path_sealed, {}
                         FROM location l JOIN item i ON i.id = l.item_id
                         WHERE l.patient_token IS NOT NULL AND l.quarantined = 0 ORDER BY l.id",
                    item::COLUMNS
                ))
                .map_err(db("rebuilding the patient index"))?;
            let mut rows = stmt.query([]).map_err(db("rebuilding the patient index"))?;
            let e = db("rebuilding the patient index");
            while let Some(r) = rows.next().map_err(&e)? {
                let facility: String = r.get(0).map_err(&e)?;
                let pt: Vec<u8> = r.get(1).map_err(&e)?;
                let path_token: Vec<u8> = r.get(2).map_err(&e)?;
                let pn: Vec<u8> = r.get(3).map_err(&e)?;
                let ps: Vec<u8> = r.get(4).map_err(&e)?;
                let Some(name) =
                    super::summary::open_name(&self.keys, &facility, &path_token, &pn, &ps)
                else {
                    continue;
                };
                // The location keeps a prefix of the token (8 bytes since schema 8): the
                // record's full token is recomputed from the path, which must agree with it.
                let full = patient_token(&self.keys, &facility, &name.patient_id);
                if !full.starts_with(&pt) || pt.is_empty() {
                    continue;
                }
                let pt = full;
                // Decoding the item is most of the cost; skip it where `note` would not read
                // the bytes: a version that is not current, or a message other than ADT-00 of a
                // patient who has a record already (only an ADT-00 replaces one).
                if name.flag != ConditionFlag::Current {
                    continue;
                }
                if name.data_type != "ADT-00" {
                    let has_record: bool = tx
                        .prepare_cached(
                            "SELECT EXISTS (SELECT 1 FROM patient WHERE patient_token = ?1)",
                        )
                        .and_then(|mut s| s.query_row([&pt[..]], |r| r.get(0)))
                        .map_err(&e)?;
                    if has_record {
                        continue;
                    }
                }
                let stored = item::Stored::from_row(r, 5).map_err(&e)?;
                let Ok(bytes) =
                    item::decode(&tx, &self.keys, &mut self.codecs.borrow_mut(), &stored)
                else {
                    continue;
                };
                note(&tx, &self.keys, &self.rng, &facility, &name, &bytes, &pt).map_err(|err| {
                    match err {
                        ImportError::Db(d) => OpenError::Db(d),
                        _ => OpenError::Db(DbError {
                            context: "rebuilding the patient index",
                            code: None,
                        }),
                    }
                })?;
            }
        }
        tx.commit().map_err(db("rebuilding the patient index"))?;
        Ok(())
    }

    /// Every patient row's record opens and its tokens are exactly the stored ones; every
    /// patient row has a location. Returns (rows checked, codes of problems with row ids).
    pub(crate) fn check_patient_index(&self) -> Result<(u64, IndexProblems), DbError> {
        let e = db("checking the patient index");
        let mut problems = Vec::new();
        let mut n = 0u64;
        let mut stmt = self.conn.prepare(PATIENTS_WITH_FILES_SQL).map_err(&e)?;
        // Schema 5 has no index of search rows by patient: count them per patient in one pass,
        // then look each expected token up by primary key. Equal counts and every expected
        // token present means the stored set is exactly the expected one.
        let mut counts: HashMap<i64, usize> = HashMap::new();
        {
            let mut all = self
                .conn
                .prepare("SELECT patient_id, count(*) FROM search GROUP BY patient_id")
                .map_err(&e)?;
            let mut rows = all.query([]).map_err(&e)?;
            while let Some(r) = rows.next().map_err(&e)? {
                let n: i64 = r.get(1).map_err(&e)?;
                counts.insert(r.get(0).map_err(&e)?, usize::try_from(n).unwrap_or(0));
            }
        }
        let mut has = self
            .conn
            .prepare("SELECT EXISTS (SELECT 1 FROM search WHERE token = ?1 AND patient_id = ?2)")
            .map_err(&e)?;
        let mut rows = stmt.query([]).map_err(&e)?;
        while let Some(r) = rows.next().map_err(&e)? {
            n += 1;
            let id: i64 = r.get(0).map_err(&e)?;
            let pt: Vec<u8> = r.get(1).map_err(&e)?;
            let has_location: bool = r.get(4).map_err(&e)?;
            if !has_location {
                problems.push(("patient.no_location", id));
            }
            let Some(s) = open_row(
                &self.keys,
                &pt,
                &r.get::<_, Vec<u8>>(2).map_err(&e)?,
                &r.get::<_, Vec<u8>>(3).map_err(&e)?,
            ) else {
                problems.push(("patient.tag", id));
                continue;
            };
            if patient_token(&self.keys, &s.record.facility, &s.record.patient_id)[..] != pt[..] {
                problems.push(("patient.token", id));
            }
            let want = record_tokens(&self.keys, &s.record);
            let mut same = counts.get(&id).copied().unwrap_or(0) == want.len();
            for t in &want {
                if !same {
                    break;
                }
                same = has
                    .query_row(params![&t[..], id], |r| r.get::<_, bool>(0))
                    .map_err(&e)?;
            }
            if !same {
                problems.push(("patient.search_tokens", id));
            }
        }
        let orphans: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM search s WHERE NOT EXISTS (SELECT 1 FROM patient p WHERE p.id = s.patient_id)",
                [],
                |r| r.get(0),
            )
            .map_err(&e)?;
        if orphans > 0 {
            problems.push(("search.orphan", orphans));
        }
        Ok((n, problems))
    }
}

/// Every patient row and whether it has a location (whose token is the first 8 bytes of the
/// patient's since schema 8); the `EXISTS` goes through
/// `location_patient`, whose expression (`substr(patient_token, 1, 4)`, schema 7) must be
/// written literally for SQLite to use it.
pub(crate) const PATIENTS_WITH_FILES_SQL: &str = "SELECT p.id, p.patient_token, p.nonce, p.sealed,
        EXISTS (SELECT 1 FROM location l
                WHERE substr(l.patient_token, 1, 4) = substr(p.patient_token, 1, 4)
                  AND l.patient_token = substr(p.patient_token, 1, 8))
     FROM patient p ORDER BY p.id";

/// Problems found in the patient index: (code, patient row id or count).
pub(crate) type IndexProblems = Vec<(&'static str, i64)>;

/// location.patient_token of a (facility, patient ID).
pub fn patient_token(keys: &Keys, facility: &str, patient_id: &str) -> Token {
    keys.token(
        label::PATIENT,
        &[facility.as_bytes(), patient_id.as_bytes()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_rows_are_smaller_and_both_forms_read_back() {
        let s = Sealed {
            record: PatientRecord {
                facility: "0400000001".into(),
                patient_id: "10000187".into(),
                kanji_name: Some("及川 花子".into()),
                kana_name: Some("オイカワ ハナコ".into()),
                birth_date: Some("19420618".into()),
                sex: Some("F".into()),
                postcode: None,
                address: Some("岩手県大船渡市".into()),
            },
            rank: 2,
            occurred: "20250101120000000".into(),
        };
        let named = serde_json::to_vec(&s).unwrap();
        let positional = sealed_plaintext(&s).unwrap();
        assert!(
            positional.len() + 90 < named.len(),
            "{} vs {}",
            positional.len(),
            named.len()
        );
        for plain in [named, positional] {
            let back: Sealed = serde_json::from_slice(&plain).unwrap();
            assert_eq!(back.record, s.record);
            assert_eq!(
                (back.rank, back.occurred.as_str()),
                (2, "20250101120000000")
            );
        }
    }
}
