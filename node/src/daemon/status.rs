//! Operations state of a running node: per-peer sync state, counters, and the status snapshot
//! that `kizuna status` and `kizuna peers` read whether or not the daemon runs.
//!
//! One [`Ops`] per node, shared by every task. It records what happened (admissions, sync
//! outcomes, refusals, hostile disconnects); the snapshot adds what is (items by class, peers
//! connected, syncs in progress, partial items) when it is taken. The `/metrics` endpoint
//! (`metrics.rs`) renders the same snapshot, so the file and the endpoint never disagree.
//!
//! Honesty rule: `last_ok_unix` and `last_ok_report` change only on a sync that finished both
//! transfer directions; a failed or timed-out sync sets `last_error` and its outcome counter and
//! leaves the last success (and so the lag) as it was.
//!
//! The snapshot (`DIR/status.json`, mode 0600) holds peer ids, facility codes, roles, counts and
//! error texts (which carry no item ids, paths or contents: see `SyncError`), never patient data.
//! It is written to a temporary file, fsynced and renamed, so a reader never sees half a file.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use kizuna_sync::DataType;
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use super::Node;
use crate::net::handshake::now_unix;
use crate::net::sync::{Report, SyncError};
use crate::net::{self, Member};

/// The snapshot's file name inside the data directory.
pub const SNAPSHOT_FILE: &str = "status.json";
/// Format version of the snapshot; readers refuse a newer one.
pub const SNAPSHOT_VERSION: u32 = 1;
/// How often the daemon rewrites the snapshot (also after every sync). A reader treats a
/// snapshot older than [`SNAPSHOT_STALE`] as left by a daemon that is no longer running.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(5);
pub const SNAPSHOT_STALE: Duration = Duration::from_secs(30);
/// Largest snapshot a reader accepts: [`PEERS_TRACKED_MAX`] peers of < 2 KiB each.
pub const SNAPSHOT_BYTES_MAX: u64 = 1024 * 1024;
/// Peers whose state is kept. A region has tens to hundreds of members; when full, the peer
/// with the oldest contact is forgotten, so a flood of identities cannot grow the table.
pub const PEERS_TRACKED_MAX: usize = 256;
/// Error texts are short already; this caps what a snapshot carries per peer.
const ERROR_TEXT_MAX: usize = 200;

/// Items by class, counted once per item by its first location. Classes follow the transfer
/// tiers of `kizuna-sync`: `emergency` feeds the emergency summary (`DataType::
/// is_emergency_summary`), `routine` is every other SS-MIX2 data type, `other` is anything whose
/// path names no data type (extended storage), `quarantined` failed `check` on import.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCounts {
    pub emergency: u64,
    pub routine: u64,
    pub other: u64,
    pub quarantined: u64,
}

impl ClassCounts {
    pub fn total(&self) -> u64 {
        self.emergency + self.routine + self.other + self.quarantined
    }

    /// Counts one item by a location's relative path (`…/TYPE/file`).
    pub fn add(&mut self, relative_path: &[u8], quarantined: bool) {
        if quarantined {
            self.quarantined += 1;
            return;
        }
        let data_type = relative_path
            .rsplit(|b| *b == b'/')
            .nth(1)
            .and_then(|folder| std::str::from_utf8(folder).ok())
            .and_then(DataType::parse);
        match data_type {
            Some(t) if t.is_emergency_summary() => self.emergency += 1,
            Some(_) => self.routine += 1,
            None => self.other += 1,
        }
    }

    /// `(label, count)` pairs in a fixed order, for printing and metrics.
    pub fn labelled(&self) -> [(&'static str, u64); 4] {
        [
            ("emergency", self.emergency),
            ("routine", self.routine),
            ("other", self.other),
            ("quarantined", self.quarantined),
        ]
    }
}

/// How the last sync with a peer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed,
    TimedOut,
}

