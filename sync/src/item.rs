//! Item identity, the reconciliation order, and the additive range fingerprint.

use std::fmt;

/// Length of an item id in bytes: a SHA-256 digest of the item's raw bytes.
pub const ID_BYTES: usize = 32;

/// Length of a range fingerprint on the wire. 16 bytes, as in negentropy v1: a chance collision
/// between two honest sets is 2^-128, far below the rate of undetected disk errors.
pub const FINGERPRINT_BYTES: usize = 16;

/// The timestamp reserved for [`Key::INFINITY`]. No item may carry it, so the open upper end of the
/// key space is a plain key that sorts after every item.
pub const TIMESTAMP_MS_RESERVED: u64 = u64::MAX;

/// SHA-256 of an item's raw bytes, computed by the storage layer when the item is ingested.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(pub [u8; ID_BYTES]);

/// Position of an item in the reconciliation order: by timestamp, then by id. Ordering by time
/// first means recent items cluster at the end of the key space, so peers that diverged recently
/// find their differences in a few adjacent ranges.
///
/// A `Key` also serves as a range bound; a bound's id may be a zero-padded prefix of an item id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Key {
    pub timestamp_ms: u64,
    pub id: ItemId,
}

/// Order-independent, associative summary of a multiset of ids: their sum modulo 2^256 (as
/// little-endian integers) and their count. Because it is a group under addition, a store can keep
/// prefix sums or tree aggregates and answer any range by subtraction in O(log N).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Accumulator {
    sum: [u64; 4],
    count: u64,
}

/// Truncated SHA-256 of an [`Accumulator`]; what peers compare to decide a range is in agreement.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Fingerprint(pub [u8; FINGERPRINT_BYTES]);

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight hex digits identify an id in logs and test failures without flooding them.
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…")
    }
}

impl Key {
    /// The smallest key; the implicit lower bound of the first range in a message.
    pub const MIN: Key = Key {
        timestamp_ms: 0,
        id: ItemId([0; ID_BYTES]),
    };
    /// Sorts after every item key; the upper bound of the last range.
    pub const INFINITY: Key = Key {
        timestamp_ms: TIMESTAMP_MS_RESERVED,
        id: ItemId([0; ID_BYTES]),
    };

    pub fn new(timestamp_ms: u64, id: ItemId) -> Key {
        Key { timestamp_ms, id }
    }

    /// Whether this key may belong to an item (rather than only serve as a bound).
    pub fn is_item_key(&self) -> bool {
        self.timestamp_ms != TIMESTAMP_MS_RESERVED
    }

    /// The shortest bound `b` with `prev < b <= next`, so that bounds on the wire cost a timestamp
    /// delta and usually no id bytes at all. Requires `prev < next`.
    pub fn bound_between(prev: &Key, next: &Key) -> Key {
        debug_assert!(prev < next, "bound_between needs prev < next");
        if prev.timestamp_ms != next.timestamp_ms {
            return Key {
                timestamp_ms: next.timestamp_ms,
                id: ItemId([0; ID_BYTES]),
            };
        }
        let common = prev
            .id
            .0
            .iter()
            .zip(next.id.0.iter())
            .take_while(|(a, b)| a == b)
            .count();
        let mut id = [0u8; ID_BYTES];
        // `common < ID_BYTES` because prev < next with equal timestamps means the ids differ;
        // `min` keeps a caller that broke the precondition from indexing out of bounds.
        let keep = (common + 1).min(ID_BYTES);
        id[..keep].copy_from_slice(&next.id.0[..keep]);
        Key {
            timestamp_ms: next.timestamp_ms,
            id: ItemId(id),
        }
    }
}

impl Accumulator {
    pub const ZERO: Accumulator = Accumulator {
        sum: [0; 4],
        count: 0,
    };

    pub fn of_id(id: &ItemId) -> Accumulator {
        let mut acc = Accumulator::ZERO;
        acc.add_id(id);
        acc
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn add_id(&mut self, id: &ItemId) {
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(id.0.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(bytes);
        }
        self.add(&Accumulator {
            sum: limbs,
            count: 1,
        });
    }

    pub fn add(&mut self, other: &Accumulator) {
        let mut carry = false;
        for (a, b) in self.sum.iter_mut().zip(other.sum.iter()) {
            let (s1, c1) = a.overflowing_add(*b);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            *a = s2;
            carry = c1 || c2;
        }
        self.count = self.count.wrapping_add(other.count);
    }

    pub fn sub(&mut self, other: &Accumulator) {
        let mut borrow = false;
        for (a, b) in self.sum.iter_mut().zip(other.sum.iter()) {
            let (s1, b1) = a.overflowing_sub(*b);
            let (s2, b2) = s1.overflowing_sub(u64::from(borrow));
            *a = s2;
            borrow = b1 || b2;
        }
        self.count = self.count.wrapping_sub(other.count);
    }

    /// SHA-256 over the sum and the count, truncated. Hashing the count in means two ranges with
    /// equal sums but different sizes still differ.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut input = [0u8; 40];
        for (chunk, limb) in input.chunks_exact_mut(8).zip(self.sum.iter()) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        input[32..].copy_from_slice(&self.count.to_le_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        let mut out = [0u8; FINGERPRINT_BYTES];
        out.copy_from_slice(&digest.as_ref()[..FINGERPRINT_BYTES]);
        Fingerprint(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> ItemId {
        ItemId([byte; ID_BYTES])
    }

    #[test]
    fn accumulator_is_order_independent_and_subtractive() {
        let mut ab = Accumulator::ZERO;
        ab.add_id(&id(0xff));
        ab.add_id(&id(0x01));
        let mut ba = Accumulator::ZERO;
        ba.add_id(&id(0x01));
        ba.add_id(&id(0xff));
        assert_eq!(ab, ba);
        assert_eq!(ab.count(), 2);
        ab.sub(&Accumulator::of_id(&id(0xff)));
        assert_eq!(ab, Accumulator::of_id(&id(0x01)));
        ab.sub(&Accumulator::of_id(&id(0x01)));
        assert_eq!(ab, Accumulator::ZERO);
    }

    #[test]
    fn fingerprint_depends_on_count() {
        // Sum of 0xff..ff and 0x00..01 wraps to 0, like the empty set, but the count differs.
        let mut one = [0u8; ID_BYTES];
        one[0] = 1;
        let mut acc = Accumulator::of_id(&ItemId([0xff; ID_BYTES]));
        acc.add_id(&ItemId(one));
        assert_eq!(acc.sum, [0; 4]);
        assert_ne!(acc.fingerprint(), Accumulator::ZERO.fingerprint());
    }

    #[test]
    fn bound_between_is_shortest_and_separates() {
        let prev = Key::new(5, id(0x10));
        let next = Key::new(9, id(0x20));
        let bound = Key::bound_between(&prev, &next);
        assert_eq!(bound, Key::new(9, ItemId([0; ID_BYTES])));

        let mut a = [0x33u8; ID_BYTES];
        let mut b = [0x33u8; ID_BYTES];
        a[3] = 0x01;
        b[3] = 0x02;
        let (prev, next) = (Key::new(7, ItemId(a)), Key::new(7, ItemId(b)));
        let bound = Key::bound_between(&prev, &next);
        assert!(prev < bound && bound <= next);
        assert_eq!(&bound.id.0[..4], &b[..4]);
        assert!(bound.id.0[4..].iter().all(|&x| x == 0));
    }
}
