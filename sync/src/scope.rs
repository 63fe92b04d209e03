//! Scopes: what two peers agree to exchange, and a sync that reconciles each agreed scope.
//!
//! Each side proposes the scopes its [`ScopePolicy`] allows for this peer; the agreed scopes are
//! the intersection of the two proposals. Because each proposal is already filtered by its
//! sender's policy, the intersection is allowed by both policies, and both sides compute the same
//! list without a third message. A hostile peer can propose anything: it only ever gets the
//! intersection with what our policy allows.
//!
//! Reconciliation then runs per scope, over the store's per-scope [`ItemSet`], in the agreed
//! (sorted) order, one nested [`Session`] at a time. A node therefore never names an id outside
//! the agreed scopes in a reconciliation frame; the transfer layer checks every requested item's
//! metadata against the agreed scopes again before sending anything (see [`crate::transfer`]).
//!
//! ```text
//! envelope   = version:u8 tag:u8 body                        (at most ENVELOPE_BYTES_MAX bytes)
//! tag 16     = Hello: n:varint n×(len:u8 tag-bytes)          (strictly increasing, printable ASCII)
//! tag 17     = Scoped: index:varint frame                    (a reconciliation frame for scope
//!                                                             `index` of the agreed list)
//! ```
//! Tags 0–5 are reconciliation frames and 32–37 transfer frames, so one stream can carry all three.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use crate::item::{ItemId, Key};
use crate::limits::{
    ENVELOPE_BYTES_MAX, SCOPE_SESSIONS_MAX, SCOPE_TAG_BYTES_MAX, SCOPE_TAGS_PER_ITEM_MAX,
    SCOPES_PER_HELLO_MAX,
};
use crate::meta::{ItemMeta, ScopeTag};
use crate::session::{
    Config, Event, EventsNotDrained, FIRST_MESSAGE_TIMEOUT_MS, FailReason, Millis, REPLAYS_MAX,
    REPLY_TIMEOUT_MS, RETRANSMITS_MAX, Session,
};
use crate::store::{InsertError, ItemSet, MemItemSet, StoreError};
use crate::wire::{MESSAGE_BYTES_MAX, PROTOCOL_VERSION, Reader, WireError, put_varint};

pub(crate) const TAG_HELLO: u8 = 16;
pub(crate) const TAG_SCOPED: u8 = 17;

/// Decides what this node may exchange with one (authenticated) peer. The access-control work
/// fills this in; the owner builds one per peer, so the peer's identity is part of the policy.
pub trait ScopePolicy: fmt::Debug {
    /// Whether the scope may be exchanged with this peer at all.
    fn permits_scope(&self, tag: &ScopeTag) -> bool;

    /// Whether this item may be sent to this peer, for rules finer than a scope (consent,
    /// undisclosed flags). Checked on every item the transfer layer is asked to send.
    fn permits_item(&self, meta: &ItemMeta) -> bool {
        let _ = meta;
        true
    }
}

/// The simplest policy: a fixed list of permitted scopes.
#[derive(Clone, Debug, Default)]
pub struct AllowList {
    tags: BTreeSet<ScopeTag>,
}

/// The scopes both peers agreed on, sorted and without duplicates.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AgreedScope {
    tags: Vec<ScopeTag>,
}

/// A frame of the scope layer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Envelope {
    /// The sender's proposed scopes.
    Hello(Vec<ScopeTag>),
    /// A reconciliation frame for the agreed scope at `index`.
    Scoped { index: u32, frame: Vec<u8> },
}

/// Why an envelope did not decode. Carries no payload bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EnvelopeError {
    Wire(WireError),
    /// A scope tag was empty, too long or not printable ASCII.
    BadScopeTag,
    /// Hello tags must strictly increase, so a proposal has one encoding.
    ScopesNotSorted,
}

/// Per-scope item sets, as the store keeps them: an item appears in the set of every scope it is
/// tagged with.
pub trait ScopedItemSets {
    /// The items of scope `tag`; `None` when the store holds none.
    fn scope_set(&self, tag: &ScopeTag) -> Result<Option<&dyn ItemSet>, StoreError>;
}

/// In-memory [`ScopedItemSets`]: one [`MemItemSet`] per scope tag.
#[derive(Clone, Debug, Default)]
pub struct MemScopedSets {
    sets: BTreeMap<ScopeTag, MemItemSet>,
}

