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

pub fn find(conn: &Connection, hash: &[u8; 32]) -> Result<Option<i64>, DbError> {
    conn.prepare_cached("SELECT id FROM item WHERE hash = ?1")
        .and_then(|mut s| s.query_row([&hash[..]], |r| r.get(0)).optional())
        .map_err(db("looking up an item"))
}

/// Why an item could not be written.
#[derive(Debug)]
pub enum PutError {
    Seal,
    Db(DbError),
}

/// Stores `bytes` under `hash` unless present; returns the row id and whether it was new.
/// `kind` is the token of the item's data type when known: it selects the dictionary, and
/// new items of a kind without one are training samples.
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
    let (codec, body) = codecs.compress(kind, bytes);
    if let Some(kind) = kind
        && !uses_dictionary(codec)
    {
        codecs
            .sample(conn, keys, rng, kind, bytes)
            .map_err(PutError::Db)?;
    }
    lap(&mut t, &mut st.compress);
    let size = bytes.len() as i64;
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

/// Opens, decompresses and checks one body against its address (check after reading, house
/// style 6). The recorded size bounds the decompression, so a tampered body cannot balloon.
pub fn decode(
    keys: &Keys,
    codecs: &mut Codecs,
    hash: &[u8],
    size: i64,
    codec: i64,
    nonce: &[u8],
    body: &[u8],
) -> Result<Vec<u8>, ReadError> {
    let plain = crypto::open(
        &keys.record,
        nonce,
        &aad_parts(hash, &size.to_be_bytes(), &codec.to_be_bytes()),
        body,
    )
    .map_err(|_| ReadError::Tag)?;
    let bytes = match codec {
        CODEC_RAW => plain,
        CODEC_ZSTD => {
            let cap = usize::try_from(size)
                .ok()
                .filter(|&n| n as u64 <= FILE_BYTES_MAX)
                .ok_or(ReadError::Decompress)?;
            zstd::bulk::decompress(&plain, cap).map_err(|_| ReadError::Decompress)?
        }
        CODEC_ZSTD_DICT | CODEC_ZSTD_DICT_VARINT => {
            let cap = usize::try_from(size)
                .ok()
                .filter(|&n| n as u64 <= FILE_BYTES_MAX)
                .ok_or(ReadError::Decompress)?;
            codecs
                .decompress_dict(codec, &plain, cap)
                .ok_or(ReadError::Decompress)?
        }
        other => return Err(ReadError::Codec(other)),
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
            .query_row(
                "SELECT size, codec, nonce, body FROM item WHERE hash = ?1",
                [&hash[..]],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(db("reading an item"))?;
        let Some((size, codec, nonce, body)) = row else {
            return Ok(None);
        };
        decode(
            &self.keys,
            &mut self.codecs.borrow_mut(),
            hash,
            size,
            codec,
            &nonce,
            &body,
        )
        .map(Some)
    }
}
