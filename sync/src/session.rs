//! The reconciliation session: a sans-IO state machine that reports which ids each side must
//! send or fetch.
//!
//! Two mechanisms, chosen per session by the responder (see DESIGN.md):
//!
//! - **Rateless IBLT** ([`crate::riblt`]) for large sets: the initiator opens with a summary
//!   (fingerprint and count of its whole set); on a mismatch the responder streams coded symbols
//!   of 8-byte id prefixes, the initiator decodes the difference, then sends the full ids it owns
//!   and the prefixes the responder owns, a page at a time; the responder answers with full ids and
//!   finally checks the result against the initiator's whole-set fingerprint.
//! - **Range-based reconciliation** (RBSR, as in negentropy) for small sets, for one-sided bulk
//!   differences, and as the fallback whenever the riblt phase cannot finish or its check fails.

use std::collections::VecDeque;

use crate::item::{Accumulator, Fingerprint, ID_BYTES, ItemId, Key};
use crate::riblt::{self, Decoder, Encoder, SYMBOL_BYTES, Side, Symbol};
use crate::store::{ItemSet, StoreError};
use crate::wire::{
    self, AbortReason, FINGERPRINT_RANGE_BYTES_MAX, HEADER_BYTES_MAX, LIST_IDS_MAX,
    MESSAGE_BYTES_MAX, Message, Mode, MoreSymbols, PREFIX_BYTES, RIBLT_HEADER_BYTES_MAX, Range,
    Reconcile, Resolve, Resolved, Symbols, WireError,
};

/// Buckets a differing range is split into. 16 as in negentropy: with 32-item leaves, N = 10^6
/// needs four splits, and each differing range costs 16 fingerprints (~21 bytes each).
pub const BRANCHING_DEFAULT: usize = 16;

/// Ranges with at most this many items are sent as id lists instead of being split. Twice the
/// branching, as in negentropy: below that, splitting costs more bytes than listing.
pub const LEAF_ITEMS_DEFAULT: usize = 2 * BRANCHING_DEFAULT;

/// Largest accepted branching; bounds the fingerprints one split adds to a frame.
pub const BRANCHING_MAX: usize = 256;

/// Largest accepted leaf size; keeps one id list (8 KiB) far below the frame cap.
pub const LEAF_ITEMS_MAX: usize = 256;

/// An id list is answered with a full [`Mode::Diff`] when we hold at most this many items in the
/// range; otherwise we split the range. 1,024 ids (32 KiB) still fits one frame with room, so a
/// peer that lists an empty range learns up to 1,024 missing ids in one reply.
pub const DIFF_IDS_MAX: usize = 1024;

/// Wait for a reply before retransmitting. Generous because a 64 KiB frame takes ~3 s over BLE.
pub const REPLY_TIMEOUT_MS: u64 = 10_000;

/// Retransmissions of one message before the session fails; with the doubling backoff the last
/// attempt times out about five minutes after the first send.
pub const RETRANSMITS_MAX: u32 = 4;

/// Resends triggered by the peer's duplicates. Bounded so a peer cannot use tiny duplicates to
/// make us send 64 KiB frames without limit.
pub const REPLAYS_MAX: u32 = 16;

/// Rounds before a session gives up. Honest sessions need a few rounds per frame of difference
/// (d = 10^5 takes hundreds); this stops a peer or a churning store from keeping one open forever.
pub const ROUNDS_MAX: u32 = 1 << 20;

/// After finishing, how long a session should be kept to resend its final message if the peer
/// retransmits (its copy was lost): as long as the peer keeps retrying.
pub const LINGER_MS: u64 = REPLY_TIMEOUT_MS * (1 << (RETRANSMITS_MAX + 1));

/// A responder gives up if no first message arrives in this time.
pub const FIRST_MESSAGE_TIMEOUT_MS: u64 = LINGER_MS;

/// The responder answers a mismatching summary with coded symbols when the larger set holds at
/// least this many items. Below it RBSR needs only two or three levels, costs about as much as
/// the first symbol batch, and needs no whole-set scans.
pub const RIBLT_ITEMS_MIN_DEFAULT: u64 = 1024;

/// Symbols in the first batch. 64 × 13 bytes keeps d = 1 within the 1 KB budget and
/// decodes up to ~30 differences at once; the batch's cell counts estimate larger d for the
/// next request.
pub const RIBLT_FIRST_SYMBOLS: usize = 64;

/// Symbols per session. Each side then holds at most 2^18 cells (≈ 4 MiB) and the decoder as many
/// recovered items; enough for d ≈ 1.5·10^5 at the paper's 1.35–1.7 symbols per difference.
/// Larger differences fall back to RBSR, whose memory is one frame.
pub const RIBLT_SYMBOLS_MAX: usize = 1 << 18;

/// Symbols in one frame.
pub const SYMBOLS_PER_FRAME: usize = (MESSAGE_BYTES_MAX - RIBLT_HEADER_BYTES_MAX) / SYMBOL_BYTES;

/// Items of each kind in one Resolve page: 1,600 full ids (51,200 bytes) and 1,600 prefixes
/// (12,800 bytes) fill one frame.
pub const RESOLVE_PAGE_ITEMS: usize = 1600;

/// Full ids in one Resolved answer. More matches than this for one page's prefixes mean prefix
/// collisions (honest odds ~10^-8, or forged), and the responder falls back to RBSR.
pub const RESOLVED_IDS_MAX: usize = (MESSAGE_BYTES_MAX - RIBLT_HEADER_BYTES_MAX) / ID_BYTES;

/// Ids read from the store per call during whole-set scans; bounds the scan buffer (128 KiB).
const SCAN_CHUNK_IDS: usize = 4096;

const _: () = {
    assert!(
        RIBLT_HEADER_BYTES_MAX + RESOLVE_PAGE_ITEMS * (ID_BYTES + PREFIX_BYTES)
            <= MESSAGE_BYTES_MAX
    );
    assert!(RIBLT_HEADER_BYTES_MAX + SYMBOLS_PER_FRAME * SYMBOL_BYTES <= MESSAGE_BYTES_MAX);
    assert!(RIBLT_HEADER_BYTES_MAX + RESOLVED_IDS_MAX * ID_BYTES <= MESSAGE_BYTES_MAX);
    assert!(RIBLT_FIRST_SYMBOLS <= SYMBOLS_PER_FRAME && RIBLT_SYMBOLS_MAX < u32::MAX as usize);
};

// Any single range we emit must fit an empty frame next to the closing fingerprint, or cutting a
// frame short could repeat forever without progress.
const _: () = {
    let diff_bytes =
        wire::BOUND_BYTES_MAX + 1 + 10 + DIFF_IDS_MAX * ID_BYTES + 10 + LIST_IDS_MAX / 8;
    let list_bytes = wire::BOUND_BYTES_MAX + 1 + 10 + LEAF_ITEMS_MAX * ID_BYTES;
    let split_bytes = BRANCHING_MAX * FINGERPRINT_RANGE_BYTES_MAX;
    let reserve = HEADER_BYTES_MAX + FINGERPRINT_RANGE_BYTES_MAX;
    assert!(diff_bytes + reserve < MESSAGE_BYTES_MAX);
    assert!(list_bytes + reserve < MESSAGE_BYTES_MAX);
    assert!(FINGERPRINT_RANGE_BYTES_MAX + reserve < MESSAGE_BYTES_MAX && split_bytes > 0);
};

