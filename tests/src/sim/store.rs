//! A simulated node's item store: a durable part that survives a crash and a volatile part
//! (received or written, not yet flushed) that a crash loses, as with SQLite's
//! `synchronous=NORMAL` or a batch not yet committed. Items are kept per facility scope too,
//! because that is what scoped reconciliation reads.

use std::collections::BTreeMap;
use std::rc::Rc;

use std::collections::BTreeSet;

use kizuna_sync::item::TIMESTAMP_MS_RESERVED;
use kizuna_sync::meta::{DataType, ItemKind, ItemMeta, ItemSource, ScopeTag};
use kizuna_sync::scope::ScopedItemSets;
use kizuna_sync::store::StoreError;
use kizuna_sync::transfer::ChunkStore;
use kizuna_sync::{DocId, ItemId, ItemSet, Key, MemItemSet};

/// Bytes of the timestamp header at the start of every item body. The timestamp lives inside the
/// hashed bytes so the whole key `(timestamp, id)` follows from the body: were it carried beside
/// the body, a peer could pair one id with two timestamps and two nodes would never converge.
pub const TIMESTAMP_HEADER_BYTES: usize = 8;

/// Offset of the one-byte facility code that names the item's scope. Like the timestamp it is
/// hashed, so a peer cannot relabel an item into another scope without changing its id.
pub const FACILITY_OFFSET: usize = TIMESTAMP_HEADER_BYTES;

/// Offset of the one-byte kind: [`KIND_MESSAGE`], [`KIND_DOCUMENT`] or [`KIND_DOC_CHANGE`].
pub const KIND_OFFSET: usize = FACILITY_OFFSET + 1;

/// Header bytes every item has: timestamp, facility code, kind. What follows depends on the
/// kind: a message has its 6-byte SS-MIX2 data type, a document change its 16-byte document id
/// and then the Automerge change bytes, a document only content.
pub const HEADER_BYTES: usize = KIND_OFFSET + 1;

pub const KIND_MESSAGE: u8 = 0;
pub const KIND_DOCUMENT: u8 = 1;
pub const KIND_DOC_CHANGE: u8 = 2;

/// Where a message's data type ends and a change's document id ends.
const DATA_TYPE_END: usize = HEADER_BYTES + 6;
const DOC_ID_END: usize = HEADER_BYTES + 16;

/// Why an incoming body was refused. Nothing refused is ever stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IngestError {
    /// The body does not hash to the id it was sent under.
    HashMismatch,
    /// Too short for its header, of an unknown kind, or it carries the reserved timestamp.
    Malformed,
}

/// SHA-256 of an item's bytes: its id.
pub fn item_id(body: &[u8]) -> ItemId {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let mut id = [0u8; 32];
    id.copy_from_slice(digest.as_ref());
    ItemId(id)
}

/// The facility (scope) code of a body, or `None` if it is not a well-formed item.
pub fn item_facility(body: &[u8]) -> Option<u64> {
    item_kind(body)?;
    body.get(FACILITY_OFFSET).map(|code| u64::from(*code))
}

/// The kind byte of a well-formed body.
pub fn item_kind(body: &[u8]) -> Option<u8> {
    let kind = *body.get(KIND_OFFSET)?;
    let long_enough = match kind {
        KIND_MESSAGE => body.len() >= DATA_TYPE_END,
        KIND_DOCUMENT => true,
        KIND_DOC_CHANGE => body.len() > DOC_ID_END,
        _ => false,
    };
    long_enough.then_some(kind)
}

/// For a document change: its document and the Automerge change bytes.
pub fn doc_change(body: &[u8]) -> Option<(DocId, &[u8])> {
    if item_kind(body)? != KIND_DOC_CHANGE {
        return None;
    }
    let doc: [u8; 16] = body.get(HEADER_BYTES..DOC_ID_END)?.try_into().ok()?;
    Some((DocId(doc), body.get(DOC_ID_END..)?))
}

/// The header of a new item; the caller appends the kind-specific part.
pub fn header(timestamp_ms: u64, facility: u64, kind: u8) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + 16);
    bytes.extend_from_slice(&timestamp_ms.to_le_bytes());
    // Facility codes are node indices, below 256 (the harness caps nodes at 64 + 3).
    bytes.push(facility as u8);
    bytes.push(kind);
    bytes
}

/// A document-change item wrapping Automerge change bytes.
pub fn doc_change_body(timestamp_ms: u64, facility: u64, doc: DocId, change: &[u8]) -> Rc<[u8]> {
    let mut bytes = header(timestamp_ms, facility, KIND_DOC_CHANGE);
    bytes.extend_from_slice(&doc.0);
    bytes.extend_from_slice(change);
    bytes.into()
}

