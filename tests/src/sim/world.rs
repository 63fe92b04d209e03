//! The simulation engine: one thread, one seeded RNG, one global clock and an ordered event
//! queue. Nodes see only their own skewed clock; the checker sees everything.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use kizuna_sync::doc::ScalarValue;
use kizuna_sync::limits::REQUESTED_ITEMS_MAX;
use kizuna_sync::meta::{Priority, ScopeTag};
use kizuna_sync::scope::{Envelope, ScopedFailReason};
use kizuna_sync::session::Role;
use kizuna_sync::transfer::{Frame, TransferStats};
use kizuna_sync::{
    AgreedScope, AllowList, Applied, Config, Doc, DocError, DocId, FailReason, ItemId, ItemSet,
    Millis, ScopedEvent, ScopedSync, Transfer, TransferEvent,
};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::check::{self, DocExpect, DocImage, NodeImage, WriteRecord};
use super::net::{Faults, LinkOp, Network, NodeId, Packet, Payload, SessionKey, peek_item};
use super::store::{
    self, ChunkStage, KIND_DOCUMENT, KIND_MESSAGE, Store, doc_change, doc_change_body,
    facility_tag, header, item_id, item_meta,
};
use super::{Counters, Probe, RunReport, SimConfig, SimFailure};

/// Global time at the start of a run, in ms since the Unix epoch (mid-2025), so skewed node
/// clocks look like real wall clocks and never go below zero.
const START_MS: u64 = 1_750_000_000_000;

/// Largest clock skew of a node in either direction: ten minutes.
const SKEW_MS_MAX: i64 = 10 * 60 * 1000;

/// Sessions one node keeps, active and lingering. When full, the oldest finished one is evicted
/// first; if none is finished, new responders are refused (the initiator will time out).
const SESSIONS_MAX: usize = 32;

/// Ids one node fetches at once, across its peers' transfers; beyond it `Need`s are ignored and
/// re-learned at the next session. The same as one transfer's cap on requested ids.
const FETCHES_OUTSTANDING_MAX: usize = REQUESTED_ITEMS_MAX;

/// `Need`d ids one session buffers until it ends (they are fetched together then, so the
/// sender's priority queue sees them at once); more are re-learned at the next session.
const NEEDS_BUFFERED_MAX: usize = REQUESTED_ITEMS_MAX;

/// Mutable documents (one patient's consent, ID links, notes and an allergy field) per run.
const DOCS: std::ops::RangeInclusive<usize> = 1..=3;

/// Offline edits of those documents per run, by any node entitled to them (shelters too).
const EDITS: std::ops::RangeInclusive<usize> = 8..=30;

/// Size of an extended-storage document (CDA-like): two to five 64 KiB chunks, so transfers of
/// them are interrupted by crashes and partitions and must resume.
const DOCUMENT_BYTES: std::ops::RangeInclusive<usize> = 70 * 1024..=300 * 1024;

/// Data types of written messages: the six the emergency summary is built from, and four others.
const DATA_TYPES: [&str; 10] = [
    "ADT-00", "ADT-61", "PPR-01", "OMP-01", "OMP-02", "OML-11", "ADT-12", "OMG-01", "ADT-21",
    "OMP-12",
];

/// Values written to the clinical field; each write also carries a unique counter, so the oracle
/// can tell which writes are still visible.
const SUBSTANCES: [&str; 4] = ["penicillin", "none known", "latex", "iodine contrast"];

/// The clinical field whose concurrent values must stay visible.
const ALLERGY: [&str; 2] = ["clinical", "allergy"];

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
    TransferTimer {
        node: NodeId,
        peer: NodeId,
        incarnation: u32,
    },
    CreateDoc(usize),
    Edit,
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

impl Weather {
    /// The fields each branch of `World::new` does not draw; drawn after it.
    fn calm() -> Weather {
        Weather {
            chaos_ms: 0,
            writes: 0,
            preseeded: 0,
            newcomer: None,
            faults: Faults::default(),
            timestamp_quantum_ms: 1,
            crash_gap_ms: 0,
            fault_gap_ms: 0,
            docs: 0,
            edits: 0,
            document_share: 0.0,
            archive_documents: 0,
            bandwidth: None,
        }
    }
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
    docs: usize,
    edits: usize,
    /// Share of writes that are large documents rather than messages.
    document_share: f64,
    /// Large documents in a newcomer's archive.
    archive_documents: usize,
    bandwidth: Option<u64>,
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
    /// Outstanding fetches: id → the peer whose transfer fetches it. One peer per id, so two
    /// transfers never fill one item's chunks at once.
    fetching: BTreeMap<ItemId, NodeId>,
    /// One item transfer per peer (both directions), made when a sync agrees on scopes with it.
    transfers: BTreeMap<NodeId, PeerTransfer>,
    /// Chunks of items in transit, with the store's durability.
    chunks: ChunkStage,
    /// Mutable documents, built from the document-change items the node holds.
    docs: BTreeMap<DocId, Doc>,
    /// 0 flushes on every write (`synchronous=FULL`); otherwise a commit every
    /// `flush_interval_ms`, or as soon as `flush_batch` items are pending.
    flush_interval_ms: u64,
    flush_batch: usize,
    sync_gap_ms: (u64, u64),
    /// Bumped whenever the live set changes (ingest, crash): a session whose peers' versions did
    /// not move saw fixed sets, so its reports must be exact.
    version: u64,
}

