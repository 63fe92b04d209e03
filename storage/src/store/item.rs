//! Item bodies: raw bytes → zstd (when it helps) → AES-256-GCM, in the `item` table.
//!
//! Bodies live in SQLite rather than in pack files: at 1–3 KB an item is far below the size where
//! SQLite's own measurements favour external files, one WAL commit makes a batch of bodies and
//! their index rows durable together (no second fsync protocol to get wrong), and there is no
//! pack compaction to write. The cost is that the database file grows with the data.

use ring::rand::SystemRandom;
use rusqlite::{Connection, OptionalExtension, params};

use std::time::Instant;

use super::codec::Codecs;
use super::crypto::{self, Keys, Token};
use super::error::{ReadError, db};
use super::import::{ImportStages, lap};
use super::schema::HASH_PREFIX_LEN;
use super::{DbError, Store};
use crate::ssmix2::check::FILE_BYTES_MAX;

/// Body stored as the raw bytes (compression did not make it smaller).
pub const CODEC_RAW: i64 = 0;
/// Body compressed by zstd without a dictionary (level 3: the library default, about as fast
/// as reading the file on a small ARM core).
pub const CODEC_ZSTD: i64 = 1;
/// Body = dictionary id (8 bytes BE) ‖ zstd frame with that trained dictionary (`codec.rs`).
/// Read only: written before codec 3.
pub const CODEC_ZSTD_DICT: i64 = 2;
/// Body = dictionary id (LEB128, 1 byte for the first 127 dictionaries) ‖ zstd frame with that
/// dictionary: codec 2 less 7 bytes per item. Written since schema 7 code.
pub const CODEC_ZSTD_DICT_VARINT: i64 = 3;

/// Whether a codec compresses with a trained dictionary.
pub fn uses_dictionary(codec: i64) -> bool {
    codec == CODEC_ZSTD_DICT || codec == CODEC_ZSTD_DICT_VARINT
}

/// Associated data of an item body: its address, size and codec, so a body moved to another
/// row, or a row whose size or codec was edited, fails authentication.
fn aad_parts<'a>(hash: &'a [u8], size: &'a [u8; 8], codec: &'a [u8; 8]) -> [&'a [u8]; 4] {
    [crypto::aad::ITEM, hash, size, codec]
}

/// Items stored in a pack (schema 8): empty nonce and body; the bytes are at `pack_at` in the
/// plaintext of pack `pack` (`pack.rs`).
pub const CODEC_PACKED: i64 = 4;

/// The item columns a reader selects, in [`Stored::from_row`]'s order (table alias `i`).
pub const COLUMNS: &str = "i.hash, i.size, i.codec, i.nonce, i.body, i.pack, i.pack_at";

/// An item row as stored: everything [`decode`] needs.
pub struct Stored {
    pub hash: Vec<u8>,
    pub size: i64,
    pub codec: i64,
    pub nonce: Vec<u8>,
    pub body: Vec<u8>,
    pub pack: Option<i64>,
    pub pack_at: Option<i64>,
}

impl Stored {
    /// Reads [`COLUMNS`] starting at column `at`.
    pub fn from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Stored> {
        Ok(Stored {
            hash: r.get(at)?,
            size: r.get(at + 1)?,
            codec: r.get(at + 2)?,
            nonce: r.get(at + 3)?,
            body: r.get(at + 4)?,
            pack: r.get(at + 5)?,
            pack_at: r.get(at + 6)?,
        })
    }
}

/// The item with a hash (?2) through the prefix index (?1: its first `HASH_PREFIX_LEN`
/// bytes); the expression must stay literally the index's for SQLite to use it (tested).
pub(crate) const FIND_SQL: &str = "SELECT id FROM item WHERE substr(hash, 1, 8) = ?1 AND hash = ?2";

pub fn find(conn: &Connection, hash: &[u8; 32]) -> Result<Option<i64>, DbError> {
    conn.prepare_cached(FIND_SQL)
        .and_then(|mut s| {
            s.query_row(params![&hash[..HASH_PREFIX_LEN], &hash[..]], |r| r.get(0))
                .optional()
        })
        .map_err(db("looking up an item"))
}

/// Why an item could not be written.
#[derive(Debug)]
pub enum PutError {
    Seal,
    Db(DbError),
}

impl From<super::pack::PackError> for PutError {
    fn from(e: super::pack::PackError) -> PutError {
        match e {
            super::pack::PackError::Seal => PutError::Seal,
            super::pack::PackError::Db(d) => PutError::Db(d),
        }
    }
}