/// What a [`ScopedSync`] reports to its owner.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ScopedEvent {
    /// The scopes this sync covers (possibly none). Reported once, before any `Have`/`Need`.
    Agreed(AgreedScope),
    /// We hold these ids of `scope` and the peer lacks them.
    Have {
        scope: ScopeTag,
        ids: Vec<ItemId>,
    },
    /// The peer holds these ids of `scope` and we lack them.
    Need {
        scope: ScopeTag,
        ids: Vec<ItemId>,
    },
    /// Every agreed scope is reconciled.
    Done,
    Failed(ScopedFailReason),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScopedFailReason {
    /// No hello (or no next scope) from the peer in time.
    Timeout,
    /// An envelope did not decode.
    Envelope(EnvelopeError),
    /// A scoped frame arrived before the hello, or named a scope index out of sequence.
    UnexpectedScope,
    /// A nested reconciliation failed.
    Session(FailReason),
    Storage(StoreError),
}

/// One sync with one peer over the agreed scopes: a hello exchange, then one nested
/// reconciliation [`Session`] per agreed scope, in order.
///
/// # Driving it
///
/// Like [`Session`], except that a step may produce several frames: after creating it and after
/// every `handle_message` or `handle_timeout`, call [`poll_transmit`](ScopedSync::poll_transmit)
/// **until it returns `None`**, then [`poll_event`](ScopedSync::poll_event) until `None`, then arm
/// [`poll_timeout`](ScopedSync::poll_timeout). Frames queued per step are bounded by
/// [`SCOPE_SESSIONS_MAX`] + 1.
#[derive(Debug)]
pub struct ScopedSync {
    initiator: bool,
    config: Config,
    proposal: Vec<ScopeTag>,
    agreed: Option<AgreedScope>,
    /// Our hello, kept to retransmit (initiator) or replay (responder).
    hello: Vec<u8>,
    retransmits: u32,
    replays: u32,
    /// Our own wait: for the hello reply, the first hello, or the next scope's first frame.
    deadline: Option<Millis>,
    /// Live sessions by agreed index, oldest first; at most [`SCOPE_SESSIONS_MAX`].
    sessions: VecDeque<(u32, Session)>,
    /// The index of the next scope session to start (initiator) or accept (responder).
    next_index: u32,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<ScopedEvent>,
    finished: bool,
    /// Stands in for a scope the store holds nothing of.
    empty: MemItemSet,
}

impl AllowList {
    pub fn new(tags: impl IntoIterator<Item = ScopeTag>) -> AllowList {
        AllowList {
            tags: tags.into_iter().collect(),
        }
    }
}

impl ScopePolicy for AllowList {
    fn permits_scope(&self, tag: &ScopeTag) -> bool {
        self.tags.contains(tag)
    }
}

impl AgreedScope {
    /// Our proposal for a peer: the scopes we want that the policy permits, sorted, capped.
    pub fn propose(
        wanted: impl IntoIterator<Item = ScopeTag>,
        policy: &dyn ScopePolicy,
    ) -> Vec<ScopeTag> {
        let permitted: BTreeSet<ScopeTag> = wanted
            .into_iter()
            .filter(|tag| policy.permits_scope(tag))
            .collect();
        permitted.into_iter().take(SCOPES_PER_HELLO_MAX).collect()
    }

    /// The intersection of our proposal and the peer's. Both must be sorted (proposals from
    /// [`AgreedScope::propose`] and decoded hellos are).
    pub fn intersect(ours: &[ScopeTag], theirs: &[ScopeTag]) -> AgreedScope {
        let tags = ours
            .iter()
            .filter(|tag| theirs.binary_search(tag).is_ok())
            .cloned()
            .collect();
        AgreedScope { tags }
    }

