//! Revocation replication (`/kizuna/revocations/1`): right after a membership handshake the
//! dialer opens this stream and both sides send every revocation record they hold. Each record
//! is verified against the configured region authority; a new one is persisted in the node's
//! revocations directory (so it survives a restart), added to the set the handshake checks,
//! any live connection of the revoked key is closed, and the record is forwarded to every other
//! connected member, so a revocation spreads as far as connectivity reaches. A node that
//! learned nothing new forwards nothing, which ends the flood.
//!
//! ```text
//! 1 RECORDS  body = n × revocation[140], 1 ≤ n ≤ RECORDS_PER_FRAME     both ways
//! 2 END      body = empty                                              both ways
//! ```
//!
//! Bounds: at most [`REVOCATIONS_MAX`] records per exchange and in memory, frames of at most
//! [`FRAME_BYTES_MAX`], the whole exchange under the handshake timeout; only members may send.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, StreamProtocol};

use super::Node;
use crate::net::frame::{self, FrameError};
use crate::net::handshake::REVOCATIONS_MAX;
use crate::net::{self, Command};
use crate::region::{PublicKey32, REVOCATION_BYTES, Revocation, hex};

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/kizuna/revocations/1");
const TAG_RECORDS: u8 = 1;
const TAG_END: u8 = 2;
/// Records per frame: 400 × 140 = 56,000 bytes, under one 64 KiB frame.
pub const RECORDS_PER_FRAME: usize = 400;
pub const FRAME_BYTES_MAX: usize = 1 + RECORDS_PER_FRAME * REVOCATION_BYTES;
/// Exchanges served at once; each lives at most the handshake timeout.
const EXCHANGES_MAX: usize = 16;

/// Verified revocation records this node holds, by revoked key.
#[derive(Clone, Debug, Default)]
pub struct Records(Arc<Mutex<HashMap<PublicKey32, Vec<u8>>>>);

#[derive(Debug, thiserror::Error)]
enum ExchangeError {
    #[error("framing: {0}")]
    Frame(#[from] FrameError),
    #[error("protocol violation")]
    Protocol,
    #[error("opening the stream: {0}")]
    Open(String),
    #[error("timed out")]
    Timeout,
}

impl Records {
    /// Reads the revocations directory (created if missing). Records that do not verify are
    /// skipped with a warning (the daemon's start-up already refused a bad configured file).
    pub fn load(dir: &Path, authority: &PublicKey32) -> anyhow::Result<Records> {
        std::fs::create_dir_all(dir)?;
        let records = Records::default();
        let mut map = net::lock(&records.0);
        for entry in std::fs::read_dir(dir)?.take(REVOCATIONS_MAX) {
            let path = entry?.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() || meta.len() != REVOCATION_BYTES as u64 {
                continue;
            }
            let bytes = std::fs::read(&path)?;
            match Revocation::decode(&bytes, authority) {
                Ok(r) => {
                    map.insert(r.member, bytes);
                }
                Err(e) => tracing::warn!(error = %e, "ignoring an invalid revocation file"),
            }
        }
        drop(map);
        Ok(records)
    }

    fn all(&self) -> Vec<Vec<u8>> {
        net::lock(&self.0).values().cloned().collect()
    }
}

/// Starts the acceptor. Call once.
pub fn spawn(node: Node, records: Records) {
    tokio::spawn(accept(node, records));
}

async fn accept(mut node: Node, records: Records) {
    let Ok(mut incoming) = node.control.accept(PROTOCOL) else {
        tracing::error!("revocation protocol registered twice");
        return;
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(EXCHANGES_MAX));
    while let Some((peer, stream)) = incoming.next().await {
        if !net::lock(&node.members).contains_key(&peer) {
            continue;
        }
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let (node, records) = (node.clone(), records.clone());
        tokio::spawn(async move {
            let _permit = permit;
            run(&node, &records, peer, stream).await;
        });
    }
}

/// Runs one exchange as the opener (after we dialled `peer`, or to forward news).
pub fn exchange(node: &Node, records: &Records, peer: PeerId) {
    let (mut node, records) = (node.clone(), records.clone());
    tokio::spawn(async move {
        let opened = tokio::time::timeout(
            node.settings.limits.handshake_timeout,
            node.control.open_stream(peer, PROTOCOL),
        )
        .await;
        match opened {
            Ok(Ok(stream)) => run(&node, &records, peer, stream).await,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %ExchangeError::Open(e.to_string()), "revocation exchange")
            }
            Err(_) => {
                tracing::debug!(%peer, error = %ExchangeError::Timeout, "revocation exchange")
            }
        }
    });
}

