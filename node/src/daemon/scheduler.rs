//! Continuous sync: the daemon's main loop (`kizuna run`). It starts the services that only a
//! long-running node has (revocation replication, the hub mirror, live ingest), dials the static
//! peers, and keeps every member we initiate with (static peers and mDNS-discovered ones: the
//! side that dialled initiates, see `net::Member::initiate`) in sync:
//!
//! - at once when the member comes up;
//! - [`SOON`] after this node's item set grew (live ingest or another sync), so new records
//!   spread without waiting for the interval. This push goes to **every** connected member,
//!   also those that dialled us and so normally initiate themselves: a hub that receives a
//!   facility's new records passes them on to the other facilities at once, instead of each
//!   learning them at its next interval (default 300 s). A push is one sync, not a schedule:
//!   done or failed, it is forgotten (the dialler's own schedule still covers the peer);
//! - every `sync.interval_s` otherwise;
//! - after a failure (including a timeout, which is never counted as success) with exponential
//!   backoff from [`RETRY_BASE`], at most [`RETRY_MAX`] and never beyond the interval; the
//!   failed connection is closed, so a static peer that comes back is redialled afresh.
//!
//! Concurrency is the node's `concurrent_syncs_max` permits, shared with responder sessions; a
//! member that is due while no permit is free waits for the next tick.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use libp2p::PeerId;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::mirror::{Mirror, Recent};
use super::revocations::{self, Records};
use super::{Node, NodeEvent, finish_sync, ingest};
use crate::net::Command;
use crate::region::Role;

/// How often due syncs are started.
const TICK: Duration = Duration::from_millis(250);
/// Delay after the set grew before syncing: coalesces a burst of ingested files into one sync.
pub const SOON: Duration = Duration::from_millis(500);
/// First retry after a failed sync; doubles per consecutive failure.
pub const RETRY_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay: a peer that comes back is synced within this (or the interval).
pub const RETRY_MAX: Duration = Duration::from_secs(60);
/// Static peers that are not connected are redialled at most this far apart.
const REDIAL_MAX: Duration = Duration::from_secs(30);
/// Finished syncs waiting for the loop: at most one per permit, plus slack.
const RESULTS_MAX: usize = 32;

#[derive(Debug)]
struct PeerState {
    due: Instant,
    failures: u32,
    running: bool,
    /// We initiate with this member on a schedule (we dialled it). Otherwise the state is a
    /// one-off push after our set grew, dropped once it has run.
    scheduled: bool,
    /// The set grew while a sync with this member was running: that sync may have missed the
    /// new items, so another follows [`SOON`] after it.
    dirty: bool,
}

impl PeerState {
    fn new(due: Instant, scheduled: bool) -> PeerState {
        PeerState {
            due,
            failures: 0,
            running: false,
            scheduled,
            dirty: false,
        }
    }
}

#[derive(Debug)]
enum Outcome {
    Done { partial: bool },
    Failed,
}

fn backoff(failures: u32, interval: Duration) -> Duration {
    let exp = RETRY_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    exp.min(RETRY_MAX).min(interval)
}

