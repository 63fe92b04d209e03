//! The node runtime shared by `kizuna run` (the daemon) and `kizuna sync` (one-shot): opens the
//! store, unlocks the identity, loads the membership record and revocations, starts the swarm,
//! runs the membership handshake on every new connection and accepts sync streams from members.
//!
//! Tasks and their bounds: one swarm task; one handshake task per connection (bounded by the
//! connection limits, each under the handshake timeout); one sync task per member at most, and
//! at most `concurrent_syncs_max` in total (a semaphore), each under the session timeout.

pub mod digest;
pub mod ingest;
pub mod metrics;
pub mod mirror;
pub mod partial;
pub mod revocations;
pub mod scheduler;
pub mod status;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use futures::StreamExt;
use kizuna_storage::store::Store;
use libp2p::PeerId;
use tokio::sync::{Semaphore, mpsc};

use crate::config::Settings;
use crate::identity::{self, Identity};
use crate::net::handshake::{self, HandshakeError, Membership, REVOCATIONS_MAX};
use crate::net::sync::{self, Report, SyncError};
use crate::net::{self, Command, Member, Members, NetEvent};
use crate::region::{Admission, Revocation};
use store::StoreHandle;

/// Node events for the command's main loop. Bounded like every channel here.
const NODE_EVENTS_MAX: usize = 64;
/// How long a refused peer keeps its connection, so the refusal reason reaches it.
const REFUSAL_GRACE: std::time::Duration = std::time::Duration::from_millis(500);
/// How long a replacing sync waits for the replaced one to free its permit.
const REPLACE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// Revocation files read from the configured directory; more is an operator mistake.
const REVOCATION_FILES_MAX: usize = REVOCATIONS_MAX;

#[derive(Debug)]
pub enum NodeEvent {
    MemberUp(PeerId),
    /// The handshake failed: we refused the peer, it refused us, or it timed out.
    Refused {
        peer: PeerId,
        error: String,
    },
    DialFailed(String),
}

/// Everything a sync or handshake task needs; cheap to clone.
#[derive(Clone)]
pub struct Node {
    pub settings: Arc<Settings>,
    pub identity: Identity,
    pub membership: Arc<Membership>,
    pub store: StoreHandle,
    pub members: Members,
    pub commands: mpsc::Sender<Command>,
    pub control: libp2p_stream::Control,
    pub ops: Arc<status::Ops>,
    /// The daemon (not the one-shot `kizuna sync`) keeps `DIR/status.json` current.
    writes_status: bool,
    pub(crate) permits: Arc<Semaphore>,
    /// Peers we are serving a sync for, with the serving task: one at a time per peer, so a
    /// single member cannot hold every sync slot with idle streams (found by
    /// `tests/hostile.rs`). A new sync stream from the same peer replaces the running one: the
    /// peer restarted (a killed `kizuna sync`, a resumed transfer) and the old stream is dead.
    responding: Arc<Mutex<HashMap<PeerId, tokio::task::AbortHandle>>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("identity", &self.identity.public)
            .finish_non_exhaustive()
    }
}

/// Reads and checks this node's own admission: it must verify against the configured authority,
/// name this node's key and not be expired, or the node would be refused by every peer anyway.
fn load_membership(settings: &Settings, identity: &Identity) -> anyhow::Result<Membership> {
    let bytes = read_small(&settings.membership, 1024)?;
    let own = Admission::decode(&bytes, &settings.authority)
        .with_context(|| format!("membership record {}", settings.membership.display()))?;
    if own.member != identity.public {
        bail!("the membership record was issued for another node's key");
    }
    // Not fatal: the node still serves its own store locally, and the operator sees why
    // peers refuse it.
    if own.expires_unix <= handshake::now_unix() {
        tracing::warn!("this node's membership record has expired; peers will refuse it");
    }
    let mut revoked = HashSet::new();
    if let Some(dir) = &settings.revocations {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating revocations directory {}", dir.display()))?;
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("reading revocations in {}", dir.display()))?;
        for entry in entries.take(REVOCATION_FILES_MAX) {
            let path = entry?.path();
            // Dot-files are temporaries of `revocations::persist`.
            let hidden = path
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."));
            if !path.is_file() || hidden {
                continue;
            }
            let bytes = read_small(&path, 1024)?;
            let revocation = Revocation::decode(&bytes, &settings.authority)
                .with_context(|| format!("revocation {}", path.display()))?;
            revoked.insert(revocation.member);
        }
    }
    if revoked.contains(&identity.public) {
        tracing::warn!("this node's key is revoked; peers will refuse it");
    }
    Ok(Membership {
        authority: settings.authority,
        own,
        revoked: std::sync::RwLock::new(revoked),
    })
}

