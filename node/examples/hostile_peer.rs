//! A hostile peer for `node/tests/hostile.rs`: speaks the real protocol (libp2p over QUIC with
//! its own identity, the node's own framing and membership handshake, included from `src/`) and
//! then misbehaves. Not part of the product; built by `cargo test` as an example.
//!
//! ```text
//! hostile_peer ADDR flood N                   N connections, each a fresh non-member identity
//! hostile_peer ADDR MODE DATA AUTHORITY ADMISSION   as an admitted member (KIZUNA_PASSPHRASE):
//!     oversized   a sync frame announcing 4 GiB, then junk
//!     garbage     a full-size sync frame with an unknown tag
//!     tamper      reconcile, then push an item whose bytes do not match its id
//!     streams     open 64 sync streams at once and hold them
//! ```
//! Prints one JSON line with what happened; exits 0 if the attack could be carried out.
#![allow(dead_code, unused_imports, clippy::print_stdout)]

#[path = "../src/identity.rs"]
mod identity;
#[path = "../src/region.rs"]
mod region;

// At the crate root, so that the handshake's `super::frame` and `super::Member` resolve here.
#[path = "../src/net/frame.rs"]
mod frame;
#[path = "../src/net/handshake.rs"]
mod handshake;

/// Mirrors `net::Member` of the node (the handshake module builds one).
#[derive(Clone, Debug)]
pub struct Member {
    pub facility: String,
    pub role: region::Role,
    pub initiate: bool,
}

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use futures::io::AsyncWriteExt;
use kizuna_sync::{Config, Event, ItemId, Key, MemItemSet, Millis, Session};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, identity::Keypair};
use tokio::sync::mpsc;

const MEMBER: StreamProtocol = StreamProtocol::new("/kizuna/member/1");
const SYNC: StreamProtocol = StreamProtocol::new("/kizuna/sync/2");
/// Attack connections in flight at once during a flood.
const FLOOD_PARALLEL: usize = 16;
const WAIT: Duration = Duration::from_secs(10);

enum Ev {
    Up(PeerId),
    Closed(PeerId),
    DialFailed,
}

/// Starts a swarm with `key`, dials `addr`, and returns its stream control and events.
fn connect(
    key: Keypair,
    addr: Multiaddr,
) -> anyhow::Result<(libp2p_stream::Control, mpsc::Receiver<Ev>)> {
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_quic()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let control = swarm.behaviour().new_control();
    swarm.dial(addr)?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let ev = match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => Ev::Up(peer_id),
                SwarmEvent::ConnectionClosed {
                    peer_id,
                    num_established: 0,
                    ..
                } => Ev::Closed(peer_id),
                SwarmEvent::OutgoingConnectionError { .. } => Ev::DialFailed,
                _ => continue,
            };
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    Ok((control, rx))
}

async fn up(events: &mut mpsc::Receiver<Ev>) -> anyhow::Result<PeerId> {
    match tokio::time::timeout(WAIT, events.recv()).await {
        Ok(Some(Ev::Up(peer))) => Ok(peer),
        Ok(Some(_)) => bail!("dial failed"),
        _ => bail!("no connection"),
    }
}

/// Waits for the victim to close the connection.
async fn disconnected(events: &mut mpsc::Receiver<Ev>) -> bool {
    let deadline = Instant::now() + WAIT;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline.into(), events.recv()).await {
        if let Ev::Closed(_) = ev {
            return true;
        }
    }
    false
}

/// One non-member connection: a random identity presents a forged admission record.
async fn one_stranger(addr: Multiaddr) -> &'static str {
    let Ok((mut control, mut events)) = connect(Keypair::generate_ed25519(), addr) else {
        return "connect_failed";
    };
    let Ok(peer) = up(&mut events).await else {
        return "connect_failed";
    };
    let Ok(Ok(mut stream)) = tokio::time::timeout(WAIT, control.open_stream(peer, MEMBER)).await
    else {
        return "refused";
    };
    let forged = vec![0x5a; region::ADMISSION_BYTES];
    let _ = frame::write_payload(&mut stream, 1, &forged).await;
    match tokio::time::timeout(WAIT, frame::read_payload(&mut stream, 64)).await {
        Ok(Ok(Some(reply))) if reply.first() == Some(&2) => "refused",
        _ => "dropped",
    }
}

async fn flood(addr: Multiaddr, n: usize) -> anyhow::Result<serde_json::Value> {
    let mut counts = std::collections::BTreeMap::<&str, u64>::new();
    let mut pending = futures::stream::iter((0..n).map(|_| one_stranger(addr.clone())))
        .buffer_unordered(FLOOD_PARALLEL);
    while let Some(outcome) = pending.next().await {
        *counts.entry(outcome).or_default() += 1;
    }
    Ok(serde_json::json!({ "mode": "flood", "attempts": n, "outcomes": counts }))
}

struct MemberConn {
    control: libp2p_stream::Control,
    events: mpsc::Receiver<Ev>,
    victim: PeerId,
}