    pub fn tags(&self) -> &[ScopeTag] {
        &self.tags
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Whether we may send this item under this agreement: it belongs to an agreed scope and the
    /// policy permits it.
    pub fn covers(&self, meta: &ItemMeta, policy: &dyn ScopePolicy) -> bool {
        meta.in_any(&self.tags) && policy.permits_item(meta)
    }
}

impl From<WireError> for EnvelopeError {
    fn from(error: WireError) -> EnvelopeError {
        EnvelopeError::Wire(error)
    }
}

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![PROTOCOL_VERSION];
        match self {
            Envelope::Hello(tags) => {
                out.push(TAG_HELLO);
                put_varint(&mut out, tags.len() as u64);
                for tag in tags {
                    // Tags are at most SCOPE_TAG_BYTES_MAX (64) bytes by construction.
                    out.push(tag.as_str().len() as u8);
                    out.extend_from_slice(tag.as_str().as_bytes());
                }
            }
            Envelope::Scoped { index, frame } => {
                out.push(TAG_SCOPED);
                put_varint(&mut out, u64::from(*index));
                out.extend_from_slice(frame);
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > ENVELOPE_BYTES_MAX {
            return Err(WireError::TooLarge.into());
        }
        let mut reader = Reader { rest: bytes };
        let version = reader.u8()?;
        if version != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion(version).into());
        }
        match reader.u8()? {
            TAG_HELLO => {
                let count = reader.count(SCOPES_PER_HELLO_MAX)?;
                let mut tags: Vec<ScopeTag> = Vec::with_capacity(count.min(reader.rest.len()));
                for _ in 0..count {
                    let len = usize::from(reader.u8()?);
                    if len > SCOPE_TAG_BYTES_MAX {
                        return Err(EnvelopeError::BadScopeTag);
                    }
                    let tag = ScopeTag::from_bytes(reader.bytes(len)?)
                        .map_err(|_| EnvelopeError::BadScopeTag)?;
                    if tags.last().is_some_and(|last| *last >= tag) {
                        return Err(EnvelopeError::ScopesNotSorted);
                    }
                    tags.push(tag);
                }
                reader.end()?;
                Ok(Envelope::Hello(tags))
            }
            TAG_SCOPED => {
                let index = reader.index()?;
                if reader.rest.len() > MESSAGE_BYTES_MAX {
                    return Err(WireError::TooLarge.into());
                }
                Ok(Envelope::Scoped {
                    index,
                    frame: reader.rest.to_vec(),
                })
            }
            tag => Err(WireError::UnknownTag(tag).into()),
        }
    }
}

impl MemScopedSets {
    pub fn new() -> MemScopedSets {
        MemScopedSets::default()
    }

    /// Adds the item to the set of each of its scopes (at most [`SCOPE_TAGS_PER_ITEM_MAX`]).
    pub fn insert(&mut self, meta: &ItemMeta) -> Result<(), InsertError> {
        let key = Key::new(meta.timestamp_ms, meta.id);
        for tag in meta.scopes.iter().take(SCOPE_TAGS_PER_ITEM_MAX) {
            self.sets.entry(tag.clone()).or_default().insert(key)?;
        }
        Ok(())
    }

    pub fn set(&self, tag: &ScopeTag) -> Option<&MemItemSet> {
        self.sets.get(tag)
    }
}

impl ScopedItemSets for MemScopedSets {
    fn scope_set(&self, tag: &ScopeTag) -> Result<Option<&dyn ItemSet>, StoreError> {
        Ok(self.sets.get(tag).map(|set| set as &dyn ItemSet))
    }
}

impl ScopedSync {
    /// Starts a sync that proposes `wanted` (as far as `policy` permits) and opens with a hello.
    pub fn initiator(
        policy: &dyn ScopePolicy,
        wanted: impl IntoIterator<Item = ScopeTag>,
        config: Config,
        now: Millis,
    ) -> ScopedSync {
        let mut sync = ScopedSync::new(true, AgreedScope::propose(wanted, policy), config);
        sync.transmit.push_back(sync.hello.clone());
        sync.deadline = Some(Millis(now.0.saturating_add(REPLY_TIMEOUT_MS)));
        sync
    }

    /// Starts a sync that waits for the peer's hello and offers `offered` (as far as `policy`
    /// permits).
    pub fn responder(
        policy: &dyn ScopePolicy,
        offered: impl IntoIterator<Item = ScopeTag>,
        config: Config,
        now: Millis,
    ) -> ScopedSync {
        let mut sync = ScopedSync::new(false, AgreedScope::propose(offered, policy), config);
        sync.deadline = Some(Millis(now.0.saturating_add(FIRST_MESSAGE_TIMEOUT_MS)));
        sync
    }

