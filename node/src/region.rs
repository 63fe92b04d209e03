//! Regional membership: a region authority (an Ed25519 key held offline by the region's IT team)
//! signs one **admission** record per node and, when a node is lost or stolen, a **revocation**
//! record. Peers exchange admissions right after a QUIC connection is up and drop anyone whose
//! record is missing, forged, expired, names another key, or is revoked.
//!
//! Why our own records rather than X.509: libp2p's QUIC already authenticates each side's
//! Ed25519 key in the TLS handshake (the libp2p certificate extension), so the only thing
//! missing is "is this key a member of the region"; a fixed-layout signed record answers that in
//! ~50 lines of ring, with nothing to parse but offsets.
//!
//! # Encoding (version 1, canonical: one byte string per record, fixed layout, big-endian)
//!
//! ```text
//! admission (159 bytes)
//!   0..4     magic "KZA1"
//!   4..36    authority Ed25519 public key
//!   36..68   member Ed25519 public key (the node identity; its libp2p PeerId derives from it)
//!   68..78   facility code, 10 ASCII digits
//!   78       role: 1 facility, 2 shelter, 3 hub
//!   79..87   issued, Unix seconds (u64)
//!   87..95   expires, Unix seconds (u64): 00:00:00 UTC of the `--expires` date
//!   95..159  Ed25519 signature by the authority over bytes 0..95
//!
//! revocation (140 bytes)
//!   0..4     magic "KZR1"
//!   4..36    authority Ed25519 public key
//!   36..68   revoked member Ed25519 public key
//!   68..76   issued, Unix seconds (u64)
//!   76..140  Ed25519 signature by the authority over bytes 0..76
//! ```
//!
//! The magic names both the record type and the version, so a signature over one type can never
//! verify as the other. A revocation covers every admission of that key, past and future: a
//! stolen node's key is burnt, and a re-enrolled node gets a new key (`kizuna init`).

use std::fmt;

use libp2p::PeerId;
use libp2p::identity::PublicKey;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

pub const ADMISSION_BYTES: usize = 159;
pub const REVOCATION_BYTES: usize = 140;
const ADMISSION_MAGIC: &[u8; 4] = b"KZA1";
const REVOCATION_MAGIC: &[u8; 4] = b"KZR1";
const SIGNED_ADMISSION: usize = 95;
const SIGNED_REVOCATION: usize = 76;

/// An Ed25519 public key, 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey32(pub [u8; 32]);

impl fmt::Debug for PublicKey32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex(&self.0))
    }
}

impl PublicKey32 {
    pub fn parse_hex(s: &str) -> Option<PublicKey32> {
        let bytes = unhex(s.trim())?;
        Some(PublicKey32(bytes.try_into().ok()?))
    }

    /// The libp2p PeerId of this Ed25519 key.
    pub fn peer_id(&self) -> Option<PeerId> {
        let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(&self.0).ok()?;
        Some(PeerId::from(PublicKey::from(key)))
    }

    /// The Ed25519 key inside a PeerId. Ed25519 PeerIds inline the key (identity multihash of
    /// the protobuf-encoded public key), so no lookup is needed.
    pub fn from_peer_id(peer: &PeerId) -> Option<PublicKey32> {
        let multihash = peer.as_ref();
        // 0x00 is the identity multihash: the digest is the encoded key itself.
        if multihash.code() != 0 {
            return None;
        }
        let key = PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
        let ed = key.try_into_ed25519().ok()?;
        Some(PublicKey32(ed.to_bytes()))
    }
}

/// Node roles as encoded in admissions; the same three as the store's node record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Facility = 1,
    Shelter = 2,
    Hub = 3,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "facility" => Some(Role::Facility),
            "shelter" => Some(Role::Shelter),
            "hub" => Some(Role::Hub),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Facility => "facility",
            Role::Shelter => "shelter",
            Role::Hub => "hub",
        }
    }

    fn from_code(code: u8) -> Option<Role> {
        match code {
            1 => Some(Role::Facility),
            2 => Some(Role::Shelter),
            3 => Some(Role::Hub),
            _ => None,
        }
    }
}

/// A decoded admission whose signature has been checked against the authority it names.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Admission {
    pub authority: PublicKey32,
    pub member: PublicKey32,
    pub facility: String,
    pub role: Role,
    pub issued_unix: u64,
    pub expires_unix: u64,
    /// The exact signed bytes, to send to peers unchanged.
    pub bytes: Vec<u8>,
}

/// A decoded revocation whose signature has been checked.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Revocation {
    pub authority: PublicKey32,
    pub member: PublicKey32,
    pub issued_unix: u64,
    pub bytes: Vec<u8>,
}