/// Milliseconds on the caller's monotonic clock. The session never reads a clock: node clocks
/// drift, and tests drive time by hand.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Millis(pub u64);

/// Tuning of the reconciliation; both peers may use different values.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Config {
    branching: usize,
    leaf_items: usize,
    riblt_items_min: u64,
}

/// Why a [`Config`] was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConfigError {
    /// Branching must be in `2..=BRANCHING_MAX`.
    Branching,
    /// Leaf size must be in `branching..=LEAF_ITEMS_MAX`, so every split bucket is non-empty.
    LeafItems,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Initiator,
    Responder,
}

/// What the session reports to its owner.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// We hold these ids and the peer lacks them: offer or send them.
    Have(Vec<ItemId>),
    /// The peer holds these ids and we lack them: fetch them.
    Need(Vec<ItemId>),
    /// Reconciliation finished; every difference has been reported.
    Done,
    /// The session stopped without finishing.
    Failed(FailReason),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FailReason {
    /// The peer did not answer after all retransmissions.
    Timeout,
    /// The peer sent an abort.
    PeerAborted(AbortReason),
    /// The peer broke the protocol.
    Protocol(ProtocolError),
    /// Our store failed.
    Storage(StoreError),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProtocolError {
    /// The frame did not decode.
    Wire(WireError),
    /// A Diff answered a range we had not sent an id list for.
    UnexpectedDiff,
    /// A Diff's bitmap did not match the length of our id list.
    DiffLength,
    /// The session exceeded [`ROUNDS_MAX`].
    TooManyRounds,
    /// A riblt message arrived in a state that does not expect it, or out of sequence.
    UnexpectedMessage,
    /// A Resolved answer held an id matching none of the prefixes we asked about.
    ResolvedMismatch,
}

/// The caller handed in a message before draining the previous events (see [`Session`]'s polling
/// order). The message was not consumed. Refusing keeps the event queue bounded by one frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EventsNotDrained;

/// Traffic counters, for benchmarks and metrics.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Stats {
    pub messages_sent: u64,
    pub bytes_sent: u64,
    pub messages_received: u64,
    pub bytes_received: u64,
}

/// One reconciliation with one peer.
///
/// # Driving it
///
/// Create it with [`Session::initiator`] or [`Session::responder`]. Then, after creating it and
/// after every [`handle_message`](Session::handle_message) or
/// [`handle_timeout`](Session::handle_timeout):
///
/// 1. [`poll_transmit`](Session::poll_transmit): send the frame it returns, if any (at most one).
/// 2. [`poll_event`](Session::poll_event) until `None`: act on `Have`/`Need`, then `Done` or
///    `Failed`. `handle_message` refuses new input until the events are drained.
/// 3. [`poll_timeout`](Session::poll_timeout): arm a timer; call `handle_timeout` when it fires.
///
/// After `Done` or `Failed`, keep the session until `poll_timeout` returns `None`: while it
/// lingers it resends its final frame if the peer shows that frame was lost.
///
/// The store is borrowed per call rather than owned, because ingest writes to it between rounds.
/// Reconciliation tolerates that: a changed range just mismatches and is compared again. An id
/// may then be reported more than once, so `Have`/`Need` consumers must be idempotent.
#[derive(Debug)]
pub struct Session {
    role: Role,
    config: Config,
    state: State,
    /// The round number the next accepted message must carry.
    round_in: u32,
    /// Our last frame and its round, kept for retransmission.
    last_sent: Option<(u32, Vec<u8>)>,
    /// SHA-256 of the peer frame our last frame answered. A frame of the previous round is
    /// replayed to only when it is byte-identical to that one: a fresh responder reopened by a
    /// late copy of the first frame sends a different round-1 frame, and replaying an old answer
    /// into it would fail a session between honest peers (found by the simulation, seed 24).
    answered: Option<[u8; 32]>,
    transmit: Option<Vec<u8>>,
    events: VecDeque<Event>,
    /// Id lists in our last frame, in key order, awaiting the peer's Diffs. Bounded by one frame.
    sent_lists: Vec<SentList>,
    deadline: Option<Millis>,
    retransmits: u32,
    replays: u32,
    stats: Stats,
    riblt: Riblt,
}

/// The riblt phase, if the session is in one. Boxed so an RBSR-only session stays small.
#[derive(Debug)]
enum Riblt {
    Off,
    /// Responder: streams symbols, then answers Resolve pages.
    Serving(Box<Serving>),
    /// Initiator: receives symbols until the difference decodes.
    Decoding(Box<Decoding>),
    /// Initiator: sends the decoded difference a page at a time.
    Resolving(Box<Resolving>),
}

#[derive(Debug)]
struct Serving {
    /// The initiator's whole-set fingerprint from its summary; the final check's target.
    peer: Fingerprint,
    /// Symbols computed ahead, `[cache_start, cache_start + cache.len())`, so the store is scanned
    /// once per request rather than once per frame. At most [`RIBLT_SYMBOLS_MAX`].
    cache_start: usize,
    cache: Vec<Symbol>,
    /// Next symbol index to send.
    sent: usize,
    /// Accumulators of what the pages said only the peer has and only we have.
    peer_only: Accumulator,
    ours_only: Accumulator,
}

#[derive(Debug)]
struct Decoding {
    decoder: Decoder,
    /// The end index of our outstanding request; local cells are allocated up to it.
    target: usize,
}

#[derive(Debug)]
struct Resolving {
    /// Full ids only we have, and prefixes only the peer has, not yet sent.
    ours: Vec<ItemId>,
    theirs: Vec<u64>,
    /// The page awaiting its Resolved answer; prefixes sorted for lookup.
    page_ids: Vec<ItemId>,
    page_prefixes: Vec<u64>,
    page_last: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Responder before the first message.
    AwaitingFirst,
    /// We sent a frame with open ranges and wait for the reply.
    AwaitingReply,
    Done,
    Failed,
}

#[derive(Clone, Debug)]
struct SentList {
    lo: Key,
    hi: Key,
    ids: Vec<ItemId>,
}

/// A frame under construction: merges consecutive skips, drops the trailing one, and keeps room
/// for one closing fingerprint range so a frame cut short still covers the whole key space.
struct Outbox {
    ranges: Vec<Range>,
    bytes: usize,
    prev_ts: u64,
    pending_skip: Option<Key>,
}

/// Why processing a frame stopped.
enum Stop {
    Store(StoreError),
    Protocol(ProtocolError),
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Stop {
        Stop::Store(error)
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            branching: BRANCHING_DEFAULT,
            leaf_items: LEAF_ITEMS_DEFAULT,
            riblt_items_min: RIBLT_ITEMS_MIN_DEFAULT,
        }
    }
}

