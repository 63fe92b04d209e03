//! The simulation engine: one thread, one seeded RNG, one global clock and an ordered event
//! queue. Nodes see only their own skewed clock; the checker sees everything.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use kizuna_sync::meta::ScopeTag;
use kizuna_sync::scope::{Envelope, ScopedFailReason};
use kizuna_sync::session::Role;
use kizuna_sync::{
    AgreedScope, AllowList, Config, FailReason, ItemId, ItemSet, Millis, ScopedEvent, ScopedSync,
};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::check::{self, NodeImage, WriteRecord};
use super::net::{Faults, LinkOp, Network, NodeId, Packet, Payload, SessionKey};
use super::store::{FACILITY_OFFSET, HEADER_BYTES, Store, facility_tag};
use super::{Counters, RunReport, SimConfig, SimFailure};

/// Global time at the start of a run, in ms since the Unix epoch (mid-2025), so skewed node
/// clocks look like real wall clocks and never go below zero.
const START_MS: u64 = 1_750_000_000_000;

/// Largest clock skew of a node in either direction: ten minutes.
const SKEW_MS_MAX: i64 = 10 * 60 * 1000;

/// Sessions one node keeps, active and lingering. When full, the oldest finished one is evicted
/// first; if none is finished, new responders are refused (the initiator will time out).
const SESSIONS_MAX: usize = 32;

/// Ids per fetch request, and so the most item replies one request can cause.
const FETCH_IDS_MAX: usize = 32;

/// Fetches one node may have outstanding; beyond it `Need`s are ignored and re-learned at the
/// next session.
const FETCHES_OUTSTANDING_MAX: usize = 512;

/// An unanswered fetch may be repeated (to any peer) after this long.
const FETCH_TIMEOUT_MS: u64 = 20_000;

/// Pending items that force a flush regardless of a node's policy, bounding what a crash can
/// take and the volatile memory a node holds.
const PENDING_MAX: usize = 256;

/// Queued events (packets in flight, timers, scheduled faults). Stale session timers stay queued
/// until they fire, so the queue is bounded by rates times lifetimes rather than by one cap;
/// crossing this means a runaway (a timer storm, a packet loop) and fails the run.
const QUEUE_MAX: usize = 100_000;

/// Events processed in one run before it is declared a livelock.
const EVENTS_MAX: u64 = 2_000_000;

/// Pre-seeded items when a newcomer joins: over 2,048 ids (one 64 KiB frame of ids) at the top,
/// so the first exchange cannot fit one frame.
const NEWCOMER_PRESEEDED: std::ops::RangeInclusive<usize> = 1_500..=3_000;

/// Shelters: nodes entitled to a seeded subset of the facility scopes, which write nothing and
/// must end up with exactly their scopes' items and never see another.
const SHELTERS: std::ops::RangeInclusive<usize> = 1..=2;

/// Item body sizes, header included.
const BODY_BYTES: std::ops::RangeInclusive<usize> = 100..=3000;

#[derive(Clone, Debug)]
enum Action {
    Deliver(Packet),
    SessionTimer {
        node: NodeId,
        incarnation: u32,
        key: SessionKey,
    },
    SyncTick {
        node: NodeId,
        incarnation: u32,
    },
    Flush {
        node: NodeId,
        incarnation: u32,
    },
    Write,
    Crash,
    Restart {
        node: NodeId,
        incarnation: u32,
    },
    Fault,
    Link {
        epoch: u32,
        from: NodeId,
        to: NodeId,
        both: bool,
        op: LinkOp,
    },
    Heal,
}

/// Parameters drawn from the seed, so one seed explores one kind of weather.
#[derive(Clone, Copy, Debug)]
struct Weather {
    chaos_ms: u64,
    writes: usize,
    preseeded: usize,
    /// A facility that joins empty while the others share a large pre-seeded replica: an
    /// initial sync big enough that frames fill up and are cut, which small sets never reach.
    newcomer: Option<NodeId>,
    faults: Faults,
    /// Written timestamps are rounded down to this: HL7 times are often whole seconds, and equal
    /// timestamps make range bounds carry id prefixes.
    timestamp_quantum_ms: u64,
    /// Mean gap between crashes; 0 disables them.
    crash_gap_ms: u64,
    /// Mean gap between partition, swizzle and clog events; 0 disables them.
    fault_gap_ms: u64,
}

#[derive(Debug)]
struct Slot {
    session: ScopedSync,
    peer: NodeId,
    role: Role,
    /// The peer's incarnation when the session began: a protocol error after the peer restarted
    /// can be an artefact of the crash, one before cannot.
    peer_incarnation: u32,
    started_ms: u64,
    /// Deadline (node clock) of the timer already queued, so timers are not queued twice.
    armed: Option<Millis>,
}

#[derive(Debug)]
struct Node {
    up: bool,
    incarnation: u32,
    skew_ms: i64,
    config: Config,
    store: Store,
    /// Facility codes whose scopes this node is entitled to, and the same as tags and as the
    /// policy it applies to every peer (the simulation has no per-peer access rules).
    scopes: BTreeSet<u64>,
    tags: Vec<ScopeTag>,
    policy: AllowList,
    /// The last scopes agreed with each peer: the item layer sends a peer only bodies of these,
    /// as the transfer layer checks every requested item against the agreement.
    agreed: BTreeMap<NodeId, AgreedScope>,
    sessions: BTreeMap<SessionKey, Slot>,
    next_sid: u32,
    /// Outstanding fetches: id → (peer asked, global expiry).
    fetching: BTreeMap<ItemId, (NodeId, u64)>,
    /// 0 flushes on every write (`synchronous=FULL`); otherwise a commit every
    /// `flush_interval_ms`, or as soon as `flush_batch` items are pending.
    flush_interval_ms: u64,
    flush_batch: usize,
    sync_gap_ms: (u64, u64),
    /// Bumped whenever the live set changes (ingest, crash): a session whose peers' versions did
    /// not move saw fixed sets, so its reports must be exact.
    version: u64,
}