/// The scope tag of a facility code, as the sync core names it.
pub fn facility_tag(code: u64) -> ScopeTag {
    ScopeTag::facility(code)
}

/// The reconciliation key of a body, or `None` if the body cannot be an item.
pub fn item_key(body: &[u8]) -> Option<Key> {
    item_kind(body)?;
    let header: [u8; TIMESTAMP_HEADER_BYTES] =
        body.get(..TIMESTAMP_HEADER_BYTES)?.try_into().ok()?;
    let timestamp_ms = u64::from_le_bytes(header);
    if timestamp_ms == TIMESTAMP_MS_RESERVED {
        return None;
    }
    Some(Key::new(timestamp_ms, item_id(body)))
}

/// The metadata the transfer layer decides scope and priority from, read from the body as a
/// real store reads it from its index.
pub fn item_meta(id: ItemId, body: &[u8]) -> Option<ItemMeta> {
    let key = item_key(body)?;
    let facility = item_facility(body)?;
    let (kind, data_type, doc) = match item_kind(body)? {
        KIND_MESSAGE => (
            ItemKind::Message,
            std::str::from_utf8(body.get(HEADER_BYTES..DATA_TYPE_END)?)
                .ok()
                .and_then(DataType::parse),
            None,
        ),
        KIND_DOCUMENT => (ItemKind::Document, None, None),
        _ => (
            ItemKind::DocChange,
            None,
            doc_change(body).map(|(doc, _)| doc.0),
        ),
    };
    Some(ItemMeta {
        id,
        timestamp_ms: key.timestamp_ms,
        size: body.len() as u64,
        kind,
        data_type,
        facility,
        doc,
        scopes: vec![facility_tag(facility)],
    })
}

/// One node's items. `live` (durable plus pending) is what the sync core reconciles, because a
/// real node answers from everything it has committed to its page cache; only `durable` survives
/// a crash.
#[derive(Debug, Default)]
pub struct Store {
    durable: MemItemSet,
    durable_bodies: BTreeMap<ItemId, Rc<[u8]>>,
    pending: BTreeMap<ItemId, (Key, Rc<[u8]>)>,
    live: MemItemSet,
    /// `durable` and `live` split by facility scope, for [`ScopedItemSets`].
    durable_scoped: BTreeMap<ScopeTag, MemItemSet>,
    live_scoped: BTreeMap<ScopeTag, MemItemSet>,
}

impl ScopedItemSets for Store {
    fn scope_set(&self, tag: &ScopeTag) -> Result<Option<&dyn ItemSet>, StoreError> {
        Ok(self.live_scoped.get(tag).map(|set| set as &dyn ItemSet))
    }
}

/// The sending side of a transfer reads bodies and metadata from everything the node holds
/// (durable and pending), as reconciliation does.
impl ItemSource for Store {
    fn meta(&self, id: &ItemId) -> Result<Option<ItemMeta>, StoreError> {
        Ok(self.body(id).and_then(|body| item_meta(*id, body)))
    }

    fn read(
        &self,
        id: &ItemId,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if let Some(rest) = self.body(id).and_then(|body| body.get(start..)) {
            out.extend_from_slice(&rest[..len.min(rest.len())]);
        }
        Ok(())
    }
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// The set the sync core reads: durable and pending items.
    pub fn live(&self) -> &MemItemSet {
        &self.live
    }

    /// The live items of one scope, if any.
    pub fn live_scope(&self, tag: &ScopeTag) -> Option<&MemItemSet> {
        self.live_scoped.get(tag)
    }

    pub fn contains(&self, id: &ItemId) -> bool {
        self.durable_bodies.contains_key(id) || self.pending.contains_key(id)
    }