impl Config {
    pub fn new(branching: usize, leaf_items: usize) -> Result<Config, ConfigError> {
        if !(2..=BRANCHING_MAX).contains(&branching) {
            return Err(ConfigError::Branching);
        }
        if !(branching..=LEAF_ITEMS_MAX).contains(&leaf_items) {
            return Err(ConfigError::LeafItems);
        }
        Ok(Config {
            branching,
            leaf_items,
            riblt_items_min: RIBLT_ITEMS_MIN_DEFAULT,
        })
    }

    /// Sets the set size from which the riblt phase is used (see [`RIBLT_ITEMS_MIN_DEFAULT`]);
    /// `u64::MAX` turns it off, so the session speaks RBSR only.
    pub fn with_riblt_items_min(self, items: u64) -> Config {
        Config {
            riblt_items_min: items,
            ..self
        }
    }

    pub fn riblt_items_min(&self) -> u64 {
        self.riblt_items_min
    }

    pub fn branching(&self) -> usize {
        self.branching
    }

    pub fn leaf_items(&self) -> usize {
        self.leaf_items
    }
}

impl Outbox {
    fn new(round: u32) -> Outbox {
        Outbox {
            ranges: Vec::new(),
            bytes: wire::header_encoded_len(round),
            prev_ts: 0,
            pending_skip: None,
        }
    }

    fn skip(&mut self, upper: Key) {
        self.pending_skip = Some(upper);
    }

    /// Whether `range` fits while leaving room for a closing fingerprint.
    fn fits(&self, range: &Range) -> bool {
        let (mut bytes, mut prev_ts) = (self.bytes, self.prev_ts);
        if let Some(upper) = self.pending_skip {
            bytes += wire::range_encoded_len(
                prev_ts,
                &Range {
                    upper,
                    mode: Mode::Skip,
                },
            );
            prev_ts = upper.timestamp_ms;
        }
        bytes + wire::range_encoded_len(prev_ts, range) + FINGERPRINT_RANGE_BYTES_MAX
            <= MESSAGE_BYTES_MAX
    }

    /// Appends `range`; callers check [`Outbox::fits`] first, except for the closing range,
    /// for which room is always reserved.
    fn push(&mut self, range: Range) {
        if let Some(upper) = self.pending_skip.take() {
            self.push_raw(Range {
                upper,
                mode: Mode::Skip,
            });
        }
        self.push_raw(range);
    }

    fn push_raw(&mut self, range: Range) {
        self.bytes += wire::range_encoded_len(self.prev_ts, &range);
        self.prev_ts = range.upper.timestamp_ms;
        self.ranges.push(range);
    }

    fn is_open(&self) -> bool {
        self.ranges.iter().any(|r| is_open_mode(&r.mode))
    }
}

/// Whether a range in this mode asks the peer for an answer.
fn is_open_mode(mode: &Mode) -> bool {
    matches!(
        mode,
        Mode::Fingerprint(_) | Mode::IdList(_) | Mode::Summary { .. }
    )
}

impl Session {
    /// Starts a session that sends the first frame: one fingerprint over the whole set (an id
    /// list if the set is small), so a no-op sync costs one round trip of a few dozen bytes.
    pub fn initiator<S: ItemSet + ?Sized>(store: &S, config: Config, now: Millis) -> Session {
        let mut session = Session::new(Role::Initiator, config, State::AwaitingReply);
        session.round_in = 1;
        let mut out = Outbox::new(0);
        let opened = store.len().map_err(Stop::Store).and_then(|len| {
            if len > config.leaf_items as u64 && config.riblt_items_min != u64::MAX {
                // The count costs a few bytes and lets the responder choose riblt.
                let fingerprint = store.accumulate(0, len)?.fingerprint();
                out.push(Range {
                    upper: Key::INFINITY,
                    mode: Mode::Summary {
                        fingerprint,
                        count: len,
                    },
                });
                return Ok(());
            }
            // Branching 1 yields a single fingerprint, or an id list for a small set.
            session
                .split(store, (Key::MIN, 0), (Key::INFINITY, len), 1, &mut out)
                .map(|_| ())
        });
        match opened {
            Ok(()) => session.send(0, out.ranges, now, true),
            Err(stop) => session.stop(stop),
        }
        session
    }

    /// Starts a session that waits for the peer's first frame.
    pub fn responder(config: Config, now: Millis) -> Session {
        let mut session = Session::new(Role::Responder, config, State::AwaitingFirst);
        session.deadline = Some(Millis(now.0.saturating_add(FIRST_MESSAGE_TIMEOUT_MS)));
        session
    }

    fn new(role: Role, config: Config, state: State) -> Session {
        Session {
            role,
            config,
            state,
            round_in: 0,
            last_sent: None,
            answered: None,
            transmit: None,
            events: VecDeque::new(),
            sent_lists: Vec::new(),
            deadline: None,
            retransmits: 0,
            replays: 0,
            stats: Stats::default(),
            riblt: Riblt::Off,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether the session reached `Done` or `Failed`.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done | State::Failed)
    }

    /// Feeds one frame from the peer.
    pub fn handle_message<S: ItemSet + ?Sized>(
        &mut self,
        store: &S,
        frame: &[u8],
        now: Millis,
    ) -> Result<(), EventsNotDrained> {
        if !self.events.is_empty() {
            return Err(EventsNotDrained);
        }
        self.stats.messages_received += 1;
        self.stats.bytes_received += frame.len() as u64;
        if self.state == State::Failed {
            return Ok(());
        }
        let message = match Message::decode(frame) {
            Ok(Message::Abort(reason)) => {
                if self.state != State::Done {
                    self.fail(FailReason::PeerAborted(reason), None);
                }
                return Ok(());
            }
            Err(error) => {
                self.fail(
                    FailReason::Protocol(ProtocolError::Wire(error)),
                    Some(AbortReason::Protocol),
                );
                return Ok(());
            }
            Ok(message) => message,
        };
        // Every message but Abort carries a round.
        let round = message.round().unwrap_or(u32::MAX);
        let accepting = matches!(self.state, State::AwaitingFirst | State::AwaitingReply);
        if accepting && round == self.round_in {
            self.answered = Some(frame_digest(frame));
            self.process(store, message, now);
        } else if let Some((sent_round, frame_sent)) = &self.last_sent {
            // The peer resent the frame we answered last, so our answer was lost: resend it.
            if round.checked_add(1) == Some(*sent_round)
                && self.replays < REPLAYS_MAX
                && self.answered == Some(frame_digest(frame))
            {
                self.replays += 1;
                self.transmit = Some(frame_sent.clone());
            }
        }
        // Anything else is a stale or duplicate frame; dropping it is safe.
        Ok(())
    }