/// What this node knows about one peer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PeerState {
    pub peer_id: String,
    pub facility: Option<String>,
    pub role: Option<String>,
    /// Connected and admitted when the snapshot was taken.
    pub connected: bool,
    /// Last admission (membership handshake passed) or finished sync, either way.
    pub last_contact_unix: Option<u64>,
    /// Last sync that finished both directions. Never set by a failed or timed-out sync.
    pub last_ok_unix: Option<u64>,
    pub last_ok_report: Option<Report>,
    pub last_outcome: Option<Outcome>,
    pub last_error: Option<String>,
    pub last_error_unix: Option<u64>,
    pub syncs_ok: u64,
    pub syncs_failed: u64,
    pub syncs_timed_out: u64,
}

impl PeerState {
    /// Seconds since the last successful sync at `now`; `None` if there never was one.
    pub fn lag_s(&self, now: u64) -> Option<u64> {
        self.last_ok_unix.map(|t| now.saturating_sub(t))
    }
}

/// Totals since the daemon started.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Counters {
    pub syncs_ok: u64,
    pub syncs_failed: u64,
    pub syncs_timed_out: u64,
    pub items_sent: u64,
    pub items_received: u64,
    pub item_bytes_sent: u64,
    pub item_bytes_received: u64,
    pub items_rejected: u64,
    pub chunks_sent: u64,
    pub chunks_received: u64,
    /// Prefix bytes of resumed items that were not sent again.
    #[serde(default)]
    pub bytes_resumed: u64,
    pub handshakes_refused: u64,
    pub hostile_disconnects: u64,
}

/// The status snapshot (`DIR/status.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub pid: u32,
    pub started_unix: u64,
    pub written_unix: u64,
    pub peer_id: String,
    pub facility: String,
    pub role: String,
    pub items: ClassCounts,
    pub peers_connected: u64,
    /// Syncs running when the snapshot was taken (each holds a transfer in progress).
    pub syncs_in_progress: u64,
    /// Partially received items kept in the staging area for resumption, and their bytes.
    #[serde(default)]
    pub partial_items: u64,
    #[serde(default)]
    pub partial_bytes: u64,
    pub peers: Vec<PeerState>,
    pub counters: Counters,
}

impl Snapshot {
    /// Whether the daemon that wrote this snapshot still runs: its pid is alive and it wrote
    /// recently (a reused pid alone would not keep writing).
    pub fn daemon_running(&self, now: u64) -> bool {
        Path::new(&format!("/proc/{}", self.pid)).exists()
            && now.saturating_sub(self.written_unix) <= SNAPSHOT_STALE.as_secs()
    }
}

#[derive(Debug, Default)]
struct State {
    peers: HashMap<PeerId, PeerState>,
    counters: Counters,
}

/// Shared operations state of one node.
#[derive(Debug)]
pub struct Ops {
    state: Mutex<State>,
    path: PathBuf,
    started_unix: u64,
    /// Held while the snapshot is written: writers share one temporary file, and two at once
    /// (syncs finishing together) interleaved their bytes into a corrupt snapshot.
    writing: Mutex<()>,
}

impl Ops {
    pub fn new(data: &Path) -> Ops {
        Ops {
            state: Mutex::default(),
            path: data.join(SNAPSHOT_FILE),
            started_unix: now_unix(),
            writing: Mutex::new(()),
        }
    }

