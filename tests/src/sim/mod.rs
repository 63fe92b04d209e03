//! A seeded deterministic simulation of Kizuna nodes syncing over a hostile network.
//!
//! Everything runs on one thread from one `u64` seed: a ChaCha8 RNG draws the weather (loss,
//! duplication, reordering, partitions, swizzles, clogs, crashes, clock skew, flush policies,
//! the workload), a global simulated clock in milliseconds orders an event queue, and each node
//! sees only its own skewed clock. Nodes drive real [`kizuna_sync::ScopedSync`]s over per-scope
//! sets (the hub and facilities are entitled to every facility scope, shelters to a seeded
//! subset); their frames cross the simulated network as opaque packets, and item bodies move
//! through a small fetch-by-id layer that sends only agreed scopes and verifies SHA-256 before
//! storing.
//!
//! A run has two phases. During chaos, facilities write and every fault fires. At heal, links
//! are restored, faults stop and crashed nodes restart; the run continues until every node
//! holds the same set (or a bound passes), then [`check`] judges it Jepsen `set-full` style.
//! Safety properties (Have only for held ids, Need only for written ids, no protocol error
//! between honest peers, corrupt bodies never stored, no hung session) are checked online.
//!
//! Same seed, same run: only `BTreeMap`s, no wall clock, no threads, so a failing seed replays
//! exactly with [`SimFailure::replay_command`].

pub mod check;
pub mod net;
pub mod store;
mod world;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

pub use net::NetStats;

/// Shape of every run; the seed decides the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Facility nodes (hospitals, shelters), at least one; a hub (node 0) comes on top.
    pub facilities: usize,
    /// Chaos on: loss, duplication, corruption, partitions, clogs, crashes.
    pub faults: bool,
    /// Nodes start sessions. Off only to prove the checker fails a run that cannot converge.
    pub sync: bool,
    /// Simulated time after heal within which the nodes must converge.
    pub heal_bound_ms: u64,
    /// Print every fault, session outcome and rejection (for replaying one seed).
    pub verbose: bool,
    /// Fail on protocol errors in sessions a responder reopened after dropping them (a known
    /// weakness of the sync core, see the Simulation section of README.md); off by default so the suite
    /// guards everything else while the core is being changed.
    pub strict_reopen: bool,
    /// Harsher than any link should be (loss and duplication up to a half, delays past the
    /// reply timeout); for exploration, not CI.
    pub extreme: bool,
    /// The priority probe: a newcomer joins a region whose archive holds messages of every tier
    /// and large documents, over links capped at 50 KB/s; its arrivals are reported in
    /// [`RunReport::probe`].
    pub probe: bool,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            facilities: 5,
            faults: true,
            sync: true,
            // A session stuck on a crashed peer gives up after ~5 min of retransmissions; 30 min
            // leaves room for that and for several gossip rounds after it.
            heal_bound_ms: 30 * 60 * 1000,
            verbose: false,
            strict_reopen: false,
            extreme: false,
            probe: false,
        }
    }
}

/// What happened in one run, apart from the network counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub events: u64,
    pub writes: u64,
    pub writes_skipped: u64,
    pub crashes: u64,
    pub pending_lost: u64,
    pub faults: u64,
    pub sessions_started: u64,
    pub sessions_done: u64,
    pub sessions_failed: u64,
    /// Sessions done on both sides over unchanged sets, whose reports were checked for exactness.
    pub sessions_checked_exact: u64,
    pub sessions_evicted: u64,
    /// Responders opened a second time by a stale first frame after dropping the session.
    pub sessions_reopened: u64,
    pub responders_refused: u64,
    pub protocol_errors: u64,
    pub recon_frames: u64,
    pub recon_bytes: u64,
    /// Largest frame: near `wire::MESSAGE_BYTES_MAX` shows frames were filled and cut.
    pub recon_frame_bytes_max: u64,
    pub stray_frames: u64,
    pub have_ids: u64,
    pub need_ids: u64,
    /// `Transfer::fetch` calls (one per finished session with something to fetch).
    pub fetch_requests: u64,
    /// Needs dropped because no transfer with that peer exists yet (scopes not agreed since a
    /// restart); the next session reports them again.
    pub fetches_without_transfer: u64,
    /// Fetches ended by `Unavailable` or `Failed` (asked again at the next session).
    pub fetches_ended: u64,
    pub peers_silent: u64,
    /// Manifests or chunks that reached a node outside its scopes (each is also a violation).
    pub bodies_out_of_scope: u64,
    /// Requests a sender refused as outside the agreed scopes (`TransferStats`).
    pub refused_out_of_scope: u64,
    pub documents_written: u64,
    // Transfer, summed over every `Transfer` of the run.
    pub items_transferred: u64,
    pub items_failed: u64,
    pub chunks_sent: u64,
    pub chunks_received: u64,
    /// Chunks found in the chunk store when a transfer (re)opened an item, not asked for again.
    pub chunks_resumed: u64,
    /// Chunks that failed their manifest hash (damaged in transit), caught and re-wanted.
    pub chunks_corrupt: u64,
    pub chunks_rewanted: u64,
    /// Chunks a sender sent the same receiver more than once (loss, damage, a crash that took
    /// the receiver's unflushed chunks, or a want that crossed its chunk).
    pub chunks_resent: u64,
    /// Of those, chunks the receiver already held durably when the copy left: only a want that
    /// crossed the first copy in flight does that.
    pub chunks_resent_durable: u64,
    /// Chunks a receiver wanted although it held them durably (each is a violation).
    pub chunks_rewanted_durable: u64,
    /// Unflushed chunks a crash took.
    pub chunks_lost: u64,
    /// Durable chunks left at the end (transfers of items that vanished, or never finished).
    pub chunks_staged_left: u64,
    /// Manifests opened while other requested items waited (the queue made a choice), and
    /// those where a waiting item was of a lower tier.
    pub priority_checks: u64,
    pub priority_tier_choices: u64,
    // Documents.
    pub doc_changes: u64,
    pub edits_skipped: u64,
    pub changes_applied: u64,
    /// Changes that arrived before their dependencies and waited.
    pub changes_held: u64,
    pub changes_held_full: u64,
    /// (document, node) pairs compared after heal.
    pub docs_checked: u64,
    /// Documents whose clinical field ends with two or more concurrent values, kept visible.
    pub doc_conflicts_kept: u64,
    pub violations: u64,
}

