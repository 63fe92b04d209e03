//! Item codecs and the trained per-data-type zstd dictionaries (codec 2).
//!
//! SS-MIX2 messages of one data type share most of their bytes (MSH, segment layout, code
//! systems), so a 16 KiB dictionary trained on the first messages of a type shrinks later ones
//! about 3× further than plain zstd (ARCHITECTURE.md, "Compression"). During an import the first
//! [`TRAIN_SAMPLES_DEFAULT`] new items of each data type (or [`TRAIN_BYTES_MAX`] bytes) are kept
//! in memory; then a dictionary is trained, sealed into the `dictionary` table (in the same
//! transaction as the batch) and used for every later item of that type. Items stored before
//! stay codec 1: nothing is rewritten.
//!
//! Codec 2 body (before sealing): the dictionary's row id as 8 bytes big-endian, then one zstd
//! frame compressed with that dictionary. The id sits inside the sealed body, not in a column,
//! so the table does not reveal which data type each item is.
//!
//! Dictionaries are trained on patient data, so they are sealed like items (associated data:
//! kind token and version). Their kind is a token of the data type, or of `pack/<facility>` for
//! the pack dictionary of one facility's storage (schema 8; `pack` for the shared one).
//!
//! Dictionaries are opened on first use and kept prepared in two small caches
//! ([`CDICT_CACHE_MAX`] for compression, [`DDICT_CACHE_MAX`] for decompression): a hub holds
//! hundreds of facilities' dictionaries, and a prepared level-9 compression dictionary of
//! 64 KiB takes 0.7 MB (measured with `ZSTD_sizeof_CDict`), so preparing all of them at open
//! would cost hundreds of MB.

use std::collections::{HashMap, VecDeque};

use ring::rand::SystemRandom;
use rusqlite::{Connection, params};
use zstd::zstd_safe::{self, CCtx, CDict, DCtx, DDict};

use super::crypto::{self, Keys, Token, label};
use super::error::{DbError, db};