    pub fn body(&self, id: &ItemId) -> Option<&Rc<[u8]>> {
        self.durable_bodies
            .get(id)
            .or_else(|| self.pending.get(id).map(|(_, body)| body))
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Ids of the pending (not yet durable) items.
    pub fn pending_ids(&self) -> impl Iterator<Item = &ItemId> {
        self.pending.keys()
    }

    pub fn is_durable(&self, id: &ItemId) -> bool {
        self.durable_bodies.contains_key(id)
    }

    pub fn durable_keys(&self) -> impl Iterator<Item = &Key> {
        self.durable.keys()
    }

    pub fn durable_bodies(&self) -> &BTreeMap<ItemId, Rc<[u8]>> {
        &self.durable_bodies
    }

    /// Verifies `body` against `claimed` and keeps it as pending. Returns whether it was new.
    /// The check happens before anything is written, so a refused body leaves no trace.
    pub fn ingest(&mut self, claimed: &ItemId, body: Rc<[u8]>) -> Result<bool, IngestError> {
        let key = item_key(&body).ok_or(IngestError::Malformed)?;
        if key.id != *claimed {
            return Err(IngestError::HashMismatch);
        }
        if self.contains(&key.id) {
            return Ok(false);
        }
        let tag = item_facility(&body)
            .map(facility_tag)
            .ok_or(IngestError::Malformed)?;
        // `item_key` refused the reserved timestamp, so the inserts cannot fail.
        let inserted = self.live.insert(key).unwrap_or(false);
        debug_assert!(inserted, "live and body maps agree");
        let _ = self.live_scoped.entry(tag).or_default().insert(key);
        self.pending.insert(key.id, (key, body));
        Ok(true)
    }

    /// Puts an item straight into durable storage (a pre-seeded replica).
    pub fn preload(&mut self, body: Rc<[u8]>) -> Option<Key> {
        let key = item_key(&body)?;
        let tag = facility_tag(item_facility(&body)?);
        if self.contains(&key.id) {
            return Some(key);
        }
        self.live.insert(key).ok()?;
        self.durable.insert(key).ok()?;
        self.live_scoped
            .entry(tag.clone())
            .or_default()
            .insert(key)
            .ok()?;
        self.durable_scoped
            .entry(tag)
            .or_default()
            .insert(key)
            .ok()?;
        self.durable_bodies.insert(key.id, body);
        Some(key)
    }

    /// Makes every pending item durable (one committed batch); returns their ids.
    pub fn flush(&mut self) -> Vec<ItemId> {
        let pending = std::mem::take(&mut self.pending);
        let mut flushed = Vec::with_capacity(pending.len());
        for (id, (key, body)) in pending {
            // Pending keys passed `item_key` and `item_facility`, so they are item keys.
            let _ = self.durable.insert(key);
            if let Some(tag) = item_facility(&body).map(facility_tag) {
                let _ = self.durable_scoped.entry(tag).or_default().insert(key);
            }
            self.durable_bodies.insert(id, body);
            flushed.push(id);
        }
        flushed
    }

    /// Power loss: pending items vanish, durable ones stay. Returns how many were lost.
    pub fn crash(&mut self) -> usize {
        let lost = self.pending.len();
        if lost > 0 {
            self.pending.clear();
            self.live = self.durable.clone();
            self.live_scoped = self.durable_scoped.clone();
        }
        lost
    }
}

/// A receiver's chunks of items in transit ([`ChunkStore`]), with the same durability as the
/// item store: chunks put since the last flush are lost by a crash, flushed ones survive and a
/// later transfer resumes from them. Committing an item hands its body to the harness (which
/// ingests it into the [`Store`] as pending) and retires its durable chunks at the next flush,
/// as one transaction would; a crash before that flush keeps them, so the item is resumed
/// rather than re-sent.
#[derive(Debug, Default)]
pub struct ChunkStage {
    durable: BTreeMap<(ItemId, u32), Rc<[u8]>>,
    pending: BTreeMap<(ItemId, u32), Rc<[u8]>>,
    retire: BTreeSet<ItemId>,
    committed: BTreeMap<ItemId, Rc<[u8]>>,
}

impl ChunkStage {
    /// Whether chunk `index` of `id` survives a crash.
    pub fn durably_holds(&self, id: &ItemId, index: u32) -> bool {
        self.durable.contains_key(&(*id, index)) && !self.retire.contains(id)
    }

    /// The body the transfer just committed, handed over once.
    pub fn take_committed(&mut self, id: &ItemId) -> Option<Rc<[u8]>> {
        self.committed.remove(id)
    }

    /// Chunks and retirements not yet durable.
    pub fn pending_len(&self) -> usize {
        self.pending.len() + self.retire.len() + self.committed.len()
    }

    /// Chunks kept durably for items not (yet) stored: an interrupted transfer to resume, or an
    /// item that vanished before its transfer finished.
    pub fn durable_len(&self) -> usize {
        self.durable.len()
    }

    pub fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.durable.extend(pending);
        for id in std::mem::take(&mut self.retire) {
            self.durable.retain(|(chunk_id, _), _| *chunk_id != id);
        }
    }

    /// Power loss: what was not flushed is gone.
    pub fn crash(&mut self) -> usize {
        let lost = self.pending.len();
        self.pending.clear();
        self.retire.clear();
        self.committed.clear();
        lost
    }

    fn chunk(&self, id: &ItemId, index: u32) -> Option<&Rc<[u8]>> {
        if self.retire.contains(id) {
            return None;
        }
        self.pending
            .get(&(*id, index))
            .or_else(|| self.durable.get(&(*id, index)))
    }
}