/// Why a record was refused. Carries no record contents beyond what names the failure.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record has the wrong length or magic (not a version-1 record of this type)")]
    Format,
    #[error("record has an invalid facility code or role")]
    Field,
    #[error("record is signed by a different region authority")]
    WrongAuthority,
    #[error("record signature does not verify")]
    BadSignature,
}

/// Why a peer is not a member, as logged and reported (no patient data exists here; peer ids
/// are operational identifiers).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Refusal {
    #[error("membership record invalid: {0}")]
    Record(RecordError),
    #[error("membership record names a different key than the connection's")]
    KeyMismatch,
    #[error("membership record expired")]
    Expired,
    #[error("member key is revoked")]
    Revoked,
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(buf)
}

fn key_at(bytes: &[u8], at: usize) -> PublicKey32 {
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes[at..at + 32]);
    PublicKey32(key)
}

fn verify(authority: &PublicKey32, signed: &[u8], signature: &[u8]) -> Result<(), RecordError> {
    UnparsedPublicKey::new(&ED25519, &authority.0)
        .verify(signed, signature)
        .map_err(|_| RecordError::BadSignature)
}

impl Admission {
    pub fn sign(
        authority: &Ed25519KeyPair,
        member: PublicKey32,
        facility: &str,
        role: Role,
        issued_unix: u64,
        expires_unix: u64,
    ) -> Result<Admission, RecordError> {
        if !is_facility_code(facility) {
            return Err(RecordError::Field);
        }
        let mut bytes = Vec::with_capacity(ADMISSION_BYTES);
        bytes.extend_from_slice(ADMISSION_MAGIC);
        bytes.extend_from_slice(authority.public_key().as_ref());
        bytes.extend_from_slice(&member.0);
        bytes.extend_from_slice(facility.as_bytes());
        bytes.push(role as u8);
        bytes.extend_from_slice(&issued_unix.to_be_bytes());
        bytes.extend_from_slice(&expires_unix.to_be_bytes());
        debug_assert_eq!(bytes.len(), SIGNED_ADMISSION);
        let signature = authority.sign(&bytes);
        bytes.extend_from_slice(signature.as_ref());
        let authority = key_at(&bytes, 4);
        Admission::decode(&bytes, &authority)
    }

    /// Decodes and checks the signature against `authority` (the key configured on this node,
    /// never the one inside the record).
    pub fn decode(bytes: &[u8], authority: &PublicKey32) -> Result<Admission, RecordError> {
        if bytes.len() != ADMISSION_BYTES || &bytes[..4] != ADMISSION_MAGIC {
            return Err(RecordError::Format);
        }
        if key_at(bytes, 4) != *authority {
            return Err(RecordError::WrongAuthority);
        }
        verify(
            authority,
            &bytes[..SIGNED_ADMISSION],
            &bytes[SIGNED_ADMISSION..],
        )?;
        let facility = std::str::from_utf8(&bytes[68..78])
            .ok()
            .filter(|f| is_facility_code(f))
            .ok_or(RecordError::Field)?
            .to_owned();
        let role = Role::from_code(bytes[78]).ok_or(RecordError::Field)?;
        Ok(Admission {
            authority: *authority,
            member: key_at(bytes, 36),
            facility,
            role,
            issued_unix: be_u64(&bytes[79..87]),
            expires_unix: be_u64(&bytes[87..95]),
            bytes: bytes.to_vec(),
        })
    }

    /// Whether this admission lets `peer` in at `now_unix`, given the known revocations.
    pub fn admits(
        &self,
        peer: &PeerId,
        now_unix: u64,
        revoked: &dyn Fn(&PublicKey32) -> bool,
    ) -> Result<(), Refusal> {
        if PublicKey32::from_peer_id(peer) != Some(self.member) {
            return Err(Refusal::KeyMismatch);
        }
        if now_unix >= self.expires_unix {
            return Err(Refusal::Expired);
        }
        if revoked(&self.member) {
            return Err(Refusal::Revoked);
        }
        Ok(())
    }
}

impl Revocation {
    pub fn sign(
        authority: &Ed25519KeyPair,
        member: PublicKey32,
        issued_unix: u64,
    ) -> Result<Revocation, RecordError> {
        let mut bytes = Vec::with_capacity(REVOCATION_BYTES);
        bytes.extend_from_slice(REVOCATION_MAGIC);
        bytes.extend_from_slice(authority.public_key().as_ref());
        bytes.extend_from_slice(&member.0);
        bytes.extend_from_slice(&issued_unix.to_be_bytes());
        debug_assert_eq!(bytes.len(), SIGNED_REVOCATION);
        let signature = authority.sign(&bytes);
        bytes.extend_from_slice(signature.as_ref());
        let authority = key_at(&bytes, 4);
        Revocation::decode(&bytes, &authority)
    }

