//! Packed item bodies (schema 8): several items compressed and sealed together.
//!
//! One sealed body per item cost a 12-byte nonce, a 16-byte tag and a zstd frame header per
//! ~1.5 KB message, and each message was compressed alone. A pack concatenates the raw bytes of
//! up to [`PACK_ITEMS_MAX`] items (at most [`PACK_RAW_MAX`] bytes) of one group — the patient
//! token of their location, so a patient's messages, which repeat the same PID, MSH and order
//! segments, compress against each other — compresses them as one zstd frame (with the pack
//! dictionary, trained on the first new items of any type, once there is one) and seals the
//! frame once with AES-256-GCM under a fresh random nonce.
//!
//! Row `pack (id, size, codec, nonce, body)`: `size` is the plaintext length, `codec` the
//! compression (as for items), `body` = AES-256-GCM(codec body), associated data
//! `kizuna/pack/v1 ‖ id ‖ size ‖ codec`. An item row points to its pack with `pack` and
//! `pack_at` (offset); its bytes are `plaintext[pack_at .. pack_at + size]` and must hash to
//! the item's address, so an item row edited to point elsewhere fails its hash check.
//!
//! Writing: the writer keeps at most [`OPEN_PACKS_MAX`] packs open, each with its row id
//! reserved (an empty row inserted in the open transaction, so item rows can name it at once),
//! and seals every open pack before its transaction commits (`Batch::commit`). A rolled-back
//! batch takes its reserved rows with it, and the in-memory packs are dropped with the codecs
//! (`Codecs::load` after an error). Items larger than [`PACK_ITEM_MAX`] are sealed alone, as
//! before.
//!
//! Reading: a read opens the item's pack (bounded by [`PACK_READ_MAX`]) and keeps the last
//! [`PACK_CACHE_MAX`] decoded packs, keyed by (id, nonce), so export and verify, which read a
//! pack's items close together, decode each pack about once.

use std::collections::VecDeque;

use ring::rand::SystemRandom;
use rusqlite::{Connection, OptionalExtension, params};

use super::codec::{Codecs, PACK_ZSTD_LEVEL};
use super::crypto::{self, Keys, Token};
use super::error::{DbError, ReadError, db};

/// Plaintext bytes of a pack at most: about 40 average messages, so a read decodes at most
/// 64 KiB to return one (a summary reads a handful of a patient's messages, all in one or two
/// packs), and far above the size where zstd's gain from more context levels off.
pub const PACK_RAW_MAX: usize = 64 * 1024;
/// Items per pack at most (a patient has ~12 files on average; more in long histories).
pub const PACK_ITEMS_MAX: usize = 32;
/// Items larger than this are sealed alone: a pack of one gains nothing and would make every
/// read of a neighbour decode it.
pub const PACK_ITEM_MAX: usize = 16 * 1024;
/// Packs open at once in a write transaction (one per patient being written; the scanner
/// threads interleave a few patients). The oldest is sealed when another is needed.
pub const OPEN_PACKS_MAX: usize = 64;
/// Decoded packs kept for reads: 16 × 64 KiB = 1 MiB at most.
pub const PACK_CACHE_MAX: usize = 16;
/// Plaintext bytes a pack may decode to on reading (above [`PACK_RAW_MAX`] so a later build
/// may raise the write bound; the size is authenticated, so this only bounds memory).
pub const PACK_READ_MAX: usize = 1024 * 1024;

/// The writer's open packs and the readers' cache of decoded ones.
#[derive(Default)]
pub struct Packer {
    open: Vec<OpenPack>,
    cache: VecDeque<Decoded>,
    /// Poorly filled packs sealed since the store was opened or last repacked
    /// (`repack::is_small`): the cheap trigger of a repack. In memory only; a dropped batch's
    /// codecs reload (after an error) forgets it, which delays a repack, never corrupts one.
    pub small_sealed: u64,
}

struct OpenPack {
    group: Option<Token>,
    /// The facility's pack dictionary kind, when the writer named one.
    facility: Option<Token>,
    id: i64,
    raw: Vec<u8>,
    items: usize,
}

struct Decoded {
    id: i64,
    nonce: Vec<u8>,
    plain: Vec<u8>,
}

