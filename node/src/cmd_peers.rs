//! `kizuna status` and `kizuna peers`: what a node holds and how its syncs go, whether or not the
//! daemon runs. The store (opened with the passphrase) is the truth for identity and items; the
//! daemon's snapshot (`DIR/status.json`, `daemon/status.rs`) is the truth for peers, sync state
//! and transfers. Without a passphrase, `status` shows the snapshot alone.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use kizuna_storage::store::Store;

use crate::daemon::status::{ClassCounts, PeerState, Snapshot, read_snapshot};
use crate::net::handshake::now_unix;
use crate::region::PublicKey32;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Data directory made by `kizuna init`.
    #[arg(long)]
    data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Read the passphrase from the first line of FILE (else KIZUNA_PASSPHRASE; without
    /// either, only the daemon's snapshot is shown).
    #[arg(long)]
    key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PeersArgs {
    /// Data directory of a node that runs or ran `kizuna run`.
    #[arg(long)]
    data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Identity and items read from the store itself.
struct FromStore {
    peer_id: String,
    facility: String,
    role: String,
    items: ClassCounts,
    item_bytes: u64,
    locations: u64,
    quarantined_files: u64,
    facilities: u64,
    /// The sync set's size and digest (`daemon/digest.rs`): equal on two nodes exactly when
    /// they hold the same items.
    set_items: u64,
    set_digest: String,
}

fn from_store(args: &StatusArgs, pass: &[u8]) -> anyhow::Result<FromStore> {
    let store = Store::open(&args.data, pass)
        .with_context(|| format!("opening {}", args.data.display()))?;
    let node = store.node();
    let public: [u8; 32] = node
        .identity_public
        .as_slice()
        .try_into()
        .context("identity key has the wrong length")?;
    let peer = PublicKey32(public)
        .peer_id()
        .context("identity key is not an Ed25519 key")?;
    let stats = store.stats()?;
    let mut items = ClassCounts::default();
    let mut seen = HashSet::new();
    store.visit_locations(|loc| {
        if seen.insert(loc.hash) {
            items.add(&loc.relative_path, loc.quarantined);
        }
    })?;
    let (set_items, set_digest) = crate::daemon::digest::of_store(&store)?;
    Ok(FromStore {
        peer_id: peer.to_string(),
        facility: node.facility.clone(),
        role: node.role.as_str().to_owned(),
        items,
        item_bytes: stats.item_bytes,
        locations: stats.locations,
        quarantined_files: stats.quarantined,
        facilities: stats.facilities,
        set_items,
        set_digest,
    })
}

fn peer_json(p: &PeerState, now: u64) -> serde_json::Value {
    let mut v = serde_json::to_value(p).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("lag_s".into(), p.lag_s(now).into());
    }
    v
}

fn ago(t: Option<u64>, now: u64) -> String {
    match t {
        Some(t) => format!("{}s ago", now.saturating_sub(t)),
        None => "never".to_owned(),
    }
}

fn print_peers(peers: &[PeerState], now: u64) {
    if peers.is_empty() {
        println!("  (none)");
    }
    for p in peers {
        println!(
            "  {} {} {} {}  contact {}  last ok sync {}  lag {}  last {}{}",
            p.peer_id,
            p.facility.as_deref().unwrap_or("-"),
            p.role.as_deref().unwrap_or("-"),
            if p.connected {
                "connected"
            } else {
                "disconnected"
            },
            ago(p.last_contact_unix, now),
            ago(p.last_ok_unix, now),
            p.lag_s(now)
                .map_or_else(|| "-".to_owned(), |l| format!("{l}s")),
            p.last_outcome
                .map_or_else(|| "-".to_owned(), |o| format!("{o:?}").to_lowercase()),
            p.last_error
                .as_deref()
                .map_or_else(String::new, |e| format!(" ({e})")),
        );
    }
}

fn daemon_line(snapshot: Option<&Snapshot>, now: u64) -> String {
    match snapshot {
        None => "never run on this data directory".to_owned(),
        Some(s) if s.daemon_running(now) => format!("running (pid {})", s.pid),
        Some(s) => format!(
            "not running (last snapshot {}s ago; peer state below is from then)",
            now.saturating_sub(s.written_unix)
        ),
    }
}

pub fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let snapshot = read_snapshot(&args.data)?;
    let store = match crate::cmd_store::passphrase_without_prompt(args.key_file.as_deref())? {
        Some(pass) => Some(from_store(args, &pass)?),
        None => None,
    };
    let now = now_unix();
    let running = snapshot.as_ref().is_some_and(|s| s.daemon_running(now));
    let (peer_id, facility, role, items) = match (&store, &snapshot) {
        (Some(s), _) => (
            s.peer_id.clone(),
            s.facility.clone(),
            s.role.clone(),
            s.items,
        ),
        (None, Some(s)) => (
            s.peer_id.clone(),
            s.facility.clone(),
            s.role.clone(),
            s.items,
        ),
        (None, None) => bail!(
            "no passphrase (set KIZUNA_PASSPHRASE or pass --key-file FILE) and no daemon snapshot \
             in {}",
            args.data.display()
        ),
    };
    let peers = snapshot.as_ref().map_or(&[][..], |s| &s.peers[..]);
    // Syncs in progress only mean something while the daemon runs.
    let syncs_in_progress = snapshot
        .as_ref()
        .filter(|_| running)
        .map_or(0, |s| s.syncs_in_progress);
    // Interrupted transfers wait in the staging area whether or not the daemon runs.
    let (partial_items, partial_bytes) = snapshot
        .as_ref()
        .map_or((0, 0), |s| (s.partial_items, s.partial_bytes));
    if args.json {
        let mut v = serde_json::json!({
            "peer_id": peer_id,
            "facility": facility,
            "role": role,
            "items": items.total(),
            "items_by_class": items,
            "quarantined": store.as_ref().map_or(items.quarantined, |s| s.quarantined_files),
            "daemon_running": running,
            "snapshot_unix": snapshot.as_ref().map(|s| s.written_unix),
            "syncs_in_progress": syncs_in_progress,
            "partial_items": partial_items,
            "partial_bytes": partial_bytes,
            "peers": peers.iter().map(|p| peer_json(p, now)).collect::<Vec<_>>(),
            "counters": snapshot.as_ref().map(|s| &s.counters),
        });
        if let (Some(s), Some(obj)) = (&store, v.as_object_mut()) {
            obj.insert("item_bytes".into(), s.item_bytes.into());
            obj.insert("locations".into(), s.locations.into());
            obj.insert("facilities".into(), s.facilities.into());
            obj.insert("set_items".into(), s.set_items.into());
            obj.insert("set_digest".into(), s.set_digest.clone().into());
        }
        println!("{v}");
    } else {
        println!("peer id     {peer_id}");
        println!("facility    {facility}");
        println!("role        {role}");
        println!("daemon      {}", daemon_line(snapshot.as_ref(), now));
        println!(
            "items       {} (emergency {}, routine {}, other {}, quarantined {}){}",
            items.total(),
            items.emergency,
            items.routine,
            items.other,
            items.quarantined,
            if store.is_none() {
                " [from the snapshot: no passphrase]"
            } else {
                ""
            }
        );
        if let Some(s) = &store {
            println!(
                "locations   {} in {} facilities ({} quarantined), {} B",
                s.locations, s.facilities, s.quarantined_files, s.item_bytes
            );
            println!("item set    {} items, digest {}", s.set_items, s.set_digest);
        }
        println!(
            "transfers   {syncs_in_progress} syncs in progress, {partial_items} interrupted items \
             kept for resumption ({partial_bytes} B)"
        );
        println!("peers");
        print_peers(peers, now);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn peers(args: &PeersArgs) -> anyhow::Result<ExitCode> {
    let snapshot = read_snapshot(&args.data)?;
    let now = now_unix();
    let peers = snapshot.as_ref().map_or(&[][..], |s| &s.peers[..]);
    if args.json {
        let v = serde_json::json!({
            "daemon_running": snapshot.as_ref().is_some_and(|s| s.daemon_running(now)),
            "snapshot_unix": snapshot.as_ref().map(|s| s.written_unix),
            "peers": peers.iter().map(|p| peer_json(p, now)).collect::<Vec<_>>(),
        });
        println!("{v}");
    } else {
        println!("daemon {}", daemon_line(snapshot.as_ref(), now));
        print_peers(peers, now);
    }
    Ok(ExitCode::SUCCESS)
}
