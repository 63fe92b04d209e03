//! The network side of a node: a libp2p swarm over QUIC (quinn underneath), connection limits,
//! optional mDNS discovery, and two stream protocols: the membership handshake
//! (`/kizuna/member/1`, `handshake.rs`) and sync (`/kizuna/sync/1`, `sync.rs`).
//!
//! One task owns the swarm ([`run_swarm`]); everything else talks to it through a bounded
//! command channel or through the libp2p-stream `Control`. Membership is decided before any
//! sync state exists: the sync acceptor drops streams from peers not in [`Members`].

pub mod frame;
pub mod handshake;
pub mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent, dial_opts::DialOpts};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, connection_limits, mdns};
use tokio::sync::mpsc;

use crate::config::Limits;
use crate::region::Role;

pub const MEMBER_PROTOCOL: StreamProtocol = StreamProtocol::new("/kizuna/member/1");
/// Version 2: FETCH entries and ITEM headers carry a byte offset, so that an interrupted item
/// transfer resumes (`sync.rs`). A version-1 peer fails protocol negotiation instead of
/// misreading frames.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/kizuna/sync/2");

/// Commands to the swarm task. Bounded: callers wait when the swarm task is busy.
const COMMANDS_MAX: usize = 32;
/// Events from the swarm task to the node. Bounded; the swarm task never blocks on it for
/// long (listen addresses and connection changes are rare).
const EVENTS_MAX: usize = 64;
/// mDNS can report many addresses at once on a busy LAN; dial at most this many per report.
const MDNS_DIALS_PER_EVENT_MAX: usize = 8;
/// An idle connection is kept this long, so the periodic sync does not redial every time
/// (the default of 0 would close it as soon as a sync ends).
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    limits: connection_limits::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    stream: libp2p_stream::Behaviour,
}

/// A peer that passed the membership handshake on a live connection.
#[derive(Clone, Debug)]
pub struct Member {
    pub facility: String,
    pub role: Role,
    /// We dialled: we initiate syncs on this peer (the listener only responds), so two nodes
    /// never run two sessions against each other at once.
    pub initiate: bool,
}

/// Verified members with at least one open connection. Bounded by the connection limits:
/// entries are added only for connected peers and removed when their last connection closes.
pub type Members = Arc<Mutex<HashMap<PeerId, Member>>>;

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere (already a bug); keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug)]
pub enum Command {
    Dial(Multiaddr),
    DialPeer(PeerId, Vec<Multiaddr>),
    Disconnect(PeerId),
}

#[derive(Debug)]
pub enum NetEvent {
    /// A connection is up; the handshake has not run yet.
    Connected { peer: PeerId, dialer: bool },
    /// A dial failed (address unreachable, wrong peer id, limits).
    DialFailed(String),
}

/// Builds the swarm with the node identity. QUIC windows are sized for small nodes: memory
/// per connection scales with streams × receive window (anchors §4), and we use one sync
/// stream and one handshake stream per connection.
pub fn build_swarm(
    keypair: libp2p::identity::Keypair,
    limits: &Limits,
    mdns_on: bool,
) -> anyhow::Result<Swarm<Behaviour>> {
    let connection_limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(limits.connections_max))
        .with_max_established_per_peer(Some(limits.connections_per_peer_max))
        .with_max_pending_incoming(Some(limits.pending_incoming_max))
        .with_max_pending_outgoing(Some(limits.pending_outgoing_max));
    let handshake_timeout = limits.handshake_timeout;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_quic_config(move |mut config| {
            config.handshake_timeout = handshake_timeout;
            // Four concurrent streams per peer: handshake, sync, and slack for a replaced one.
            config.max_concurrent_stream_limit = 4;
            // 256 KiB per stream, 1 MiB per connection: a few 64 KiB frames in flight.
            config.max_stream_data = 256 * 1024;
            config.max_connection_data = 1024 * 1024;
            config.max_idle_timeout = 60_000;
            config.keep_alive_interval = Duration::from_secs(15);
            config
        })
        .with_behaviour(
            |key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                let mdns = if mdns_on {
                    Some(mdns::tokio::Behaviour::new(
                        mdns::Config::default(),
                        key.public().to_peer_id(),
                    )?)
                } else {
                    None
                };
                Ok(Behaviour {
                    limits: connection_limits::Behaviour::new(connection_limits),
                    mdns: Toggle::from(mdns),
                    stream: libp2p_stream::Behaviour::new(),
                })
            },
        )?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok(swarm)
}