/// Stores `bytes` under `hash` unless present; returns the row id and whether it was new.
/// Items up to `PACK_ITEM_MAX` go to the open pack of `group` (the location's patient token);
/// larger ones are sealed alone, `kind` (the token of the data type, when known) selecting the
/// dictionary, and new items of a kind without one are training samples.
#[expect(
    clippy::too_many_arguments,
    reason = "the import's per-run state, passed apart so the writer can borrow it piecewise"
)]
pub fn put(
    conn: &Connection,
    keys: &Keys,
    rng: &SystemRandom,
    codecs: &mut Codecs,
    kind: Option<&Token>,
    facility: Option<&Token>,
    group: Option<&Token>,
    hash: &[u8; 32],
    bytes: &[u8],
    st: &mut ImportStages,
) -> Result<(i64, bool), PutError> {
    let mut t = Instant::now();
    let found = find(conn, hash).map_err(PutError::Db)?;
    lap(&mut t, &mut st.item_find);
    if let Some(id) = found {
        return Ok((id, false));
    }
    let size = bytes.len() as i64;
    if codecs.pack_items && bytes.len() <= super::pack::PACK_ITEM_MAX {
        // Compression and sealing happen when the pack is sealed (counted there as compress).
        let (pack, at) = super::pack::add(conn, keys, rng, codecs, facility, group, bytes)?;
        lap(&mut t, &mut st.compress);
        conn.prepare_cached(
            "INSERT INTO item (hash, size, codec, nonce, body, pack, pack_at)
             VALUES (?1, ?2, ?3, x'', x'', ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                &hash[..],
                size,
                CODEC_PACKED,
                pack,
                i64::try_from(at).unwrap_or(i64::MAX)
            ])
        })
        .map_err(|e| PutError::Db(db("writing an item")(e)))?;
        lap(&mut t, &mut st.db_write);
        return Ok((conn.last_insert_rowid(), true));
    }
    let (codec, body) = codecs.compress(conn, keys, kind, super::codec::ZSTD_LEVEL, bytes);
    if let Some(kind) = kind
        && !uses_dictionary(codec)
    {
        codecs
            .sample(conn, keys, rng, kind, false, bytes)
            .map_err(PutError::Db)?;
    }
    lap(&mut t, &mut st.compress);
    let (nonce, sealed) = crypto::seal(
        &keys.record,
        rng,
        &aad_parts(hash, &size.to_be_bytes(), &codec.to_be_bytes()),
        &body,
    )
    .map_err(|_| PutError::Seal)?;
    lap(&mut t, &mut st.seal);
    conn.prepare_cached(
        "INSERT INTO item (hash, size, codec, nonce, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![&hash[..], size, codec, &nonce[..], sealed]))
    .map_err(|e| PutError::Db(db("writing an item")(e)))?;
    lap(&mut t, &mut st.db_write);
    Ok((conn.last_insert_rowid(), true))
}

/// Decompresses an opened body of `codec` to at most `cap` bytes.
pub fn decompress(
    conn: &Connection,
    keys: &Keys,
    codecs: &mut Codecs,
    codec: i64,
    plain: Vec<u8>,
    cap: usize,
) -> Result<Vec<u8>, ReadError> {
    match codec {
        CODEC_RAW => Ok(plain),
        CODEC_ZSTD => zstd::bulk::decompress(&plain, cap).map_err(|_| ReadError::Decompress),
        CODEC_ZSTD_DICT | CODEC_ZSTD_DICT_VARINT => codecs
            .decompress_dict(conn, keys, codec, &plain, cap)
            .ok_or(ReadError::Decompress),
        other => Err(ReadError::Codec(other)),
    }
}

/// Opens, decompresses and checks one item against its address (check after reading, house
/// style 6). The recorded size bounds the decompression, so a tampered body cannot balloon; a
/// packed item is read from its pack (`pack::read`, bounded by `PACK_READ_MAX`).
pub fn decode(
    conn: &Connection,
    keys: &Keys,
    codecs: &mut Codecs,
    item: &Stored,
) -> Result<Vec<u8>, ReadError> {
    let Stored {
        hash,
        size,
        codec,
        nonce,
        body,
        pack,
        pack_at,
    } = item;
    let (hash, size, codec) = (&hash[..], *size, *codec);
    let bytes = if codec == CODEC_PACKED {
        let (Some(pack), Some(at)) = (pack, pack_at) else {
            return Err(ReadError::Codec(codec));
        };
        super::pack::read(conn, keys, codecs, *pack, *at, size)?
    } else {
        let plain = crypto::open(
            &keys.record,
            nonce,
            &aad_parts(hash, &size.to_be_bytes(), &codec.to_be_bytes()),
            body,
        )
        .map_err(|_| ReadError::Tag)?;
        let cap = usize::try_from(size)
            .ok()
            .filter(|&n| n as u64 <= FILE_BYTES_MAX)
            .ok_or(ReadError::Decompress)?;
        decompress(conn, keys, codecs, codec, plain, cap)?
    };
    if bytes.len() as i64 != size {
        return Err(ReadError::Decompress);
    }
    if crypto::sha256(&bytes)[..] != *hash {
        return Err(ReadError::Hash);
    }
    Ok(bytes)
}

impl Store {
    /// The raw bytes of the item with this SHA-256, checked against it; `None` if absent.
    pub fn item(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, ReadError> {
        let row = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM item i WHERE substr(i.hash, 1, 8) = ?1 AND i.hash = ?2"
            ))
            .and_then(|mut s| {
                s.query_row(params![&hash[..HASH_PREFIX_LEN], &hash[..]], |r| {
                    Stored::from_row(r, 0)
                })
                .optional()
            })
            .map_err(db("reading an item"))?;
        let Some(stored) = row else {
            return Ok(None);
        };
        decode(
            &self.conn,
            &self.keys,
            &mut self.codecs.borrow_mut(),
            &stored,
        )
        .map(Some)
    }
}