    pub fn decode(bytes: &[u8], authority: &PublicKey32) -> Result<Revocation, RecordError> {
        if bytes.len() != REVOCATION_BYTES || &bytes[..4] != REVOCATION_MAGIC {
            return Err(RecordError::Format);
        }
        if key_at(bytes, 4) != *authority {
            return Err(RecordError::WrongAuthority);
        }
        verify(
            authority,
            &bytes[..SIGNED_REVOCATION],
            &bytes[SIGNED_REVOCATION..],
        )?;
        Ok(Revocation {
            authority: *authority,
            member: key_at(bytes, 36),
            issued_unix: be_u64(&bytes[68..76]),
            bytes: bytes.to_vec(),
        })
    }
}

pub fn is_facility_code(s: &str) -> bool {
    s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD` → Unix seconds at 00:00:00 UTC of that day (proleptic Gregorian).
pub fn parse_date_unix(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] || y < 1970 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days).ok().map(|d| d * 86_400)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn keypair() -> Ed25519KeyPair {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("rng");
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("fresh pkcs8")
    }

    fn public(pair: &Ed25519KeyPair) -> PublicKey32 {
        PublicKey32(pair.public_key().as_ref().try_into().expect("32 bytes"))
    }

    #[test]
    fn admission_round_trip_and_checks() {
        let authority = keypair();
        let other = keypair();
        let member = keypair();
        let peer = public(&member).peer_id().expect("ed25519 peer id");
        assert_eq!(PublicKey32::from_peer_id(&peer), Some(public(&member)));
        let record = Admission::sign(
            &authority,
            public(&member),
            "1310000001",
            Role::Shelter,
            10,
            100,
        )
        .expect("sign");
        assert_eq!(record.bytes.len(), ADMISSION_BYTES);
        let decoded = Admission::decode(&record.bytes, &public(&authority)).expect("decode");
        assert_eq!(decoded, record);
        assert_eq!(decoded.role, Role::Shelter);
        let none = |_: &PublicKey32| false;
        assert_eq!(decoded.admits(&peer, 50, &none), Ok(()));
        assert_eq!(decoded.admits(&peer, 100, &none), Err(Refusal::Expired));
        assert_eq!(
            decoded.admits(&peer, 50, &|k: &PublicKey32| *k == public(&member)),
            Err(Refusal::Revoked)
        );
        let stranger = public(&other).peer_id().expect("peer id");
        assert_eq!(
            decoded.admits(&stranger, 50, &none),
            Err(Refusal::KeyMismatch)
        );
        assert_eq!(
            Admission::decode(&record.bytes, &public(&other)),
            Err(RecordError::WrongAuthority)
        );
        // Every single-byte tamper of the signed part or the signature is caught.
        for at in [0, 5, 40, 70, 78, 80, 90, 100, 158] {
            let mut tampered = record.bytes.clone();
            tampered[at] ^= 1;
            assert!(
                Admission::decode(&tampered, &public(&authority)).is_err(),
                "{at}"
            );
        }
        assert_eq!(
            Admission::decode(&record.bytes[..158], &public(&authority)),
            Err(RecordError::Format)
        );
    }

    #[test]
    fn revocation_round_trip_and_type_separation() {
        let authority = keypair();
        let member = keypair();
        let revocation = Revocation::sign(&authority, public(&member), 7).expect("sign");
        let decoded = Revocation::decode(&revocation.bytes, &public(&authority)).expect("ok");
        assert_eq!(decoded.member, public(&member));
        assert_eq!(decoded.issued_unix, 7);
        assert_eq!(
            Admission::decode(&revocation.bytes, &public(&authority)),
            Err(RecordError::Format)
        );
        let mut tampered = revocation.bytes.clone();
        tampered[40] ^= 0x80;
        assert_eq!(
            Revocation::decode(&tampered, &public(&authority)),
            Err(RecordError::BadSignature)
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date_unix("1970-01-01"), Some(0));
        assert_eq!(parse_date_unix("2000-03-01"), Some(951_868_800));
        assert_eq!(parse_date_unix("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_date_unix("2023-02-29"), None);
        assert_eq!(parse_date_unix("2024-13-01"), None);
        assert_eq!(parse_date_unix("2024-1-01"), None);
        assert_eq!(parse_date_unix("+024-01-01"), None);
    }
}