/// Dictionary size: Part A's measurement (16 KiB per type, 0.125 of raw overall).
pub const DICT_BYTES: usize = 16 * 1024;
/// New items of a type collected before training.
pub const TRAIN_SAMPLES_DEFAULT: usize = 1_000;
/// Sample bytes kept per type at most (bounds memory to 11 types × 2 MiB).
pub const TRAIN_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Fewer samples than this never train (zstd's trainer needs variety).
pub const TRAIN_SAMPLES_MIN: usize = 16;
/// The dictionary record format; stored per row as `format`.
pub const DICT_FORMAT: i64 = 1;
/// zstd level of items sealed alone.
pub const ZSTD_LEVEL: i32 = 3;
/// The "data type" whose dictionary compresses packs (schema 8): trained on the first new items
/// of every type together, since a pack mixes a patient's types. No SS-MIX2 data type is named
/// like this (they are `AAA-00`).
pub const PACK_KIND: &str = "pack";
/// zstd level of packs. Measured at 2,000 patients (pack bytes per stored file, import s):
/// level 3 with a 16 KiB dictionary 143 B (2.0 s), level 9 with 16 KiB 125 B, level 9 with
/// 64 KiB 112 B (2.9 s), level 12 with 64 KiB 112 B, level 19 with 16 KiB 118 B (15 s).
/// Packs are compressed once per ~12 items, so the writer affords more than level 3.
pub const PACK_ZSTD_LEVEL: i32 = 9;
/// Size of the pack dictionary: one dictionary for all data types (a pack mixes them), so
/// larger than a per-type one (16 KiB: 125 B per file; 32 KiB: 115 B; 64 KiB: 112 B; 110 KiB:
/// 110.5 B, all at level 9).
pub const PACK_DICT_BYTES: usize = 64 * 1024;
/// New items sampled before the pack dictionary is trained.
pub const PACK_TRAIN_SAMPLES: usize = TRAIN_SAMPLES_DEFAULT;
/// Sample bytes kept for one pack dictionary at most.
pub const PACK_TRAIN_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Sample bytes kept for all kinds together at most. An import walks one facility at a time,
/// but a facility with fewer new items than [`PACK_TRAIN_SAMPLES`] keeps its samples until the
/// run ends; past this budget the largest collection trains early (or is dropped when too
/// small to train), so a tree of hundreds of small facilities stays bounded.
pub const SAMPLE_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Prepared compression dictionaries kept (≈ 0.7 MB each at level 9 with 64 KiB).
pub const CDICT_CACHE_MAX: usize = 8;
/// Prepared decompression dictionaries kept (≈ 90 KB each for 64 KiB).
pub const DDICT_CACHE_MAX: usize = 32;

/// Compression state of an open store: which dictionaries exist, the prepared ones in use and,
/// during an import, the training samples.
pub struct Codecs {
    cctx: CCtx<'static>,
    dctx: DCtx<'static>,
    /// Every dictionary row: id → (kind token, version), what opening it needs.
    rows: HashMap<i64, (Vec<u8>, i64)>,
    /// Newest dictionary row per kind token.
    newest: HashMap<Token, i64>,
    /// Prepared compression dictionaries by (row id, level), most recently used first.
    cdicts: VecDeque<(i64, i32, CDict<'static>)>,
    /// Prepared decompression dictionaries by row id, most recently used first.
    ddicts: VecDeque<(i64, DDict<'static>)>,
    /// Per run: samples of kinds without a dictionary.
    samples: HashMap<Token, Samples>,
    sample_bytes: usize,
    /// Kinds whose training failed this run: not retried until the next import.
    untrainable: Vec<Token>,
    pub train_samples: usize,
    /// Open packs of the write transaction and decoded packs of reads (`pack.rs`).
    pub packer: super::pack::Packer,
    /// The kind token of the shared pack dictionary (mixed data types and facilities).
    pub pack_kind: Token,
    /// Whether new items go to packs (schema 8); `ImportOptions::pack` clears it for one run.
    pub pack_items: bool,
}

#[derive(Default)]
struct Samples {
    items: Vec<Vec<u8>>,
    bytes: usize,
    /// For a pack dictionary (larger, trained on more samples).
    pack: bool,
}

impl std::fmt::Debug for Codecs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codecs")
            .field("dictionaries", &self.rows.len())
            .finish_non_exhaustive()
    }
}

/// A dictionary row that failed to open; `verify` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadDictionary(pub i64);

/// Opens every dictionary row and returns the ones that fail authentication (`verify`).
pub fn check_dictionaries(conn: &Connection, keys: &Keys) -> Result<Vec<BadDictionary>, DbError> {
    let mut stmt = conn
        .prepare("SELECT id, kind_token, version, nonce, sealed FROM dictionary")
        .map_err(db("reading dictionaries"))?;
    let mut rows = stmt.query([]).map_err(db("reading dictionaries"))?;
    let mut bad = Vec::new();
    while let Some(r) = rows.next().map_err(db("reading dictionaries"))? {
        let id: i64 = r.get(0).map_err(db("reading a dictionary"))?;
        let kind: Vec<u8> = r.get(1).map_err(db("reading a dictionary"))?;
        let version: i64 = r.get(2).map_err(db("reading a dictionary"))?;
        let nonce: Vec<u8> = r.get(3).map_err(db("reading a dictionary"))?;
        let sealed: Vec<u8> = r.get(4).map_err(db("reading a dictionary"))?;
        if open_dictionary(keys, &kind, version, &nonce, &sealed).is_none() {
            bad.push(BadDictionary(id));
        }
    }
    Ok(bad)
}

impl Codecs {
    /// Lists the dictionaries (ids, kinds and versions; nothing is opened until used). A row
    /// that later fails authentication is not used: items compressed with it fail their own
    /// check, and `verify` reports the row ([`check_dictionaries`]).
    pub fn load(conn: &Connection, keys: &Keys) -> Result<Codecs, DbError> {
        let mut codecs = Codecs {
            cctx: CCtx::create(),
            dctx: DCtx::create(),
            rows: HashMap::new(),
            newest: HashMap::new(),
            cdicts: VecDeque::new(),
            ddicts: VecDeque::new(),
            samples: HashMap::new(),
            sample_bytes: 0,
            untrainable: Vec::new(),
            train_samples: TRAIN_SAMPLES_DEFAULT,
            packer: super::pack::Packer::default(),
            pack_kind: kind_token(keys, PACK_KIND),
            pack_items: true,
        };
        let mut stmt = conn
            .prepare("SELECT id, kind_token, version FROM dictionary ORDER BY version, id")
            .map_err(db("reading dictionaries"))?;
        let mut rows = stmt.query([]).map_err(db("reading dictionaries"))?;
        while let Some(r) = rows.next().map_err(db("reading dictionaries"))? {
            let id: i64 = r.get(0).map_err(db("reading a dictionary"))?;
            let kind: Vec<u8> = r.get(1).map_err(db("reading a dictionary"))?;
            let version: i64 = r.get(2).map_err(db("reading a dictionary"))?;
            if let Ok(token) = Token::try_from(&kind[..]) {
                codecs.newest.insert(token, id);
            }
            codecs.rows.insert(id, (kind, version));
        }
        Ok(codecs)
    }

    /// The kind token of a facility's pack dictionary.
    pub fn facility_pack_kind(keys: &Keys, facility: &str) -> Token {
        kind_token(keys, &format!("{PACK_KIND}/{facility}"))
    }

    /// Whether `kind` has a dictionary.
    pub fn has_dictionary(&self, kind: &Token) -> bool {
        self.newest.contains_key(kind)
    }

    /// Puts the prepared compression dictionary of row `id` at `level` first in its cache,
    /// opening it if needed; false if it cannot be opened.
    fn cdict(&mut self, conn: &Connection, keys: &Keys, id: i64, level: i32) -> bool {
        let rows = &self.rows;
        to_front(
            &mut self.cdicts,
            CDICT_CACHE_MAX,
            |(d, l, _)| *d == id && *l == level,
            || {
                let bytes = open_row(rows, conn, keys, id)?;
                Some((id, level, CDict::create(&bytes, level)))
            },
        )
    }

    /// Puts the prepared decompression dictionary of row `id` first in its cache, opening it
    /// if needed; false if it cannot be opened.
    fn ddict(&mut self, conn: &Connection, keys: &Keys, id: i64) -> bool {
        let rows = &self.rows;
        to_front(
            &mut self.ddicts,
            DDICT_CACHE_MAX,
            |(d, _)| *d == id,
            || Some((id, DDict::create(&open_row(rows, conn, keys, id)?))),
        )
    }

    /// Compresses `bytes` at `level` with the newest dictionary of `kind` (None, or a kind
    /// without a usable dictionary: plain zstd) as (codec, body).
    pub fn compress(
        &mut self,
        conn: &Connection,
        keys: &Keys,
        kind: Option<&Token>,
        level: i32,
        bytes: &[u8],
    ) -> (i64, Vec<u8>) {
        let id = kind.and_then(|k| self.newest.get(k)).copied();
        if let Some(id) = id
            && self.cdict(conn, keys, id, level)
        {
            let mut frame = Vec::with_capacity(zstd_safe::compress_bound(bytes.len()));
            if self
                .cctx
                .compress_using_cdict(&mut frame, bytes, &self.cdicts[0].2)
                .is_ok()
                && frame.len() + 10 < bytes.len()
            {
                let mut body = Vec::with_capacity(frame.len() + 10);
                put_varint(&mut body, id);
                body.extend_from_slice(&frame);
                return (super::item::CODEC_ZSTD_DICT_VARINT, body);
            }
        }
        // The run's context, not `zstd::bulk::compress` (which creates and frees a context per
        // call: about a tenth of the import's compression time on small messages).
        let mut frame = Vec::with_capacity(zstd_safe::compress_bound(bytes.len()));
        match self.cctx.compress(&mut frame, bytes, level).map(|_| frame) {
            Ok(c) if c.len() < bytes.len() => (super::item::CODEC_ZSTD, c),
            // Incompressible or a compressor failure: the raw bytes are always a valid body.
            _ => (super::item::CODEC_RAW, bytes.to_vec()),
        }
    }

    /// Decompresses a codec 2 or 3 body to at most `cap` bytes.
    pub fn decompress_dict(
        &mut self,
        conn: &Connection,
        keys: &Keys,
        codec: i64,
        body: &[u8],
        cap: usize,
    ) -> Option<Vec<u8>> {
        let (id, frame) = if codec == super::item::CODEC_ZSTD_DICT {
            let (id, frame) = body.split_first_chunk::<8>()?;
            (i64::from_be_bytes(*id), frame)
        } else {
            get_varint(body)?
        };
        if !self.ddict(conn, keys, id) {
            return None;
        }
        let mut out = Vec::with_capacity(cap);
        self.dctx
            .decompress_using_ddict(&mut out, frame, &self.ddicts[0].1)
            .ok()?;
        Some(out)
    }

    /// Remembers a newly stored item of kind `kind` as a training sample; trains, seals and
    /// stores a dictionary once enough samples are in. `pack`: a pack dictionary (larger, more
    /// samples). Runs inside the caller's transaction.
    pub fn sample(
        &mut self,
        conn: &Connection,
        keys: &Keys,
        rng: &SystemRandom,
        kind: &Token,
        pack: bool,
        bytes: &[u8],
    ) -> Result<(), DbError> {
        if self.newest.contains_key(kind) || self.untrainable.contains(kind) {
            return Ok(());
        }
        let (want, bytes_max) = if pack {
            // Scaled like the per-type count (tests lower `train_samples` to train early).
            (
                self.train_samples * PACK_TRAIN_SAMPLES / TRAIN_SAMPLES_DEFAULT,
                PACK_TRAIN_BYTES_MAX,
            )
        } else {
            (self.train_samples, TRAIN_BYTES_MAX)
        };
        let s = self.samples.entry(*kind).or_default();
        s.pack = pack;
        if s.bytes + bytes.len() <= bytes_max {
            s.items.push(bytes.to_vec());
            s.bytes += bytes.len();
            self.sample_bytes += bytes.len();
        }
        let full =
            s.items.len() >= want.max(TRAIN_SAMPLES_MIN) || s.bytes + bytes.len() > bytes_max;
        if full {
            self.train(conn, keys, rng, kind)?;
        }
        // Over the run's budget: the largest collection trains now, or is dropped if too small.
        while self.sample_bytes > SAMPLE_BYTES_MAX {
            let Some(largest) = self
                .samples
                .iter()
                .max_by_key(|(_, s)| s.bytes)
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.train(conn, keys, rng, &largest)?;
        }
        Ok(())
    }

    /// Trains a dictionary from the samples of `kind` (removing them), seals and stores it, and
    /// makes it the kind's newest. Too few samples, or a trainer failure, marks the kind
    /// untrainable for the run.
    fn train(
        &mut self,
        conn: &Connection,
        keys: &Keys,
        rng: &SystemRandom,
        kind: &Token,
    ) -> Result<(), DbError> {
        let Some(s) = self.samples.remove(kind) else {
            return Ok(());
        };
        self.sample_bytes = self.sample_bytes.saturating_sub(s.bytes);
        let dict_bytes = if s.pack { PACK_DICT_BYTES } else { DICT_BYTES };
        let trained = if s.items.len() >= TRAIN_SAMPLES_MIN {
            zstd::dict::from_samples(&s.items, dict_bytes).ok()
        } else {
            None
        };
        let Some(dict) = trained else {
            self.untrainable.push(*kind);
            return Ok(());
        };
        let version: i64 = conn
            .query_row(
                "SELECT coalesce(max(version), 0) + 1 FROM dictionary WHERE kind_token = ?1",
                [&kind[..]],
                |r| r.get(0),
            )
            .map_err(db("numbering a dictionary"))?;
        let Ok((nonce, sealed)) = crypto::seal(
            &keys.record,
            rng,
            &[crypto::aad::DICTIONARY, kind, &version.to_be_bytes()],
            &dict,
        ) else {
            self.untrainable.push(*kind);
            return Ok(());
        };
        conn.execute(
            "INSERT INTO dictionary (kind_token, version, format, nonce, sealed) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![&kind[..], version, DICT_FORMAT, &nonce[..], sealed],
        )
        .map_err(db("writing a dictionary"))?;
        let id = conn.last_insert_rowid();
        self.rows.insert(id, (kind.to_vec(), version));
        self.newest.insert(*kind, id);
        // Prepared on first use (`cdict`): the new row id is not in the caches yet, since a
        // rolled-back batch reloads the codecs (`Codecs::load`) and so forgets reused ids.
        Ok(())
    }

    /// Drops the run's samples (end of an import).
    pub fn end_run(&mut self) {
        self.pack_items = true;
        self.samples.clear();
        self.sample_bytes = 0;
        self.untrainable.clear();
    }
}

/// The token naming a data type's dictionaries.
/// Appends `v` (a dictionary row id, ≥ 1) as unsigned LEB128.
fn put_varint(out: &mut Vec<u8>, v: i64) {
    // Row ids are positive; a negative one (never assigned by SQLite here) is written as its
    // two's-complement bits and read back the same.
    let mut v = v as u64;
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned LEB128 prefix: (value, rest). `None` when cut short or over 64 bits.
pub(super) fn get_varint(body: &[u8]) -> Option<(i64, &[u8])> {
    let mut v: u64 = 0;
    for (i, &b) in body.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((v as i64, &body[i + 1..]));
        }
    }
    None
}