async fn as_member(addr: Multiaddr, args: &[String]) -> anyhow::Result<MemberConn> {
    let [data, authority, admission] = args else {
        bail!("member modes need DATA AUTHORITY ADMISSION");
    };
    let pass = std::env::var("KIZUNA_PASSPHRASE").context("KIZUNA_PASSPHRASE")?;
    let store = kizuna_storage::store::Store::open(std::path::Path::new(data), pass.as_bytes())?;
    let id = identity::from_store(&store)?;
    drop(store);
    let authority = region::PublicKey32::parse_hex(authority).context("authority hex")?;
    let own = region::Admission::decode(&std::fs::read(admission)?, &authority)?;
    let membership = handshake::Membership {
        authority,
        own,
        revoked: std::sync::RwLock::new(HashSet::new()),
    };
    let (mut control, mut events) = connect(id.keypair, addr)?;
    let victim = up(&mut events).await?;
    let mut stream = control.open_stream(victim, MEMBER).await?;
    handshake::as_dialer(&mut stream, &victim, &membership).await?;
    Ok(MemberConn {
        control,
        events,
        victim,
    })
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut id = [0u8; 32];
    id.copy_from_slice(d.as_ref());
    id
}

/// Reconciles as initiator holding one item the victim lacks, then pushes it with other bytes.
async fn tamper(stream: &mut libp2p::Stream) -> anyhow::Result<()> {
    let claimed = b"MSH|^~\\&|the bytes the id promises\r".to_vec();
    let id = sha256(&claimed);
    let set = MemItemSet::from_keys(vec![Key::new(0, ItemId(id))])
        .map_err(|_| anyhow::anyhow!("item set"))?;
    let base = Instant::now();
    let now = || Millis(base.elapsed().as_millis() as u64);
    let mut session = Session::initiator(&set, Config::default(), now());
    'outer: loop {
        while let Some(f) = session.poll_transmit() {
            frame::write_payload(stream, 1, &f).await?;
        }
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Done => break 'outer,
                Event::Failed(reason) => bail!("reconcile failed: {reason:?}"),
                _ => {}
            }
        }
        match tokio::time::timeout(
            Duration::from_millis(500),
            frame::read_payload(stream, 70_000),
        )
        .await
        {
            Ok(Ok(Some(payload))) if payload.first() == Some(&1) => {
                let _ = session.handle_message(&set, &payload[1..], now());
            }
            Ok(Ok(_)) | Ok(Err(_)) => bail!("the victim closed the stream"),
            Err(_) => session.handle_timeout(now()),
        }
    }
    let tampered = b"MSH|^~\\&|other bytes entirely!!!!!\r".to_vec();
    let path = b"999/99999999/20250101/ADT-00/99999999_20250101_ADT-00_000000000000001_20250101000000000_01_1";
    let mut header = Vec::new();
    header.extend_from_slice(&id);
    header.extend_from_slice(&(tampered.len() as u32).to_be_bytes());
    header.extend_from_slice(&0u32.to_be_bytes());
    header.push(1);
    header.extend_from_slice(b"0410000009");
    header.extend_from_slice(&(path.len() as u16).to_be_bytes());
    header.extend_from_slice(path);
    frame::write_payload(stream, 3, &header).await?;
    frame::write_payload(stream, 4, &tampered).await?;
    frame::write_payload(stream, 7, &[]).await?;
    Ok(())
}

async fn member_attack(
    addr: Multiaddr,
    mode: &str,
    args: &[String],
) -> anyhow::Result<serde_json::Value> {
    let mut m = as_member(addr, args).await?;
    let mut stream = m.control.open_stream(m.victim, SYNC).await?;
    let mut extra = serde_json::json!({});
    match mode {
        "oversized" => {
            // 4 GiB announced; then junk the victim must not buffer.
            stream.write_all(&[0xff; 4]).await?;
            let _ = stream.write_all(&vec![0xaa; 256 * 1024]).await;
        }
        "garbage" => {
            let body = vec![0x55; frame::PAYLOAD_BYTES_MAX - 1];
            frame::write_payload(&mut stream, 200, &body).await?;
        }
        "tamper" => tamper(&mut stream).await?,
        "streams" => {
            let mut held = Vec::new();
            let (mut opened, mut failed) = (0u64, 0u64);
            let opens = (0..64).map(|_| {
                let mut c = m.control.clone();
                let victim = m.victim;
                async move {
                    tokio::time::timeout(Duration::from_secs(2), c.open_stream(victim, SYNC)).await
                }
            });
            for r in futures::future::join_all(opens).await {
                match r {
                    Ok(Ok(mut s)) => {
                        // Start a frame and never finish it.
                        let _ = s.write_all(&[0, 0, 0xf0, 0]).await;
                        opened += 1;
                        held.push(s);
                    }
                    _ => failed += 1,
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            extra = serde_json::json!({ "opened": opened, "failed": failed });
            drop(held);
        }
        other => bail!("unknown mode {other}"),
    }
    let _ = stream.flush().await;
    let disconnected = if mode == "streams" {
        false
    } else {
        disconnected(&mut m.events).await
    };
    Ok(serde_json::json!({ "mode": mode, "disconnected": disconnected, "extra": extra }))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, mode, rest @ ..] = &args[..] else {
        bail!("usage: hostile_peer ADDR MODE ...");
    };
    let addr: Multiaddr = addr.parse().context("ADDR is not a multiaddr")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let out = rt.block_on(async {
        if mode == "flood" {
            let n = rest.first().and_then(|n| n.parse().ok()).unwrap_or(100);
            flood(addr, n).await
        } else {
            member_attack(addr, mode, rest).await
        }
    })?;
    println!("{out}");
    Ok(())
}