    /// Tells the session that `now` has passed the deadline from [`Session::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Millis) {
        if self.deadline.is_none_or(|deadline| now < deadline) {
            return;
        }
        self.deadline = None;
        match self.state {
            State::AwaitingReply if self.retransmits < RETRANSMITS_MAX => {
                self.retransmits += 1;
                self.transmit = self.last_sent.as_ref().map(|(_, frame)| frame.clone());
                let wait = REPLY_TIMEOUT_MS << self.retransmits;
                self.deadline = Some(Millis(now.0.saturating_add(wait)));
            }
            State::AwaitingReply | State::AwaitingFirst => {
                self.fail(FailReason::Timeout, Some(AbortReason::Timeout));
            }
            // Lingering ended; the session may be dropped.
            State::Done | State::Failed => {}
        }
    }

    /// The next frame to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let frame = self.transmit.take()?;
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += frame.len() as u64;
        Some(frame)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] should next be called; `None` once a finished session
    /// no longer needs to linger.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.deadline
    }

    fn process<S: ItemSet + ?Sized>(&mut self, store: &S, message: Message, now: Millis) {
        let round = message.round().unwrap_or(u32::MAX);
        let (round_out, round_next) = match (round.checked_add(1), round.checked_add(2)) {
            (Some(out), Some(next)) if next <= ROUNDS_MAX => (out, next),
            _ => {
                self.fail(
                    FailReason::Protocol(ProtocolError::TooManyRounds),
                    Some(AbortReason::Protocol),
                );
                return;
            }
        };
        self.round_in = round_next;
        self.retransmits = 0;
        let result = match message {
            Message::Reconcile(reconcile) => self.on_reconcile(store, reconcile, round_out, now),
            Message::Symbols(symbols) => self.on_symbols(store, symbols, round_out, now),
            Message::MoreSymbols(more) => self.on_more_symbols(store, more, round_out, now),
            Message::Resolve(resolve) => self.on_resolve(store, resolve, round_out, now),
            Message::Resolved(resolved) => self.on_resolved(resolved, round_out, now),
            // Aborts are handled before rounds are checked.
            Message::Abort(_) => Ok(()),
        };
        if let Err(stop) = result {
            self.stop(stop);
        }
    }

    fn on_reconcile<S: ItemSet + ?Sized>(
        &mut self,
        store: &S,
        reconcile: Reconcile,
        round_out: u32,
        now: Millis,
    ) -> Result<(), Stop> {
        // An RBSR frame ends any riblt phase: it is the peer's fallback.
        self.riblt = Riblt::Off;
        if let ([range], 0) = (&reconcile.ranges[..], reconcile.round)
            && let Mode::Summary { fingerprint, count } = range.mode
            && range.upper == Key::INFINITY
            && self.role == Role::Responder
        {
            let len = store.len()?;
            if store.accumulate(0, len)?.fingerprint() != fingerprint
                && self.riblt_suits(count, len)
            {
                self.riblt = Riblt::Serving(Box::new(Serving {
                    peer: fingerprint,
                    cache_start: 0,
                    cache: Vec::new(),
                    sent: 0,
                    peer_only: Accumulator::ZERO,
                    ours_only: Accumulator::ZERO,
                }));
                return self.serve(store, RIBLT_FIRST_SYMBOLS, round_out, now);
            }
        }
        let peer_open = reconcile.ranges.iter().any(|r| is_open_mode(&r.mode));
        let mut out = Outbox::new(round_out);
        self.reconcile(store, &reconcile.ranges, &mut out)?;
        if peer_open {
            let open = out.is_open();
            self.send(round_out, out.ranges, now, open);
        } else {
            // The peer settled everything it had open, so it expects nothing back.
            self.finish(None);
        }
        Ok(())
    }

    /// Whether to answer a mismatching summary with coded symbols. Not when both sets are small
    /// (RBSR is as cheap and scans nothing), and not when the counts alone show a difference too
    /// large for the symbol cap or mostly one-sided: there RBSR's id lists cost ~33 bytes per
    /// difference against riblt's ~60 (symbols plus full ids plus prefixes).
    fn riblt_suits(&self, peer_count: u64, len: u64) -> bool {
        let larger = peer_count.max(len);
        let at_least = peer_count.abs_diff(len);
        larger >= self.config.riblt_items_min
            && at_least < (RIBLT_SYMBOLS_MAX / 2) as u64
            && at_least.saturating_mul(2) < larger
    }

    /// Responder: sends the next frame of symbols, up to index `end`.
    fn serve<S: ItemSet + ?Sized>(
        &mut self,
        store: &S,
        end: usize,
        round_out: u32,
        now: Millis,
    ) -> Result<(), Stop> {
        let Riblt::Serving(serving) = &mut self.riblt else {
            return Err(Stop::Protocol(ProtocolError::UnexpectedMessage));
        };
        if end > RIBLT_SYMBOLS_MAX || end <= serving.sent {
            return Err(Stop::Protocol(ProtocolError::UnexpectedMessage));
        }
        let cache_end = serving.cache_start + serving.cache.len();
        if end > cache_end || serving.sent < serving.cache_start {
            serving.cache = match store.coded_symbols(serving.sent as u64, end - serving.sent)? {
                Some(symbols) if symbols.len() == end - serving.sent => symbols,
                _ => {
                    let mut encoder = Encoder::new(serving.sent as u64, end - serving.sent);
                    scan(store, |id| encoder.add(riblt::prefix_of(id)))?;
                    encoder.finish()
                }
            };
            serving.cache_start = serving.sent;
        }
        let from = serving.sent - serving.cache_start;
        let take = (end - serving.sent).min(SYMBOLS_PER_FRAME);
        let symbols = serving.cache[from..from + take].to_vec();
        let start = serving.sent as u32;
        serving.sent += take;
        self.send_message(
            Message::Symbols(Symbols {
                round: round_out,
                start,
                symbols,
            }),
            now,
            true,
        );
        Ok(())
    }

    fn on_more_symbols<S: ItemSet + ?Sized>(
        &mut self,
        store: &S,
        more: MoreSymbols,
        round_out: u32,
        now: Millis,
    ) -> Result<(), Stop> {
        self.serve(store, more.end as usize, round_out, now)
    }

    /// Initiator: takes a frame of symbols, peels, and either resolves, asks for more, or falls
    /// back to RBSR.
    fn on_symbols<S: ItemSet + ?Sized>(
        &mut self,
        store: &S,
        symbols: Symbols,
        round_out: u32,
        now: Millis,
    ) -> Result<(), Stop> {
        let unexpected = Stop::Protocol(ProtocolError::UnexpectedMessage);
        if matches!(self.riblt, Riblt::Off) && self.role == Role::Initiator && symbols.round == 1 {
            self.riblt = Riblt::Decoding(Box::new(Decoding {
                decoder: Decoder::new(RIBLT_SYMBOLS_MAX),
                target: 0,
            }));
        }
        let Riblt::Decoding(decoding) = &mut self.riblt else {
            return Err(unexpected);
        };
        let start = symbols.start as usize;
        let end = start.saturating_add(symbols.symbols.len());
        if start != decoding.decoder.received() || end == start || end > RIBLT_SYMBOLS_MAX {
            return Err(unexpected);
        }
        if end > decoding.decoder.allocated() {
            decoding.target = decoding.target.max(end);
            allocate(store, &mut decoding.decoder, decoding.target)?;
        }
        decoding.decoder.receive(&symbols.symbols);
        let peeled = decoding.decoder.peel();
        if peeled.is_ok() && decoding.decoder.is_decoded() {
            return self.start_resolve(store, round_out, now);
        }
        let received = decoding.decoder.received();
        if peeled.is_err() || received >= RIBLT_SYMBOLS_MAX {
            return self.fall_back(store, round_out, now);
        }
        if received >= decoding.target {
            decoding.target = next_target(&decoding.decoder);
            allocate(store, &mut decoding.decoder, decoding.target)?;
        }
        let end = decoding.target as u32;
        self.send_message(
            Message::MoreSymbols(MoreSymbols {
                round: round_out,
                end,
            }),
            now,
            true,
        );
        Ok(())
    }

    /// Initiator: the difference decoded. Finds the full ids of our recovered prefixes and sends
    /// the first page.
    fn start_resolve<S: ItemSet + ?Sized>(
        &mut self,
        store: &S,
        round_out: u32,
        now: Millis,
    ) -> Result<(), Stop> {
        let Riblt::Decoding(decoding) = &self.riblt else {
            return Err(Stop::Protocol(ProtocolError::UnexpectedMessage));
        };
        let (mut ours_prefixes, mut theirs) = (Vec::new(), Vec::new());
        for (prefix, side) in decoding.decoder.recovered() {
            match side {
                Side::Local => ours_prefixes.push(prefix),
                Side::Remote => theirs.push(prefix),
            }
        }
        ours_prefixes.sort_unstable();
        let mut ours = Vec::with_capacity(ours_prefixes.len());
        if !ours_prefixes.is_empty() {
            scan(store, |id| {
                if ours_prefixes.binary_search(&riblt::prefix_of(id)).is_ok() {
                    ours.push(*id);
                }
            })?;
        }
        // A recovered prefix we cannot find (the store changed, or a false decode) or one
        // matching two of our ids (a collision) would make the result wrong: use RBSR instead.
        if ours.len() != ours_prefixes.len() {
            return self.fall_back(store, round_out, now);
        }
        self.riblt = Riblt::Resolving(Box::new(Resolving {
            ours,
            theirs,
            page_ids: Vec::new(),
            page_prefixes: Vec::new(),
            page_last: false,
        }));
        self.send_page(round_out, now)
    }

    fn send_page(&mut self, round_out: u32, now: Millis) -> Result<(), Stop> {
        let Riblt::Resolving(resolving) = &mut self.riblt else {
            return Err(Stop::Protocol(ProtocolError::UnexpectedMessage));
        };
        let ids_take = resolving.ours.len().min(RESOLVE_PAGE_ITEMS);
        let prefixes_take = resolving.theirs.len().min(RESOLVE_PAGE_ITEMS);
        let ids: Vec<ItemId> = resolving.ours.drain(..ids_take).collect();
        let prefixes: Vec<u64> = resolving.theirs.drain(..prefixes_take).collect();
        let last = resolving.ours.is_empty() && resolving.theirs.is_empty();
        resolving.page_ids = ids.clone();
        resolving.page_prefixes = prefixes.clone();
        resolving.page_prefixes.sort_unstable();
        resolving.page_last = last;
        self.send_message(
            Message::Resolve(Resolve {
                round: round_out,
                last,
                ids,
                prefixes,
            }),
            now,
            true,
        );
        Ok(())
    }

    /// Responder: one page of the decoded difference. Answers with the full ids of its prefixes;
    /// after the last page, checks that applying the whole difference to our set gives the
    /// initiator's fingerprint, and falls back to RBSR if not.
    fn on_resolve<S: ItemSet + ?Sized>(
        &mut self,
        store: &S,
        resolve: Resolve,
        round_out: u32,
        now: Millis,
    ) -> Result<(), Stop> {
        let Riblt::Serving(serving) = &mut self.riblt else {
            return Err(Stop::Protocol(ProtocolError::UnexpectedMessage));
        };
        serving.cache = Vec::new();
        let mut prefixes = resolve.prefixes;
        prefixes.sort_unstable();
        let mut found = Vec::new();
        if !prefixes.is_empty() {
            scan(store, |id| {
                if found.len() <= RESOLVED_IDS_MAX
                    && prefixes.binary_search(&riblt::prefix_of(id)).is_ok()
                {
                    found.push(*id);
                }
            })?;
        }
        if found.len() > RESOLVED_IDS_MAX {
            return self.fall_back(store, round_out, now);
        }
        resolve
            .ids
            .iter()
            .for_each(|id| serving.peer_only.add_id(id));
        found.iter().for_each(|id| serving.ours_only.add_id(id));
        if resolve.last {
            let mut converged = store.accumulate(0, store.len()?)?;
            converged.sub(&serving.ours_only);
            converged.add(&serving.peer_only);
            if converged.fingerprint() != serving.peer {
                return self.fall_back(store, round_out, now);
            }
        }
        if !found.is_empty() {
            self.events.push_back(Event::Have(found.clone()));
        }
        if !resolve.ids.is_empty() {
            self.events.push_back(Event::Need(resolve.ids));
        }
        self.send_message(
            Message::Resolved(Resolved {
                round: round_out,
                last: resolve.last,
                ids: found,
            }),
            now,
            !resolve.last,
        );
        Ok(())
    }

    /// Initiator: the answer to a page.
    fn on_resolved(&mut self, resolved: Resolved, round_out: u32, now: Millis) -> Result<(), Stop> {
        let Riblt::Resolving(resolving) = &mut self.riblt else {
            return Err(Stop::Protocol(ProtocolError::UnexpectedMessage));
        };
        if resolved.last != resolving.page_last {
            return Err(Stop::Protocol(ProtocolError::UnexpectedMessage));
        }
        let asked = &resolving.page_prefixes;
        if resolved
            .ids
            .iter()
            .any(|id| asked.binary_search(&riblt::prefix_of(id)).is_err())
        {
            return Err(Stop::Protocol(ProtocolError::ResolvedMismatch));
        }
        let page_ids = std::mem::take(&mut resolving.page_ids);
        if !page_ids.is_empty() {
            self.events.push_back(Event::Have(page_ids));
        }
        if !resolved.ids.is_empty() {
            self.events.push_back(Event::Need(resolved.ids));
        }
        if resolved.last {
            self.riblt = Riblt::Off;
            self.finish(None);
            Ok(())
        } else {
            self.send_page(round_out, now)
        }
    }

    /// Leaves the riblt phase and restarts the whole key space with RBSR, as if the peer's
    /// summary had mismatched. Events already reported stay valid: RBSR reports the rest, and
    /// consumers are idempotent.
    fn fall_back<S: ItemSet + ?Sized>(
        &mut self,
        store: &S,
        round_out: u32,
        now: Millis,
    ) -> Result<(), Stop> {
        self.riblt = Riblt::Off;
        let len = store.len()?;
        let mut out = Outbox::new(round_out);
        let branching = self.config.branching;
        self.split(
            store,
            (Key::MIN, 0),
            (Key::INFINITY, len),
            branching,
            &mut out,
        )?;
        let open = out.is_open();
        self.send(round_out, out.ranges, now, open);
        Ok(())
    }

    /// Walks the peer's ranges, answers them in `out`, and records what was learned.
    fn reconcile<S: ItemSet + ?Sized>(
        &mut self,
        store: &S,
        ranges: &[Range],
        out: &mut Outbox,
    ) -> Result<(), Stop> {
        let answered = std::mem::take(&mut self.sent_lists);
        let (mut have, mut need) = (Vec::new(), Vec::new());
        let (mut lo, mut lo_rank) = (Key::MIN, 0u64);
        let mut cut = false;
        for range in ranges {
            let hi = range.upper;
            let hi_rank = store.rank(&hi)?;
            match &range.mode {
                Mode::Skip => out.skip(hi),
                Mode::Diff {
                    have: theirs,
                    lacks,
                } => {
                    let list = answered
                        .binary_search_by(|list| list.hi.cmp(&hi))
                        .ok()
                        .and_then(|i| answered.get(i))
                        .filter(|list| list.lo == lo)
                        .ok_or(Stop::Protocol(ProtocolError::UnexpectedDiff))?;
                    if lacks.len() != list.ids.len() {
                        return Err(Stop::Protocol(ProtocolError::DiffLength));
                    }
                    need.extend_from_slice(theirs);
                    have.extend(
                        list.ids
                            .iter()
                            .zip(lacks)
                            .filter(|(_, lack)| **lack)
                            .map(|(id, _)| *id),
                    );
                    out.skip(hi);
                }
                // Past a cut, the closing fingerprint already covers the rest of the key space.
                _ if cut => {}
                Mode::Fingerprint(theirs)
                | Mode::Summary {
                    fingerprint: theirs,
                    ..
                } => {
                    if store.accumulate(lo_rank, hi_rank)?.fingerprint() == *theirs {
                        out.skip(hi);
                    } else {
                        let branching = self.config.branching;
                        cut = !self.split(store, (lo, lo_rank), (hi, hi_rank), branching, out)?;
                    }
                }
                Mode::IdList(theirs) => {
                    if hi_rank - lo_rank > DIFF_IDS_MAX as u64 {
                        let branching = self.config.branching;
                        cut = !self.split(store, (lo, lo_rank), (hi, hi_rank), branching, out)?;
                    } else {
                        let mut mine = Vec::new();
                        store.ids(lo_rank, hi_rank, DIFF_IDS_MAX, &mut mine)?;
                        mine.sort_unstable();
                        let mut theirs_sorted = theirs.clone();
                        theirs_sorted.sort_unstable();
                        let ours_only: Vec<ItemId> = mine
                            .iter()
                            .filter(|id| theirs_sorted.binary_search(id).is_err())
                            .copied()
                            .collect();
                        let lacks: Vec<bool> = theirs
                            .iter()
                            .map(|id| mine.binary_search(id).is_err())
                            .collect();
                        let reply = Range {
                            upper: hi,
                            mode: Mode::Diff {
                                have: ours_only.clone(),
                                lacks,
                            },
                        };
                        if out.fits(&reply) {
                            have.extend(ours_only);
                            if let Mode::Diff { lacks, .. } = &reply.mode {
                                need.extend(
                                    theirs
                                        .iter()
                                        .zip(lacks)
                                        .filter(|(_, l)| **l)
                                        .map(|(id, _)| *id),
                                );
                            }
                            out.push(reply);
                        } else {
                            self.close(store, lo_rank, out)?;
                            cut = true;
                        }
                    }
                }
            }
            lo = hi;
            lo_rank = hi_rank;
        }
        if !have.is_empty() {
            self.events.push_back(Event::Have(have));
        }
        if !need.is_empty() {
            self.events.push_back(Event::Need(need));
        }
        Ok(())
    }

    /// Answers a differing range `[lo, hi)`: an id list if small, else `branching` fingerprints.
    /// Returns false if the frame filled up and was closed instead.
    fn split<S: ItemSet + ?Sized>(
        &mut self,
        store: &S,
        lo: (Key, u64),
        hi: (Key, u64),
        branching: usize,
        out: &mut Outbox,
    ) -> Result<bool, Stop> {
        let count = hi.1.saturating_sub(lo.1);
        if count <= self.config.leaf_items as u64 {
            let mut ids = Vec::new();
            store.ids(lo.1, hi.1, self.config.leaf_items, &mut ids)?;
            let range = Range {
                upper: hi.0,
                mode: Mode::IdList(ids.clone()),
            };
            if !out.fits(&range) {
                self.close(store, lo.1, out)?;
                return Ok(false);
            }
            out.push(range);
            self.sent_lists.push(SentList {
                lo: lo.0,
                hi: hi.0,
                ids,
            });
            return Ok(true);
        }
        let mut sub_lo_rank = lo.1;
        for bucket in 1..=branching as u64 {
            // u128 so count × bucket cannot overflow; the result is at most hi.1.
            let end_rank =
                lo.1 + (u128::from(count) * u128::from(bucket) / branching as u128) as u64;
            let sub_hi = if bucket == branching as u64 {
                hi.0
            } else {
                // The store answered count = hi - lo, so these ranks exist; if they do not, the
                // store is inconsistent.
                let prev = store.key_at(end_rank - 1)?.ok_or(StoreError::Corrupt)?;
                let next = store.key_at(end_rank)?.ok_or(StoreError::Corrupt)?;
                Key::bound_between(&prev, &next)
            };
            let fingerprint = store.accumulate(sub_lo_rank, end_rank)?.fingerprint();
            let range = Range {
                upper: sub_hi,
                mode: Mode::Fingerprint(fingerprint),
            };
            if !out.fits(&range) {
                self.close(store, sub_lo_rank, out)?;
                return Ok(false);
            }
            out.push(range);
            sub_lo_rank = end_rank;
        }
        Ok(true)
    }

    /// Ends a full frame with one fingerprint from rank `lo_rank` to the end of the key space; the peer compares it and the rest
    /// is reconciled in later rounds.
    fn close<S: ItemSet + ?Sized>(
        &mut self,
        store: &S,
        lo_rank: u64,
        out: &mut Outbox,
    ) -> Result<(), Stop> {
        let fingerprint = store.accumulate(lo_rank, store.len()?)?.fingerprint();
        out.push(Range {
            upper: Key::INFINITY,
            mode: Mode::Fingerprint(fingerprint),
        });
        Ok(())
    }

    fn send(&mut self, round: u32, ranges: Vec<Range>, now: Millis, expect_reply: bool) {
        self.send_message(
            Message::Reconcile(Reconcile { round, ranges }),
            now,
            expect_reply,
        );
    }

    fn send_message(&mut self, message: Message, now: Millis, expect_reply: bool) {
        // Every message we send carries a round.
        let round = message.round().unwrap_or(u32::MAX);
        let frame = message.encode();
        self.transmit = Some(frame.clone());
        self.last_sent = Some((round, frame));
        if expect_reply {
            self.state = State::AwaitingReply;
            self.deadline = Some(Millis(now.0.saturating_add(REPLY_TIMEOUT_MS)));
        } else {
            self.finish(Some(Millis(now.0.saturating_add(LINGER_MS))));
        }
    }

    fn finish(&mut self, linger_until: Option<Millis>) {
        self.state = State::Done;
        self.deadline = linger_until;
        self.sent_lists.clear();
        self.riblt = Riblt::Off;
        self.events.push_back(Event::Done);
    }

    fn stop(&mut self, stop: Stop) {
        match stop {
            Stop::Store(error) => self.fail(FailReason::Storage(error), Some(AbortReason::Storage)),
            Stop::Protocol(error) => {
                self.fail(FailReason::Protocol(error), Some(AbortReason::Protocol))
            }
        }
    }

    fn fail(&mut self, reason: FailReason, abort: Option<AbortReason>) {
        self.state = State::Failed;
        self.deadline = None;
        self.sent_lists.clear();
        self.riblt = Riblt::Off;
        self.transmit = abort.map(|reason| Message::Abort(reason).encode());
        self.events.push_back(Event::Failed(reason));
    }
}