    fn new(initiator: bool, proposal: Vec<ScopeTag>, config: Config) -> ScopedSync {
        let hello = Envelope::Hello(proposal.clone()).encode();
        ScopedSync {
            initiator,
            config,
            proposal,
            agreed: None,
            hello,
            retransmits: 0,
            replays: 0,
            deadline: None,
            sessions: VecDeque::new(),
            next_index: 0,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            finished: false,
            empty: MemItemSet::new(),
        }
    }

    /// The agreed scopes, once the hellos crossed.
    pub fn agreed(&self) -> Option<&AgreedScope> {
        self.agreed.as_ref()
    }

    /// Whether the sync reported `Done` or `Failed`.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Feeds one envelope from the peer.
    pub fn handle_message<S: ScopedItemSets + ?Sized>(
        &mut self,
        store: &S,
        frame: &[u8],
        now: Millis,
    ) -> Result<(), EventsNotDrained> {
        if !self.events.is_empty() {
            return Err(EventsNotDrained);
        }
        if self.finished && self.sessions.is_empty() {
            return Ok(());
        }
        match Envelope::decode(frame) {
            Err(error) => self.fail(ScopedFailReason::Envelope(error)),
            Ok(Envelope::Hello(theirs)) => self.handle_hello(store, &theirs, now),
            Ok(Envelope::Scoped { index, frame }) => self.handle_scoped(store, index, &frame, now),
        }
        Ok(())
    }

    pub fn handle_timeout<S: ScopedItemSets + ?Sized>(&mut self, store: &S, now: Millis) {
        if self.deadline.is_some_and(|deadline| now >= deadline) {
            self.deadline = None;
            if self.initiator && self.agreed.is_none() && self.retransmits < RETRANSMITS_MAX {
                self.retransmits += 1;
                self.transmit.push_back(self.hello.clone());
                let wait = REPLY_TIMEOUT_MS << self.retransmits;
                self.deadline = Some(Millis(now.0.saturating_add(wait)));
            } else if !self.finished {
                self.fail(ScopedFailReason::Timeout);
            }
        }
        for i in 0..self.sessions.len() {
            if let Some((_, session)) = self.sessions.get_mut(i) {
                session.handle_timeout(now);
            }
            self.pump(store, i, now);
        }
        self.sessions
            .retain(|(_, session)| !session.is_finished() || session.poll_timeout().is_some());
    }