#[derive(Debug)]
struct PeerTransfer {
    transfer: Transfer,
    armed: Option<Millis>,
}

/// A document the run creates: its id, scope and creator.
#[derive(Clone, Copy, Debug)]
struct DocPlan {
    id: DocId,
    facility: u64,
    creator: NodeId,
}

/// Oracle record of one write of the clinical field: the value (unique per write) and the
/// values the writer saw there, which this write supersedes (Automerge's `pred`).
#[derive(Clone, Debug)]
struct ClinicalWrite {
    item: ItemId,
    value: String,
    saw: BTreeSet<String>,
}

/// Transfer order a sender owes a receiver, the priority oracle's view: the rank of every
/// requested item the sender holds and may send and has not yet opened, and the items opened
/// (manifest sent, no `Done` yet).
#[derive(Debug, Default)]
struct PriorityTrack {
    waiting: BTreeMap<ItemId, Rank>,
    opened: BTreeSet<ItemId>,
}

/// `TransferQueue`'s order: tier, newest first, id.
type Rank = (Priority, Reverse<u64>, ItemId);

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
    /// `Need`s of live sessions, fetched when the session ends.
    needs: BTreeMap<(NodeId, SessionKey), Vec<ItemId>>,
    doc_plans: Vec<DocPlan>,
    clinical: BTreeMap<DocId, Vec<ClinicalWrite>>,
    /// Every change item written, per document.
    doc_writes: BTreeMap<DocId, Vec<ItemId>>,
    /// Per (sender, receiver).
    priority: BTreeMap<(NodeId, NodeId), PriorityTrack>,
    /// Every (receiver, item, chunk) sent, to count chunks sent twice.
    chunks_sent: BTreeSet<(NodeId, ItemId, u32)>,
    /// Statistics of transfers that ended (crash) or were read at the end.
    transfer_stats: TransferStats,
    /// Counter for unique clinical values and note keys.
    edit_seq: u64,
    /// (tier, timestamp) of each archive item as the newcomer stored it, in arrival order.
    newcomer_arrivals: Vec<(Priority, u64)>,
    /// Ids of the newcomer's archive.
    archive: BTreeSet<ItemId>,
}