/// How the newcomer's archive arrived (see [`SimConfig::probe`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    pub archive_items: usize,
    pub arrivals: usize,
    pub emergency: usize,
    pub bulk: usize,
    /// Emergency-tier items stored after the first large document: zero when priorities held.
    pub emergency_after_first_bulk: usize,
    pub routine_after_first_bulk: usize,
    /// Consecutive arrivals where a lower tier came before a higher one.
    pub tier_order_inversions: usize,
    /// Consecutive arrivals of one tier where the older came first.
    pub newest_first_inversions: usize,
}

/// The outcome of one seed. Two runs of one seed must produce equal reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    pub seed: u64,
    pub chaos_ms: u64,
    pub simulated_ms: u64,
    /// Simulated time from heal to convergence; `u64::MAX` if it never converged.
    pub converge_ms: u64,
    pub net: NetStats,
    pub counters: Counters,
    pub items_written: usize,
    pub items_ok: usize,
    pub items_recovered: usize,
    pub items_vanished: usize,
    pub items_final: usize,
    /// Items held by the shelters at the end, summed, and what they would hold were they
    /// entitled to everything: strictly between zero and the second, scopes were exercised.
    pub shelter_items: usize,
    pub shelter_items_if_full: usize,
    /// SHA-256 over every processed event and frame: equal traces mean equal runs.
    pub trace_digest: [u8; 32],
    pub state_digest: [u8; 32],
    /// Set when a newcomer joined (always under [`SimConfig::probe`]).
    pub probe: Option<Probe>,
}

/// A seed that broke a property, with what broke.
#[derive(Clone, Debug)]
pub struct SimFailure {
    /// Boxed: a report is a few hundred bytes and failures are rare.
    pub report: Box<RunReport>,
    pub problems: Vec<String>,
    /// The shape the seed ran under; a replay needs it as much as the seed.
    pub config: SimConfig,
}

impl SimFailure {
    /// One line that replays this seed exactly.
    pub fn replay_command(&self) -> String {
        replay_command(self.report.seed, &self.config)
    }
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {} failed:", self.report.seed)?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        write!(f, "  replay: {}", self.replay_command())
    }
}

/// The command that reruns `seed` under `config`: every knob that differs from the default is
/// spelled out, so the line replays exactly what failed.
pub fn replay_command(seed: u64, config: &SimConfig) -> String {
    let default = SimConfig::default();
    let mut env = format!("KIZUNA_SIM_SEED={seed} KIZUNA_SIM_VERBOSE=1");
    if config.strict_reopen {
        env.push_str(" KIZUNA_SIM_STRICT=1");
    }
    if config.extreme {
        env.push_str(" KIZUNA_SIM_EXTREME=1");
    }
    if config.probe {
        env.push_str(" KIZUNA_SIM_PROBE=1");
    }
    if config.facilities != default.facilities {
        env.push_str(&format!(" KIZUNA_SIM_FACILITIES={}", config.facilities));
    }
    format!("{env} cargo test --release -p kizuna-tests --test sim -- --nocapture")
}

/// Runs one seed.
pub fn run_seed(seed: u64, config: SimConfig) -> Result<RunReport, SimFailure> {
    world::World::new(seed, config).run()
}

/// Runs one seed and turns a panic (in the sync core or the harness) into a failure that
/// carries the seed: a panic in a node is an outage, and it must be replayable.
pub fn run_seed_catching(seed: u64, config: SimConfig) -> Result<RunReport, SimFailure> {
    match catch_unwind(AssertUnwindSafe(|| run_seed(seed, config))) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".to_string());
            Err(SimFailure {
                report: Box::new(RunReport {
                    seed,
                    chaos_ms: 0,
                    simulated_ms: 0,
                    converge_ms: u64::MAX,
                    net: NetStats::default(),
                    counters: Counters::default(),
                    items_written: 0,
                    items_ok: 0,
                    items_recovered: 0,
                    items_vanished: 0,
                    items_final: 0,
                    shelter_items: 0,
                    shelter_items_if_full: 0,
                    trace_digest: [0; 32],
                    state_digest: [0; 32],
                    probe: None,
                }),
                problems: vec![format!("panicked: {message}")],
                config,
            })
        }
    }
}