/// Oracle record of one session's reports on both sides, for the exactness check.
#[derive(Debug)]
struct Exactness {
    responder: NodeId,
    /// Facility codes of the agreed scopes, once the initiator learned them: the reports cover
    /// only these.
    agreed: Option<BTreeSet<u64>>,
    /// Versions of (initiator, responder) when the initiator started.
    versions: (u64, u64),
    /// Per side (initiator, responder): ids reported in `Have` and in `Need`, and `Done` seen.
    have: [BTreeSet<ItemId>; 2],
    need: [BTreeSet<ItemId>; 2],
    done: [bool; 2],
}

pub(super) struct World {
    seed: u64,
    config: SimConfig,
    rng: ChaCha8Rng,
    weather: Weather,
    /// Nodes `0..=facilities` (the hub and the facilities) write and are entitled to every
    /// facility scope; the shelters after them are not.
    facilities: usize,
    now: u64,
    queue: BTreeMap<(u64, u64), Action>,
    seq: u64,
    net: Network,
    nodes: Vec<Node>,
    history: BTreeMap<ItemId, WriteRecord>,
    epoch: u32,
    healed_at: Option<u64>,
    trace: ring::digest::Context,
    violations: Vec<String>,
    counters: Counters,
    outbox: Vec<(u64, Packet)>,
    /// Oracle knowledge, not node knowledge: every (responder, session) ever opened, and the
    /// sessions a responder opened a second time after it dropped the first copy (crash or
    /// eviction) because a stale first frame arrived. The sync core cannot tell such a twin from
    /// the original, so its protocol errors are excused and counted, not failed (see the report).
    opened: BTreeSet<(NodeId, SessionKey)>,
    reopened: BTreeSet<SessionKey>,
    /// Sessions in progress, by key; removed when both sides are done or one fails. Bounded by
    /// the sessions of one run.
    exact: BTreeMap<SessionKey, Exactness>,
}