fn read_small(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > max {
        bail!("{} is larger than {max} bytes", path.display());
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Starts a node. `listen` is false for the one-shot `kizuna sync`.
pub async fn start(
    settings: Settings,
    passphrase: Vec<u8>,
    listen: bool,
) -> anyhow::Result<(Node, mpsc::Receiver<NodeEvent>)> {
    let data = settings.data.clone();
    // PBKDF2 takes a while; keep it off the async workers.
    let (store, identity) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = Store::open(&data, &passphrase)
            .with_context(|| format!("opening {}", data.display()))?;
        let identity = identity::from_store(&store).context("unlocking the identity")?;
        Ok((store, identity))
    })
    .await??;
    let membership = Arc::new(load_membership(&settings, &identity)?);
    std::fs::create_dir_all(&settings.inbox)
        .with_context(|| format!("creating the inbox {}", settings.inbox.display()))?;
    // Only a listening daemon reports item classes; the one-shot sync skips decrypting paths.
    let store = StoreHandle::start(store, settings.inbox.clone(), listen, settings.repack)?;
    let swarm = net::build_swarm(
        identity.keypair.clone(),
        &settings.limits,
        settings.mdns && listen,
    )?;
    let members: Members = Arc::default();
    let listen_addrs = if listen {
        settings.listen.clone()
    } else {
        Vec::new()
    };
    let net::SwarmHandle {
        commands,
        events,
        control,
    } = net::spawn_swarm(swarm, &listen_addrs, Arc::clone(&members))?;
    tracing::info!(
        peer = %identity.keypair.public().to_peer_id(),
        facility = %membership.own.facility,
        role = membership.own.role.as_str(),
        items = store.set.read().map(|s| s.keys().count()).unwrap_or(0),
        "node started"
    );
    let http = match settings.http_listen {
        Some(addr) if listen => Some(metrics::bind(addr).await?),
        _ => None,
    };
    let node = Node {
        ops: Arc::new(status::Ops::new(&settings.data)),
        writes_status: listen,
        permits: Arc::new(Semaphore::new(settings.limits.concurrent_syncs_max)),
        settings: Arc::new(settings),
        identity,
        membership,
        store,
        members,
        commands,
        control,
        responding: Arc::default(),
    };
    let (node_tx, node_rx) = mpsc::channel(NODE_EVENTS_MAX);
    tokio::spawn(route_events(node.clone(), events, node_tx.clone()));
    tokio::spawn(accept_handshakes(node.clone(), node_tx));
    tokio::spawn(accept_syncs(node.clone()));
    if listen {
        tokio::spawn(status::run_writer(node.clone()));
    }
    if let Some(listener) = http {
        tokio::spawn(metrics::serve(listener, node.clone()));
    }
    Ok((node, node_rx))
}

/// Turns connection events into handshakes (dialer) or handshake watchdogs (listener).
async fn route_events(
    node: Node,
    mut events: mpsc::Receiver<NetEvent>,
    out: mpsc::Sender<NodeEvent>,
) {
    while let Some(event) = events.recv().await {
        match event {
            NetEvent::DialFailed(error) => {
                let _ = out.send(NodeEvent::DialFailed(error)).await;
            }
            NetEvent::Connected { peer, dialer: true } => {
                tokio::spawn(dial_handshake(node.clone(), peer, out.clone()));
            }
            NetEvent::Connected {
                peer,
                dialer: false,
            } => {
                // The dialer must complete the handshake in time, or the connection goes.
                let node = node.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(node.settings.limits.handshake_timeout).await;
                    if !net::lock(&node.members).contains_key(&peer) {
                        tracing::warn!(%peer, "no membership handshake in time; disconnecting");
                        let _ = node.commands.send(Command::Disconnect(peer)).await;
                    }
                });
            }
        }
    }
}

fn admit(node: &Node, peer: PeerId, member: Member) {
    tracing::info!(
        %peer,
        facility = %member.facility,
        role = member.role.as_str(),
        "member admitted"
    );
    node.ops.admitted(peer, &member);
    net::lock(&node.members).insert(peer, member);
}