/// Why a pack could not be written.
#[derive(Debug)]
pub enum PackError {
    Seal,
    Db(DbError),
}

impl From<DbError> for PackError {
    fn from(e: DbError) -> PackError {
        PackError::Db(e)
    }
}

fn aad_parts<'a>(id: &'a [u8; 8], size: &'a [u8; 8], codec: &'a [u8; 8]) -> [&'a [u8]; 4] {
    [crypto::aad::PACK, id, size, codec]
}

/// Adds `bytes` (≤ [`PACK_ITEM_MAX`]) to the open pack of (`facility`, `group`), opening one
/// if needed, and returns (pack id, offset). `facility`: the kind token of the facility's pack
/// dictionary ([`Codecs::facility_pack_kind`]), or `None` for the shared one. Runs inside the
/// caller's write transaction.
pub fn add(
    conn: &Connection,
    keys: &Keys,
    rng: &SystemRandom,
    codecs: &mut Codecs,
    facility: Option<&Token>,
    group: Option<&Token>,
    bytes: &[u8],
) -> Result<(i64, usize), PackError> {
    let found = codecs
        .packer
        .open
        .iter()
        .position(|p| p.group.as_ref() == group && p.facility.as_ref() == facility);
    let index = match found {
        Some(i)
            if codecs.packer.open[i].items < PACK_ITEMS_MAX
                && codecs.packer.open[i].raw.len() + bytes.len() <= PACK_RAW_MAX =>
        {
            Some(i)
        }
        Some(i) => {
            let full = codecs.packer.open.remove(i);
            seal(conn, keys, rng, codecs, full)?;
            None
        }
        None => None,
    };
    let index = match index {
        Some(i) => i,
        None => {
            if codecs.packer.open.len() >= OPEN_PACKS_MAX {
                let oldest = codecs.packer.open.remove(0);
                seal(conn, keys, rng, codecs, oldest)?;
            }
            conn.prepare_cached(
                "INSERT INTO pack (size, codec, nonce, body) VALUES (0, 0, x'', x'')",
            )
            .and_then(|mut s| s.execute([]))
            .map_err(db("reserving a pack"))?;
            codecs.packer.open.push(OpenPack {
                group: group.copied(),
                facility: facility.copied(),
                id: conn.last_insert_rowid(),
                raw: Vec::with_capacity(PACK_RAW_MAX),
                items: 0,
            });
            codecs.packer.open.len() - 1
        }
    };
    let pack = &mut codecs.packer.open[index];
    let offset = pack.raw.len();
    pack.raw.extend_from_slice(bytes);
    pack.items += 1;
    let id = pack.id;
    if let Some(kind) = facility {
        codecs.sample(conn, keys, rng, kind, true, bytes)?;
    }
    let shared = codecs.pack_kind;
    codecs.sample(conn, keys, rng, &shared, true, bytes)?;
    Ok((id, offset))
}

/// Seals every open pack (before the transaction commits).
pub fn flush(
    conn: &Connection,
    keys: &Keys,
    rng: &SystemRandom,
    codecs: &mut Codecs,
) -> Result<(), PackError> {
    let open = std::mem::take(&mut codecs.packer.open);
    for pack in open {
        seal(conn, keys, rng, codecs, pack)?;
    }
    Ok(())
}

/// Forgets every decoded pack (a repack deleted packs; their ids may be reused by SQLite, and
/// although the cache key includes the fresh random nonce, dropping them also frees memory).
pub fn forget_reads(codecs: &mut Codecs) {
    codecs.packer.cache.clear();
}

/// Forgets the open packs (their transaction rolled back).
pub fn discard(codecs: &mut Codecs) {
    codecs.packer.open.clear();
}