    /// The next envelope to send; drain until `None`.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<ScopedEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        self.sessions
            .iter()
            .filter_map(|(_, session)| session.poll_timeout())
            .chain(self.deadline)
            .min()
    }

    fn handle_hello<S: ScopedItemSets + ?Sized>(
        &mut self,
        store: &S,
        theirs: &[ScopeTag],
        now: Millis,
    ) {
        if self.agreed.is_some() {
            // A duplicate: the responder's reply was lost, so replay it (boundedly).
            if !self.initiator && self.replays < REPLAYS_MAX {
                self.replays += 1;
                self.transmit.push_back(self.hello.clone());
            }
            return;
        }
        let agreed = AgreedScope::intersect(&self.proposal, theirs);
        self.agreed = Some(agreed.clone());
        self.events.push_back(ScopedEvent::Agreed(agreed.clone()));
        self.deadline = None;
        if self.initiator {
            self.start_next(store, now);
        } else {
            self.transmit.push_back(self.hello.clone());
            if agreed.is_empty() {
                self.finish();
            } else {
                self.deadline = Some(Millis(now.0.saturating_add(FIRST_MESSAGE_TIMEOUT_MS)));
            }
        }
    }

    fn handle_scoped<S: ScopedItemSets + ?Sized>(
        &mut self,
        store: &S,
        index: u32,
        frame: &[u8],
        now: Millis,
    ) {
        let Some(count) = self.agreed.as_ref().map(|a| a.tags.len()) else {
            return self.fail(ScopedFailReason::UnexpectedScope);
        };
        if index as usize >= count {
            return self.fail(ScopedFailReason::UnexpectedScope);
        }
        if let Some(position) = self.sessions.iter().position(|(i, _)| *i == index) {
            return self.feed(store, position, frame, now);
        }
        // A frame for the next scope: the initiator finished the previous one.
        if self.initiator || index != self.next_index || self.finished {
            // Stale (an evicted scope) or out of sequence; dropping it is safe, the peer resends.
            return;
        }
        if !self.make_room() {
            // Every live session is unfinished; the peer retransmits this frame later.
            return;
        }
        self.next_index += 1;
        self.deadline = None;
        self.sessions
            .push_back((index, Session::responder(self.config, now)));
        let position = self.sessions.len() - 1;
        self.feed(store, position, frame, now);
    }

    fn feed<S: ScopedItemSets + ?Sized>(
        &mut self,
        store: &S,
        position: usize,
        frame: &[u8],
        now: Millis,
    ) {
        let Some((index, session)) = self.sessions.get_mut(position) else {
            return;
        };
        let Some(tag) = self
            .agreed
            .as_ref()
            .and_then(|a| a.tags.get(*index as usize))
        else {
            return;
        };
        let set = match store.scope_set(tag) {
            Ok(set) => set.unwrap_or(&self.empty),
            Err(error) => return self.fail(ScopedFailReason::Storage(error)),
        };
        // `pump` drained this session's events after its last step, so it accepts input.
        let _ = session.handle_message(set, frame, now);
        self.pump(store, position, now);
    }

    /// Moves a session's frame and events out, wrapping and tagging them with its scope.
    fn pump<S: ScopedItemSets + ?Sized>(&mut self, store: &S, position: usize, now: Millis) {
        let newest = position + 1 == self.sessions.len();
        let Some((index, session)) = self.sessions.get_mut(position) else {
            return;
        };
        let index = *index;
        if let Some(frame) = session.poll_transmit() {
            self.transmit
                .push_back(Envelope::Scoped { index, frame }.encode());
        }
        let Some(tag) = self
            .agreed
            .as_ref()
            .and_then(|a| a.tags.get(index as usize))
            .cloned()
        else {
            return;
        };
        let mut done = false;
        while let Some(event) = session.poll_event() {
            match event {
                Event::Have(ids) => self.events.push_back(ScopedEvent::Have {
                    scope: tag.clone(),
                    ids,
                }),
                Event::Need(ids) => self.events.push_back(ScopedEvent::Need {
                    scope: tag.clone(),
                    ids,
                }),
                Event::Done => done = true,
                Event::Failed(reason) => {
                    return self.fail(ScopedFailReason::Session(reason));
                }
            }
        }
        if !done {
            return;
        }
        let count = self.agreed.as_ref().map_or(0, |a| a.tags.len());
        if newest && (self.next_index as usize) < count {
            if self.initiator {
                self.start_next(store, now);
            } else {
                self.deadline = Some(Millis(now.0.saturating_add(FIRST_MESSAGE_TIMEOUT_MS)));
            }
        }
        // Done only when every scope finished: an earlier scope may still wait for a lost frame
        // that carries differences.
        if self.next_index as usize == count
            && self
                .sessions
                .iter()
                .all(|(_, session)| session.is_finished())
        {
            self.finish();
        }
    }

    fn start_next<S: ScopedItemSets + ?Sized>(&mut self, store: &S, now: Millis) {
        let Some(tag) = self
            .agreed
            .as_ref()
            .and_then(|a| a.tags.get(self.next_index as usize))
            .cloned()
        else {
            return self.finish();
        };
        if !self.make_room() {
            // Unreachable for the initiator: it starts a scope only when the newest finished.
            return self.fail(ScopedFailReason::UnexpectedScope);
        }
        let set = match store.scope_set(&tag) {
            Ok(set) => set.unwrap_or(&self.empty),
            Err(error) => return self.fail(ScopedFailReason::Storage(error)),
        };
        let session = Session::initiator(set, self.config, now);
        self.sessions.push_back((self.next_index, session));
        self.next_index += 1;
        let position = self.sessions.len() - 1;
        self.pump(store, position, now);
    }

    /// Frees a slot for a new session by dropping the oldest finished one; false if all are live.
    fn make_room(&mut self) -> bool {
        if self.sessions.len() < SCOPE_SESSIONS_MAX {
            return true;
        }
        match self
            .sessions
            .iter()
            .position(|(_, session)| session.is_finished())
        {
            Some(position) => {
                self.sessions.remove(position);
                true
            }
            None => false,
        }
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.deadline = None;
            self.events.push_back(ScopedEvent::Done);
        }
    }

    fn fail(&mut self, reason: ScopedFailReason) {
        if !self.finished {
            self.finished = true;
            self.deadline = None;
            self.events.push_back(ScopedEvent::Failed(reason));
        }
        // Sessions that failed have queued their aborts; unfinished ones are dropped with us.
        self.sessions.clear();
    }
}
