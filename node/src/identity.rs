//! The node's libp2p identity: the Ed25519 key `kizuna init` sealed in `DIR/keys.json`.
//!
//! The store has no public unlock API for the identity key, and its key file belongs to the
//! store engineer, so this module reads the documented format (ARCHITECTURE.md, "Keys") and
//! unseals it the same way: PBKDF2-HMAC-SHA256 → KEK opens the DEK; HKDF-SHA256(DEK,
//! "record-aead") opens the PKCS#8 identity document. It then checks that the seed yields the
//! public key stored in clear, so a format drift fails loudly here instead of giving the node a
//! wrong identity. Cost: a second PBKDF2 run at startup (the store runs its own). When the store
//! grows `Store::identity_keypair`, replace this module with a call to it.

use std::num::NonZeroU32;
use std::path::Path;

use libp2p::identity::{Keypair, ed25519};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::{hkdf, pbkdf2};
use serde::Deserialize;

use crate::region::{PublicKey32, unhex};

/// Same bound as the store's: a key file is a few hundred bytes.
const KEY_FILE_BYTES_MAX: u64 = 64 * 1024;
/// Same bound as the store's reader: a tampered count must not hang startup for hours.
const KDF_ITERATIONS_MAX: u32 = 100_000_000;
/// ring's Ed25519 PKCS#8 v2 document carries the 32-byte seed at this offset (after the
/// version, algorithm identifier and OCTET STRING headers).
const PKCS8_SEED_AT: usize = 16;

#[derive(Debug, Deserialize)]
struct KeyFile {
    format: u32,
    kdf: String,
    iterations: u32,
    salt: String,
    dek_nonce: String,
    dek_sealed: String,
    identity_public: String,
    identity_nonce: String,
    identity_sealed: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read the key file: {0}")]
    Io(std::io::ErrorKind),
    #[error("key file is malformed: {0}")]
    Format(&'static str),
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("the unsealed identity does not match the public key in the key file")]
    Mismatch,
}

/// The node identity: the libp2p keypair and its raw public key.
#[derive(Debug, Clone)]
pub struct Identity {
    pub keypair: Keypair,
    pub public: PublicKey32,
}

/// Length-prefixed concatenation, as the store frames associated data.
fn framed(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

fn open(key: &LessSafeKey, nonce: &[u8], aad: &[&[u8]], sealed: &[u8]) -> Option<Vec<u8>> {
    let nonce: [u8; 12] = nonce.try_into().ok()?;
    let mut buf = sealed.to_vec();
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(framed(aad)),
            &mut buf,
        )
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

fn aes(bytes: &[u8; 32]) -> LessSafeKey {
    // Invariant: AES-256-GCM takes exactly 32 key bytes, which the array type guarantees.
    LessSafeKey::new(UnboundKey::new(&aead::AES_256_GCM, bytes).expect("32-byte AES key"))
}

/// Unseals the identity of the data directory `dir`.
pub fn unlock(dir: &Path, passphrase: &[u8]) -> Result<Identity, IdentityError> {
    let path = dir.join("keys.json");
    let meta = std::fs::metadata(&path).map_err(|e| IdentityError::Io(e.kind()))?;
    if meta.len() > KEY_FILE_BYTES_MAX {
        return Err(IdentityError::Format("too large"));
    }
    let text = std::fs::read(&path).map_err(|e| IdentityError::Io(e.kind()))?;
    let kf: KeyFile =
        serde_json::from_slice(&text).map_err(|_| IdentityError::Format("not JSON"))?;
    if kf.format != 1 || kf.kdf != "pbkdf2-hmac-sha256" {
        return Err(IdentityError::Format("unknown format or KDF"));
    }
    let iterations = NonZeroU32::new(kf.iterations)
        .filter(|n| n.get() <= KDF_ITERATIONS_MAX)
        .ok_or(IdentityError::Format("iterations out of range"))?;
    let field = |s: &str| unhex(s).ok_or(IdentityError::Format("bad hex"));
    let salt = field(&kf.salt)?;
    let mut kek = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        passphrase,
        &mut kek,
    );
    let dek = open(
        &aes(&kek),
        &field(&kf.dek_nonce)?,
        &[b"kizuna/dek/v1", &salt, &kf.iterations.to_be_bytes()],
        &field(&kf.dek_sealed)?,
    )
    .ok_or(IdentityError::WrongPassphrase)?;
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"kizuna/store/v1").extract(&dek);
    // Invariant: HKDF-SHA256 can expand to 255 × 32 bytes; we ask for 32.
    let record: UnboundKey = prk
        .expand(&[b"record-aead"], &aead::AES_256_GCM)
        .expect("HKDF output of 32 bytes")
        .into();
    let public = field(&kf.identity_public)?;
    let pkcs8 = open(
        &LessSafeKey::new(record),
        &field(&kf.identity_nonce)?,
        &[b"kizuna/identity/v1", &public],
        &field(&kf.identity_sealed)?,
    )
    .ok_or(IdentityError::Format("identity does not unseal"))?;
    let seed = pkcs8
        .get(PKCS8_SEED_AT..PKCS8_SEED_AT + 32)
        .ok_or(IdentityError::Format("identity document too short"))?;
    let mut seed: [u8; 32] = seed.try_into().map_err(|_| IdentityError::Mismatch)?;
    let secret =
        ed25519::SecretKey::try_from_bytes(&mut seed).map_err(|_| IdentityError::Mismatch)?;
    let pair = ed25519::Keypair::from(secret);
    let derived = pair.public().to_bytes();
    if derived[..] != public[..] {
        return Err(IdentityError::Mismatch);
    }
    Ok(Identity {
        keypair: Keypair::from(pair),
        public: PublicKey32(derived),
    })
}