    fn peer(state: &mut State, peer: PeerId) -> &mut PeerState {
        if !state.peers.contains_key(&peer) && state.peers.len() >= PEERS_TRACKED_MAX {
            let oldest = state
                .peers
                .iter()
                .min_by_key(|(_, p)| p.last_contact_unix.unwrap_or(0))
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                state.peers.remove(&oldest);
            }
        }
        state.peers.entry(peer).or_insert_with(|| PeerState {
            peer_id: peer.to_string(),
            ..PeerState::default()
        })
    }

    /// A peer passed the membership handshake.
    pub fn admitted(&self, peer: PeerId, member: &Member) {
        let mut state = net::lock(&self.state);
        let p = Self::peer(&mut state, peer);
        p.facility = Some(member.facility.clone());
        p.role = Some(member.role.as_str().to_owned());
        p.last_contact_unix = Some(now_unix());
    }

    /// A membership handshake failed (either side refused, or it timed out).
    pub fn refused(&self) {
        net::lock(&self.state).counters.handshakes_refused += 1;
    }

    /// A peer broke the protocol and was disconnected.
    pub fn hostile(&self) {
        net::lock(&self.state).counters.hostile_disconnects += 1;
    }

    /// Records a finished sync with `peer`.
    pub fn sync_finished(&self, peer: PeerId, result: &Result<Report, SyncError>) {
        let now = now_unix();
        let mut state = net::lock(&self.state);
        let c = &mut state.counters;
        match result {
            Ok(r) => {
                c.syncs_ok += 1;
                c.items_sent += r.items_sent;
                c.items_received += r.items_received;
                c.item_bytes_sent += r.item_bytes_sent;
                c.item_bytes_received += r.item_bytes_received;
                c.items_rejected += r.items_rejected;
                c.chunks_sent += r.chunks_sent;
                c.chunks_received += r.chunks_received;
                c.bytes_resumed += r.bytes_resumed;
            }
            Err(SyncError::Timeout(_)) => c.syncs_timed_out += 1,
            Err(_) => c.syncs_failed += 1,
        }
        let p = Self::peer(&mut state, peer);
        p.last_contact_unix = Some(now);
        match result {
            Ok(r) => {
                p.syncs_ok += 1;
                p.last_outcome = Some(Outcome::Ok);
                p.last_ok_unix = Some(now);
                p.last_ok_report = Some(r.clone());
            }
            Err(e) => {
                let timed_out = matches!(e, SyncError::Timeout(_));
                if timed_out {
                    p.syncs_timed_out += 1;
                } else {
                    p.syncs_failed += 1;
                }
                p.last_outcome = Some(if timed_out {
                    Outcome::TimedOut
                } else {
                    Outcome::Failed
                });
                let mut text = e.to_string();
                truncate(&mut text, ERROR_TEXT_MAX);
                p.last_error = Some(text);
                p.last_error_unix = Some(now);
            }
        }
    }

    /// Takes a snapshot of the node.
    pub fn snapshot(&self, node: &Node) -> Snapshot {
        let connected: HashMap<PeerId, Member> = net::lock(&node.members).clone();
        let items = *net::lock(&node.store.classes);
        let (partial_items, partial_bytes) = node.store.partials.held();
        let running = node.settings.limits.concurrent_syncs_max as u64
            - node.permits.available_permits() as u64;
        let state = net::lock(&self.state);
        let mut peers: Vec<PeerState> = state
            .peers
            .iter()
            .map(|(id, p)| PeerState {
                connected: connected.contains_key(id),
                ..p.clone()
            })
            .collect();
        peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        Snapshot {
            version: SNAPSHOT_VERSION,
            pid: std::process::id(),
            started_unix: self.started_unix,
            written_unix: now_unix(),
            peer_id: node.identity.keypair.public().to_peer_id().to_string(),
            facility: node.membership.own.facility.clone(),
            role: node.membership.own.role.as_str().to_owned(),
            items,
            peers_connected: connected.len() as u64,
            syncs_in_progress: running,
            partial_items,
            partial_bytes,
            peers,
            counters: state.counters.clone(),
        }
    }

    /// Writes the snapshot atomically: temporary file, fsync, rename.
    pub fn write(&self, snapshot: &Snapshot) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(snapshot).map_err(std::io::Error::other)?;
        // A poisoned lock only means another writer panicked; the file is rewritten whole.
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }

    /// Takes and writes a snapshot, logging (not failing) on a write error: status is an aid,
    /// and a full disk must not stop sync.
    pub fn write_now(&self, node: &Node) {
        if let Err(e) = self.write(&self.snapshot(node)) {
            tracing::warn!(error = %e, "cannot write the status snapshot");
        }
    }
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut at = max;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
}

/// Rewrites the snapshot every [`SNAPSHOT_INTERVAL`] for as long as the node runs.
pub async fn run_writer(node: Node) {
    let mut tick = tokio::time::interval(SNAPSHOT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        node.ops.write_now(&node);
    }
}