impl World {
    pub(super) fn new(seed: u64, config: SimConfig) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // At least one facility: faults pick pairs of distinct nodes.
        let facilities = config.facilities.max(1);
        let shelters = rng.random_range(SHELTERS);
        let node_count = facilities + 1 + shelters;
        // One seed in ten: a new facility node joins a region with a few thousand records.
        let newcomer =
            (rng.random_bool(0.1) || config.probe).then(|| rng.random_range(1..=facilities));
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
                ..Weather::calm()
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
                ..Weather::calm()
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
                ..Weather::calm()
            }
        };
        let mut weather = weather;
        weather.docs = rng.random_range(DOCS);
        weather.edits = rng.random_range(EDITS);
        // One seed in four writes some large documents; one in three caps every link's
        // bandwidth (BLE-class to 1 MB/s), so chunks queue behind each other.
        weather.document_share = if rng.random_bool(0.25) { 0.05 } else { 0.0 };
        weather.archive_documents = if newcomer.is_some() {
            rng.random_range(2..=5)
        } else {
            0
        };
        weather.bandwidth = rng.random_bool(0.33).then(|| rng.random_range(20..=1_000));
        if config.probe {
            // The priority probe: a calm, capped network and a newcomer with a large archive.
            weather.bandwidth = Some(50);
            weather.archive_documents = 4;
        }
        let net = Network::new(node_count, weather.faults, weather.bandwidth, &mut rng);
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
                    transfers: BTreeMap::new(),
                    chunks: ChunkStage::default(),
                    docs: BTreeMap::new(),
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
            needs: BTreeMap::new(),
            doc_plans: Vec::new(),
            clinical: BTreeMap::new(),
            doc_writes: BTreeMap::new(),
            priority: BTreeMap::new(),
            chunks_sent: BTreeSet::new(),
            transfer_stats: TransferStats::default(),
            edit_seq: 0,
            newcomer_arrivals: Vec::new(),
            archive: BTreeSet::new(),
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
            let body = self.new_message(timestamp_ms, facility);
            self.preload(body, facility);
        }
        if let Some(code) = archive {
            for _ in 0..self.weather.archive_documents {
                let timestamp_ms = START_MS - self.rng.random_range(0..=365 * 86_400_000);
                let body = self.new_document(timestamp_ms, code);
                self.preload(body, code);
            }
        }
        let chaos_end = START_MS + self.weather.chaos_ms;
        for _ in 0..self.weather.writes {
            let at = self.rng.random_range(START_MS..chaos_end);
            self.schedule(at, Action::Write);
        }
        for d in 0..self.weather.docs {
            // Consent and notes are opened early, so there is time to edit them offline.
            let facility = self.rng.random_range(0..=self.facilities as u64);
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&self.seed.to_le_bytes());
            id[8] = d as u8;
            self.doc_plans.push(DocPlan {
                id: DocId(id),
                facility,
                creator: facility as NodeId,
            });
            let at = self
                .rng
                .random_range(START_MS..START_MS + self.weather.chaos_ms / 3);
            self.schedule(at, Action::CreateDoc(d));
        }
        for _ in 0..self.weather.edits {
            let at = self.rng.random_range(START_MS..chaos_end);
            self.schedule(at, Action::Edit);
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

    /// Puts a pre-seeded item on every node entitled to it (the newcomer excepted).
    fn preload(&mut self, body: Rc<[u8]>, facility: u64) {
        for (n, node) in self.nodes.iter_mut().enumerate() {
            if Some(n) != self.weather.newcomer && node.scopes.contains(&facility) {
                node.store.preload(body.clone());
            }
        }
        if let Some(key) = store::item_key(&body) {
            if self.weather.newcomer.is_some() {
                self.archive.insert(key.id);
            }
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

    /// A random message of `facility`'s scope, of a random data type; facility codes are node
    /// indices, below 256.
    fn new_message(&mut self, timestamp_ms: u64, facility: u64) -> Rc<[u8]> {
        let len = self.rng.random_range(BODY_BYTES);
        let mut bytes = header(timestamp_ms, facility, KIND_MESSAGE);
        let data_type = DATA_TYPES.choose(&mut self.rng).unwrap_or(&DATA_TYPES[0]);
        bytes.extend_from_slice(data_type.as_bytes());
        let start = bytes.len();
        bytes.resize(len.max(start), 0);
        self.rng.fill(&mut bytes[start..]);
        bytes.into()
    }

    /// A random large document of `facility`'s scope.
    fn new_document(&mut self, timestamp_ms: u64, facility: u64) -> Rc<[u8]> {
        let len = self.rng.random_range(DOCUMENT_BYTES);
        let mut bytes = header(timestamp_ms, facility, KIND_DOCUMENT);
        let start = bytes.len();
        bytes.resize(len, 0);
        self.rng.fill(&mut bytes[start..]);
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
        let mut last_stamp = None;
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
            if self.healed_at.is_some() {
                // Convergence can only change when a store, a flush or a node's state did.
                let stamp = self.stamp();
                if stamp != last_stamp && self.converged() {
                    converged_at = Some(self.now);
                    break;
                }
                last_stamp = stamp;
            }
        }
        self.counters.events = events;
        self.finish(converged_at)
    }

    /// Changes whenever anything [`World::converged`] looks at may have changed: a store's
    /// contents (versions), what is pending, and which nodes are up.
    fn stamp(&self) -> Option<(u64, usize, usize)> {
        let mut stamp = (0, 0, 0);
        for node in &self.nodes {
            stamp.0 += node.version;
            stamp.1 += node.store.pending_len() + node.chunks.pending_len();
            stamp.2 += usize::from(node.up);
        }
        Some(stamp)
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
            .all(|node| node.up && node.store.pending_len() + node.chunks.pending_len() == 0)
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
        // Transfers still open count too.
        let mut stats = self.transfer_stats;
        for node in &self.nodes {
            for peer in node.transfers.values() {
                add_stats(&mut stats, &peer.transfer.stats());
            }
        }
        self.transfer_stats = stats;
        let expect = self.doc_expectations();
        let mut images = Vec::with_capacity(self.nodes.len());
        for (n, node) in self.nodes.iter_mut().enumerate() {
            images.push(NodeImage {
                node: n,
                up: node.up,
                pending: node.store.pending_len() + node.chunks.pending_len(),
                keys: node.store.durable_keys().copied().collect(),
                bodies: node.store.durable_bodies().clone(),
                scopes: node.scopes.clone(),
                docs: node
                    .docs
                    .iter_mut()
                    .map(|(id, doc)| (*id, doc_image(doc)))
                    .collect(),
            });
        }
        let verdict = check::check(&self.history, &images, &expect);
        self.counters.docs_checked = verdict.docs_checked;
        self.counters.doc_conflicts_kept = verdict.doc_conflicts_kept;
        self.counters.chunks_sent = stats.chunks_sent;
        self.counters.chunks_received = stats.chunks_received;
        self.counters.chunks_resumed = stats.chunks_resumed;
        self.counters.chunks_corrupt = stats.chunks_corrupt;
        self.counters.chunks_rewanted = stats.chunks_rewanted;
        self.counters.items_transferred = stats.items_stored;
        self.counters.items_failed = stats.items_failed;
        self.counters.refused_out_of_scope = stats.refused_out_of_scope;
        self.counters.chunks_staged_left = self
            .nodes
            .iter()
            .map(|node| node.chunks.durable_len() as u64)
            .sum();
        let probe = self.probe_verdict();
        let healed_at = self.healed_at.unwrap_or(self.now);
        let converge_ms = converged_at.map(|at| at - healed_at);
        let mut problems: Vec<String> = std::mem::take(&mut self.violations);
        if converge_ms.is_none() {
            problems.push(format!(
                "no convergence within {} simulated ms after heal",
                self.config.heal_bound_ms
            ));
            // Where the missing items stand, to start a diagnosis from the replay.
            for (n, node) in self.nodes.iter().enumerate() {
                if node.fetching.is_empty() && node.chunks.pending_len() == 0 {
                    continue;
                }
                let peers: BTreeSet<NodeId> = node.fetching.values().copied().collect();
                let idle: Vec<(NodeId, bool)> = peers
                    .iter()
                    .map(|peer| {
                        (
                            *peer,
                            node.transfers
                                .get(peer)
                                .is_some_and(|entry| entry.transfer.is_idle()),
                        )
                    })
                    .collect();
                if self.config.verbose {
                    for peer in &peers {
                        println!(
                            "diagnosis: node {n} -> {peer} transfer: {:?}",
                            node.transfers.get(peer)
                        );
                        println!(
                            "DEBUG node {peer} -> {n}: {:?}",
                            self.nodes[*peer].transfers.get(&n)
                        );
                    }
                }
                problems.push(format!(
                    "node {n} still fetches {} items from peers (peer, transfer idle) {idle:?}; \
                     {} chunk-store entries pending",
                    node.fetching.len(),
                    node.chunks.pending_len()
                ));
            }
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
            probe,
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
            Action::TransferTimer {
                node,
                peer,
                incarnation,
            } => {
                if !self.is_current(node, incarnation) {
                    return;
                }
                let now = self.clock(node);
                let Some(entry) = self.nodes[node].transfers.get_mut(&peer) else {
                    return;
                };
                entry.armed = None;
                entry.transfer.handle_timeout(now);
                self.mark(&[19, node as u64, peer as u64]);
                self.pump_transfer(node, peer);
            }
            Action::CreateDoc(d) => self.create_doc(d),
            Action::Edit => self.edit(),
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
                // The pair's transfer works under the agreement; made once per incarnation (the
                // agreement between two nodes does not change: their policies are fixed).
                let now = self.clock(node);
                let state = &mut self.nodes[node];
                if !state.transfers.contains_key(&peer) {
                    let transfer =
                        Transfer::new(agreed.clone(), Box::new(state.policy.clone()), now);
                    state.transfers.insert(
                        peer,
                        PeerTransfer {
                            transfer,
                            armed: None,
                        },
                    );
                }
                state.agreed.insert(peer, agreed);
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
                // Fetched when the session ends, all at once, so the sender orders them.
                let buffer = self.needs.entry((node, key)).or_default();
                let room = NEEDS_BUFFERED_MAX.saturating_sub(buffer.len());
                buffer.extend(ids.iter().take(room).copied());
            }
            ScopedEvent::Done => {
                self.mark(&[6, node as u64]);
                if let Some(ids) = self.needs.remove(&(node, key)) {
                    self.fetch(node, peer, &ids);
                }
                self.counters.sessions_done += 1;
                self.log(|| format!("node {node} {role:?} {key:?} done"));
                self.check_exact(key, role);
            }
            ScopedEvent::Failed(reason) => {
                self.mark(&[7, node as u64]);
                // What the session learned before it failed is still true.
                if let Some(ids) = self.needs.remove(&(node, key)) {
                    self.fetch(node, peer, &ids);
                }
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

    /// Asks `peer`'s transfer for the bodies of `ids` this node lacks and is not already
    /// fetching (from any peer).
    fn fetch(&mut self, node: NodeId, peer: NodeId, ids: &[ItemId]) {
        let now = self.clock(node);
        let state = &mut self.nodes[node];
        let Some(entry) = state.transfers.get_mut(&peer) else {
            // No scopes agreed with that peer in this incarnation: the next session learns it.
            self.counters.fetches_without_transfer += 1;
            return;
        };
        let room = FETCHES_OUTSTANDING_MAX.saturating_sub(state.fetching.len());
        let wanted: Vec<ItemId> = ids
            .iter()
            .filter(|id| !state.store.contains(id) && !state.fetching.contains_key(id))
            .take(room)
            .copied()
            .collect();
        if wanted.is_empty() {
            return;
        }
        let taken = entry.transfer.fetch(&wanted, now);
        for id in &wanted[..taken.min(wanted.len())] {
            state.fetching.insert(*id, peer);
        }
        self.counters.fetch_requests += 1;
        self.pump_transfer(node, peer);
    }

    /// Drives `node`'s transfer with `peer` after any input, as `Transfer` documents: transmit
    /// until `None`, events, timeout.
    fn pump_transfer(&mut self, node: NodeId, peer: NodeId) {
        let state = &mut self.nodes[node];
        let Some(entry) = state.transfers.get_mut(&peer) else {
            return;
        };
        let mut frames = Vec::new();
        while let Some(frame) = entry.transfer.poll_transmit(&state.store) {
            frames.push(frame);
        }
        let mut events = Vec::new();
        while let Some(event) = entry.transfer.poll_event() {
            events.push(event);
        }
        let mut arm = None;
        match entry.transfer.poll_timeout() {
            Some(deadline) if entry.armed != Some(deadline) => {
                entry.armed = Some(deadline);
                arm = Some(deadline);
            }
            Some(_) => {}
            None => entry.armed = None,
        }
        if let Some(deadline) = arm {
            let at = self.to_global(node, deadline);
            let incarnation = self.nodes[node].incarnation;
            self.schedule(
                at,
                Action::TransferTimer {
                    node,
                    peer,
                    incarnation,
                },
            );
        }
        for frame in frames {
            self.outgoing_transfer_frame(node, peer, &frame);
            self.mark(&[20, node as u64, peer as u64, frame.len() as u64]);
            self.trace.update(&frame[..frame.len().min(64)]);
            self.send(Packet {
                from: node,
                to: peer,
                payload: Payload::Xfer { frame },
            });
        }
        for event in events {
            self.on_transfer_event(node, peer, event);
        }
        self.maybe_flush(node);
    }

    /// Oracle checks on a transfer frame as `node` sends it to `peer`.
    fn outgoing_transfer_frame(&mut self, node: NodeId, peer: NodeId, frame: &[u8]) {
        match peek_item(frame) {
            Some((id, None)) => return self.check_priority(node, peer, id),
            Some((id, Some(index))) => {
                if !self.chunks_sent.insert((peer, id, index)) {
                    self.counters.chunks_resent += 1;
                    let state = &self.nodes[peer];
                    if state.chunks.durably_holds(&id, index) || state.store.is_durable(&id) {
                        // A want that crossed the arrival of what it asked for; see README.
                        self.counters.chunks_resent_durable += 1;
                    }
                }
                return;
            }
            None => {}
        }
        match Frame::decode(frame) {
            Ok(Frame::Want { id, indices }) => {
                let state = &self.nodes[node];
                let durable = indices
                    .iter()
                    .filter(|&&index| {
                        state.chunks.durably_holds(&id, index) || state.store.is_durable(&id)
                    })
                    .count();
                if durable > 0 {
                    self.counters.chunks_rewanted_durable += durable as u64;
                    self.violation(format!(
                        "node {node} wants {durable} chunks of {id:?} from {peer} that it holds \
                         durably: a resumed transfer must not fetch them again"
                    ));
                }
            }
            Ok(Frame::Unavailable { ids }) => {
                if let Some(track) = self.priority.get_mut(&(node, peer)) {
                    for id in &ids {
                        track.waiting.remove(id);
                    }
                }
            }
            Ok(_) => {}
            Err(error) => self.violation(format!(
                "node {node} sent {peer} a transfer frame that does not decode: {error:?}"
            )),
        }
    }

    /// The sender's rank of an item it holds, as its `TransferQueue` computes it.
    fn rank(&self, node: NodeId, id: &ItemId) -> Option<Rank> {
        let body = self.nodes[node].store.body(id)?;
        let meta = item_meta(*id, body)?;
        Some((meta.priority(), Reverse(meta.timestamp_ms), *id))
    }

    /// Priority oracle at a manifest `sender` opens for `receiver`: no item the receiver asked
    /// for and the sender may send still waits with a better rank.
    fn check_priority(&mut self, sender: NodeId, receiver: NodeId, id: ItemId) {
        let rank = self.rank(sender, &id);
        let track = self.priority.entry((sender, receiver)).or_default();
        track.waiting.remove(&id);
        if !track.opened.insert(id) {
            // A manifest sent again (the first was lost): not a choice.
            return;
        }
        let Some(rank) = rank else { return };
        if track.waiting.is_empty() {
            return;
        }
        self.counters.priority_checks += 1;
        if track.waiting.values().any(|other| other.0 > rank.0) {
            self.counters.priority_tier_choices += 1;
        }
        let better = track
            .waiting
            .values()
            .filter(|other| **other < rank)
            .count();
        if better > 0 {
            self.violation(format!(
                "node {sender} opened {id:?} ({:?}) for {receiver} while {better} better-ranked \
                 requested items waited",
                rank.0
            ));
        }
    }

    fn on_transfer_event(&mut self, node: NodeId, peer: NodeId, event: TransferEvent) {
        match event {
            TransferEvent::Stored(id) => {
                self.nodes[node].fetching.remove(&id);
                self.mark(&[21, node as u64]);
                let Some(body) = self.nodes[node].chunks.take_committed(&id) else {
                    self.violation(format!("node {node} transfer stored {id:?} without a body"));
                    return;
                };
                if Some(node) == self.weather.newcomer && self.archive.contains(&id) {
                    let tier =
                        item_meta(id, &body).map(|meta| (meta.priority(), meta.timestamp_ms));
                    if let Some(arrival) = tier {
                        self.newcomer_arrivals.push(arrival);
                    }
                }
                match self.store_item(node, id, body) {
                    Ok(_) => {}
                    Err(error) => self.violation(format!(
                        "node {node} transfer from {peer} committed {id:?} that fails ingest \
                         ({error:?}): a verified transfer stored a bad body"
                    )),
                }
            }
            TransferEvent::Unavailable(id) | TransferEvent::Failed(id, _) => {
                // Asked again at the next session, maybe of another peer.
                self.nodes[node].fetching.remove(&id);
                self.counters.fetches_ended += 1;
            }
            TransferEvent::PeerSilent => {
                self.counters.peers_silent += 1;
                self.nodes[node].fetching.retain(|_, asked| *asked != peer);
            }
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
            Payload::Xfer { frame } => self.on_transfer_frame(packet.from, to, &frame),
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

    fn on_transfer_frame(&mut self, from: NodeId, to: NodeId, frame: &[u8]) {
        self.mark(&[9, from as u64, to as u64, frame.len() as u64]);
        let item = peek_item(frame);
        // Small control frames are decoded for the priority oracle; chunks are not copied.
        let decoded = if item.is_none() {
            Frame::decode(frame).ok()
        } else {
            None
        };
        // Oracle check on every item frame that reaches a node, solicited or not: a node must
        // never be sent an item outside its scopes. The oracle knows an item's scope from its
        // id, so a chunk damaged in transit is judged by what it was.
        if let Some((id, _)) = &item
            && let Some(code) = self.facility_of(id)
            && !self.nodes[to].scopes.contains(&code)
        {
            self.counters.bodies_out_of_scope += 1;
            self.violation(format!(
                "node {to} (scopes {:?}) was sent item {id:?} of facility {code} by {from}",
                self.nodes[to].scopes
            ));
        }
        if !self.nodes[to].transfers.contains_key(&from) {
            // No scopes agreed with that peer since our last restart: a real node has no
            // transfer to hand this to. The peer retries after its silence timeout.
            self.counters.stray_frames += 1;
            return;
        }
        match &decoded {
            Some(Frame::Request { ids }) => {
                // The priority oracle learns what the receiver asked of us.
                let covered: Vec<(ItemId, Rank)> = ids
                    .iter()
                    .filter(|id| {
                        let state = &self.nodes[to];
                        state.store.body(id).is_some()
                            && self.facility_of(id).is_some_and(|code| {
                                state.agreed.get(&from).is_some_and(|agreed| {
                                    agreed.tags().contains(&facility_tag(code))
                                })
                            })
                    })
                    .filter_map(|id| self.rank(to, id).map(|rank| (*id, rank)))
                    .collect();
                let track = self.priority.entry((to, from)).or_default();
                for (id, rank) in covered {
                    if !track.opened.contains(&id) {
                        track.waiting.insert(id, rank);
                    }
                }
            }
            Some(Frame::Done { id, .. }) => {
                if let Some(track) = self.priority.get_mut(&(to, from)) {
                    track.opened.remove(id);
                }
            }
            _ => {}
        }
        let now = self.clock(to);
        let state = &mut self.nodes[to];
        if let Some(entry) = state.transfers.get_mut(&from) {
            entry
                .transfer
                .handle_frame(&state.store, &mut state.chunks, frame, now);
        }
        self.pump_transfer(to, from);
    }

    /// Ingests a verified body at `node`: into the store as pending, and into its document if it
    /// is a document change. Returns whether it was new.
    fn store_item(
        &mut self,
        node: NodeId,
        id: ItemId,
        body: Rc<[u8]>,
    ) -> Result<bool, store::IngestError> {
        let new = self.nodes[node].store.ingest(&id, body.clone())?;
        if new {
            self.nodes[node].version += 1;
            if let Some((doc, change)) = doc_change(&body) {
                self.apply_change(node, doc, change);
            }
        }
        self.maybe_flush(node);
        Ok(new)
    }

    /// Applies a document change at `node`, in whatever order changes arrive: a change whose
    /// dependencies are missing is held (bounded) until they come.
    fn apply_change(&mut self, node: NodeId, doc: DocId, change: &[u8]) {
        let actor = actor(node, self.nodes[node].incarnation);
        let state = &mut self.nodes[node];
        let replica = state
            .docs
            .entry(doc)
            .or_insert_with(|| Doc::new(doc, &actor));
        match replica.apply_item(&item_id(change), change) {
            Ok(Applied::Applied { unblocked }) => {
                self.counters.changes_applied += 1 + unblocked as u64;
            }
            Ok(Applied::Held) => self.counters.changes_held += 1,
            Ok(Applied::Duplicate) => {}
            Err(DocError::HeldFull) => self.counters.changes_held_full += 1,
            Err(error) => self.violation(format!(
                "node {node} could not apply a change of document {doc:?}: {error:?}"
            )),
        }
    }

    fn maybe_flush(&mut self, node: NodeId) {
        let state = &self.nodes[node];
        let pending = state.store.pending_len() + state.chunks.pending_len();
        if pending > 0
            && (state.flush_interval_ms == 0 || pending >= state.flush_batch.min(PENDING_MAX))
        {
            self.flush(node);
        }
    }

    /// One committed batch: pending items and chunks become durable together.
    fn flush(&mut self, node: NodeId) {
        self.nodes[node].chunks.flush();
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

    /// A facility (or the hub, under its own scope) ingests one new record: a message, or now
    /// and then a large document. Shelters only receive records.
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
        let body = if self.rng.random_bool(self.weather.document_share) {
            self.counters.documents_written += 1;
            self.new_document(timestamp_ms, node as u64)
        } else {
            self.new_message(timestamp_ms, node as u64)
        };
        self.mark(&[13, node as u64]);
        self.counters.writes += 1;
        self.write_item(node, node as u64, body);
    }

    /// Records a new local item in the history and ingests it at its origin.
    fn write_item(&mut self, node: NodeId, facility: u64, body: Rc<[u8]>) -> Option<ItemId> {
        let Some(key) = store::item_key(&body) else {
            self.violation(format!("node {node} wrote a malformed item"));
            return None;
        };
        self.history.insert(
            key.id,
            WriteRecord {
                key,
                origin: node,
                facility,
                acknowledged: false,
                durable_somewhere: false,
            },
        );
        match self.store_item(node, key.id, body) {
            Ok(true) => Some(key.id),
            // Random bodies and fresh changes do not collide; a refusal here is a harness bug.
            other => {
                self.violation(format!("node {node} refused its own write: {other:?}"));
                None
            }
        }
    }

    /// The creator of document `d` opens it: one change lays out every map (consent, links,
    /// notes, the clinical field), because maps two replicas create concurrently hide each
    /// other.
    fn create_doc(&mut self, d: usize) {
        let Some(plan) = self.doc_plans.get(d).copied() else {
            return;
        };
        let node = plan.creator;
        if !self.nodes[node].up {
            // Opened when the creator is back.
            let at = self.now + 10_000;
            self.schedule(at, Action::CreateDoc(d));
            return;
        }
        self.edit_seq += 1;
        let value = format!("d{d}-w{}: {}", self.edit_seq, SUBSTANCES[0]);
        let mut doc = Doc::new(plan.id, &actor(node, self.nodes[node].incarnation));
        let layout = [
            doc.put(&["meta", "created"], d as u64),
            doc.put(&ALLERGY, value.as_str()),
            doc.put(&["consent", "regional"], "pending"),
            doc.put(&["links", "hub"], "unlinked"),
            doc.put(&["notes", "0"], "opened"),
        ];
        if layout.iter().any(Result::is_err) {
            self.violation(format!("document {d} could not be laid out"));
            return;
        }
        let changes = doc.take_local_items();
        self.nodes[node].docs.insert(plan.id, doc);
        self.mark(&[22, node as u64, d as u64]);
        self.log(|| format!("node {node} opens document {d}"));
        for change in changes {
            self.write_change(
                node,
                plan,
                &change.bytes,
                Some((value.clone(), BTreeSet::new())),
            );
        }
    }

    /// Wraps an Automerge change as an item of the document's scope and writes it.
    fn write_change(
        &mut self,
        node: NodeId,
        plan: DocPlan,
        change: &[u8],
        clinical: Option<(String, BTreeSet<String>)>,
    ) {
        let timestamp_ms = self.clock(node).0;
        let body = doc_change_body(timestamp_ms, plan.facility, plan.id, change);
        self.counters.doc_changes += 1;
        let id = self.write_item(node, plan.facility, body);
        if let Some(id) = id {
            self.doc_writes.entry(plan.id).or_default().push(id);
        }
        if let Some(id) = id
            && let Some((value, saw)) = clinical
        {
            self.clinical
                .entry(plan.id)
                .or_default()
                .push(ClinicalWrite {
                    item: id,
                    value,
                    saw,
                });
        }
    }

    /// An offline edit: a node entitled to a document it has received edits its replica
    /// (consent, an ID link, a note, or the clinical field).
    fn edit(&mut self) {
        let mut candidates = Vec::new();
        for (n, node) in self.nodes.iter_mut().enumerate() {
            if !node.up {
                continue;
            }
            for (d, plan) in self.doc_plans.iter().enumerate() {
                let ready = node.scopes.contains(&plan.facility)
                    && node.docs.get_mut(&plan.id).is_some_and(|doc| {
                        doc.conflicts(&["meta", "created"])
                            .is_ok_and(|values| !values.is_empty())
                    });
                if ready {
                    candidates.push((n, d));
                }
            }
        }
        let Some(&(node, d)) = candidates.choose(&mut self.rng) else {
            self.counters.edits_skipped += 1;
            return;
        };
        let plan = self.doc_plans[d];
        self.edit_seq += 1;
        let seq = self.edit_seq;
        let kind = self.rng.random_range(0..10u8);
        let pick = self.rng.random_range(0..SUBSTANCES.len());
        let link = self.rng.random_range(0..1_000_000u32);
        let consent = ["granted", "withdrawn", "pending"][usize::from(kind) % 3];
        let Some(doc) = self.nodes[node].docs.get_mut(&plan.id) else {
            return;
        };
        // Foreign changes applied since the last export are not ours to write again.
        let _ = doc.take_local_items();
        let mut clinical = None;
        let result = match kind {
            0..=3 => {
                let saw: BTreeSet<String> = doc
                    .conflicts(&ALLERGY)
                    .unwrap_or_default()
                    .iter()
                    .map(scalar_text)
                    .collect();
                let value = format!("d{d}-w{seq}: {}", SUBSTANCES[pick]);
                let result = doc.put(&ALLERGY, value.as_str());
                clinical = Some((value, saw));
                result
            }
            4..=5 => doc.put(&["consent", "regional"], consent),
            6..=7 => doc.put(&["links", &format!("fac{node}")], format!("pid-{link:06}")),
            _ => doc.put(
                &["notes", &seq.to_string()],
                format!("note {seq} by node {node}"),
            ),
        };
        let changes = doc.take_local_items();
        if result.is_ok() && changes.is_empty() {
            // Automerge drops a put of the value already there: nothing to write.
            self.counters.edits_skipped += 1;
            return;
        }
        if result.is_err() || changes.len() != 1 {
            self.violation(format!(
                "node {node} edit of document {d} gave {} changes ({result:?})",
                changes.len()
            ));
            return;
        }
        self.mark(&[23, node as u64, d as u64, u64::from(kind)]);
        self.log(|| format!("node {node} edits document {d} (kind {kind})"));
        for change in changes {
            self.write_change(node, plan, &change.bytes, clinical.clone());
        }
    }

    /// What the final documents must look like, from the oracle: per document, the clinical
    /// values no surviving write superseded, and the document rebuilt from the reference node's
    /// change items in a random order (replay must not depend on arrival order).
    fn doc_expectations(&mut self) -> Vec<DocExpect> {
        let mut expect = Vec::with_capacity(self.doc_plans.len());
        let plans = self.doc_plans.clone();
        for plan in plans {
            let reference = &self.nodes[0].store;
            let writes = self
                .clinical
                .get(&plan.id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let surviving: Vec<&ClinicalWrite> = writes
                .iter()
                .filter(|write| reference.is_durable(&write.item))
                .collect();
            let superseded: BTreeSet<&String> = surviving
                .iter()
                .flat_map(|write| write.saw.iter())
                .collect();
            let allergy: BTreeSet<String> = surviving
                .iter()
                .filter(|write| !superseded.contains(&write.value))
                .map(|write| write.value.clone())
                .collect();
            let mut changes: Vec<&[u8]> = reference
                .durable_bodies()
                .values()
                .filter_map(|body| doc_change(body))
                .filter(|(doc, _)| *doc == plan.id)
                .map(|(_, change)| change)
                .collect();
            changes.shuffle(&mut self.rng);
            let replayed = (!changes.is_empty()).then(|| {
                let mut doc = Doc::new(plan.id, b"replay");
                for change in &changes {
                    let _ = doc.apply_item(&item_id(change), change);
                }
                doc_image(&mut doc)
            });
            let vanished_changes = self.doc_writes.get(&plan.id).map_or(0, |ids| {
                ids.iter()
                    .filter(|id| {
                        self.history
                            .get(id)
                            .is_some_and(|record| !record.durable_somewhere)
                    })
                    .count()
            });
            expect.push(DocExpect {
                id: plan.id,
                facility: plan.facility,
                allergy,
                replayed,
                vanished_writes: vanished_changes,
            });
        }
        expect
    }

    /// The priority probe's figures: how the newcomer's archive arrived.
    fn probe_verdict(&self) -> Option<Probe> {
        self.weather.newcomer?;
        let arrivals = &self.newcomer_arrivals;
        let first_bulk = arrivals
            .iter()
            .position(|(tier, _)| *tier == Priority::Bulk)
            .unwrap_or(arrivals.len());
        let count = |tier: Priority| arrivals.iter().filter(|(t, _)| *t == tier).count();
        let after_first_bulk = |tier: Priority| {
            arrivals[first_bulk..]
                .iter()
                .filter(|(t, _)| *t == tier)
                .count()
        };
        let tier_order_inversions = arrivals.windows(2).filter(|w| w[0].0 > w[1].0).count();
        let newest_first_inversions = arrivals
            .windows(2)
            .filter(|w| w[0].0 == w[1].0 && w[0].1 < w[1].1)
            .count();
        Some(Probe {
            archive_items: self.archive.len(),
            arrivals: arrivals.len(),
            emergency: count(Priority::Emergency),
            bulk: count(Priority::Bulk),
            emergency_after_first_bulk: after_first_bulk(Priority::Emergency),
            routine_after_first_bulk: after_first_bulk(Priority::Routine),
            tier_order_inversions,
            newest_first_inversions,
        })
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
            let mut stats = self.transfer_stats;
            for entry in std::mem::take(&mut state.transfers).values() {
                add_stats(&mut stats, &entry.transfer.stats());
            }
            self.transfer_stats = stats;
            let chunks_lost = state.chunks.crash();
            let lost = state.store.crash();
            // Documents are rebuilt from the durable change items, in the order the store keeps
            // them (not causal order: held changes wait for their dependencies), under a new
            // actor, since changes of the old one may have left before the crash took them.
            let actor = actor(node, state.incarnation);
            let mut docs: BTreeMap<DocId, Doc> = BTreeMap::new();
            for body in state.store.durable_bodies().values() {
                if let Some((doc, change)) = doc_change(body) {
                    let replica = docs.entry(doc).or_insert_with(|| Doc::new(doc, &actor));
                    if let Err(error) = replica.apply_item(&item_id(change), change) {
                        self.violations.push(format!(
                            "node {node} could not rebuild document {doc:?} at restart: {error:?}"
                        ));
                    }
                }
            }
            state.docs = docs;
            self.counters.chunks_lost += chunks_lost as u64;
            self.needs.retain(|(owner, _), _| *owner != node);
            self.priority.retain(|(sender, _), _| *sender != node);
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

/// The actor of `node`'s document edits in one incarnation. A restarted node takes a new one:
/// changes of the old actor may have reached peers before the crash took them, and reusing its
/// sequence numbers for different changes would corrupt every replica.
fn actor(node: NodeId, incarnation: u32) -> Vec<u8> {
    format!("node-{node}-{incarnation}").into_bytes()
}

fn scalar_text(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Str(text) => text.to_string(),
        other => other.to_string(),
    }
}

/// What the checker compares of one replica.
fn doc_image(doc: &mut Doc) -> DocImage {
    DocImage {
        heads: doc.heads().iter().map(|hash| hash.0).collect(),
        digest: doc.state_digest(),
        held: doc.held(),
        allergy: doc
            .conflicts(&ALLERGY)
            .unwrap_or_default()
            .iter()
            .map(scalar_text)
            .collect(),
    }
}

fn add_stats(total: &mut TransferStats, more: &TransferStats) {
    total.refused_out_of_scope += more.refused_out_of_scope;
    total.refused_other += more.refused_other;
    total.manifests_sent += more.manifests_sent;
    total.chunks_sent += more.chunks_sent;
    total.chunks_received += more.chunks_received;
    total.chunks_resumed += more.chunks_resumed;
    total.chunks_corrupt += more.chunks_corrupt;
    total.chunks_rewanted += more.chunks_rewanted;
    total.items_stored += more.items_stored;
    total.items_failed += more.items_failed;
    total.local_corrupt += more.local_corrupt;
    total.unsolicited += more.unsolicited;
    total.bad_frames += more.bad_frames;
}
