//! Sealing of a location's relative path.
//!
//! The `path_nonce` column says how a row was sealed:
//!
//! - **12 bytes** (rows written before derived nonces): a random nonce, and the plaintext is
//!   either the raw relative path or `0x00 ‖ policy ‖ file name` (compact; no Unix path contains
//!   NUL, so a leading `0x00` never begins a raw path).
//! - **1 byte `e`** (rows written since): the encoding, and the nonce is derived,
//!   `HMAC(token key, "path-nonce" ‖ facility ‖ path token ‖ e)[..12]`. `e = 1`: the plaintext
//!   is the raw relative path; `e = 2 + p`: the plaintext is the file name packed in nibbles
//!   ([`pack`]) and the folders are `FileName::relative_path` under policy `POLICIES[p]`.
//!
//! - **1 byte `e | 0x80`** (rows written since schema 8 code): as above, but sealed without
//!   the 16-byte GCM tag, SIV-style: the ciphertext is the plaintext XOR the AES-256 keystream
//!   of the derived nonce (GCM's own counter mode, `keystream`), and the row's path token —
//!   HMAC-SHA256(token key, facility ‖ path), 128 bits, stored in clear as the lookup key — is
//!   the authenticator: `open` decrypts, decodes and accepts the path only if it re-tokenises to
//!   the row's token. This is the SIV construction (Rogaway–Shrimpton: IV = PRF of the
//!   plaintext, then CTR): a forgery must produce a ciphertext whose decryption has a given
//!   128-bit HMAC (2⁻¹²⁸ per try, as for a GCM tag), a row moved to another token or facility
//!   decrypts under another nonce and fails the same check, and the nonce argument below is
//!   unchanged (the keystream is a function of the nonce only). Saves 16 bytes per location.
//!
//! A standardized path is `L1/L2/ID/DATE/TYPE/NAME` and every folder is a function of the name,
//! so only the name is sealed, and only after `relative_path` of the parsed name reproduced the
//! path byte for byte under that policy: decoding gives back exactly the imported path (export
//! stays byte-exact). Misplaced files, extended storage and anything else are sealed raw.
//!
//! **Why a derived nonce is safe (AES-GCM must never seal two different plaintexts under one
//! nonce and key).** For a given `e` the plaintext is a pure function of the relative path
//! (raw: the path itself; packed: `pack` of its last component, a fixed function of this file;
//! changing either function requires a new `e`). The path token is HMAC(facility ‖ path), so
//! (facility, path token, e) determines the plaintext, and the associated data is (facility,
//! path token). Two sealings under one nonce are therefore either the same (facility, path
//! token, e), which gives the same plaintext and the same ciphertext (deterministic, revealing
//! only equality, which the path token in clear reveals already), or a collision of the 96-bit
//! truncated HMAC between different inputs: about n²/2⁹⁷ for n sealings (6·10⁻¹⁶ at 10⁷
//! paths), the same bound as the random nonces it replaces. No counter, clock or randomness
//! is involved, so a crash, a rolled-back batch or a restored backup cannot repeat a nonce with
//! another plaintext. The nonce itself needs no secrecy; deriving it with the token key under
//! its own label keeps it unpredictable anyway. Saves 11 bytes per location.

use ring::rand::SystemRandom;

use super::crypto::{self, Keys, NONCE_LEN, SealFailed, label};
use crate::ssmix2::path::{FileName, ShortIdPolicy};

/// First plaintext byte of a compact path (12-byte-nonce rows only).
const COMPACT: u8 = 0x00;
/// Policies a compact or packed path may name, by their index. Appending is compatible;
/// reordering is not.
const POLICIES: [ShortIdPolicy; 2] = [ShortIdPolicy::ZeroPadLeft, ShortIdPolicy::Truncate];
/// `e` of a derived-nonce row sealing the raw relative path.
const E_RAW: u8 = 1;
/// `e` of a derived-nonce row sealing the packed name under `POLICIES[e - E_PACKED]`.
const E_PACKED: u8 = 2;
/// Flag in `e` (schema 8 code): the row has no GCM tag; the path token authenticates it.
const E_SIV: u8 = 0x80;