async fn refuse(node: &Node, peer: PeerId, error: &HandshakeError, out: &mpsc::Sender<NodeEvent>) {
    tracing::warn!(%peer, reason = %error, "membership refused; disconnecting");
    node.ops.refused();
    let _ = out
        .send(NodeEvent::Refused {
            peer,
            error: error.to_string(),
        })
        .await;
    // A short grace lets our REFUSED frame reach the peer, so its operator reads why instead
    // of "connection reset". The peer holds no membership meanwhile, so it can sync nothing.
    let commands = node.commands.clone();
    tokio::spawn(async move {
        tokio::time::sleep(REFUSAL_GRACE).await;
        let _ = commands.send(Command::Disconnect(peer)).await;
    });
}

async fn dial_handshake(mut node: Node, peer: PeerId, out: mpsc::Sender<NodeEvent>) {
    let timeout = node.settings.limits.handshake_timeout;
    let result = tokio::time::timeout(timeout, async {
        let mut stream = node
            .control
            .open_stream(peer, net::MEMBER_PROTOCOL)
            .await
            .map_err(|e| HandshakeError::Open(e.to_string()))?;
        handshake::as_dialer(&mut stream, &peer, &node.membership).await
    })
    .await
    .unwrap_or(Err(HandshakeError::Timeout(timeout)));
    match result {
        Ok(member) => {
            admit(&node, peer, member);
            let _ = out.send(NodeEvent::MemberUp(peer)).await;
        }
        Err(error) => refuse(&node, peer, &error, &out).await,
    }
}

async fn accept_handshakes(mut node: Node, out: mpsc::Sender<NodeEvent>) {
    let Ok(mut incoming) = node.control.accept(net::MEMBER_PROTOCOL) else {
        tracing::error!("member protocol registered twice");
        return;
    };
    // Handshakes in progress: each lives at most the handshake timeout, and no more than the
    // pending-connection limit plus the established limit can be open.
    let in_progress = Arc::new(Semaphore::new(
        (node.settings.limits.connections_max + node.settings.limits.pending_incoming_max) as usize,
    ));
    while let Some((peer, mut stream)) = incoming.next().await {
        let Ok(permit) = Arc::clone(&in_progress).try_acquire_owned() else {
            tracing::warn!(%peer, "too many handshakes in progress; dropping stream");
            continue;
        };
        let node = node.clone();
        let out = out.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let timeout = node.settings.limits.handshake_timeout;
            let result = tokio::time::timeout(
                timeout,
                // Admitted before our HELLO goes out, so the peer's first sync stream finds it.
                handshake::as_listener(&mut stream, &peer, &node.membership, |member| {
                    admit(&node, peer, member.clone());
                }),
            )
            .await
            .unwrap_or(Err(HandshakeError::Timeout(timeout)));
            match result {
                Ok(_) => {
                    let _ = out.send(NodeEvent::MemberUp(peer)).await;
                }
                Err(error) => {
                    // Our HELLO may not have gone out after admission: undo it.
                    net::lock(&node.members).remove(&peer);
                    refuse(&node, peer, &error, &out).await;
                }
            }
        });
    }
}