/// Channels to a running swarm task.
pub struct SwarmHandle {
    pub commands: mpsc::Sender<Command>,
    pub events: mpsc::Receiver<NetEvent>,
    pub control: libp2p_stream::Control,
}

impl std::fmt::Debug for SwarmHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmHandle").finish_non_exhaustive()
    }
}

/// Starts listening and spawns the task that owns the swarm.
pub fn spawn_swarm(
    mut swarm: Swarm<Behaviour>,
    listen: &[Multiaddr],
    members: Members,
) -> anyhow::Result<SwarmHandle> {
    for addr in listen {
        swarm.listen_on(addr.clone())?;
    }
    let control = swarm.behaviour().stream.new_control();
    let (commands_tx, commands_rx) = mpsc::channel(COMMANDS_MAX);
    let (events_tx, events_rx) = mpsc::channel(EVENTS_MAX);
    tokio::spawn(run_swarm(swarm, commands_rx, events_tx, members));
    Ok(SwarmHandle {
        commands: commands_tx,
        events: events_rx,
        control,
    })
}

async fn run_swarm(
    mut swarm: Swarm<Behaviour>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    members: Members,
) {
    let local = *swarm.local_peer_id();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                None => return,
                Some(Command::Dial(addr)) => {
                    if let Err(e) = swarm.dial(addr) {
                        let _ = events.send(NetEvent::DialFailed(e.to_string())).await;
                    }
                }
                Some(Command::DialPeer(peer, addrs)) => {
                    if !swarm.is_connected(&peer) {
                        let opts = DialOpts::peer_id(peer).addresses(addrs).build();
                        if let Err(e) = swarm.dial(opts) {
                            tracing::debug!(%peer, error = %e, "dial refused");
                        }
                    }
                }
                Some(Command::Disconnect(peer)) => {
                    lock(&members).remove(&peer);
                    let _ = swarm.disconnect_peer_id(peer);
                }
            },
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { address, .. } => {
                    let full = address.with_p2p(local).unwrap_or_else(|a| a);
                    // Machine-readable: tests and operators read the `addr` field.
                    tracing::info!(addr = %full, "listening");
                }
                SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                    tracing::debug!(peer = %peer_id, dialer = endpoint.is_dialer(), "connected");
                    if num_established.get() == 1 {
                        let _ = events
                            .send(NetEvent::Connected { peer: peer_id, dialer: endpoint.is_dialer() })
                            .await;
                    }
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                    lock(&members).remove(&peer_id);
                    tracing::debug!(peer = %peer_id, "disconnected");
                }
                SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                    tracing::warn!(peer = ?peer_id, error = %error, "dial failed");
                    let _ = events.send(NetEvent::DialFailed(error.to_string())).await;
                }
                SwarmEvent::IncomingConnectionError { error, .. } => {
                    tracing::debug!(error = %error, "incoming connection failed");
                }
                SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                    let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
                    for (peer, addr) in found.into_iter().take(MDNS_DIALS_PER_EVENT_MAX * 4) {
                        if peer != local {
                            by_peer.entry(peer).or_default().push(addr);
                        }
                    }
                    for (peer, addrs) in by_peer.into_iter().take(MDNS_DIALS_PER_EVENT_MAX) {
                        if !swarm.is_connected(&peer) {
                            tracing::debug!(%peer, "mdns discovered");
                            let opts = DialOpts::peer_id(peer).addresses(addrs).build();
                            let _ = swarm.dial(opts);
                        }
                    }
                }
                _ => {}
            },
        }
    }
}
