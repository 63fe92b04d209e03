//! Sealing of a location's relative path, in one of two plaintext encodings.
//!
//! - **Raw**: the relative path's bytes (every path written before compact paths existed, and
//!   every path that is not a standardized message path: extended storage, misplaced files).
//! - **Compact**: `0x00 ‖ policy ‖ file name`. A standardized path is
//!   `L1/L2/ID/DATE/TYPE/NAME` and every folder is a function of the name
//!   (`FileName::relative_path`), so only the name is sealed; the four to five folders are about
//!   a third of the path and of the sealed column. A compact encoding is written only after
//!   `relative_path` of the parsed name reproduced the path byte for byte under that policy, so
//!   decoding gives back exactly the imported path (export stays byte-exact).
//!
//! No Unix path contains NUL, so a leading `0x00` never begins a raw path: both encodings are
//! read by the same code and old rows need no migration. The encoding is inside the seal; the
//! associated data (purpose, facility, path token) is unchanged.

use ring::rand::SystemRandom;

use super::crypto::{self, Keys, NONCE_LEN, SealFailed};
use crate::ssmix2::path::{FileName, ShortIdPolicy};

/// First plaintext byte of a compact path.
const COMPACT: u8 = 0x00;
/// Policies a compact path may name, by their byte. Appending is compatible; reordering is not.
const POLICIES: [ShortIdPolicy; 2] = [ShortIdPolicy::ZeroPadLeft, ShortIdPolicy::Truncate];

/// Why a stored path could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathOpenError {
    /// The seal failed authentication (damaged or moved row, wrong key).
    Tag,
    /// Authentic, but a compact path whose name no longer parses (or an unknown policy byte):
    /// never written by this code.
    Encoding,
}

/// The plaintext sealed for `rel`: compact when the name reproduces the whole path.
pub fn encode(rel: &[u8]) -> Vec<u8> {
    if let Some(compact) = compact(rel) {
        return compact;
    }
    rel.to_vec()
}

fn compact(rel: &[u8]) -> Option<Vec<u8>> {
    let rel_str = std::str::from_utf8(rel).ok()?;
    let last = rel_str.rsplit('/').next()?;
    let (name, _) = FileName::parse(last).ok()?;
    let policy = POLICIES
        .iter()
        .position(|&p| name.relative_path(p) == rel_str)?;
    let mut out = Vec::with_capacity(2 + last.len());
    out.push(COMPACT);
    out.push(u8::try_from(policy).ok()?);
    out.extend_from_slice(last.as_bytes());
    Some(out)
}

/// The relative path a sealed plaintext stands for.
pub fn decode(plain: Vec<u8>) -> Result<Vec<u8>, PathOpenError> {
    match plain.as_slice() {
        [COMPACT, policy, name @ ..] => {
            let policy = POLICIES
                .get(usize::from(*policy))
                .ok_or(PathOpenError::Encoding)?;
            let name = std::str::from_utf8(name).map_err(|_| PathOpenError::Encoding)?;
            let (parsed, _) = FileName::parse(name).map_err(|_| PathOpenError::Encoding)?;
            Ok(parsed.relative_path(*policy).into_bytes())
        }
        [COMPACT, ..] => Err(PathOpenError::Encoding),
        _ => Ok(plain),
    }
}

/// Seals `rel` for the location (`facility`, `path_token`).
pub fn seal(
    keys: &Keys,
    rng: &SystemRandom,
    facility: &str,
    path_token: &[u8],
    rel: &[u8],
) -> Result<([u8; NONCE_LEN], Vec<u8>), SealFailed> {
    crypto::seal(
        &keys.record,
        rng,
        &[crypto::aad::PATH, facility.as_bytes(), path_token],
        &encode(rel),
    )
}

/// Opens the sealed path of the location (`facility`, `path_token`).
pub fn open(
    keys: &Keys,
    facility: &str,
    path_token: &[u8],
    nonce: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, PathOpenError> {
    let plain = crypto::open(
        &keys.record,
        nonce,
        &[crypto::aad::PATH, facility.as_bytes(), path_token],
        sealed,
    )
    .map_err(|_| PathOpenError::Tag)?;
    decode(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT22: &str = "999/901/9999013/20111120/ADT-22/9999013_20111120_ADT-22_123456789012345_20111120101010123_01_1";

    #[test]
    fn standardized_paths_are_compact_and_decode_exactly() {
        let name = ADT22.rsplit('/').next().unwrap();
        let enc = encode(ADT22.as_bytes());
        assert_eq!(enc[..2], [COMPACT, 0]);
        assert_eq!(&enc[2..], name.as_bytes());
        assert!(enc.len() + 25 < ADT22.len() + 2, "folders are not sealed");
        assert_eq!(decode(enc).unwrap(), ADT22.as_bytes());
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
            let enc = encode(rel.as_bytes());
            assert_eq!(enc[..2], [COMPACT, policy], "{rel}");
            assert_eq!(decode(enc).unwrap(), rel.as_bytes());
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
            assert_eq!(encode(rel.as_bytes()), rel.as_bytes(), "{rel}");
            assert_eq!(decode(rel.as_bytes().to_vec()).unwrap(), rel.as_bytes());
        }
        let latin1 = b"999/901/\xe9t\xe9".to_vec();
        assert_eq!(encode(&latin1), latin1);
    }

    #[test]
    fn malformed_compact_plaintext_is_an_encoding_error() {
        assert_eq!(decode(vec![COMPACT]), Err(PathOpenError::Encoding));
        assert_eq!(decode(vec![COMPACT, 9, b'a']), Err(PathOpenError::Encoding));
        assert_eq!(
            decode(b"\x00\x00not_a_name".to_vec()),
            Err(PathOpenError::Encoding)
        );
    }
}