/// Reads the snapshot of a data directory; `None` if no daemon ever wrote one.
pub fn read_snapshot(data: &Path) -> anyhow::Result<Option<Snapshot>> {
    use anyhow::Context;
    let path = data.join(SNAPSHOT_FILE);
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.len() > SNAPSHOT_BYTES_MAX {
        anyhow::bail!(
            "{} is larger than {SNAPSHOT_BYTES_MAX} bytes",
            path.display()
        );
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let snapshot: Snapshot =
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))?;
    if snapshot.version > SNAPSHOT_VERSION {
        anyhow::bail!(
            "{} has format version {}; this kizuna reads up to {SNAPSHOT_VERSION}",
            path.display(),
            snapshot.version
        );
    }
    Ok(Some(snapshot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_data_type_folder() {
        let mut c = ClassCounts::default();
        c.add(b"000/0000000001/20240101/ADT-00/f_1", false);
        c.add(b"000/0000000001/20240101/OMP-01/f_1", false);
        c.add(b"000/0000000001/20240101/ADT-12/f_1", false);
        c.add(b"000/0000000001/extra/report.pdf", false);
        c.add(b"000/0000000001/20240101/ADT-00/f_1", true);
        assert_eq!(
            c,
            ClassCounts {
                emergency: 2,
                routine: 1,
                other: 1,
                quarantined: 1
            }
        );
        assert_eq!(c.total(), 5);
    }

    #[test]
    fn snapshots_written_at_once_stay_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ops = Ops::new(dir.path());
        let snapshot = |peers: usize| Snapshot {
            version: 1,
            pid: std::process::id(),
            started_unix: 0,
            written_unix: 0,
            peer_id: "p".into(),
            facility: "0000000001".into(),
            role: "facility".into(),
            items: ClassCounts::default(),
            peers_connected: 0,
            syncs_in_progress: 0,
            partial_items: 0,
            partial_bytes: 0,
            peers: (0..peers).map(|_| PeerState::default()).collect(),
            counters: Counters::default(),
        };
        // Long and short snapshots from several threads: before the write lock, a short one
        // truncating the shared temporary file under a long one left a corrupt tail.
        std::thread::scope(|scope| {
            for t in 0..4 {
                let (ops, snap) = (&ops, snapshot(if t % 2 == 0 { 200 } else { 1 }));
                scope.spawn(move || {
                    for _ in 0..50 {
                        ops.write(&snap).expect("write");
                    }
                });
            }
        });
        let read = read_snapshot(dir.path())
            .expect("a whole snapshot")
            .expect("present");
        assert!(read.peers.len() == 200 || read.peers.len() == 1);
    }

    #[test]
    fn failures_never_count_as_success_and_the_table_is_bounded() {
        let ops = Ops::new(Path::new("/nonexistent"));
        let peer = PeerId::random();
        ops.sync_finished(peer, &Ok(Report::default()));
        let first_ok = net::lock(&ops.state).peers[&peer].last_ok_unix;
        ops.sync_finished(peer, &Err(SyncError::Timeout(Duration::from_secs(1))));
        ops.sync_finished(peer, &Err(SyncError::Closed));
        let state = net::lock(&ops.state);
        let p = &state.peers[&peer];
        assert_eq!(
            p.last_ok_unix, first_ok,
            "a failure must not move the last success"
        );
        assert_eq!(p.last_outcome, Some(Outcome::Failed));
        assert_eq!((p.syncs_ok, p.syncs_timed_out, p.syncs_failed), (1, 1, 1));
        assert_eq!(state.counters.syncs_timed_out, 1);
        assert!(
            p.last_error
                .as_deref()
                .is_some_and(|e| e.contains("closed"))
        );
        drop(state);
        for _ in 0..PEERS_TRACKED_MAX + 10 {
            ops.sync_finished(PeerId::random(), &Err(SyncError::Closed));
        }
        assert_eq!(net::lock(&ops.state).peers.len(), PEERS_TRACKED_MAX);
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        let mut s = "é".repeat(150);
        truncate(&mut s, ERROR_TEXT_MAX);
        assert!(s.len() <= ERROR_TEXT_MAX);
        assert!(s.chars().all(|c| c == 'é'));
    }
}
