//! Keys and primitives of the store, all from `ring`.
//!
//! - **Passphrase → KEK**: PBKDF2-HMAC-SHA256, 600,000 iterations by default (OWASP's 2023
//!   figure for this PRF), 16-byte random salt. Chosen over Argon2 to keep one audited crypto
//!   dependency; the cost is that PBKDF2 is not memory-hard, so a GPU attacker who steals a node
//!   gains more than against Argon2id. The iteration count is stored, so it can be raised later.
//! - **KEK seals the DEK** (32 random bytes) with AES-256-GCM; a wrong passphrase fails the tag.
//! - **DEK → subkeys** by HKDF-SHA256 with distinct labels: one AES-256-GCM key for every
//!   encrypted record, one HMAC-SHA256 key for lookup tokens. The DEK itself is never used
//!   directly, so adding a purpose later never reuses a key across algorithms.
//! - **Nonces are 96 random bits per encryption.** Items are immutable, so each key encrypts
//!   each record once; at 10⁷ records the chance of a repeat is about 10⁻¹⁵, and random nonces
//!   need no counter state that a crash or a restored backup could roll back.
//! - **Associated data** names the purpose and binds the record to its place (item hash, path
//!   token), so a swapped or moved ciphertext fails authentication.

use std::num::NonZeroU32;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hkdf, hmac, pbkdf2};

pub const KDF_ITERATIONS_DEFAULT: u32 = 600_000;
/// Low bound accepted when creating a key file. Tests use it to stay fast; the CLI always uses
/// the default.
pub const KDF_ITERATIONS_MIN: u32 = 1_000;
/// High bound accepted when reading a key file: a tampered count must not hang `open` for hours.
pub const KDF_ITERATIONS_MAX: u32 = 100_000_000;

pub const NONCE_LEN: usize = 12;
pub const SALT_LEN: usize = 16;
pub const DEK_LEN: usize = 32;
/// Tokens are truncated HMAC-SHA256: 128 bits keep collisions negligible (birthday bound 2⁶⁴)
/// and halve the index size.
pub const TOKEN_LEN: usize = 16;

pub type Token = [u8; TOKEN_LEN];

/// Domain labels of tokens; each lookup kind has its own so tokens of different kinds never
/// collide or correlate.
pub mod label {
    pub const PATH: &[u8] = b"path";
    // b"version" was the record-version token's label (schema ≤ 3); not to be reused.
    pub const PATIENT: &[u8] = b"patient";
    pub const STAT: &[u8] = b"stat";
    pub const DICTIONARY: &[u8] = b"dictionary";
    /// Patient-search tokens; the first part names the field (`kana`, `kanap`, `id` …).
    pub const SEARCH: &[u8] = b"search";
    /// Derived nonces of sealed paths (not a lookup token; never stored as one).
    pub const PATH_NONCE: &[u8] = b"path-nonce";
}