/// Calls `visit` on every id of the set, in order, reading [`SCAN_CHUNK_IDS`] at a time.
fn scan<S: ItemSet + ?Sized>(store: &S, mut visit: impl FnMut(&ItemId)) -> Result<(), StoreError> {
    let len = store.len()?;
    let mut buffer = Vec::with_capacity(SCAN_CHUNK_IDS);
    let mut lo = 0u64;
    while lo < len {
        buffer.clear();
        let hi = lo.saturating_add(SCAN_CHUNK_IDS as u64).min(len);
        store.ids(lo, hi, SCAN_CHUNK_IDS, &mut buffer)?;
        if buffer.is_empty() {
            // The store reported more items than it lists.
            return Err(StoreError::Corrupt);
        }
        buffer.iter().for_each(&mut visit);
        lo += buffer.len() as u64;
    }
    Ok(())
}

/// Scans our set for the decoder's local cells up to `end`.
fn allocate<S: ItemSet + ?Sized>(
    store: &S,
    decoder: &mut Decoder,
    end: usize,
) -> Result<(), StoreError> {
    if end <= decoder.allocated() {
        return Ok(());
    }
    let mut local = decoder.local_cells(end);
    let (start, len) = local.span();
    match store.coded_symbols(start as u64, len)? {
        Some(symbols) if symbols.len() == len => symbols
            .iter()
            .enumerate()
            .for_each(|(offset, symbol)| local.add_symbol(offset, symbol)),
        _ => scan(store, |id| local.add(riblt::prefix_of(id)))?,
    }
    decoder.extend_local(local);
    Ok(())
}