/// Moves the entry of `cache` that `hit` matches to the front, or puts one `make` builds there
/// (dropping the least recently used past `max`); false if there was none and `make` failed.
fn to_front<T>(
    cache: &mut VecDeque<T>,
    max: usize,
    hit: impl Fn(&T) -> bool,
    make: impl FnOnce() -> Option<T>,
) -> bool {
    if let Some(i) = cache.iter().position(hit) {
        if let Some(entry) = cache.remove(i) {
            cache.push_front(entry);
        }
        return true;
    }
    let Some(entry) = make() else {
        return false;
    };
    if cache.len() >= max {
        cache.pop_back();
    }
    cache.push_front(entry);
    true
}

/// Opens dictionary row `id` of `rows` (None: absent or failing authentication).
fn open_row(
    rows: &HashMap<i64, (Vec<u8>, i64)>,
    conn: &Connection,
    keys: &Keys,
    id: i64,
) -> Option<Vec<u8>> {
    let (kind, version) = rows.get(&id)?;
    let (nonce, sealed): (Vec<u8>, Vec<u8>) = conn
        .prepare_cached("SELECT nonce, sealed FROM dictionary WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))))
        .ok()?;
    open_dictionary(keys, kind, *version, &nonce, &sealed)
}

pub fn kind_token(keys: &Keys, data_type: &str) -> Token {
    keys.token(label::DICTIONARY, &[data_type.as_bytes()])
}

pub fn open_dictionary(
    keys: &Keys,
    kind: &[u8],
    version: i64,
    nonce: &[u8],
    sealed: &[u8],
) -> Option<Vec<u8>> {
    crypto::open(
        &keys.record,
        nonce,
        &[crypto::aad::DICTIONARY, kind, &version.to_be_bytes()],
        sealed,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_cut_input() {
        for v in [1i64, 5, 127, 128, 300, 16_383, 16_384, i64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            out.extend_from_slice(b"rest");
            assert_eq!(get_varint(&out), Some((v, &b"rest"[..])), "{v}");
        }
        let mut one = Vec::new();
        put_varint(&mut one, 5);
        assert_eq!(one, [5], "one byte for the first 127 dictionaries");
        assert_eq!(get_varint(&[0x80]), None);
        assert_eq!(get_varint(&[]), None);
    }

    /// An in-memory database with the `dictionary` table only.
    fn dictionary_db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE dictionary (id INTEGER PRIMARY KEY, kind_token BLOB, version INTEGER,
             format INTEGER, nonce BLOB, sealed BLOB)",
        )
        .unwrap();
        conn
    }

    #[test]
    fn dictionary_bodies_are_codec_3_and_codec_2_bodies_still_open() {
        let samples: Vec<Vec<u8>> = (0..400)
            .map(|i| {
                format!(
                    "MSH|^~\\&|HIS|0400000001|||2025010{}|ADT^A08|{i}|P|2.5\rPID|||{i}||",
                    i % 10
                )
                .into_bytes()
            })
            .collect();
        let dict = zstd::dict::from_samples(&samples, DICT_BYTES).unwrap();
        let conn = dictionary_db();
        let keys = Keys::derive(&[7u8; crypto::DEK_LEN]);
        let kind = kind_token(&keys, "ADT-00");
        let rng = SystemRandom::new();
        let (nonce, sealed) = crypto::seal(
            &keys.record,
            &rng,
            &[crypto::aad::DICTIONARY, &kind, &1i64.to_be_bytes()],
            &dict,
        )
        .unwrap();
        conn.execute(
            "INSERT INTO dictionary VALUES (5, ?1, 1, 1, ?2, ?3)",
            params![&kind[..], &nonce[..], sealed],
        )
        .unwrap();
        let mut c = Codecs::load(&conn, &keys).unwrap();
        let bytes = samples[123].repeat(3);
        let (codec, body) = c.compress(&conn, &keys, Some(&kind), ZSTD_LEVEL, &bytes);
        assert_eq!(codec, super::super::item::CODEC_ZSTD_DICT_VARINT);
        assert_eq!(body[0], 5, "the dictionary id in one byte");
        assert_eq!(
            c.decompress_dict(&conn, &keys, codec, &body, bytes.len()),
            Some(bytes.clone())
        );
        // The same frame as a codec 2 body (8-byte id), as written before.
        let mut old = 5i64.to_be_bytes().to_vec();
        old.extend_from_slice(&body[1..]);
        assert_eq!(
            c.decompress_dict(
                &conn,
                &keys,
                super::super::item::CODEC_ZSTD_DICT,
                &old,
                bytes.len()
            ),
            Some(bytes)
        );
        // An unknown dictionary id opens nothing.
        let mut unknown = vec![6u8];
        unknown.extend_from_slice(&body[1..]);
        assert_eq!(
            c.decompress_dict(&conn, &keys, codec, &unknown, 1 << 16),
            None
        );
        // A tampered row opens nothing: its items fail their own check, verify reports it.
        conn.execute("UPDATE dictionary SET version = 2", [])
            .unwrap();
        let mut c = Codecs::load(&conn, &keys).unwrap();
        assert_eq!(c.decompress_dict(&conn, &keys, codec, &body, 1 << 16), None);
        assert_eq!(
            check_dictionaries(&conn, &keys).unwrap(),
            [BadDictionary(5)]
        );
        // ... and compressing with it falls back to plain zstd.
        let (codec, _) = c.compress(&conn, &keys, Some(&kind), ZSTD_LEVEL, &samples[1]);
        assert_ne!(codec, super::super::item::CODEC_ZSTD_DICT_VARINT);
    }

    #[test]
    fn samples_stay_within_the_run_budget() {
        let conn = dictionary_db();
        let keys = Keys::derive(&[3u8; crypto::DEK_LEN]);
        let rng = SystemRandom::new();
        let mut c = Codecs::load(&conn, &keys).unwrap();
        // Eight facilities, none reaching the sample count: 8 × 5.8 MiB > the budget.
        let kinds: Vec<Token> = (0..8)
            .map(|i| Codecs::facility_pack_kind(&keys, &format!("04100000{i:02}")))
            .collect();
        let sample = |k: usize, n: usize| -> Vec<u8> {
            format!(
                "MSH|^~\\&|HIS{k}|{n}|\rPID|||{n}||\rOBX|{}\r",
                n * 7919 % 10007
            )
            .repeat(6_000)
            .into_bytes()
        };
        let mut most = 0;
        for n in 0..20 {
            for (k, kind) in kinds.iter().enumerate() {
                c.sample(&conn, &keys, &rng, kind, true, &sample(k, n))
                    .unwrap();
                assert!(c.sample_bytes <= SAMPLE_BYTES_MAX, "{}", c.sample_bytes);
                most = most.max(c.sample_bytes);
            }
        }
        assert!(
            most > SAMPLE_BYTES_MAX / 2,
            "the budget was approached: {most}"
        );
        let trained = kinds.iter().filter(|k| c.has_dictionary(k)).count();
        assert!(trained > 0, "the largest collections trained early");
        assert!(trained < kinds.len(), "not all of them");
    }

    #[test]
    fn the_dictionary_caches_keep_the_most_recently_used() {
        let mut cache: VecDeque<u32> = VecDeque::new();
        for v in [1, 2, 3] {
            assert!(to_front(&mut cache, 2, |e| *e == v, || Some(v)));
        }
        assert_eq!(cache, [3, 2], "1 was the least recently used");
        assert!(
            to_front(&mut cache, 2, |e| *e == 2, || None),
            "a hit makes nothing"
        );
        assert_eq!(cache, [2, 3]);
        assert!(!to_front(&mut cache, 2, |e| *e == 9, || None));
        assert_eq!(cache, [2, 3], "a failed open leaves the cache as it was");
    }
}