/// Nibble codes of [`pack`]: digits are 0–9, then `_` and `-`; 15 escapes one whole byte (two
/// nibbles follow) or, as the very last nibble, pads to a whole byte. 12–14 are unused.
const NIB_UNDERSCORE: u8 = 10;
const NIB_HYPHEN: u8 = 11;
const NIB_ESCAPE: u8 = 15;

/// Why a stored path could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathOpenError {
    /// The seal failed authentication (damaged or moved row, wrong key).
    Tag,
    /// Authentic, but a compact path whose name no longer parses (or an unknown policy byte):
    /// never written by this code.
    Encoding,
}

/// Packs a file name in nibbles: an SS-MIX2 name is digits, `_` and `-` but for the data type's
/// letters, so it takes about half its length (62 → 34 bytes for a typical name).
pub fn pack(name: &[u8]) -> Vec<u8> {
    let mut nibbles = Vec::with_capacity(name.len() + 8);
    for &b in name {
        match b {
            b'0'..=b'9' => nibbles.push(b - b'0'),
            b'_' => nibbles.push(NIB_UNDERSCORE),
            b'-' => nibbles.push(NIB_HYPHEN),
            _ => nibbles.extend([NIB_ESCAPE, b >> 4, b & 0x0f]),
        }
    }
    if nibbles.len() % 2 == 1 {
        nibbles.push(NIB_ESCAPE);
    }
    nibbles.chunks_exact(2).map(|p| p[0] << 4 | p[1]).collect()
}

/// Inverse of [`pack`]; `None` for anything `pack` cannot have produced.
pub fn unpack(packed: &[u8]) -> Option<Vec<u8>> {
    let nibbles: Vec<u8> = packed.iter().flat_map(|b| [b >> 4, b & 0x0f]).collect();
    let mut out = Vec::with_capacity(nibbles.len());
    let mut i = 0;
    while let Some(&n) = nibbles.get(i) {
        match n {
            0..=9 => out.push(b'0' + n),
            NIB_UNDERSCORE => out.push(b'_'),
            NIB_HYPHEN => out.push(b'-'),
            NIB_ESCAPE if i + 1 == nibbles.len() => {}
            NIB_ESCAPE => {
                let (hi, lo) = (*nibbles.get(i + 1)?, *nibbles.get(i + 2)?);
                out.push(hi << 4 | lo);
                i += 2;
            }
            _ => return None,
        }
        i += 1;
    }
    Some(out)
}

/// The encoding `e` and plaintext sealed for `rel` in a derived-nonce row: the packed name
/// when the name reproduces the whole path, else the raw path.
pub fn encode(rel: &[u8]) -> (u8, Vec<u8>) {
    packed(rel).unwrap_or_else(|| (E_RAW, rel.to_vec()))
}

fn packed(rel: &[u8]) -> Option<(u8, Vec<u8>)> {
    let rel_str = std::str::from_utf8(rel).ok()?;
    let last = rel_str.rsplit('/').next()?;
    let (name, _) = FileName::parse(last).ok()?;
    let policy = POLICIES
        .iter()
        .position(|&p| name.relative_path(p) == rel_str)?;
    Some((E_PACKED + u8::try_from(policy).ok()?, pack(last.as_bytes())))
}

/// The relative path a sealed plaintext stands for, given the row's encoding (`None`: a
/// 12-byte-nonce row, raw or compact).
pub fn decode(e: Option<u8>, plain: Vec<u8>) -> Result<Vec<u8>, PathOpenError> {
    let from_name = |policy: usize, name: &[u8]| {
        let policy = POLICIES.get(policy).ok_or(PathOpenError::Encoding)?;
        let name = std::str::from_utf8(name).map_err(|_| PathOpenError::Encoding)?;
        let (parsed, _) = FileName::parse(name).map_err(|_| PathOpenError::Encoding)?;
        Ok(parsed.relative_path(*policy).into_bytes())
    };
    match e {
        None => match plain.as_slice() {
            [COMPACT, policy, name @ ..] => from_name(usize::from(*policy), name),
            [COMPACT, ..] => Err(PathOpenError::Encoding),
            _ => Ok(plain),
        },
        Some(E_RAW) => Ok(plain),
        Some(e) if e >= E_PACKED => {
            let name = unpack(&plain).ok_or(PathOpenError::Encoding)?;
            from_name(usize::from(e - E_PACKED), &name)
        }
        Some(_) => Err(PathOpenError::Encoding),
    }
}