async fn accept_syncs(mut node: Node) {
    let Ok(mut incoming) = node.control.accept(net::SYNC_PROTOCOL) else {
        tracing::error!("sync protocol registered twice");
        return;
    };
    while let Some((peer, stream)) = incoming.next().await {
        if !net::lock(&node.members).contains_key(&peer) {
            // No sync state exists for a non-member: the stream is dropped unread.
            tracing::warn!(%peer, "sync stream from a non-member refused; disconnecting");
            let _ = node.commands.send(Command::Disconnect(peer)).await;
            continue;
        }
        let old = net::lock(&node.responding).remove(&peer);
        let permit = if let Some(old) = old {
            tracing::info!(%peer, "a new sync stream replaces this peer's running sync");
            old.abort();
            // The aborted task frees its permit when it is dropped, which is not immediate.
            tokio::time::timeout(REPLACE_WAIT, Arc::clone(&node.permits).acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
        } else {
            Arc::clone(&node.permits).try_acquire_owned().ok()
        };
        let Some(permit) = permit else {
            tracing::info!(%peer, "sync refused: concurrent sync limit reached");
            continue;
        };
        let task_node = node.clone();
        // Held across the spawn so the task's slot guard cannot run before its entry exists.
        let mut responding = net::lock(&node.responding);
        let task = tokio::spawn(async move {
            let node = task_node;
            let _permit = permit;
            let _slot = ResponderSlot(node.clone(), peer);
            let timeout = node.settings.session_timeout;
            let result = tokio::time::timeout(timeout, sync::respond(stream, &node.store))
                .await
                .unwrap_or(Err(SyncError::Timeout(timeout)));
            if result.as_ref().is_ok_and(|r| r.items_received > 0) {
                node.store.repack_soon();
            }
            finish_sync(&node, peer, "responder", result).await;
        });
        responding.insert(peer, task.abort_handle());
        drop(responding);
    }
}

/// Frees a peer's responder slot however the responder task ends.
struct ResponderSlot(Node, PeerId);

impl Drop for ResponderSlot {
    fn drop(&mut self) {
        let mut responding = net::lock(&self.0.responding);
        // Only our own entry: a replacing task may already own the slot.
        if responding
            .get(&self.1)
            .is_some_and(|h| Some(h.id()) == tokio::task::try_id())
        {
            responding.remove(&self.1);
        }
    }
}

/// Logs a finished sync (counts only, never ids or paths) and disconnects hostile peers.
pub(crate) async fn finish_sync(
    node: &Node,
    peer: PeerId,
    role: &str,
    result: Result<Report, SyncError>,
) {
    node.ops.sync_finished(peer, &result);
    match result {
        Ok(r) => tracing::info!(
            %peer,
            role,
            need = r.need,
            have = r.have,
            received = r.items_received,
            sent = r.items_sent,
            rejected = r.items_rejected,
            round_trips = r.round_trips,
            duration_ms = r.duration_ms,
            reconcile_ms = r.reconcile_ms,
            store_read_ms = r.store_read_ms,
            store_insert_ms = r.store_insert_ms,
            "sync done"
        ),
        Err(error) => {
            tracing::warn!(%peer, role, error = %error, "sync failed");
            if error.is_hostile() {
                tracing::warn!(%peer, "peer broke the sync protocol; disconnecting");
                node.ops.hostile();
                let _ = node.commands.send(Command::Disconnect(peer)).await;
            }
        }
    }
    if node.writes_status {
        node.ops.write_now(node);
    }
}

impl Node {
    /// Runs one sync as initiator with a member, under the session timeout.
    ///
    /// Cancel-safe in the sense of [`sync::initiate`].
    pub async fn sync_with(&self, peer: PeerId) -> Result<Report, SyncError> {
        let timeout = self.settings.session_timeout;
        let mut control = self.control.clone();
        let store = self.store.clone();
        tokio::time::timeout(timeout, async move {
            let stream = control
                .open_stream(peer, net::SYNC_PROTOCOL)
                .await
                .map_err(|_| SyncError::Closed)?;
            let report = sync::initiate(stream, &store).await?;
            if report.items_received > 0 {
                // A replica's items arrive in hash order, one per pack: merge them when idle.
                store.repack_soon();
            }
            Ok(report)
        })
        .await
        .unwrap_or(Err(SyncError::Timeout(timeout)))
    }

    /// Members we initiate syncs with (we dialled them).
    pub fn initiating_members(&self) -> Vec<PeerId> {
        net::lock(&self.members)
            .iter()
            .filter(|(_, m)| m.initiate)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Every admitted member currently connected, with whether we initiate with it.
    pub fn members(&self) -> Vec<(PeerId, bool)> {
        net::lock(&self.members)
            .iter()
            .map(|(p, m)| (*p, m.initiate))
            .collect()
    }

    /// Dials the configured static peers that are not connected.
    pub async fn dial_static_peers(&self, first: bool) {
        let connected: HashMap<PeerId, ()> =
            net::lock(&self.members).keys().map(|p| (*p, ())).collect();
        for addr in &self.settings.peers {
            let peer = addr.iter().find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
                _ => None,
            });
            let command = match peer {
                Some(peer) if connected.contains_key(&peer) => continue,
                Some(peer) => Command::DialPeer(peer, vec![addr.clone()]),
                // Without a peer id we cannot tell whether we are connected: dial once.
                None if first => Command::Dial(addr.clone()),
                None => continue,
            };
            let _ = self.commands.send(command).await;
        }
    }
}
