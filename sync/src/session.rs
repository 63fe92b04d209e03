//! The reconciliation session: a sans-IO state machine that runs range-based set reconciliation
//! against an [`ItemSet`] and reports which ids each side must send or fetch.

use std::collections::VecDeque;

use crate::item::{ID_BYTES, ItemId, Key};
use crate::store::{ItemSet, StoreError};
use crate::wire::{
    self, AbortReason, FINGERPRINT_RANGE_BYTES_MAX, HEADER_BYTES_MAX, LIST_IDS_MAX,
    MESSAGE_BYTES_MAX, Message, Mode, Range, Reconcile, WireError,
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
    transmit: Option<Vec<u8>>,
    events: VecDeque<Event>,
    /// Id lists in our last frame, in key order, awaiting the peer's Diffs. Bounded by one frame.
    sent_lists: Vec<SentList>,
    deadline: Option<Millis>,
    retransmits: u32,
    replays: u32,
    stats: Stats,
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
        })
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
        self.ranges
            .iter()
            .any(|r| matches!(r.mode, Mode::Fingerprint(_) | Mode::IdList(_)))
    }
}

impl Session {
    /// Starts a session that sends the first frame: one fingerprint over the whole set (an id
    /// list if the set is small), so a no-op sync costs one round trip of a few dozen bytes.
    pub fn initiator<S: ItemSet + ?Sized>(store: &S, config: Config, now: Millis) -> Session {
        let mut session = Session::new(Role::Initiator, config, State::AwaitingReply);
        session.round_in = 1;
        let mut out = Outbox::new(0);
        let opened = store.len().map_err(Stop::Store).and_then(|len| {
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
            transmit: None,
            events: VecDeque::new(),
            sent_lists: Vec::new(),
            deadline: None,
            retransmits: 0,
            replays: 0,
            stats: Stats::default(),
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
        let reconcile = match Message::decode(frame) {
            Ok(Message::Reconcile(reconcile)) => reconcile,
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
        };
        let accepting = matches!(self.state, State::AwaitingFirst | State::AwaitingReply);
        if accepting && reconcile.round == self.round_in {
            self.process(store, reconcile, now);
        } else if let Some((round, frame)) = &self.last_sent {
            // The peer resent the frame we answered last, so our answer was lost: resend it.
            if reconcile.round.checked_add(1) == Some(*round) && self.replays < REPLAYS_MAX {
                self.replays += 1;
                self.transmit = Some(frame.clone());
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

    fn process<S: ItemSet + ?Sized>(&mut self, store: &S, reconcile: Reconcile, now: Millis) {
        let (round_out, round_next) = match (
            reconcile.round.checked_add(1),
            reconcile.round.checked_add(2),
        ) {
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
        let peer_open = reconcile
            .ranges
            .iter()
            .any(|r| matches!(r.mode, Mode::Fingerprint(_) | Mode::IdList(_)));
        let mut out = Outbox::new(round_out);
        match self.reconcile(store, &reconcile.ranges, &mut out) {
            Ok(()) if peer_open => {
                let open = out.is_open();
                self.send(round_out, out.ranges, now, open);
            }
            // The peer settled everything it had open, so it expects nothing back.
            Ok(()) => self.finish(None),
            Err(stop) => self.stop(stop),
        }
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
                Mode::Fingerprint(theirs) => {
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
        let frame = Message::Reconcile(Reconcile { round, ranges }).encode();
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
        self.transmit = abort.map(|reason| Message::Abort(reason).encode());
        self.events.push_back(Event::Failed(reason));
    }
}
