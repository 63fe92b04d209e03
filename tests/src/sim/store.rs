//! A simulated node's item store: a durable part that survives a crash and a volatile part
//! (received or written, not yet flushed) that a crash loses, as with SQLite's
//! `synchronous=NORMAL` or a batch not yet committed. Items are kept per facility scope too,
//! because that is what scoped reconciliation reads.

use std::collections::BTreeMap;
use std::rc::Rc;

use kizuna_sync::item::TIMESTAMP_MS_RESERVED;
use kizuna_sync::meta::ScopeTag;
use kizuna_sync::scope::ScopedItemSets;
use kizuna_sync::store::StoreError;
use kizuna_sync::{ItemId, ItemSet, Key, MemItemSet};

/// Bytes of the timestamp header at the start of every item body. The timestamp lives inside the
/// hashed bytes so the whole key `(timestamp, id)` follows from the body: were it carried beside
/// the body, a peer could pair one id with two timestamps and two nodes would never converge.
pub const TIMESTAMP_HEADER_BYTES: usize = 8;

/// Offset of the one-byte facility code that names the item's scope. Like the timestamp it is
/// hashed, so a peer cannot relabel an item into another scope without changing its id.
pub const FACILITY_OFFSET: usize = TIMESTAMP_HEADER_BYTES;

/// Header bytes in all: timestamp, then facility code.
pub const HEADER_BYTES: usize = FACILITY_OFFSET + 1;

/// Why an incoming body was refused. Nothing refused is ever stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IngestError {
    /// The body does not hash to the id it was sent under.
    HashMismatch,
    /// Too short for the timestamp header, or it carries the reserved timestamp.
    Malformed,
}

/// SHA-256 of an item's bytes: its id.
pub fn item_id(body: &[u8]) -> ItemId {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let mut id = [0u8; 32];
    id.copy_from_slice(digest.as_ref());
    ItemId(id)
}

/// The facility (scope) code of a body, or `None` if it is too short to be an item.
pub fn item_facility(body: &[u8]) -> Option<u64> {
    if body.len() < HEADER_BYTES {
        return None;
    }
    body.get(FACILITY_OFFSET).map(|code| u64::from(*code))
}

/// The scope tag of a facility code, as the sync core names it.
pub fn facility_tag(code: u64) -> ScopeTag {
    ScopeTag::facility(code)
}

/// The reconciliation key of a body, or `None` if the body cannot be an item.
pub fn item_key(body: &[u8]) -> Option<Key> {
    if body.len() < HEADER_BYTES {
        return None;
    }
    let header: [u8; TIMESTAMP_HEADER_BYTES] =
        body.get(..TIMESTAMP_HEADER_BYTES)?.try_into().ok()?;
    let timestamp_ms = u64::from_le_bytes(header);
    if timestamp_ms == TIMESTAMP_MS_RESERVED {
        return None;
    }
    Some(Key::new(timestamp_ms, item_id(body)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn body(timestamp_ms: u64, fill: u8) -> Rc<[u8]> {
        let mut bytes = timestamp_ms.to_le_bytes().to_vec();
        bytes.push(fill % 3);
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
}
