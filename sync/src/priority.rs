//! The order items transfer in: emergency-summary data first, documents and large items last,
//! newest first within a tier (domain §2, §9 item 7).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use crate::item::ItemId;
use crate::limits::TRANSFER_QUEUE_ITEMS_MAX;
use crate::meta::{ItemMeta, Priority};

/// Sort key of a queued item: tier, then newest first, then id so the order is total and both
/// runs of a seeded simulation agree.
type Rank = (Priority, Reverse<u64>, ItemId);

/// A bounded priority queue of items to send to one peer.
///
/// Newest first within a tier because a displaced patient's current prescriptions and last labs
/// matter more than last year's, and because a link that drops mid-sync then has delivered the
/// most useful part. When full, a new item that outranks the worst queued one evicts it; the
/// evicted id is returned so the caller can count it (the next reconciliation reports it again).
#[derive(Clone, Debug)]
pub struct TransferQueue {
    order: BTreeSet<Rank>,
    ranks: HashMap<ItemId, Rank>,
    capacity: usize,
}

/// What [`TransferQueue::push`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Pushed {
    Queued,
    /// Already queued; nothing changed.
    Duplicate,
    /// Queued, and this lower-ranked id was dropped to make room.
    Evicted(ItemId),
    /// Full, and the item ranks below everything queued: not queued.
    Refused,
}

impl Default for TransferQueue {
    fn default() -> TransferQueue {
        TransferQueue::new()
    }
}

impl TransferQueue {
    /// A queue of [`TRANSFER_QUEUE_ITEMS_MAX`] items.
    pub fn new() -> TransferQueue {
        TransferQueue::with_capacity(TRANSFER_QUEUE_ITEMS_MAX)
    }

    /// A queue of `capacity` items (at least one, at most [`TRANSFER_QUEUE_ITEMS_MAX`]).
    pub fn with_capacity(capacity: usize) -> TransferQueue {
        TransferQueue {
            order: BTreeSet::new(),
            ranks: HashMap::new(),
            capacity: capacity.clamp(1, TRANSFER_QUEUE_ITEMS_MAX),
        }
    }

    pub fn push(&mut self, meta: &ItemMeta) -> Pushed {
        if self.ranks.contains_key(&meta.id) {
            return Pushed::Duplicate;
        }
        let rank = (meta.priority(), Reverse(meta.timestamp_ms), meta.id);
        let mut evicted = None;
        if self.order.len() >= self.capacity {
            match self.order.last() {
                Some(worst) if rank < *worst => {
                    let worst = *worst;
                    self.order.remove(&worst);
                    self.ranks.remove(&worst.2);
                    evicted = Some(worst.2);
                }
                _ => return Pushed::Refused,
            }
        }
        self.order.insert(rank);
        self.ranks.insert(meta.id, rank);
        evicted.map_or(Pushed::Queued, Pushed::Evicted)
    }

    /// The highest-ranked item, removed.
    pub fn pop(&mut self) -> Option<ItemId> {
        let first = self.order.pop_first()?;
        self.ranks.remove(&first.2);
        Some(first.2)
    }

    pub fn remove(&mut self, id: &ItemId) -> bool {
        match self.ranks.remove(id) {
            Some(rank) => self.order.remove(&rank),
            None => false,
        }
    }

    pub fn contains(&self, id: &ItemId) -> bool {
        self.ranks.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::LARGE_ITEM_BYTES;
    use crate::meta::{DataType, ItemKind, ScopeTag};

    fn meta(n: u8, kind: ItemKind, code: Option<&str>, ts: u64, size: u64) -> ItemMeta {
        ItemMeta {
            id: ItemId([n; 32]),
            timestamp_ms: ts,
            size,
            kind,
            data_type: code.and_then(DataType::parse),
            facility: 1,
            doc: None,
            scopes: vec![ScopeTag::facility(1)],
        }
    }

    #[test]
    fn emergency_first_documents_last_newest_first() {
        use ItemKind::*;
        let items = [
            meta(1, Document, None, 900, 5_000),
            meta(2, Message, Some("OMG-01"), 500, 2_000),
            meta(3, Message, Some("ADT-61"), 100, 1_000),
            meta(4, Message, Some("OMP-01"), 300, 1_000),
            meta(
                5,
                Message,
                Some("OMP-01"),
                LARGE_ITEM_BYTES,
                LARGE_ITEM_BYTES,
            ),
            meta(6, Message, Some("ADT-12"), 800, 2_000),
            meta(7, DocChange, None, 50, 200),
            meta(8, Document, None, 950, 5_000),
            meta(9, Message, Some("OML-11"), 300, 1_000),
        ];
        let mut queue = TransferQueue::new();
        for m in &items {
            assert_eq!(queue.push(m), Pushed::Queued);
        }
        assert_eq!(queue.push(&items[0]), Pushed::Duplicate);
        let order: Vec<u8> = std::iter::from_fn(|| queue.pop())
            .map(|id| id.0[0])
            .collect();
        // Emergency by newest (4 and 9 tie on time; id breaks it), then routine newest first,
        // then bulk (the large prescription and the documents) newest first.
        assert_eq!(order, vec![4, 9, 3, 7, 6, 2, 5, 8, 1]);
    }

    #[test]
    fn full_queue_evicts_only_lower_ranks() {
        let mut queue = TransferQueue::with_capacity(3);
        let doc = meta(1, ItemKind::Document, None, 10, 100);
        let routine = meta(2, ItemKind::Message, Some("ADT-12"), 10, 100);
        let old_routine = meta(3, ItemKind::Message, Some("ADT-12"), 5, 100);
        let allergy = meta(4, ItemKind::Message, Some("ADT-61"), 1, 100);
        let another_doc = meta(5, ItemKind::Document, None, 1, 100);
        for m in [&doc, &routine, &old_routine] {
            assert_eq!(queue.push(m), Pushed::Queued);
        }
        assert_eq!(queue.push(&allergy), Pushed::Evicted(doc.id));
        assert_eq!(queue.push(&another_doc), Pushed::Refused);
        assert_eq!(queue.len(), 3);
        assert!(queue.remove(&routine.id));
        assert!(!queue.contains(&routine.id));
        assert_eq!(queue.pop(), Some(allergy.id));
        assert_eq!(queue.pop(), Some(old_routine.id));
        assert_eq!(queue.pop(), None);
    }
}