impl ChunkStore for ChunkStage {
    fn has_chunk(&self, id: &ItemId, index: u32) -> Result<bool, StoreError> {
        Ok(self.chunk(id, index).is_some())
    }

    fn read_chunk(&self, id: &ItemId, index: u32, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        Ok(match self.chunk(id, index) {
            Some(chunk) => {
                out.extend_from_slice(chunk);
                true
            }
            None => false,
        })
    }

    fn put_chunk(&mut self, id: &ItemId, index: u32, bytes: &[u8]) -> Result<(), StoreError> {
        self.pending.insert((*id, index), bytes.into());
        Ok(())
    }

    fn commit(&mut self, id: &ItemId, chunks: u32) -> Result<(), StoreError> {
        let mut body = Vec::new();
        for index in 0..chunks {
            let chunk = self.chunk(id, index).ok_or(StoreError::Corrupt)?;
            body.extend_from_slice(chunk);
        }
        self.pending.retain(|(chunk_id, _), _| chunk_id != id);
        self.retire.insert(*id);
        self.committed.insert(*id, body.into());
        Ok(())
    }

    fn discard(&mut self, id: &ItemId) -> Result<(), StoreError> {
        self.pending.retain(|(chunk_id, _), _| chunk_id != id);
        self.durable.retain(|(chunk_id, _), _| chunk_id != id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(timestamp_ms: u64, fill: u8) -> Rc<[u8]> {
        let mut bytes = header(timestamp_ms, u64::from(fill % 3), KIND_DOCUMENT);
        bytes.extend(std::iter::repeat_n(fill, 100));
        bytes.into()
    }

    #[test]
    fn refuses_bodies_that_do_not_hash_to_their_id() {
        let mut store = Store::new();
        let good = body(5, 1);
        let id = item_id(&good);
        let mut bad = good.to_vec();
        bad[50] ^= 1;
        assert_eq!(
            store.ingest(&id, bad.into()),
            Err(IngestError::HashMismatch)
        );
        assert_eq!(
            store.ingest(&id, good[..4].into()),
            Err(IngestError::Malformed)
        );
        assert!(!store.contains(&id));
        assert_eq!(store.live().len(), Ok(0));
        assert_eq!(store.ingest(&id, good.clone()), Ok(true));
        assert_eq!(store.ingest(&id, good), Ok(false));
    }

    #[test]
    fn crash_loses_pending_and_keeps_durable() {
        let mut store = Store::new();
        let (a, b) = (body(1, 1), body(2, 2));
        let (id_a, id_b) = (item_id(&a), item_id(&b));
        assert_eq!(store.ingest(&id_a, a), Ok(true));
        assert_eq!(store.flush(), vec![id_a]);
        assert_eq!(store.ingest(&id_b, b), Ok(true));
        assert_eq!(store.live().len(), Ok(2));
        assert_eq!(store.crash(), 1);
        assert!(store.contains(&id_a) && !store.contains(&id_b));
        assert_eq!(store.live().len(), Ok(1));
        assert_eq!(store.durable_keys().count(), 1);
        // The per-scope sets follow: a's scope keeps a, b's scope is empty again.
        let scope_len = |tag| store.live_scope(&facility_tag(tag)).map(|set| set.len());
        assert_eq!(scope_len(1), Some(Ok(1)));
        assert_eq!(scope_len(2).unwrap_or(Ok(0)), Ok(0));
    }

    #[test]
    fn chunk_stage_keeps_flushed_chunks_and_retires_them_with_the_commit() {
        let id = ItemId([7; 32]);
        let mut stage = ChunkStage::default();
        assert!(stage.put_chunk(&id, 0, b"ab").is_ok());
        stage.flush();
        assert!(stage.put_chunk(&id, 1, b"cd").is_ok());
        assert_eq!(stage.crash(), 1);
        assert!(stage.durably_holds(&id, 0) && !stage.durably_holds(&id, 1));
        assert!(stage.put_chunk(&id, 1, b"cd").is_ok());
        assert!(stage.commit(&id, 2).is_ok());
        assert_eq!(stage.take_committed(&id).as_deref(), Some(&b"abcd"[..]));
        // A crash before the commit is flushed keeps the durable chunk to resume from.
        stage.crash();
        assert!(stage.durably_holds(&id, 0));
        assert!(stage.put_chunk(&id, 1, b"cd").is_ok());
        assert!(stage.commit(&id, 2).is_ok());
        assert!(stage.take_committed(&id).is_some());
        stage.flush();
        assert_eq!((stage.durable_len(), stage.pending_len()), (0, 0));
    }
}