/// Associated-data prefixes: one per kind of sealed record.
pub mod aad {
    pub const DEK: &[u8] = b"kizuna/dek/v1";
    pub const IDENTITY: &[u8] = b"kizuna/identity/v1";
    pub const ITEM: &[u8] = b"kizuna/item/v1";
    /// Packed item bodies (schema 8): several items sealed as one record.
    pub const PACK: &[u8] = b"kizuna/pack/v1";
    pub const PATH: &[u8] = b"kizuna/path/v1";
    pub const DICTIONARY: &[u8] = b"kizuna/dictionary/v1";
    pub const PATIENT: &[u8] = b"kizuna/patient/v1";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomFailed;

/// Sealing failed: the random source failed, or the input exceeded GCM's 64 GiB limit (our
/// records are at most 64 MiB, so in practice the former).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealFailed;

impl From<RandomFailed> for SealFailed {
    fn from(_: RandomFailed) -> SealFailed {
        SealFailed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagMismatch;

pub fn random<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], RandomFailed> {
    let mut out = [0u8; N];
    rng.fill(&mut out).map_err(|_| RandomFailed)?;
    Ok(out)
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// Derives the key-encryption key from the passphrase.
pub fn kek(passphrase: &[u8], salt: &[u8], iterations: NonZeroU32) -> LessSafeKey {
    let mut out = [0u8; DEK_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        passphrase,
        &mut out,
    );
    aes_key(&out)
}

fn aes_key(bytes: &[u8; DEK_LEN]) -> LessSafeKey {
    // Invariant: AES-256-GCM takes exactly 32 key bytes, which the array type guarantees.
    LessSafeKey::new(UnboundKey::new(&aead::AES_256_GCM, bytes).expect("32-byte AES key"))
}

/// AES-256-GCM with a fresh random nonce. Returns (nonce, ciphertext ‖ tag).
pub fn seal(
    key: &LessSafeKey,
    rng: &SystemRandom,
    aad_parts: &[&[u8]],
    plaintext: &[u8],
) -> Result<([u8; NONCE_LEN], Vec<u8>), SealFailed> {
    let nonce: [u8; NONCE_LEN] = random(rng)?;
    Ok((nonce, seal_with_nonce(key, nonce, aad_parts, plaintext)?))
}

/// Seals `plaintext` under a nonce the caller derived. Only for plaintexts that are a pure
/// function of what the nonce was derived from, so one nonce never seals two different
/// plaintexts (the argument for each use is at its caller: `sealed_path.rs`).
pub fn seal_with_nonce(
    key: &LessSafeKey,
    nonce: [u8; NONCE_LEN],
    aad_parts: &[&[u8]],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealFailed> {
    let mut buf = Vec::with_capacity(plaintext.len() + aead::AES_256_GCM.tag_len());
    buf.extend_from_slice(plaintext);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(framed(aad_parts)),
        &mut buf,
    )
    .map_err(|_| SealFailed)?;
    Ok(buf)
}

pub fn open(
    key: &LessSafeKey,
    nonce: &[u8],
    aad_parts: &[&[u8]],
    ciphertext: &[u8],
) -> Result<Vec<u8>, TagMismatch> {
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| TagMismatch)?;
    let mut buf = ciphertext.to_vec();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(framed(aad_parts)),
            &mut buf,
        )
        .map_err(|_| TagMismatch)?;
    let len = plain.len();
    buf.truncate(len);
    Ok(buf)
}

/// Length-prefixed concatenation, so that (`ab`, `c`) and (`a`, `bc`) never frame alike.
fn framed(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for p in parts {
        // Parts are labels, tokens, hashes and facility codes: far below 4 GiB.
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// The keys derived from an unlocked DEK.
#[derive(Debug)]
pub struct Keys {
    pub record: LessSafeKey,
    token: hmac::Key,
}

impl Keys {
    pub fn derive(dek: &[u8; DEK_LEN]) -> Keys {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"kizuna/store/v1").extract(dek);
        // Invariant: HKDF-SHA256 can expand to 255 × 32 bytes; both outputs are 32.
        let record: UnboundKey = prk
            .expand(&[b"record-aead"], &aead::AES_256_GCM)
            .expect("HKDF output of 32 bytes")
            .into();
        let token: hmac::Key = prk
            .expand(&[b"token-hmac"], hmac::HMAC_SHA256)
            .expect("HKDF output of 32 bytes")
            .into();
        Keys {
            record: LessSafeKey::new(record),
            token,
        }
    }

    /// A keyed lookup token: HMAC-SHA256 over the label and the framed parts, truncated.
    pub fn token(&self, label: &[u8], parts: &[&[u8]]) -> Token {
        let mut ctx = hmac::Context::with_key(&self.token);
        ctx.update(&framed(&[label]));
        ctx.update(&framed(parts));
        let tag = ctx.sign();
        let mut out = [0u8; TOKEN_LEN];
        out.copy_from_slice(&tag.as_ref()[..TOKEN_LEN]);
        out
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    };
    s.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex("0001abff").as_deref(), Some(&bytes[..]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn aad_binds_the_record() {
        let rng = SystemRandom::new();
        let keys = Keys::derive(&[7u8; DEK_LEN]);
        let (nonce, ct) = seal(&keys.record, &rng, &[aad::ITEM, b"h1"], b"MSH|").unwrap();
        assert_eq!(
            open(&keys.record, &nonce, &[aad::ITEM, b"h1"], &ct).unwrap(),
            b"MSH|"
        );
        assert!(open(&keys.record, &nonce, &[aad::ITEM, b"h2"], &ct).is_err());
        assert!(open(&keys.record, &nonce, &[aad::ITEM, b"h", b"1"], &ct).is_err());
        assert!(open(&keys.record, &nonce, &[aad::PATH, b"h1"], &ct).is_err());
    }

    #[test]
    fn tokens_separate_labels_and_keys() {
        let a = Keys::derive(&[1u8; DEK_LEN]);
        let b = Keys::derive(&[2u8; DEK_LEN]);
        let t = a.token(label::PATH, &[b"x"]);
        assert_eq!(t, a.token(label::PATH, &[b"x"]));
        assert_ne!(t, a.token(label::PATIENT, &[b"x"]));
        assert_ne!(t, b.token(label::PATH, &[b"x"]));
    }
}