/// Totals over many seeds, for the closing summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub seeds: u64,
    pub failed: u64,
    pub simulated_ms: u64,
    pub packets: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    pub chunks_corrupt: u64,
    pub chunks_sent: u64,
    pub chunks_resent: u64,
    pub chunks_resent_durable: u64,
    pub chunks_resumed: u64,
    pub chunks_lost: u64,
    pub items_transferred: u64,
    pub priority_checks: u64,
    pub priority_tier_choices: u64,
    pub doc_changes: u64,
    pub changes_held: u64,
    pub docs_checked: u64,
    pub doc_conflicts_kept: u64,
    pub crashes: u64,
    pub faults: u64,
    pub sessions: u64,
    pub sessions_checked_exact: u64,
    pub protocol_errors: u64,
    pub reopened: u64,
    pub items: u64,
    pub shelter_items: u64,
    pub shelter_items_if_full: u64,
    pub frame_bytes_max: u64,
    pub converge_ms_max: u64,
    pub converge_ms_max_seed: u64,
    pub converge_ms_total: u64,
}

impl Summary {
    pub fn add(&mut self, report: &RunReport) {
        self.seeds += 1;
        self.simulated_ms += report.simulated_ms;
        self.packets += report.net.sent;
        self.dropped += report.net.lost + report.net.cut + report.net.overflow + report.net.down;
        self.duplicated += report.net.duplicated;
        self.corrupted += report.net.corrupted;
        let c = &report.counters;
        self.chunks_corrupt += c.chunks_corrupt;
        self.chunks_sent += c.chunks_sent;
        self.chunks_resent += c.chunks_resent;
        self.chunks_resent_durable += c.chunks_resent_durable;
        self.chunks_resumed += c.chunks_resumed;
        self.chunks_lost += c.chunks_lost;
        self.items_transferred += c.items_transferred;
        self.priority_checks += c.priority_checks;
        self.priority_tier_choices += c.priority_tier_choices;
        self.doc_changes += c.doc_changes;
        self.changes_held += c.changes_held;
        self.docs_checked += c.docs_checked;
        self.doc_conflicts_kept += c.doc_conflicts_kept;
        self.crashes += report.counters.crashes;
        self.faults += report.counters.faults;
        self.sessions += report.counters.sessions_started;
        self.sessions_checked_exact += report.counters.sessions_checked_exact;
        self.protocol_errors += report.counters.protocol_errors;
        self.reopened += report.counters.sessions_reopened;
        self.items += report.items_written as u64;
        self.shelter_items += report.shelter_items as u64;
        self.shelter_items_if_full += report.shelter_items_if_full as u64;
        self.frame_bytes_max = self
            .frame_bytes_max
            .max(report.counters.recon_frame_bytes_max);
        if report.converge_ms != u64::MAX {
            self.converge_ms_total += report.converge_ms;
            if report.converge_ms > self.converge_ms_max {
                self.converge_ms_max = report.converge_ms;
                self.converge_ms_max_seed = report.seed;
            }
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let passed = self.seeds - self.failed;
        write!(
            f,
            "{} seeds ({} failed), {:.1} simulated hours, {} packets ({} dropped, {} duplicated, \
             {} chunks corrupted, {} rejected on arrival), {} crashes, {} network faults, {} sessions ({} checked exact, \
             {} reopened by stale frames, {} protocol errors after a peer restart or reopen; \
             largest frame {} bytes), {} items ({} of {} on shelters); transfer: {} items, {} chunks sent, \
             {} sent twice ({} of them already durable at the receiver), {} resumed from the chunk store, \
             {} lost in crashes; priority: {} queue choices, {} across tiers; documents: {} changes, \
             {} held for dependencies, {} replicas checked, {} with a conflict kept visible; \
             convergence after heal: mean {} ms, max {} ms (seed {})",
            self.seeds,
            self.failed,
            self.simulated_ms as f64 / 3_600_000.0,
            self.packets,
            self.dropped,
            self.duplicated,
            self.corrupted,
            self.chunks_corrupt,
            self.crashes,
            self.faults,
            self.sessions,
            self.sessions_checked_exact,
            self.reopened,
            self.protocol_errors,
            self.frame_bytes_max,
            self.items,
            self.shelter_items,
            self.shelter_items_if_full,
            self.items_transferred,
            self.chunks_sent,
            self.chunks_resent,
            self.chunks_resent_durable,
            self.chunks_resumed,
            self.chunks_lost,
            self.priority_checks,
            self.priority_tier_choices,
            self.doc_changes,
            self.changes_held,
            self.docs_checked,
            self.doc_conflicts_kept,
            self.converge_ms_total / passed.max(1),
            self.converge_ms_max,
            self.converge_ms_max_seed,
        )
    }
}
