//! The membership handshake (`/kizuna/member/1`), run once per connection before anything else.
//!
//! The dialer opens the stream and sends `HELLO(admission)`; the listener checks it and answers
//! `HELLO(its admission)` or `REFUSED(code)`; the dialer checks the listener's in turn. Each
//! side checks the record against its *configured* authority key, against the key the QUIC/TLS
//! handshake authenticated for this connection (so a copied record is useless), against the
//! clock (expiry), and against its revocation list. Payloads are capped at
//! [`HANDSHAKE_PAYLOAD_MAX`] and the whole exchange at the configured handshake timeout.
//!
//! ```text
//! 1 HELLO    body = admission record (region.rs, 159 bytes)
//! 2 REFUSED  body = code:u8 (see `Refusal` codes below)
//! ```

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use libp2p::PeerId;

use super::Member;
use super::frame::{self, FrameError};
use crate::region::{ADMISSION_BYTES, Admission, PublicKey32, RecordError, Refusal};

const TAG_HELLO: u8 = 1;
const TAG_REFUSED: u8 = 2;
/// Tag plus one admission record; nothing larger is ever valid.
pub const HANDSHAKE_PAYLOAD_MAX: usize = 1 + ADMISSION_BYTES;
/// Revocations held in memory. A region has hundreds of nodes; this bounds a flood of
/// (authority-signed) revocations all the same.
pub const REVOCATIONS_MAX: usize = 65_536;

/// What this node presents and accepts.
#[derive(Debug)]
pub struct Membership {
    pub authority: PublicKey32,
    pub own: Admission,
    /// Grows at run time as revocations replicate (`daemon/revocations.rs`).
    pub revoked: std::sync::RwLock<HashSet<PublicKey32>>,
}

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("we refused the peer: {0}")]
    Refused(Refusal),
    #[error("the peer refused us: {0}")]
    RefusedByPeer(&'static str),
    #[error("handshake timed out after {0:?}")]
    Timeout(Duration),
    #[error("handshake framing: {0}")]
    Frame(#[from] FrameError),
    #[error("opening the handshake stream: {0}")]
    Open(String),
    #[error("handshake protocol violation")]
    Protocol,
}

fn code(refusal: Refusal) -> u8 {
    match refusal {
        Refusal::Record(RecordError::Format) => 1,
        Refusal::Record(RecordError::Field) => 2,
        Refusal::Record(RecordError::WrongAuthority) => 3,
        Refusal::Record(RecordError::BadSignature) => 4,
        Refusal::KeyMismatch => 5,
        Refusal::Expired => 6,
        Refusal::Revoked => 7,
    }
}

fn describe(code: u8) -> &'static str {
    match code {
        1 => "not a membership record",
        2 => "membership record has invalid fields",
        3 => "not admitted by this region's authority",
        4 => "membership record signature does not verify",
        5 => "membership record names another key",
        6 => "membership record expired",
        7 => "member key is revoked",
        _ => "unknown reason",
    }
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Membership {
    /// Checks a peer's record for the connection authenticated as `peer`.
    pub fn check(&self, peer: &PeerId, record: &[u8]) -> Result<Member, Refusal> {
        let admission = Admission::decode(record, &self.authority).map_err(Refusal::Record)?;
        let revoked = self.revoked.read().unwrap_or_else(|p| p.into_inner());
        admission.admits(peer, now_unix(), &|k| revoked.contains(k))?;
        Ok(Member {
            facility: admission.facility,
            role: admission.role,
            initiate: false,
        })
    }
}

async fn read_one<S: AsyncRead + Unpin>(stream: &mut S) -> Result<(u8, Vec<u8>), HandshakeError> {
    let mut payload = frame::read_payload(stream, HANDSHAKE_PAYLOAD_MAX)
        .await?
        .ok_or(HandshakeError::Protocol)?;
    let tag = payload.remove(0);
    Ok((tag, payload))
}

/// The dialer's side, on a stream it opened.
pub async fn as_dialer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    peer: &PeerId,
    membership: &Membership,
) -> Result<Member, HandshakeError> {
    frame::write_payload(stream, TAG_HELLO, &membership.own.bytes).await?;
    let (tag, body) = read_one(stream).await?;
    match tag {
        TAG_HELLO => match membership.check(peer, &body) {
            Ok(mut member) => {
                member.initiate = true;
                Ok(member)
            }
            Err(refusal) => {
                let _ = frame::write_payload(stream, TAG_REFUSED, &[code(refusal)]).await;
                let _ = stream.close().await;
                Err(HandshakeError::Refused(refusal))
            }
        },
        TAG_REFUSED if body.len() == 1 => Err(HandshakeError::RefusedByPeer(describe(body[0]))),
        _ => Err(HandshakeError::Protocol),
    }
}

/// The listener's side, on an accepted stream. `admit` runs after the check and before our
/// HELLO is sent: the dialer may open its sync stream as soon as it reads that HELLO, so the
/// peer must already be a member by then (else its first sync stream races the admission).
pub async fn as_listener<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    peer: &PeerId,
    membership: &Membership,
    admit: impl FnOnce(&Member),
) -> Result<Member, HandshakeError> {
    let (tag, body) = read_one(stream).await?;
    if tag != TAG_HELLO {
        return Err(HandshakeError::Protocol);
    }
    match membership.check(peer, &body) {
        Ok(member) => {
            admit(&member);
            frame::write_payload(stream, TAG_HELLO, &membership.own.bytes).await?;
            Ok(member)
        }
        Err(refusal) => {
            // Tell the peer why, so its operator sees a clear error rather than a reset.
            let _ = frame::write_payload(stream, TAG_REFUSED, &[code(refusal)]).await;
            let _ = stream.close().await;
            Err(HandshakeError::Refused(refusal))
        }
    }
}