/// Runs the daemon until the node's event stream ends (the swarm stopped).
pub async fn run(node: Node, mut events: mpsc::Receiver<NodeEvent>) -> anyhow::Result<()> {
    let settings = std::sync::Arc::clone(&node.settings);
    let records = match &settings.revocations {
        Some(dir) => Records::load(dir, &node.membership.authority)
            .with_context(|| format!("reading revocations in {}", dir.display()))?,
        None => Records::default(),
    };
    revocations::spawn(node.clone(), records.clone());

    let recent = Recent::default();
    if let Some(central) = &settings.central {
        if node.membership.own.role != Role::Hub {
            bail!("hub.central is set but this node's membership role is not hub");
        }
        std::fs::create_dir_all(central)
            .with_context(|| format!("creating the central tree {}", central.display()))?;
        let central = central.canonicalize()?;
        node.store
            .enable_mirror(Mirror::new(central, recent.clone()))
            .await?;
    }
    ingest::spawn(settings.ingest.clone(), node.store.clone(), recent)?;

    node.dial_static_peers(true).await;
    let interval = settings.sync_interval;
    let redial = interval.min(REDIAL_MAX);
    let mut last_dial = Instant::now();
    let mut states: HashMap<PeerId, PeerState> = HashMap::new();
    let (results_tx, mut results) = mpsc::channel::<(PeerId, Outcome)>(RESULTS_MAX);
    let mut changed = node.store.changed.subscribe();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(NodeEvent::MemberUp(peer)) => {
                    if node.initiating_members().contains(&peer) {
                        let state = states.entry(peer).or_insert(PeerState::new(Instant::now(), true));
                        state.scheduled = true;
                        state.due = Instant::now();
                        revocations::exchange(&node, &records, peer);
                    }
                }
                Some(_) => {}
                None => bail!("the network task stopped"),
            },
            Ok(()) = changed.changed() => {
                let soon = Instant::now() + SOON;
                for (peer, initiate) in node.members() {
                    let state = states.entry(peer).or_insert(PeerState::new(soon, initiate));
                    if state.running {
                        state.dirty = true;
                    } else {
                        state.due = state.due.min(soon);
                    }
                }
            }
            Some((peer, outcome)) = results.recv() => {
                let now = Instant::now();
                let again = states.get(&peer).is_some_and(|s| s.dirty);
                let failed = matches!(outcome, Outcome::Failed);
                if states.get(&peer).is_some_and(|s| !s.scheduled && (failed || !s.dirty)) {
                    // A one-off push that is done, or failed: the peer dialled us and its own
                    // schedule covers it (no backoff or disconnect on its behalf).
                    states.remove(&peer);
                } else if let Some(state) = states.get_mut(&peer) {
                    state.running = false;
                    state.dirty = false;
                    match outcome {
                        Outcome::Done { partial } => {
                            state.failures = 0;
                            // A partial sync (difference above the per-sync cap) or one that
                            // ran while the set grew continues soon.
                            state.due = if partial || again { now + SOON } else { now + interval };
                        }
                        Outcome::Failed => {
                            state.failures = state.failures.saturating_add(1);
                            state.due = now + backoff(state.failures, interval);
                            // A failed or timed-out sync usually means a dead path (a peer
                            // that vanished leaves a QUIC connection that looks alive until
                            // its idle timeout). Drop it: a static peer is redialled within
                            // the redial interval, on a fresh connection if it is back.
                            let _ = node.commands.send(Command::Disconnect(peer)).await;
                        }
                    }
                }
            }
            _ = tick.tick() => {
                if last_dial.elapsed() >= redial {
                    node.dial_static_peers(false).await;
                    last_dial = Instant::now();
                }
                let members = node.members();
                let connected = |peer: &PeerId| members.iter().any(|(p, _)| p == peer);
                // Scheduled peers that are gone and pushes to peers that left are dropped.
                states.retain(|peer, state| state.running || connected(peer));
                let now = Instant::now();
                for (peer, initiate) in members.iter().filter(|(_, i)| *i) {
                    states.entry(*peer).or_insert(PeerState::new(now, *initiate)).scheduled = true;
                }
                for (peer, state) in &mut states {
                    if state.running || state.due > now {
                        continue;
                    }
                    let Ok(permit) = std::sync::Arc::clone(&node.permits).try_acquire_owned() else {
                        break;
                    };
                    state.running = true;
                    state.dirty = false;
                    let (node, tx, peer) = (node.clone(), results_tx.clone(), *peer);
                    tokio::spawn(async move {
                        let _permit = permit;
                        let result = node.sync_with(peer).await;
                        let outcome = match &result {
                            Ok(report) => Outcome::Done { partial: report.partial },
                            Err(_) => Outcome::Failed,
                        };
                        finish_sync(&node, peer, "initiator", result).await;
                        let _ = tx.send((peer, outcome)).await;
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let interval = Duration::from_secs(300);
        assert_eq!(backoff(1, interval), RETRY_BASE);
        assert_eq!(backoff(2, interval), RETRY_BASE * 2);
        assert_eq!(backoff(4, interval), RETRY_BASE * 8);
        assert_eq!(backoff(30, interval), RETRY_MAX);
        assert_eq!(backoff(u32::MAX, interval), RETRY_MAX);
        assert_eq!(backoff(10, Duration::from_secs(5)), Duration::from_secs(5));
    }
}