/// The symbol index to ask for next, once everything asked for so far arrived undecoded.
///
/// Aim for 1.6 symbols per estimated difference plus a margin (the paper's overhead is 1.35–1.72,
/// highest at small d) when empty cells give a sharp estimate, and 2 per difference when only the
/// counts do (±25 % at 64 cells): d ≤ 1,000 then usually decodes by the third batch (four round
/// trips) while staying within 2·d·32 + 1 KB. When the estimate is below what already failed,
/// grow by ×1.5, which bounds the overshoot for large d, where each request streams many frames.
fn next_target(decoder: &Decoder) -> usize {
    const MARGIN_SYMBOLS: f64 = 32.0;
    let received = decoder.received();
    let wanted = match decoder.estimate() {
        riblt::Estimate::Empties(estimate) => (1.6 * estimate + MARGIN_SYMBOLS) as usize,
        riblt::Estimate::Counts(estimate) => (2.0 * estimate + MARGIN_SYMBOLS) as usize,
    };
    let floor = received + received / 2 + 16;
    wanted.max(floor).min(RIBLT_SYMBOLS_MAX)
}

/// Identity of a received frame, for telling a retransmission from a different frame.
fn frame_digest(frame: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, frame);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    //! End-to-end runs of both mechanisms: the riblt phase is forced on small sets with
    //! `with_riblt_items_min`, so proptests reach every message type, fallbacks included.

    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::store::MemItemSet;

    fn id_from(seed: u64) -> ItemId {
        let mut bytes = [0u8; ID_BYTES];
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed;
        for chunk in bytes.chunks_exact_mut(8) {
            x ^= x >> 33;
            x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
            x ^= x >> 29;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        ItemId(bytes)
    }

    fn keys(raw: &[(u64, u64)]) -> Vec<Key> {
        raw.iter()
            .map(|&(ts, seed)| Key::new(ts, id_from(seed)))
            .collect()
    }

    #[derive(Debug, Default)]
    struct Run {
        have: [BTreeSet<ItemId>; 2],
        need: [BTreeSet<ItemId>; 2],
        done: [bool; 2],
        messages: u64,
        bytes: u64,
        largest_frame: usize,
        /// Tags of every frame sent, to check which mechanisms ran.
        tags: BTreeSet<u8>,
    }

    /// Drives two sessions over a seeded link that drops `loss_per_10` frames in ten, duplicates
    /// some and delays all; time jumps to the next deadline when nothing is in flight. `seed`
    /// appears in every assertion message so a failure can be replayed.
    fn drive(a: &MemItemSet, b: &MemItemSet, config: Config, seed: u64, loss_per_10: u64) -> Run {
        let mut rng = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut now = Millis(0);
        let mut sessions = [
            Session::initiator(a, config, now),
            Session::responder(config, now),
        ];
        let stores = [a, b];
        let mut run = Run::default();
        let mut in_flight: Vec<(u64, usize, Vec<u8>)> = Vec::new();
        // A side never loses two frames in a row, so the retransmission budget always suffices
        // and a timeout is a bug rather than bad luck.
        let mut dropped_last = [false; 2];
        for _ in 0..100_000 {
            for side in 0..2 {
                while let Some(event) = sessions[side].poll_event() {
                    match event {
                        Event::Have(ids) => run.have[side].extend(ids),
                        Event::Need(ids) => run.need[side].extend(ids),
                        Event::Done => run.done[side] = true,
                        Event::Failed(reason) => {
                            panic!("seed {seed}: side {side} failed: {reason:?}")
                        }
                    }
                }
                while let Some(frame) = sessions[side].poll_transmit() {
                    run.messages += 1;
                    run.bytes += frame.len() as u64;
                    run.largest_frame = run.largest_frame.max(frame.len());
                    run.tags.insert(frame.get(1).copied().unwrap_or(u8::MAX));
                    let roll = next() % 10;
                    let delay = 5 + next() % 50;
                    let drop = roll < loss_per_10 && !dropped_last[side];
                    dropped_last[side] = drop;
                    if !drop {
                        in_flight.push((now.0 + delay, 1 - side, frame.clone()));
                    }
                    if loss_per_10 > 0 && roll == 9 {
                        in_flight.push((now.0 + delay + 7, 1 - side, frame));
                    }
                }
            }
            if let Some(i) = (0..in_flight.len()).min_by_key(|&i| in_flight[i].0) {
                let (at, to, frame) = in_flight.swap_remove(i);
                now = Millis(now.0.max(at));
                let result = sessions[to].handle_message(stores[to], &frame, now);
                assert!(result.is_ok(), "seed {seed}: events drained before input");
                continue;
            }
            let Some(deadline) = sessions.iter().filter_map(Session::poll_timeout).min() else {
                break;
            };
            now = now.max(deadline);
            sessions.iter_mut().for_each(|s| s.handle_timeout(now));
        }
        run
    }

    /// Checks the reports against the true symmetric difference.
    fn check(
        common: &[Key],
        a_extra: &[Key],
        b_extra: &[Key],
        config: Config,
        seed: u64,
        loss: u64,
    ) -> Run {
        let a = MemItemSet::from_keys(common.iter().chain(a_extra).copied()).expect("item keys");
        let b = MemItemSet::from_keys(common.iter().chain(b_extra).copied()).expect("item keys");
        let a_keys: BTreeSet<Key> = a.keys().copied().collect();
        let b_keys: BTreeSet<Key> = b.keys().copied().collect();
        let a_only: BTreeSet<ItemId> = a_keys.difference(&b_keys).map(|k| k.id).collect();
        let b_only: BTreeSet<ItemId> = b_keys.difference(&a_keys).map(|k| k.id).collect();
        let run = drive(&a, &b, config, seed, loss);
        assert!(
            run.done[0] && run.done[1],
            "seed {seed}: both finish: {run:?}"
        );
        assert_eq!(run.have[0], a_only, "seed {seed}: a has");
        assert_eq!(run.need[0], b_only, "seed {seed}: a needs");
        assert_eq!(run.have[1], b_only, "seed {seed}: b has");
        assert_eq!(run.need[1], a_only, "seed {seed}: b needs");
        assert!(run.largest_frame <= MESSAGE_BYTES_MAX, "seed {seed}");
        run
    }

    const TAG_SYMBOLS: u8 = 2;
    const TAG_RESOLVE: u8 = 4;

    fn arb_keys(max: usize, ts_max: u64) -> impl Strategy<Value = Vec<Key>> {
        proptest::collection::vec((0..ts_max, any::<u64>()), 0..max).prop_map(|raw| keys(&raw))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Riblt forced on (threshold 0..64 items) over random sets with colliding timestamps,
        /// lossless and lossy: reports are exactly the symmetric difference either way.
        #[test]
        fn riblt_sessions_report_exact_difference(
            common in arb_keys(1200, 300),
            a_extra in arb_keys(250, 300),
            b_extra in arb_keys(250, 300),
            items_min in 0u64..64,
            seed in any::<u64>(),
            loss in prop_oneof![Just(0u64), Just(2)],
        ) {
            let config = Config::default().with_riblt_items_min(items_min);
            check(&common, &a_extra, &b_extra, config, seed, loss);
        }
    }

    #[test]
    fn riblt_runs_and_settles_small_differences_in_few_round_trips() {
        let common = keys(&(0..20_000).map(|i| (i / 4, i)).collect::<Vec<_>>());
        for d in [1u64, 10, 100, 600] {
            let a_extra = keys(&(0..d / 2).map(|i| (i * 7, 1 << 40 | i)).collect::<Vec<_>>());
            let b_extra = keys(
                &(0..d - d / 2)
                    .map(|i| (i * 5, 1 << 41 | i))
                    .collect::<Vec<_>>(),
            );
            let run = check(&common, &a_extra, &b_extra, Config::default(), d, 0);
            assert!(
                run.tags.contains(&TAG_SYMBOLS) && run.tags.contains(&TAG_RESOLVE),
                "d={d}"
            );
            assert!(
                run.messages.div_ceil(2) <= 4,
                "d={d}: {} messages",
                run.messages
            );
            assert!(run.bytes <= 2 * d * 32 + 1024, "d={d}: {} bytes", run.bytes);
        }
    }

    #[test]
    fn riblt_converges_over_a_lossy_link() {
        let common = keys(&(0..3000).map(|i| (i, i)).collect::<Vec<_>>());
        for seed in 0..30u64 {
            let a_extra = keys(
                &(0..40)
                    .map(|i| ((seed * 31 + i * 77) % 3000, 10_000 + i))
                    .collect::<Vec<_>>(),
            );
            let b_extra = keys(
                &(0..40)
                    .map(|i| ((seed * 17 + i * 91) % 3000, 20_000 + i))
                    .collect::<Vec<_>>(),
            );
            let config = Config::default().with_riblt_items_min(0);
            let run = check(&common, &a_extra, &b_extra, config, seed, 2);
            assert!(run.tags.contains(&TAG_SYMBOLS), "seed {seed}");
        }
    }

    /// An id only A holds and one only B holds share their first 8 bytes: their coded symbols
    /// cancel, the decode misses both, the responder's fingerprint check fails and RBSR must
    /// still find both.
    #[test]
    fn prefix_collision_falls_back_to_rbsr_and_stays_exact() {
        let common = keys(&(0..5000).map(|i| (i, i)).collect::<Vec<_>>());
        let mut twin = id_from(1 << 50);
        let original = twin;
        twin.0[20] ^= 0xff;
        let a_extra = [Key::new(77, original)];
        let b_extra = [Key::new(4000, twin)];
        let run = check(&common, &a_extra, &b_extra, Config::default(), 1, 0);
        assert!(
            run.tags.contains(&TAG_SYMBOLS) && run.tags.contains(&0),
            "{run:?}"
        );
    }

    /// A difference over the symbol cap is refused up front by the counts: pure RBSR.
    #[test]
    fn one_sided_bulk_uses_rbsr() {
        let common = keys(&(0..3000).map(|i| (i, i)).collect::<Vec<_>>());
        let b_extra = keys(&(0..4000).map(|i| (i, 1 << 30 | i)).collect::<Vec<_>>());
        let run = check(&common, &[], &b_extra, Config::default(), 3, 0);
        assert!(!run.tags.contains(&TAG_SYMBOLS), "{run:?}");
    }

    #[test]
    fn forged_symbols_and_resolves_fail_cleanly() {
        let set = MemItemSet::from_keys(keys(&(0..2000).map(|i| (i, i)).collect::<Vec<_>>()))
            .expect("item keys");
        let config = Config::default();
        // A Resolve out of the blue, to a fresh responder.
        let mut responder = Session::responder(config, Millis(0));
        let forged = Message::Resolve(Resolve {
            round: 0,
            last: true,
            ids: vec![id_from(1)],
            prefixes: vec![5],
        });
        assert_eq!(
            responder.handle_message(&set, &forged.encode(), Millis(1)),
            Ok(())
        );
        assert_eq!(
            responder.poll_event(),
            Some(Event::Failed(FailReason::Protocol(
                ProtocolError::UnexpectedMessage
            )))
        );
        // Symbols that do not start at 0, to an initiator.
        let mut initiator = Session::initiator(&set, config, Millis(0));
        assert!(initiator.poll_transmit().is_some());
        let forged = Message::Symbols(Symbols {
            round: 1,
            start: 9,
            symbols: vec![Symbol::default()],
        });
        assert_eq!(
            initiator.handle_message(&set, &forged.encode(), Millis(1)),
            Ok(())
        );
        assert!(matches!(initiator.poll_event(), Some(Event::Failed(_))));
        assert!(initiator.is_finished());
    }
}