/// The nonce of a derived-nonce row (module docs: why it never repeats with another plaintext).
fn derived_nonce(keys: &Keys, facility: &str, path_token: &[u8], e: u8) -> [u8; NONCE_LEN] {
    let t = keys.token(label::PATH_NONCE, &[facility.as_bytes(), path_token, &[e]]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&t[..NONCE_LEN]);
    nonce
}

/// The AES-256-CTR keystream of `nonce` that AES-256-GCM XORs with a plaintext (GCM's
/// ciphertext of `len` zero bytes, its tag dropped: GCM encrypts with the counter blocks
/// `inc32(nonce ‖ 0³¹ ‖ 1)`, whatever the associated data). Used by tag-less rows only.
fn keystream(keys: &Keys, nonce: [u8; NONCE_LEN], len: usize) -> Result<Vec<u8>, SealFailed> {
    let mut ks = crypto::seal_with_nonce(&keys.record, nonce, &[crypto::aad::PATH], &vec![0; len])?;
    ks.truncate(len);
    Ok(ks)
}

/// Seals `rel` for the location (`facility`, `path_token`). Returns the `path_nonce` column
/// (the one-byte encoding; the nonce is derived) and the sealed bytes: since schema 8 code
/// tag-less (`E_SIV`), the path token authenticating the path (module docs). The random source
/// is no longer used (kept so callers are unchanged).
pub fn seal(
    keys: &Keys,
    _rng: &SystemRandom,
    facility: &str,
    path_token: &[u8],
    rel: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), SealFailed> {
    let (e, plain) = encode(rel);
    let e = e | E_SIV;
    let nonce = derived_nonce(keys, facility, path_token, e);
    let ks = keystream(keys, nonce, plain.len())?;
    let sealed = plain.iter().zip(&ks).map(|(p, k)| p ^ k).collect();
    Ok((vec![e], sealed))
}