fn seal(
    conn: &Connection,
    keys: &Keys,
    rng: &SystemRandom,
    codecs: &mut Codecs,
    pack: OpenPack,
) -> Result<(), PackError> {
    if super::repack::is_small(pack.items, pack.raw.len()) {
        codecs.packer.small_sealed += 1;
    }
    let kind = match pack.facility {
        Some(own) if codecs.has_dictionary(&own) => own,
        _ => codecs.pack_kind,
    };
    let (codec, body) = codecs.compress(conn, keys, Some(&kind), PACK_ZSTD_LEVEL, &pack.raw);
    let size = pack.raw.len() as i64;
    let (nonce, sealed) = crypto::seal(
        &keys.record,
        rng,
        &aad_parts(
            &pack.id.to_be_bytes(),
            &size.to_be_bytes(),
            &codec.to_be_bytes(),
        ),
        &body,
    )
    .map_err(|_| PackError::Seal)?;
    conn.prepare_cached(
        "UPDATE pack SET size = ?1, codec = ?2, nonce = ?3, body = ?4 WHERE id = ?5",
    )
    .and_then(|mut s| s.execute(params![size, codec, &nonce[..], sealed, pack.id]))
    .map_err(db("writing a pack"))?;
    Ok(())
}

/// The `size` bytes at `at` of pack `id`, unchecked (the caller hashes them).
pub fn read(
    conn: &Connection,
    keys: &Keys,
    codecs: &mut Codecs,
    id: i64,
    at: i64,
    size: i64,
) -> Result<Vec<u8>, ReadError> {
    let nonce: Option<Vec<u8>> = conn
        .prepare_cached("SELECT nonce FROM pack WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(db("reading a pack"))?;
    // A missing pack cannot be authenticated: the same verdict as a failed tag.
    let nonce = nonce.ok_or(ReadError::Tag)?;
    let cached = codecs
        .packer
        .cache
        .iter()
        .position(|d| d.id == id && d.nonce == nonce);
    let index = match cached {
        Some(i) => i,
        None => {
            let (psize, codec, body): (i64, i64, Vec<u8>) = conn
                .prepare_cached("SELECT size, codec, body FROM pack WHERE id = ?1")
                .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
                .map_err(db("reading a pack"))?;
            let plain = crypto::open(
                &keys.record,
                &nonce,
                &aad_parts(
                    &id.to_be_bytes(),
                    &psize.to_be_bytes(),
                    &codec.to_be_bytes(),
                ),
                &body,
            )
            .map_err(|_| ReadError::Tag)?;
            let cap = usize::try_from(psize)
                .ok()
                .filter(|&n| n <= PACK_READ_MAX)
                .ok_or(ReadError::Decompress)?;
            let plain = super::item::decompress(conn, keys, codecs, codec, plain, cap)?;
            if plain.len() != cap {
                return Err(ReadError::Decompress);
            }
            if codecs.packer.cache.len() >= PACK_CACHE_MAX {
                codecs.packer.cache.pop_back();
            }
            codecs.packer.cache.push_front(Decoded { id, nonce, plain });
            0
        }
    };
    let plain = &codecs.packer.cache[index].plain;
    let range = usize::try_from(at)
        .ok()
        .zip(usize::try_from(size).ok())
        .and_then(|(a, n)| Some(a..a.checked_add(n)?))
        .filter(|r| r.end <= plain.len())
        .ok_or(ReadError::Decompress)?;
    Ok(plain[range].to_vec())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::store::import::Received;
    use crate::store::{ImportOptions, InitOptions, KDF_ITERATIONS_MIN, Role, Store};
    use crate::synth::{RegionSpec, generate};

    const PASS: &[u8] = b"pack dictionaries";

    /// id, size, codec, nonce, body.
    type PackRow = (i64, i64, i64, Vec<u8>, Vec<u8>);

    fn new_store(dir: &std::path::Path) -> Store {
        let opts = InitOptions {
            kdf_iterations: KDF_ITERATIONS_MIN,
            ..InitOptions::new("0400000001", Role::Shelter)
        };
        Store::init(dir, &opts, PASS).unwrap();
        Store::open(dir, PASS).unwrap()
    }

    /// The kind token of the dictionary each pack was compressed with (None: no dictionary).
    fn pack_dictionary_kinds(s: &Store) -> Vec<Option<Vec<u8>>> {
        let mut st = s
            .conn
            .prepare("SELECT id, size, codec, nonce, body FROM pack ORDER BY id")
            .unwrap();
        let rows: Vec<PackRow> = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.into_iter()
            .map(|(id, size, codec, nonce, body)| {
                let plain = crypto::open(
                    &s.keys.record,
                    &nonce,
                    &aad_parts(&id.to_be_bytes(), &size.to_be_bytes(), &codec.to_be_bytes()),
                    &body,
                )
                .unwrap();
                (codec == crate::store::item::CODEC_ZSTD_DICT_VARINT).then(|| {
                    let (dict, _) = super::super::codec::get_varint(&plain).unwrap();
                    s.conn
                        .query_row(
                            "SELECT kind_token FROM dictionary WHERE id = ?1",
                            [dict],
                            |r| r.get(0),
                        )
                        .unwrap()
                })
            })
            .collect()
    }

    #[test]
    fn an_import_packs_each_facility_with_its_own_dictionary_and_a_replica_with_the_shared_one() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("region");
        let spec = RegionSpec {
            patients: 60,
            facilities: 3,
            seed: 11,
        };
        generate(&spec, &tree, |_| {}).unwrap();
        let facilities: Vec<String> = spec.facility_list().into_iter().map(|f| f.code).collect();

        let mut imported = new_store(&tmp.path().join("imported"));
        imported
            .import(
                std::slice::from_ref(&tree),
                ImportOptions {
                    dictionary_samples: 16,
                    ..ImportOptions::default()
                },
            )
            .unwrap();
        assert!(imported.verify().unwrap().is_clean());
        let own: BTreeMap<Vec<u8>, &str> = facilities
            .iter()
            .map(|f| {
                (
                    Codecs::facility_pack_kind(&imported.keys, f).to_vec(),
                    &f[..],
                )
            })
            .collect();
        let shared = imported.codecs.borrow().pack_kind.to_vec();
        let used = pack_dictionary_kinds(&imported);
        let by_own = used
            .iter()
            .flatten()
            .filter_map(|k| own.get(k))
            .collect::<BTreeSet<_>>();
        assert_eq!(
            by_own.len(),
            facilities.len(),
            "every facility's own dictionary packs"
        );
        let own_packs = used
            .iter()
            .flatten()
            .filter(|k| own.contains_key(*k))
            .count();
        assert!(
            own_packs * 2 > used.len(),
            "most packs use their facility's dictionary: {own_packs} of {}",
            used.len()
        );
        // (Packs are sealed when their batch commits, so a facility's first packs already use
        // its dictionary when it was trained within the batch; the shared one is the fallback.)
        assert!(
            used.iter()
                .flatten()
                .all(|k| *k == shared || own.contains_key(k))
        );

        // The same files received (hash order, every facility mixed): only the shared
        // dictionary, and every item reads back.
        let mut files = Vec::new();
        for e in walkdir::WalkDir::new(&tree) {
            let e = e.unwrap();
            if e.file_type().is_file() {
                let rel = e.path().strip_prefix(&tree).unwrap().to_owned();
                files.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
        files.sort_by_key(|(_, b)| crypto::sha256(b));
        let split: Vec<(String, Vec<u8>, &[u8])> = files
            .iter()
            .map(|(rel, b)| {
                let mut c = rel.components();
                let facility = c.next().unwrap().as_os_str().to_string_lossy().into_owned();
                let rest = c.as_path().to_string_lossy().into_owned().into_bytes();
                (facility, rest, &b[..])
            })
            .collect();
        let received: Vec<Received<'_>> = split
            .iter()
            .map(|(f, rel, b)| Received {
                facility: f,
                relative_path: rel,
                bytes: b,
            })
            .collect();
        let mut replica = new_store(&tmp.path().join("replica"));
        replica.codecs.get_mut().train_samples = 16;
        replica.insert_received(&received).unwrap();
        assert!(replica.verify().unwrap().is_clean());
        let used = pack_dictionary_kinds(&replica);
        let shared = replica.codecs.borrow().pack_kind.to_vec();
        assert!(
            used.iter().flatten().all(|k| *k == shared),
            "only the shared one"
        );
        assert!(used.iter().flatten().count() * 2 > used.len());
        for (_, b) in &files {
            assert_eq!(
                replica.item(&crypto::sha256(b)).unwrap().as_deref(),
                Some(&b[..])
            );
        }
    }
}