async fn run(node: &Node, records: &Records, peer: PeerId, stream: libp2p::Stream) {
    let timeout = node.settings.limits.handshake_timeout;
    let result = tokio::time::timeout(timeout, swap(records.all(), stream))
        .await
        .unwrap_or(Err(ExchangeError::Timeout));
    match result {
        Ok(received) => learn(node, records, peer, received).await,
        Err(error) => {
            tracing::warn!(%peer, error = %error, "revocation exchange failed");
            if matches!(
                error,
                ExchangeError::Protocol | ExchangeError::Frame(FrameError::Oversized { .. })
            ) {
                let _ = node.commands.send(Command::Disconnect(peer)).await;
            }
        }
    }
}

/// Sends ours and reads theirs at the same time (neither side waits for the other to finish).
async fn swap(ours: Vec<Vec<u8>>, stream: libp2p::Stream) -> Result<Vec<Vec<u8>>, ExchangeError> {
    let (mut reader, mut writer) = stream.split();
    let send = async move {
        for chunk in ours.chunks(RECORDS_PER_FRAME) {
            frame::write_payload(&mut writer, TAG_RECORDS, &chunk.concat()).await?;
        }
        frame::write_payload(&mut writer, TAG_END, &[]).await?;
        let _ = writer.close().await;
        Ok::<(), ExchangeError>(())
    };
    let receive = async move {
        let mut theirs = Vec::new();
        loop {
            let Some(mut payload) = frame::read_payload(&mut reader, FRAME_BYTES_MAX).await? else {
                return Err(ExchangeError::Protocol);
            };
            // Invariant: read_payload never yields an empty payload.
            let tag = payload.remove(0);
            match tag {
                TAG_END if payload.is_empty() => return Ok(theirs),
                TAG_RECORDS
                    if !payload.is_empty()
                        && payload.len() % REVOCATION_BYTES == 0
                        && theirs.len() + payload.len() / REVOCATION_BYTES <= REVOCATIONS_MAX =>
                {
                    theirs.extend(payload.chunks(REVOCATION_BYTES).map(<[u8]>::to_vec));
                }
                _ => return Err(ExchangeError::Protocol),
            }
        }
    };
    let (sent, received) = futures::join!(send, receive);
    sent?;
    received
}

async fn learn(node: &Node, records: &Records, from: PeerId, received: Vec<Vec<u8>>) {
    let authority = node.membership.authority;
    let mut new = Vec::new();
    for bytes in received {
        let Ok(revocation) = Revocation::decode(&bytes, &authority) else {
            // Another authority's or a forged record: useless, not hostile enough to cut.
            continue;
        };
        let mut map = net::lock(&records.0);
        if map.contains_key(&revocation.member) || map.len() >= REVOCATIONS_MAX {
            continue;
        }
        map.insert(revocation.member, bytes.clone());
        drop(map);
        node.membership
            .revoked
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(revocation.member);
        new.push((revocation.member, bytes));
    }
    if new.is_empty() {
        return;
    }
    if let Some(dir) = &node.settings.revocations {
        for (member, bytes) in &new {
            if let Err(e) = persist(dir, member, bytes) {
                tracing::warn!(error = %e.kind(), "could not persist a learned revocation");
            }
        }
    }
    let own = node.membership.own.member;
    let connected: Vec<PeerId> = net::lock(&node.members).keys().copied().collect();
    for (member, _) in &new {
        let peer = member.peer_id();
        tracing::warn!(%from, revoked = ?peer, "revocation learned from a member");
        if *member == own {
            tracing::warn!("this node's own key is revoked; peers will refuse it");
        }
        if let Some(peer) = peer
            && connected.contains(&peer)
        {
            tracing::warn!(%peer, "revoked member disconnected");
            let _ = node.commands.send(Command::Disconnect(peer)).await;
        }
    }
    // Forward to everyone else still connected.
    let revoked: Vec<PeerId> = new.iter().filter_map(|(m, _)| m.peer_id()).collect();
    for peer in connected {
        if peer != from && !revoked.contains(&peer) {
            exchange(node, records, peer);
        }
    }
}

/// Writes `DIR/<member hex>.kzr` atomically (temporary file, fsync, rename).
fn persist(dir: &Path, member: &PublicKey32, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = format!("{}.kzr", hex(&member.0));
    let target = dir.join(&name);
    let temp = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, &target)?;
    Ok(target)
}