/// Opens the sealed path of the location (`facility`, `path_token`); `nonce` is the row's
/// `path_nonce` column (12 bytes: a random nonce; 1 byte: the encoding of a derived nonce).
pub fn open(
    keys: &Keys,
    facility: &str,
    path_token: &[u8],
    nonce: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, PathOpenError> {
    if let [e] = nonce
        && e & E_SIV != 0
    {
        // Tag-less: decrypt, decode, and accept only if the path re-tokenises to the row's
        // token (the synthetic IV check); anything else is a failed authentication.
        let nonce = derived_nonce(keys, facility, path_token, *e);
        let ks = keystream(keys, nonce, sealed.len()).map_err(|_| PathOpenError::Tag)?;
        let plain = sealed.iter().zip(&ks).map(|(c, k)| c ^ k).collect();
        return match decode(Some(e & !E_SIV), plain) {
            Ok(rel) if keys.token(label::PATH, &[facility.as_bytes(), &rel])[..] == *path_token => {
                Ok(rel)
            }
            _ => Err(PathOpenError::Tag),
        };
    }
    let (e, nonce) = match nonce {
        [e] => (Some(*e), derived_nonce(keys, facility, path_token, *e)),
        n => (
            None,
            <[u8; NONCE_LEN]>::try_from(n).map_err(|_| PathOpenError::Tag)?,
        ),
    };
    let plain = crypto::open(
        &keys.record,
        &nonce,
        &[crypto::aad::PATH, facility.as_bytes(), path_token],
        sealed,
    )
    .map_err(|_| PathOpenError::Tag)?;
    decode(e, plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT22: &str = "999/901/9999013/20111120/ADT-22/9999013_20111120_ADT-22_123456789012345_20111120101010123_01_1";
    const FACILITY: &str = "0400000001";

    fn keys() -> Keys {
        Keys::derive(&[7u8; 32])
    }

    #[test]
    fn names_pack_to_about_half_and_unpack_exactly() {
        let name = ADT22.rsplit('/').next().unwrap().as_bytes();
        let p = pack(name);
        assert!(
            p.len() * 10 < name.len() * 6,
            "{} of {}",
            p.len(),
            name.len()
        );
        assert_eq!(unpack(&p).unwrap(), name);
        for n in [
            &b""[..],
            b"1",
            b"12",
            b"a",
            b"ab_-9",
            b"\x00\xff\x0f\xf0",
            b"0001_20240101_OMP-01_1_20240101120000000_01_1",
        ] {
            assert_eq!(unpack(&pack(n)).unwrap(), n, "{n:?}");
        }
        // Unused nibble codes, an escape cut short.
        assert_eq!(unpack(&[0xc0]), None);
        assert_eq!(unpack(&[0xf1]), None);
    }

    #[test]
    fn standardized_paths_are_packed_and_decode_exactly() {
        let (e, plain) = encode(ADT22.as_bytes());
        assert_eq!(e, E_PACKED);
        assert!(
            plain.len() + 55 < ADT22.len(),
            "folders are not sealed, the name is packed"
        );
        assert_eq!(decode(Some(e), plain).unwrap(), ADT22.as_bytes());
        // A short ID under each policy.
        for (policy, rel) in [
            (
                0u8,
                "000/001/0001/20240101/OMP-01/0001_20240101_OMP-01_1_20240101120000000_01_1",
            ),
            (
                1u8,
                "000/1/0001/20240101/OMP-01/0001_20240101_OMP-01_1_20240101120000000_01_1",
            ),
        ] {
            let (e, plain) = encode(rel.as_bytes());
            assert_eq!(e, E_PACKED + policy, "{rel}");
            assert_eq!(decode(Some(e), plain).unwrap(), rel.as_bytes());
        }
    }

    #[test]
    fn other_paths_stay_raw() {
        for rel in [
            // Folders that disagree with the name (misplaced): the folders must survive.
            "000/000/0000001/20000401/ADT-31/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1",
            // Extended storage, a root-level file, non-UTF-8 bytes.
            "999/901/9999013/-/ext/report.pdf",
            "readme.txt",
        ] {
            assert_eq!(
                encode(rel.as_bytes()),
                (E_RAW, rel.as_bytes().to_vec()),
                "{rel}"
            );
            assert_eq!(
                decode(Some(E_RAW), rel.as_bytes().to_vec()).unwrap(),
                rel.as_bytes()
            );
        }
        let latin1 = b"999/901/\xe9t\xe9".to_vec();
        assert_eq!(encode(&latin1), (E_RAW, latin1));
    }

    #[test]
    fn malformed_plaintext_is_an_encoding_error() {
        assert_eq!(decode(None, vec![COMPACT]), Err(PathOpenError::Encoding));
        assert_eq!(
            decode(None, vec![COMPACT, 9, b'a']),
            Err(PathOpenError::Encoding)
        );
        assert_eq!(
            decode(None, b"\x00\x00not_a_name".to_vec()),
            Err(PathOpenError::Encoding)
        );
        assert_eq!(decode(Some(0), b"x".to_vec()), Err(PathOpenError::Encoding));
        assert_eq!(decode(Some(9), pack(b"1_2")), Err(PathOpenError::Encoding));
        assert_eq!(
            decode(Some(E_PACKED), vec![0xcc]),
            Err(PathOpenError::Encoding)
        );
    }

    #[test]
    fn derived_nonce_rows_are_deterministic_per_path_and_open() {
        let k = keys();
        let rng = SystemRandom::new();
        let tok = |rel: &str| k.token(label::PATH, &[FACILITY.as_bytes(), rel.as_bytes()]);
        let misplaced = "000/000/0000001/20000401/ADT-31/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1";
        let mut seen = Vec::new();
        for rel in [ADT22, misplaced, "readme.txt"] {
            let t = tok(rel);
            let (n1, s1) = seal(&k, &rng, FACILITY, &t, rel.as_bytes()).unwrap();
            let (n2, s2) = seal(&k, &rng, FACILITY, &t, rel.as_bytes()).unwrap();
            assert_eq!(n1.len(), 1, "only the encoding is stored");
            assert_eq!((&n1, &s1), (&n2, &s2), "same path, same ciphertext");
            assert_eq!(open(&k, FACILITY, &t, &n1, &s1).unwrap(), rel.as_bytes());
            // Another encoding byte, facility or token gives another nonce: the tag fails.
            for bad_e in [0u8, 1, 2, 3] {
                if bad_e != n1[0] {
                    assert_eq!(
                        open(&k, FACILITY, &t, &[bad_e], &s1),
                        Err(PathOpenError::Tag)
                    );
                }
            }
            assert_eq!(
                open(&k, "0400000002", &t, &n1, &s1),
                Err(PathOpenError::Tag)
            );
            assert_eq!(
                open(&k, FACILITY, &tok("x"), &n1, &s1),
                Err(PathOpenError::Tag)
            );
            assert_eq!(open(&k, FACILITY, &t, &[], &s1), Err(PathOpenError::Tag));
            seen.push(derived_nonce(&k, FACILITY, &t, n1[0]));
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 3, "different paths, different nonces");
    }

    #[test]
    fn tagless_rows_are_as_long_as_their_plaintext_and_authenticated_by_the_token() {
        let k = keys();
        let rng = SystemRandom::new();
        let tok = |rel: &str| k.token(label::PATH, &[FACILITY.as_bytes(), rel.as_bytes()]);
        for rel in [ADT22, "999/901/9999013/-/ext/report.pdf"] {
            let t = tok(rel);
            let (n, sealed) = seal(&k, &rng, FACILITY, &t, rel.as_bytes()).unwrap();
            let (e, plain) = encode(rel.as_bytes());
            assert_eq!(n, [e | E_SIV]);
            assert_eq!(sealed.len(), plain.len(), "no tag stored");
            assert_ne!(sealed, plain, "encrypted");
            // Every single-bit change of the ciphertext fails authentication.
            for i in 0..sealed.len() * 8 {
                let mut bad = sealed.clone();
                bad[i / 8] ^= 1 << (i % 8);
                assert_eq!(
                    open(&k, FACILITY, &t, &n, &bad),
                    Err(PathOpenError::Tag),
                    "bit {i}"
                );
            }
            // Cut short or extended.
            assert_eq!(
                open(&k, FACILITY, &t, &n, &sealed[..sealed.len() - 1]),
                Err(PathOpenError::Tag)
            );
            let mut longer = sealed.clone();
            longer.push(0);
            assert_eq!(open(&k, FACILITY, &t, &n, &longer), Err(PathOpenError::Tag));
            // Another key opens nothing.
            let other = Keys::derive(&[8u8; 32]);
            assert_eq!(
                open(&other, FACILITY, &t, &n, &sealed),
                Err(PathOpenError::Tag)
            );
            // The same plaintext under a tagged encoding byte is a GCM row: its tag is missing.
            assert_eq!(
                open(&k, FACILITY, &t, &[e], &sealed),
                Err(PathOpenError::Tag)
            );
        }
        // A row moved to another path's token fails, even when both are standardized names.
        let other = ADT22.replace("_1", "_2");
        let (n, sealed) = seal(&k, &rng, FACILITY, &tok(ADT22), ADT22.as_bytes()).unwrap();
        assert_eq!(
            open(&k, FACILITY, &tok(&other), &n, &sealed),
            Err(PathOpenError::Tag)
        );
    }

    #[test]
    fn tagged_derived_nonce_rows_written_before_still_open() {
        let k = keys();
        for rel in [ADT22, "readme.txt"] {
            let t = k.token(label::PATH, &[FACILITY.as_bytes(), rel.as_bytes()]);
            let (e, plain) = encode(rel.as_bytes());
            let sealed = crypto::seal_with_nonce(
                &k.record,
                derived_nonce(&k, FACILITY, &t, e),
                &[crypto::aad::PATH, FACILITY.as_bytes(), &t],
                &plain,
            )
            .unwrap();
            assert_eq!(
                open(&k, FACILITY, &t, &[e], &sealed).unwrap(),
                rel.as_bytes()
            );
        }
    }

    #[test]
    fn random_nonce_rows_written_before_still_open() {
        let k = keys();
        let rng = SystemRandom::new();
        let name = ADT22.rsplit('/').next().unwrap();
        let mut compact = vec![COMPACT, 0];
        compact.extend_from_slice(name.as_bytes());
        for (plain, rel) in [(compact, ADT22), (b"readme.txt".to_vec(), "readme.txt")] {
            let t = k.token(label::PATH, &[FACILITY.as_bytes(), rel.as_bytes()]);
            let (nonce, sealed) = crypto::seal(
                &k.record,
                &rng,
                &[crypto::aad::PATH, FACILITY.as_bytes(), &t],
                &plain,
            )
            .unwrap();
            assert_eq!(
                open(&k, FACILITY, &t, &nonce, &sealed).unwrap(),
                rel.as_bytes()
            );
        }
    }
}