impl World {
    pub(super) fn new(seed: u64, config: SimConfig) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // At least one facility: faults pick pairs of distinct nodes.
        let facilities = config.facilities.max(1);
        let shelters = rng.random_range(SHELTERS);
        let node_count = facilities + 1 + shelters;
        // One seed in ten: a new facility node joins a region with a few thousand records.
        let newcomer = rng
            .random_bool(0.1)
            .then(|| rng.random_range(1..=facilities));
        let preseeded = if newcomer.is_some() {
            rng.random_range(NEWCOMER_PRESEEDED)
        } else {
            rng.random_range(0..=80)
        };
        let timestamp_quantum_ms = *[1, 1_000, 60_000].choose(&mut rng).unwrap_or(&1);
        let weather = if config.faults && config.extreme {
            // Beyond what a link should do: loss and duplication up to a half, delays beyond the
            // reply timeout, so retransmissions race their originals.
            Weather {
                chaos_ms: rng.random_range(120_000..=600_000),
                writes: rng.random_range(20..=120),
                preseeded,
                newcomer,
                faults: Faults {
                    loss: rng.random_range(0.0..0.6),
                    duplicate: rng.random_range(0.0..0.5),
                    corrupt: rng.random_range(0.0..0.5),
                    jitter_ms: rng.random_range(0..=30_000),
                },
                timestamp_quantum_ms,
                crash_gap_ms: rng.random_range(5_000..=60_000),
                fault_gap_ms: rng.random_range(2_000..=30_000),
            }
        } else if config.faults {
            Weather {
                chaos_ms: rng.random_range(120_000..=600_000),
                writes: rng.random_range(20..=120),
                preseeded,
                newcomer,
                faults: Faults {
                    loss: rng.random_range(0.0..0.3),
                    duplicate: rng.random_range(0.0..0.1),
                    corrupt: rng.random_range(0.0..0.15),
                    jitter_ms: rng.random_range(0..=800),
                },
                timestamp_quantum_ms,
                crash_gap_ms: rng.random_range(10_000..=120_000),
                fault_gap_ms: rng.random_range(5_000..=60_000),
            }
        } else {
            Weather {
                chaos_ms: rng.random_range(120_000..=600_000),
                writes: rng.random_range(20..=120),
                preseeded,
                newcomer,
                faults: Faults::default(),
                timestamp_quantum_ms,
                crash_gap_ms: 0,
                fault_gap_ms: 0,
            }
        };
        let net = Network::new(node_count, weather.faults, &mut rng);
        let nodes = (0..node_count)
            .map(|n| {
                let all = 0..=facilities as u64;
                let scopes: BTreeSet<u64> = if n <= facilities {
                    all.collect()
                } else {
                    // A seeded proper, non-empty subset, so a shelter has something to receive
                    // and something it must never see.
                    let mut codes: Vec<u64> = all.collect();
                    codes.shuffle(&mut rng);
                    let keep = rng.random_range(1..codes.len());
                    codes.truncate(keep);
                    codes.into_iter().collect()
                };
                // Sorted as tags, not as codes ("fac:10" < "fac:2"): lookups binary-search them.
                let mut tags: Vec<ScopeTag> =
                    scopes.iter().map(|&code| facility_tag(code)).collect();
                tags.sort();
                let branching = rng.random_range(2..=16);
                let leaf_items = rng.random_range(branching..=branching + 24);
                let flush_interval_ms = if rng.random_bool(0.3) {
                    0
                } else {
                    rng.random_range(50..=10_000)
                };
                let sync_lo = rng.random_range(2_000..=10_000);
                Node {
                    up: true,
                    incarnation: 0,
                    skew_ms: rng.random_range(-SKEW_MS_MAX..=SKEW_MS_MAX),
                    // Both values come from the ranges `Config::new` accepts.
                    config: Config::new(branching, leaf_items).unwrap_or_default(),
                    store: Store::new(),
                    policy: AllowList::new(tags.iter().cloned()),
                    scopes,
                    tags,
                    agreed: BTreeMap::new(),
                    sessions: BTreeMap::new(),
                    next_sid: 0,
                    fetching: BTreeMap::new(),
                    flush_interval_ms,
                    flush_batch: rng.random_range(4..=300),
                    sync_gap_ms: (sync_lo, sync_lo + rng.random_range(1_000..=30_000)),
                    version: 0,
                }
            })
            .collect();
        let mut world = World {
            seed,
            config,
            rng,
            weather,
            facilities,
            now: START_MS,
            queue: BTreeMap::new(),
            seq: 0,
            net,
            nodes,
            history: BTreeMap::new(),
            epoch: 0,
            healed_at: None,
            trace: ring::digest::Context::new(&ring::digest::SHA256),
            violations: Vec::new(),
            counters: Counters::default(),
            outbox: Vec::new(),
            opened: BTreeSet::new(),
            reopened: BTreeSet::new(),
            exact: BTreeMap::new(),
        };
        world.populate();
        world
    }

    /// Pre-seeded replicas, the write schedule, and each node's recurring work.
    fn populate(&mut self) {
        let archive = self
            .weather
            .newcomer
            .map(|_| self.rng.random_range(0..=self.facilities as u64));
        for _ in 0..self.weather.preseeded {
            let timestamp_ms = START_MS - self.rng.random_range(0..=365 * 86_400_000);
            // A newcomer's region is one large archive of one facility: spread over every scope,
            // no scope's set would outgrow one frame and the cut-frame paths would go untested.
            let facility = match archive {
                Some(code) => code,
                None => self.rng.random_range(0..=self.facilities as u64),
            };
            let body = self.new_body(timestamp_ms, facility);
            for (n, node) in self.nodes.iter_mut().enumerate() {
                if Some(n) != self.weather.newcomer && node.scopes.contains(&facility) {
                    node.store.preload(body.clone());
                }
            }
            if let Some(key) = super::store::item_key(&body) {
                self.history.insert(
                    key.id,
                    WriteRecord {
                        key,
                        origin: facility as usize,
                        facility,
                        acknowledged: true,
                        durable_somewhere: true,
                    },
                );
            }
        }
        let chaos_end = START_MS + self.weather.chaos_ms;
        for _ in 0..self.weather.writes {
            let at = self.rng.random_range(START_MS..chaos_end);
            self.schedule(at, Action::Write);
        }
        for node in 0..self.nodes.len() {
            self.start_node_work(node);
        }
        if self.weather.crash_gap_ms > 0 {
            let at = self.now + self.gap(self.weather.crash_gap_ms);
            self.schedule(at, Action::Crash);
        }
        if self.weather.fault_gap_ms > 0 {
            let at = self.now + self.gap(self.weather.fault_gap_ms);
            self.schedule(at, Action::Fault);
        }
        self.schedule(chaos_end, Action::Heal);
    }

    /// A random gap with mean `mean_ms`: uniform over `[0, 2 × mean]`.
    fn gap(&mut self, mean_ms: u64) -> u64 {
        self.rng.random_range(0..=2 * mean_ms)
    }

    fn start_node_work(&mut self, node: NodeId) {
        let incarnation = self.nodes[node].incarnation;
        let (lo, hi) = self.nodes[node].sync_gap_ms;
        let at = self.now + self.rng.random_range(0..=hi - lo);
        self.schedule(at, Action::SyncTick { node, incarnation });
        let interval = self.nodes[node].flush_interval_ms;
        if interval > 0 {
            self.schedule(self.now + interval, Action::Flush { node, incarnation });
        }
    }

    fn schedule(&mut self, at: u64, action: Action) {
        self.seq += 1;
        self.queue.insert((at.max(self.now), self.seq), action);
    }

    fn clock(&self, node: NodeId) -> Millis {
        Millis(self.now.saturating_add_signed(self.nodes[node].skew_ms))
    }

    fn to_global(&self, node: NodeId, local: Millis) -> u64 {
        local
            .0
            .saturating_add_signed(-self.nodes[node].skew_ms)
            .max(self.now)
    }

    fn mark(&mut self, words: &[u64]) {
        for word in words {
            self.trace.update(&word.to_le_bytes());
        }
    }

    fn violation(&mut self, text: String) {
        // Bounded: the first few say what broke; the count says how often.
        self.counters.violations += 1;
        if self.violations.len() < 16 {
            let at = self.now - START_MS;
            self.violations.push(format!("t={at}ms: {text}"));
        }
    }

    fn log(&self, text: impl FnOnce() -> String) {
        if self.config.verbose {
            println!("{:>9} {}", self.now - START_MS, text());
        }
    }

    /// A random item of `facility`'s scope; facility codes are node indices, below 256.
    fn new_body(&mut self, timestamp_ms: u64, facility: u64) -> Rc<[u8]> {
        let len = self.rng.random_range(BODY_BYTES);
        let mut bytes = vec![0u8; len];
        bytes[..FACILITY_OFFSET].copy_from_slice(&timestamp_ms.to_le_bytes());
        bytes[FACILITY_OFFSET] = facility as u8;
        self.rng.fill(&mut bytes[HEADER_BYTES..]);
        bytes.into()
    }

    /// The oracle's facility code of a written item.
    fn facility_of(&self, id: &ItemId) -> Option<u64> {
        self.history.get(id).map(|record| record.facility)
    }

    /// Runs to convergence after heal, or to the bound, then checks.
    pub(super) fn run(mut self) -> Result<RunReport, SimFailure> {
        let mut events = 0u64;
        let mut converged_at = None;
        while let Some(((at, _), action)) = self.queue.pop_first() {
            if let Some(healed_at) = self.healed_at
                && at > healed_at + self.config.heal_bound_ms
            {
                break;
            }
            events += 1;
            if events > EVENTS_MAX {
                self.violation(format!("livelock: {EVENTS_MAX} events without converging"));
                break;
            }
            self.now = at;
            self.step(action);
            if self.queue.len() > QUEUE_MAX {
                self.violation(format!("event queue exceeded {QUEUE_MAX} entries"));
                break;
            }
            if self.healed_at.is_some() && self.converged() {
                converged_at = Some(self.now);
                break;
            }
        }
        self.counters.events = events;
        self.finish(converged_at)
    }

    /// Cheap test run after every event once healed: all nodes up, nothing pending, and per
    /// scope equal fingerprints on every node entitled to it. The checker then compares exactly
    /// (and also catches items held outside a node's scopes).
    fn converged(&self) -> bool {
        let Some(first) = self.nodes.first() else {
            return true;
        };
        if !self
            .nodes
            .iter()
            .all(|node| node.up && node.store.pending_len() == 0)
        {
            return false;
        }
        let print = |node: &Node, tag: &ScopeTag| match node.store.live_scope(tag) {
            Some(set) => set.len().and_then(|len| Ok((len, set.accumulate(0, len)?))),
            None => kizuna_sync::MemItemSet::new()
                .accumulate(0, 0)
                .map(|acc| (0, acc)),
        };
        first.tags.iter().all(|tag| {
            let reference = print(first, tag);
            self.nodes
                .iter()
                .filter(|node| node.tags.binary_search(tag).is_ok())
                .all(|node| print(node, tag) == reference)
        })
    }

    fn finish(mut self, converged_at: Option<u64>) -> Result<RunReport, SimFailure> {
        let images: Vec<NodeImage> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(n, node)| NodeImage {
                node: n,
                up: node.up,
                pending: node.store.pending_len(),
                keys: node.store.durable_keys().copied().collect(),
                bodies: node.store.durable_bodies().clone(),
                scopes: node.scopes.clone(),
            })
            .collect();
        let verdict = check::check(&self.history, &images);
        let healed_at = self.healed_at.unwrap_or(self.now);
        let converge_ms = converged_at.map(|at| at - healed_at);
        let mut problems: Vec<String> = std::mem::take(&mut self.violations);
        if converge_ms.is_none() {
            problems.push(format!(
                "no convergence within {} simulated ms after heal",
                self.config.heal_bound_ms
            ));
        }
        problems.extend(verdict.problems.iter().cloned());
        let mut trace_digest = [0u8; 32];
        trace_digest.copy_from_slice(self.trace.clone().finish().as_ref());
        let report = RunReport {
            seed: self.seed,
            chaos_ms: self.weather.chaos_ms,
            simulated_ms: self.now - START_MS,
            converge_ms: converge_ms.unwrap_or(u64::MAX),
            net: self.net.stats,
            counters: self.counters,
            items_written: self.history.len(),
            items_ok: verdict.ok,
            items_recovered: verdict.recovered,
            items_vanished: verdict.vanished,
            items_final: images.first().map_or(0, |image| image.keys.len()),
            shelter_items: images[self.facilities + 1..]
                .iter()
                .map(|image| image.keys.len())
                .sum(),
            shelter_items_if_full: images.first().map_or(0, |image| image.keys.len())
                * (images.len() - self.facilities - 1),
            trace_digest,
            state_digest: verdict.state_digest,
        };
        if problems.is_empty() {
            Ok(report)
        } else {
            Err(SimFailure {
                report: Box::new(report),
                problems,
                config: self.config,
            })
        }
    }

    fn step(&mut self, action: Action) {
        match action {
            Action::Deliver(packet) => self.deliver(packet),
            Action::SessionTimer {
                node,
                incarnation,
                key,
            } => {
                if !self.is_current(node, incarnation) {
                    return;
                }
                let now = self.clock(node);
                let state = &mut self.nodes[node];
                let Some(slot) = state.sessions.get_mut(&key) else {
                    return;
                };
                slot.armed = None;
                slot.session.handle_timeout(&state.store, now);
                self.mark(&[1, node as u64, key.initiator as u64, key.sid]);
                self.pump(node, key);
            }
            Action::SyncTick { node, incarnation } => {
                if !self.is_current(node, incarnation) {
                    return;
                }
                self.mark(&[2, node as u64]);
                self.start_session(node);
                let (lo, hi) = self.nodes[node].sync_gap_ms;
                let at = self.now + self.rng.random_range(lo..=hi);
                self.schedule(at, Action::SyncTick { node, incarnation });
            }
            Action::Flush { node, incarnation } => {
                if !self.is_current(node, incarnation) {
                    return;
                }
                self.flush(node);
                let at = self.now + self.nodes[node].flush_interval_ms;
                self.schedule(at, Action::Flush { node, incarnation });
            }
            Action::Write => self.write(),
            Action::Crash => self.crash(),
            Action::Restart { node, incarnation } => {
                if !self.nodes[node].up && self.nodes[node].incarnation == incarnation {
                    self.restart(node);
                }
            }
            Action::Fault => self.fault(),
            Action::Link {
                epoch,
                from,
                to,
                both,
                op,
            } => {
                if epoch != self.epoch {
                    return;
                }
                self.mark(&[8, from as u64, to as u64]);
                self.log(|| format!("link {from}->{to} both={both} {op:?}"));
                self.net.apply(from, to, op);
                if both {
                    self.net.apply(to, from, op);
                }
            }
            Action::Heal => self.heal(),
        }
    }

    fn is_current(&self, node: NodeId, incarnation: u32) -> bool {
        self.nodes[node].up && self.nodes[node].incarnation == incarnation
    }

    fn send(&mut self, packet: Packet) {
        let mut out = std::mem::take(&mut self.outbox);
        self.net.send(&mut self.rng, self.now, packet, &mut out);
        for (at, packet) in out.drain(..) {
            self.schedule(at, Action::Deliver(packet));
        }
        self.outbox = out;
    }

    /// Starts a session with a random reachable peer, preferring the hub as real nodes do when
    /// the datacenter is up.
    fn start_session(&mut self, node: NodeId) {
        if !self.config.sync {
            return;
        }
        let reachable: Vec<NodeId> = (0..self.nodes.len())
            .filter(|&peer| {
                peer != node
                    && self.nodes[peer].up
                    && !self.net.is_cut(node, peer)
                    && !self.net.is_cut(peer, node)
            })
            .collect();
        let Some(&any) = reachable.choose(&mut self.rng) else {
            return;
        };
        let peer = if reachable.contains(&0) && self.rng.random_bool(0.4) {
            0
        } else {
            any
        };
        let node_state = &self.nodes[node];
        let busy = node_state.sessions.values().any(|slot| {
            slot.peer == peer && slot.role == Role::Initiator && !slot.session.is_finished()
        });
        if busy || !self.make_room(node) {
            return;
        }
        let peer_incarnation = self.nodes[peer].incarnation;
        let node_state = &mut self.nodes[node];
        let key = SessionKey {
            initiator: node,
            sid: (u64::from(node_state.incarnation) << 32) | u64::from(node_state.next_sid),
        };
        node_state.next_sid += 1;
        let now = Millis(self.now.saturating_add_signed(node_state.skew_ms));
        let session = ScopedSync::initiator(
            &node_state.policy,
            node_state.tags.iter().cloned(),
            node_state.config,
            now,
        );
        node_state.sessions.insert(
            key,
            Slot {
                session,
                peer,
                role: Role::Initiator,
                peer_incarnation,
                started_ms: self.now,
                armed: None,
            },
        );
        self.counters.sessions_started += 1;
        let versions = (self.nodes[node].version, self.nodes[peer].version);
        self.exact.insert(
            key,
            Exactness {
                responder: peer,
                agreed: None,
                versions,
                have: [BTreeSet::new(), BTreeSet::new()],
                need: [BTreeSet::new(), BTreeSet::new()],
                done: [false; 2],
            },
        );
        self.mark(&[3, node as u64, peer as u64, key.sid]);
        self.log(|| format!("node {node} starts session {key:?} with {peer}"));
        self.pump(node, key);
    }

    /// Frees a slot if the node is at its session cap by evicting the oldest finished session.
    fn make_room(&mut self, node: NodeId) -> bool {
        let sessions = &mut self.nodes[node].sessions;
        if sessions.len() < SESSIONS_MAX {
            return true;
        }
        let oldest = sessions
            .iter()
            .filter(|(_, slot)| slot.session.is_finished())
            .min_by_key(|(key, slot)| (slot.started_ms, **key))
            .map(|(key, _)| *key);
        match oldest {
            Some(key) => {
                sessions.remove(&key);
                self.counters.sessions_evicted += 1;
                self.log(|| format!("node {node} evicts finished session {key:?}"));
                true
            }
            None => false,
        }
    }

    /// Drives a session after any input, in the documented order: transmit (until `None`: a
    /// scoped step may queue several envelopes), events, timeout.
    fn pump(&mut self, node: NodeId, key: SessionKey) {
        let Some(slot) = self.nodes[node].sessions.get_mut(&key) else {
            return;
        };
        let peer = slot.peer;
        let role = slot.role;
        let peer_incarnation = slot.peer_incarnation;
        let mut frames = Vec::new();
        while let Some(frame) = slot.session.poll_transmit() {
            frames.push(frame);
        }
        let mut events = Vec::new();
        while let Some(event) = slot.session.poll_event() {
            events.push(event);
        }
        let deadline = slot.session.poll_timeout();
        let finished = slot.session.is_finished();
        let mut arm = None;
        match deadline {
            None => {
                self.nodes[node].sessions.remove(&key);
            }
            Some(deadline) if slot.armed != Some(deadline) => {
                slot.armed = Some(deadline);
                arm = Some(deadline);
            }
            Some(_) => {}
        }
        if deadline.is_none() && !finished {
            self.violation(format!(
                "node {node} session {key:?} is unfinished but wants no timer: it would hang"
            ));
        }
        if let Some(deadline) = arm {
            let at = self.to_global(node, deadline);
            let incarnation = self.nodes[node].incarnation;
            self.schedule(
                at,
                Action::SessionTimer {
                    node,
                    incarnation,
                    key,
                },
            );
        }
        for frame in frames {
            self.counters.recon_frames += 1;
            self.counters.recon_bytes += frame.len() as u64;
            self.counters.recon_frame_bytes_max =
                self.counters.recon_frame_bytes_max.max(frame.len() as u64);
            self.trace.update(&frame);
            self.send(Packet {
                from: node,
                to: peer,
                payload: Payload::Recon { key, frame },
            });
        }
        for event in events {
            self.on_event(node, peer, role, peer_incarnation, key, event);
        }
    }

    fn on_event(
        &mut self,
        node: NodeId,
        peer: NodeId,
        role: Role,
        peer_incarnation: u32,
        key: SessionKey,
        event: ScopedEvent,
    ) {
        match event {
            ScopedEvent::Agreed(agreed) => {
                self.mark(&[18, node as u64, agreed.tags().len() as u64]);
                let state = &self.nodes[node];
                let outside: Vec<&ScopeTag> = agreed
                    .tags()
                    .iter()
                    .filter(|tag| {
                        state.tags.binary_search(tag).is_err()
                            || self.nodes[peer].tags.binary_search(tag).is_err()
                    })
                    .collect();
                if !outside.is_empty() {
                    let text = format!(
                        "node {node} ({role:?}, {key:?}) agreed with {peer} on scopes {outside:?} \
                         outside one side's entitlement"
                    );
                    self.violation(text);
                }
                if role == Role::Initiator
                    && let Some(record) = self.exact.get_mut(&key)
                {
                    let codes = (0..=self.facilities as u64)
                        .filter(|&code| agreed.tags().contains(&facility_tag(code)))
                        .collect();
                    record.agreed = Some(codes);
                }
                self.nodes[node].agreed.insert(peer, agreed);
            }
            ScopedEvent::Have { scope, ids } => {
                self.check_scope(node, role, key, "Have", &scope, &ids);
                self.mark(&[4, node as u64, ids.len() as u64]);
                if let Some(record) = self.exact.get_mut(&key) {
                    record.have[side(role)].extend(ids.iter().copied());
                }
                self.counters.have_ids += ids.len() as u64;
                for id in &ids {
                    if !self.nodes[node].store.contains(id) {
                        self.violation(format!(
                            "node {node} ({role:?}, {key:?}) reports Have {id:?} it does not hold"
                        ));
                    }
                }
            }
            ScopedEvent::Need { scope, ids } => {
                self.check_scope(node, role, key, "Need", &scope, &ids);
                self.mark(&[5, node as u64, ids.len() as u64]);
                if let Some(record) = self.exact.get_mut(&key) {
                    record.need[side(role)].extend(ids.iter().copied());
                }
                self.counters.need_ids += ids.len() as u64;
                for id in &ids {
                    if !self.history.contains_key(id) {
                        self.violation(format!(
                            "node {node} ({role:?}, {key:?}) reports Need {id:?} that nobody wrote"
                        ));
                    }
                }
                self.fetch(node, peer, &ids);
            }
            ScopedEvent::Done => {
                self.mark(&[6, node as u64]);
                self.counters.sessions_done += 1;
                self.log(|| format!("node {node} {role:?} {key:?} done"));
                self.check_exact(key, role);
            }
            ScopedEvent::Failed(reason) => {
                self.mark(&[7, node as u64]);
                self.counters.sessions_failed += 1;
                self.exact.remove(&key);
                self.log(|| format!("node {node} {role:?} {key:?} failed: {reason:?}"));
                // Envelope and sequence errors are protocol errors of the scope layer: between
                // honest peers they are as impossible as those of a nested session.
                let protocol = match reason {
                    ScopedFailReason::Timeout
                    | ScopedFailReason::Session(FailReason::Timeout)
                    | ScopedFailReason::Session(FailReason::PeerAborted(_)) => None,
                    ScopedFailReason::Session(FailReason::Protocol(error)) => {
                        Some(format!("{error:?}"))
                    }
                    ScopedFailReason::Envelope(error) => Some(format!("{error:?}")),
                    ScopedFailReason::UnexpectedScope => Some("UnexpectedScope".to_string()),
                    ScopedFailReason::Storage(error)
                    | ScopedFailReason::Session(FailReason::Storage(error)) => {
                        self.violation(format!(
                            "node {node} ({role:?}, {key:?}) failed with storage error \
                             {error:?} on an in-memory set that cannot fail"
                        ));
                        None
                    }
                };
                match protocol {
                    None => {}
                    Some(error) => {
                        self.counters.protocol_errors += 1;
                        let peer_restarted = self.nodes[peer].incarnation != peer_incarnation;
                        let excused = peer_restarted
                            || (self.reopened.contains(&key) && !self.config.strict_reopen);
                        if !excused {
                            self.violation(format!(
                                "node {node} ({role:?}, {key:?}) failed with {error:?} against \
                                 honest peer {peer} that did not restart"
                            ));
                        }
                    }
                }
            }
        }
    }

    /// After both sides of a session are done: if neither store changed since it started, the
    /// reports must be exactly the symmetric difference, whatever the network did to the frames.
    fn check_exact(&mut self, key: SessionKey, role: Role) {
        let Some(record) = self.exact.get_mut(&key) else {
            return;
        };
        record.done[side(role)] = true;
        if !record.done.iter().all(|done| *done) {
            return;
        }
        let Some(record) = self.exact.remove(&key) else {
            return;
        };
        let (a, b) = (key.initiator, record.responder);
        let unchanged = (self.nodes[a].version, self.nodes[b].version) == record.versions;
        if !unchanged || self.reopened.contains(&key) {
            return;
        }
        // Only the agreed scopes were reconciled; an initiator that never learned them reported
        // nothing, and its Done would be a bug the per-side sets below expose.
        let agreed = record.agreed.clone().unwrap_or_default();
        self.counters.sessions_checked_exact += 1;
        // Both live sets iterate in key order, so one merge yields both differences.
        let (mut a_only, mut b_only) = {
            let (mut a_only, mut b_only) = (BTreeSet::new(), BTreeSet::new());
            let mut a_keys = self.nodes[a].store.live().keys().peekable();
            let mut b_keys = self.nodes[b].store.live().keys().peekable();
            loop {
                match (a_keys.peek(), b_keys.peek()) {
                    (Some(x), Some(y)) if x == y => {
                        a_keys.next();
                        b_keys.next();
                    }
                    (Some(x), Some(y)) if x < y => {
                        a_only.insert(x.id);
                        a_keys.next();
                    }
                    (Some(_), Some(y)) => {
                        b_only.insert(y.id);
                        b_keys.next();
                    }
                    (Some(x), None) => {
                        a_only.insert(x.id);
                        a_keys.next();
                    }
                    (None, Some(y)) => {
                        b_only.insert(y.id);
                        b_keys.next();
                    }
                    (None, None) => break,
                }
            }
            (a_only, b_only)
        };
        let within = |id: &ItemId| {
            self.history
                .get(id)
                .is_some_and(|record| agreed.contains(&record.facility))
        };
        a_only.retain(|id| within(id));
        b_only.retain(|id| within(id));
        let checks = [
            ("initiator Have", &record.have[0], &a_only),
            ("initiator Need", &record.need[0], &b_only),
            ("responder Have", &record.have[1], &b_only),
            ("responder Need", &record.need[1], &a_only),
        ];
        for (what, reported, truth) in checks {
            if reported != truth {
                let missed = truth.difference(reported).count();
                let spurious = reported.difference(truth).count();
                self.violation(format!(
                    "session {key:?} ({a} -> {b}) finished over unchanged sets but its {what} \
                     missed {missed} and invented {spurious} of {} ids",
                    truth.len()
                ));
            }
        }
    }

    /// Oracle check of a `Have` or `Need`: every id belongs to the scope it is reported under,
    /// and that scope is one the node is entitled to. A reconciliation frame naming an id of
    /// another scope would already leak that the id exists.
    fn check_scope(
        &mut self,
        node: NodeId,
        role: Role,
        key: SessionKey,
        what: &str,
        scope: &ScopeTag,
        ids: &[ItemId],
    ) {
        if self.nodes[node].tags.binary_search(scope).is_err() {
            self.violation(format!(
                "node {node} ({role:?}, {key:?}) reports {what} under scope {scope:?} it is not \
                 entitled to"
            ));
        }
        let wrong = ids
            .iter()
            .filter(|id| {
                self.facility_of(id)
                    .is_some_and(|code| facility_tag(code) != *scope)
            })
            .count();
        if wrong > 0 {
            self.violation(format!(
                "node {node} ({role:?}, {key:?}) reports {wrong} {what} ids under scope \
                 {scope:?} that belong to another scope"
            ));
        }
    }

    /// Asks `peer` for the bodies of `ids` this node lacks and is not already fetching.
    fn fetch(&mut self, node: NodeId, peer: NodeId, ids: &[ItemId]) {
        let now = self.now;
        let state = &mut self.nodes[node];
        if state.fetching.len() >= FETCHES_OUTSTANDING_MAX {
            state.fetching.retain(|_, (_, expires)| *expires > now);
        }
        let mut wanted = Vec::new();
        for id in ids {
            let fresh = state
                .fetching
                .get(id)
                .is_none_or(|(_, expires)| *expires <= now);
            if state.store.contains(id) || !fresh || state.fetching.len() >= FETCHES_OUTSTANDING_MAX
            {
                continue;
            }
            state.fetching.insert(*id, (peer, now + FETCH_TIMEOUT_MS));
            wanted.push(*id);
        }
        for chunk in wanted.chunks(FETCH_IDS_MAX) {
            self.counters.fetch_requests += 1;
            self.send(Packet {
                from: node,
                to: peer,
                payload: Payload::Fetch {
                    ids: chunk.to_vec(),
                },
            });
        }
    }

    fn deliver(&mut self, packet: Packet) {
        if !self.net.arrive(&packet) {
            return;
        }
        let to = packet.to;
        if !self.nodes[to].up {
            self.net.stats.down += 1;
            return;
        }
        match packet.payload {
            Payload::Recon { key, frame } => self.on_frame(packet.from, to, key, &frame),
            Payload::Fetch { ids } => {
                self.mark(&[9, to as u64, ids.len() as u64]);
                for id in ids.iter().take(FETCH_IDS_MAX) {
                    let Some(body) = self.nodes[to].store.body(id).cloned() else {
                        continue;
                    };
                    // The sender's own check, from the body (which is all a real node has): only
                    // items of a scope agreed with this requester go out.
                    let permitted = super::store::item_facility(&body).is_some_and(|code| {
                        self.nodes[to]
                            .agreed
                            .get(&packet.from)
                            .is_some_and(|agreed| agreed.tags().contains(&facility_tag(code)))
                    });
                    if !permitted {
                        self.counters.bodies_withheld += 1;
                        continue;
                    }
                    self.counters.bodies_sent += 1;
                    self.send(Packet {
                        from: to,
                        to: packet.from,
                        payload: Payload::Item { id: *id, body },
                    });
                }
            }
            Payload::Item { id, body } => self.on_item(packet.from, to, id, body),
        }
    }

    fn on_frame(&mut self, from: NodeId, to: NodeId, key: SessionKey, frame: &[u8]) {
        self.trace.update(frame);
        self.mark(&[10, from as u64, to as u64, key.sid]);
        let known = self.nodes[to].sessions.contains_key(&key);
        if !known {
            // Only the initiator's first frame opens a responder: anything else for an unknown
            // session is a straggler of one that ended (or of one lost in our crash).
            let opens = key.initiator == from
                && key.initiator != to
                && matches!(Envelope::decode(frame), Ok(Envelope::Hello(_)));
            if !opens {
                self.counters.stray_frames += 1;
                return;
            }
            if !self.make_room(to) {
                self.counters.responders_refused += 1;
                return;
            }
            if !self.opened.insert((to, key)) {
                self.reopened.insert(key);
                self.counters.sessions_reopened += 1;
                self.log(|| format!("node {to} reopens dropped session {key:?} on a stale frame"));
            }
            let now = self.clock(to);
            let state = &mut self.nodes[to];
            state.sessions.insert(
                key,
                Slot {
                    session: ScopedSync::responder(
                        &state.policy,
                        state.tags.iter().cloned(),
                        state.config,
                        now,
                    ),
                    peer: from,
                    role: Role::Responder,
                    peer_incarnation: key.incarnation(),
                    started_ms: self.now,
                    armed: None,
                },
            );
        }
        let now = self.clock(to);
        let state = &mut self.nodes[to];
        let Some(slot) = state.sessions.get_mut(&key) else {
            return;
        };
        if slot.peer != from {
            self.counters.stray_frames += 1;
            return;
        }
        if slot
            .session
            .handle_message(&state.store, frame, now)
            .is_err()
        {
            self.violation(format!(
                "node {to} session {key:?} refused input: harness left events undrained"
            ));
        }
        self.pump(to, key);
    }

    fn on_item(&mut self, from: NodeId, to: NodeId, id: ItemId, body: Rc<[u8]>) {
        self.mark(&[11, from as u64, to as u64]);
        // Oracle check on every body that reaches a node, solicited or not, before the node
        // looks at it: a node must never be sent an item outside its scopes. The oracle knows
        // the item's scope from its id, so a body damaged in transit is judged by what it was.
        if let Some(code) = self.facility_of(&id)
            && !self.nodes[to].scopes.contains(&code)
        {
            self.counters.bodies_out_of_scope += 1;
            self.violation(format!(
                "node {to} (scopes {:?}) was sent body {id:?} of facility {code} by {from}",
                self.nodes[to].scopes
            ));
        }
        let state = &mut self.nodes[to];
        let asked = state
            .fetching
            .get(&id)
            .is_some_and(|(peer, _)| *peer == from);
        if !asked {
            // A duplicate or late reply, or a body nobody asked for: a real node drops it unread.
            self.counters.bodies_unsolicited += 1;
            return;
        }
        let held_before = state.store.contains(&id);
        match state.store.ingest(&id, body) {
            Ok(new) => {
                state.fetching.remove(&id);
                state.version += u64::from(new);
                self.counters.bodies_stored += 1;
                self.maybe_flush(to);
            }
            Err(error) => {
                // Forget the fetch so the next session's Need asks again, maybe from another peer.
                state.fetching.remove(&id);
                self.counters.bodies_rejected += 1;
                let stored = state.store.contains(&id) && !held_before;
                self.log(|| format!("node {to} rejects body {id:?} from {from}: {error:?}"));
                if stored {
                    self.violation(format!("node {to} stored a rejected body {id:?}"));
                }
            }
        }
    }

    fn maybe_flush(&mut self, node: NodeId) {
        let state = &self.nodes[node];
        let pending = state.store.pending_len();
        if state.flush_interval_ms == 0 || pending >= state.flush_batch.min(PENDING_MAX) {
            self.flush(node);
        }
    }

    fn flush(&mut self, node: NodeId) {
        let flushed = self.nodes[node].store.flush();
        if flushed.is_empty() {
            return;
        }
        self.mark(&[12, node as u64, flushed.len() as u64]);
        for id in flushed {
            if let Some(record) = self.history.get_mut(&id) {
                record.durable_somewhere = true;
                if record.origin == node {
                    record.acknowledged = true;
                }
            }
        }
    }

    /// A facility (or the hub, under its own scope) ingests one new record. Shelters only
    /// receive.
    fn write(&mut self) {
        let up: Vec<NodeId> = (0..=self.facilities)
            .filter(|&n| self.nodes[n].up)
            .collect();
        let Some(&node) = up.choose(&mut self.rng) else {
            self.counters.writes_skipped += 1;
            return;
        };
        let quantum = self.weather.timestamp_quantum_ms;
        let timestamp_ms = self.clock(node).0 / quantum * quantum;
        let body = self.new_body(timestamp_ms, node as u64);
        let Some(key) = super::store::item_key(&body) else {
            return;
        };
        self.mark(&[13, node as u64]);
        match self.nodes[node].store.ingest(&key.id, body) {
            Ok(true) => {
                self.nodes[node].version += 1;
                self.counters.writes += 1;
                self.history.insert(
                    key.id,
                    WriteRecord {
                        key,
                        origin: node,
                        facility: node as u64,
                        acknowledged: false,
                        durable_somewhere: false,
                    },
                );
                self.maybe_flush(node);
            }
            // Random 100+ byte bodies do not collide; a refusal here is a harness bug.
            other => self.violation(format!("node {node} refused its own write: {other:?}")),
        }
    }

    fn crash(&mut self) {
        if self.healed_at.is_some() {
            return;
        }
        let up: Vec<NodeId> = (0..self.nodes.len())
            .filter(|&n| self.nodes[n].up)
            .collect();
        if let Some(&node) = up.choose(&mut self.rng) {
            let state = &mut self.nodes[node];
            state.up = false;
            state.incarnation += 1;
            state.sessions.clear();
            state.fetching.clear();
            state.agreed.clear();
            let lost = state.store.crash();
            // Any crash counts as a change: sessions die with it, and the count is cheap.
            state.version += 1;
            let incarnation = state.incarnation;
            self.counters.crashes += 1;
            self.counters.pending_lost += lost as u64;
            self.mark(&[14, node as u64, lost as u64]);
            self.log(|| format!("node {node} crashes, losing {lost} pending items"));
            let at = self.now + self.rng.random_range(1_000..=60_000);
            self.schedule(at, Action::Restart { node, incarnation });
        }
        let at = self.now + self.gap(self.weather.crash_gap_ms);
        self.schedule(at, Action::Crash);
    }

    fn restart(&mut self, node: NodeId) {
        // A node's real-time clock may be reset at boot; sessions were dropped, so the core
        // never sees its clock jump within a session.
        if self.rng.random_bool(0.3) {
            self.nodes[node].skew_ms = self.rng.random_range(-SKEW_MS_MAX..=SKEW_MS_MAX);
        }
        self.nodes[node].up = true;
        self.mark(&[15, node as u64]);
        self.log(|| format!("node {node} restarts"));
        self.start_node_work(node);
    }

    /// One network fault: a partition, an isolated node, a swizzle, a clog or a one-way cut.
    fn fault(&mut self) {
        if self.healed_at.is_some() {
            return;
        }
        let n = self.nodes.len();
        let epoch = self.epoch;
        let hold = self.rng.random_range(5_000..=180_000);
        let kind = self.rng.random_range(0..5u8);
        self.counters.faults += 1;
        self.mark(&[16, u64::from(kind)]);
        let mut pairs = Vec::new();
        match kind {
            0 => {
                // Two sides of random sizes.
                let mut order: Vec<NodeId> = (0..n).collect();
                order.shuffle(&mut self.rng);
                let split = self.rng.random_range(1..n);
                for &a in &order[..split] {
                    for &b in &order[split..] {
                        pairs.push((a, b));
                    }
                }
                self.log(|| format!("partition {:?} | {:?}", &order[..split], &order[split..]));
            }
            1 => {
                let alone = self.rng.random_range(0..n);
                pairs.extend((0..n).filter(|&b| b != alone).map(|b| (alone, b)));
                self.log(|| format!("isolate node {alone}"));
            }
            2 => {
                // Swizzle: cut a random subset one link at a time, then restore in random order.
                for a in 0..n {
                    for b in a + 1..n {
                        if self.rng.random_bool(0.5) {
                            pairs.push((a, b));
                        }
                    }
                }
                pairs.shuffle(&mut self.rng);
                let mut at = self.now;
                for &(from, to) in &pairs {
                    at += self.rng.random_range(500..=10_000);
                    self.schedule(at, link(epoch, from, to, true, LinkOp::Cut));
                }
                at += hold;
                pairs.shuffle(&mut self.rng);
                for &(from, to) in &pairs {
                    at += self.rng.random_range(500..=10_000);
                    self.schedule(at, link(epoch, from, to, true, LinkOp::Uncut));
                }
                self.log(|| format!("swizzle {} links", pairs.len()));
                pairs.clear();
            }
            3 => {
                let (a, b) = self.random_pair();
                let ms = self.rng.random_range(1_000..=20_000);
                self.schedule(self.now, link(epoch, a, b, true, LinkOp::Clog(ms)));
                self.schedule(self.now + hold, link(epoch, a, b, true, LinkOp::Unclog(ms)));
                self.log(|| format!("clog {a}<->{b} by {ms}ms"));
            }
            _ => {
                let (a, b) = self.random_pair();
                self.schedule(self.now, link(epoch, a, b, false, LinkOp::Cut));
                self.schedule(self.now + hold, link(epoch, a, b, false, LinkOp::Uncut));
                self.log(|| format!("one-way cut {a}->{b}"));
            }
        }
        for &(a, b) in &pairs {
            self.schedule(self.now, link(epoch, a, b, true, LinkOp::Cut));
            self.schedule(self.now + hold, link(epoch, a, b, true, LinkOp::Uncut));
        }
        let at = self.now + self.gap(self.weather.fault_gap_ms);
        self.schedule(at, Action::Fault);
    }

    fn random_pair(&mut self) -> (NodeId, NodeId) {
        let n = self.nodes.len();
        let a = self.rng.random_range(0..n);
        let b = (a + self.rng.random_range(1..n)) % n;
        (a, b)
    }

    /// End of chaos: every link restored, no more loss, duplication, corruption or crashes,
    /// every node up. Faults already scheduled belong to an old epoch and do nothing.
    fn heal(&mut self) {
        self.healed_at = Some(self.now);
        self.epoch += 1;
        self.net.heal();
        self.mark(&[17]);
        self.log(|| "heal".to_string());
        for node in 0..self.nodes.len() {
            if !self.nodes[node].up {
                self.restart(node);
            }
        }
    }
}

fn side(role: Role) -> usize {
    match role {
        Role::Initiator => 0,
        Role::Responder => 1,
    }
}

fn link(epoch: u32, from: NodeId, to: NodeId, both: bool, op: LinkOp) -> Action {
    Action::Link {
        epoch,
        from,
        to,
        both,
        op,
    }
}
