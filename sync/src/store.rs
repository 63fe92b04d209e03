//! The narrow storage trait the protocol reads through, and an in-memory reference model.
//!
//! The protocol asks only rank questions (how many keys sort before a bound, which key has rank
//! k, what is the accumulator of ranks `[lo, hi)`), so a store that keeps per-node aggregates in
//! its B-tree answers every call in O(log N) and a no-op sync never scans the set.

use crate::item::{Accumulator, ItemId, Key};
use crate::riblt::{self, Symbol};

/// Leading riblt coded symbols [`MemItemSet`] keeps up to date, so a session's first batches
/// (d up to ~600) cost no scan of the set. Each insert or remove touches ~2·ln(512) + 1 ≈ 13 of
/// them; 1,024 symbols are 16 KiB per set.
pub const MAINTAINED_SYMBOLS: usize = 1024;

/// Keys per chunk after a bulk load. Three quarters of [`CHUNK_KEYS_MAX`] leaves room for inserts
/// before the first split.
const CHUNK_KEYS_FILL: usize = 384;

/// Keys per chunk before it splits. An insert costs O(chunk) to shift keys and rebuild the chunk's
/// prefix sums; 512 keeps that near a microsecond while keeping chunk count, and so the O(chunks)
/// Fenwick rebuild after a split, small (about 2,600 chunks at N = 10^6).
const CHUNK_KEYS_MAX: usize = 512;

/// A store failed to answer. Carries no item data, because errors may reach logs that leave the
/// node (house style, principle 8).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StoreError {
    /// The backing store reported an I/O or database failure.
    Io,
    /// The store found its own data inconsistent (for example a failed checksum).
    Corrupt,
}

/// Why [`MemItemSet::insert`] refused a key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InsertError {
    /// The key uses [`crate::item::TIMESTAMP_MS_RESERVED`], which only bounds may carry.
    ReservedTimestamp,
}

/// The set of items a node holds, in `(timestamp_ms, id)` order, as the protocol sees it.
///
/// Ranks are positions in that order, starting at 0. Every method must run in O(log N) plus the
/// size of what it returns for the protocol's cost to follow the difference rather than N.
pub trait ItemSet {
    /// Number of items.
    fn len(&self) -> Result<u64, StoreError>;

    /// Number of items whose key is less than `bound`.
    fn rank(&self, bound: &Key) -> Result<u64, StoreError>;

    /// The key with rank `rank`, or `None` if `rank >= len()`.
    fn key_at(&self, rank: u64) -> Result<Option<Key>, StoreError>;

    /// Accumulator over the items with ranks in `[lo, hi)`; an empty or inverted range gives zero.
    fn accumulate(&self, lo: u64, hi: u64) -> Result<Accumulator, StoreError>;

    /// Appends the ids of items with ranks in `[lo, hi)`, at most `limit` of them, in order.
    fn ids(&self, lo: u64, hi: u64, limit: usize, out: &mut Vec<ItemId>) -> Result<(), StoreError>;

    /// Riblt coded symbols `[start, start + len)` of the whole set, if the store maintains them
    /// (they are sums, so an insert updates a few of them). `None` makes the session compute
    /// them with a scan of the whole set, O(N); a store that keeps the first few hundred symbols
    /// makes small differences as cheap to find as with RBSR.
    fn coded_symbols(&self, start: u64, len: usize) -> Result<Option<Vec<Symbol>>, StoreError> {
        let _ = (start, len);
        Ok(None)
    }

    /// Whether the set holds no items.
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Accumulator over the keys in `[lo, hi)`, by key rather than rank.
    fn accumulate_keys(&self, lo: &Key, hi: &Key) -> Result<Accumulator, StoreError> {
        self.accumulate(self.rank(lo)?, self.rank(hi)?)
    }
}

/// In-memory [`ItemSet`]: the reference model for tests and the stand-in for benchmarks.
///
/// Keys live in sorted chunks; each chunk keeps prefix accumulators of its own keys, and a Fenwick
/// tree over the chunks' totals gives prefix sums across chunks. Range fingerprints, ranks and
/// rank lookups are O(log N); an insert is O(chunk + log N), plus an O(N / chunk) rebuild when a
/// chunk splits, which happens once per ~256 inserts.
#[derive(Clone, Debug, Default)]
pub struct MemItemSet {
    chunks: Vec<Chunk>,
    /// Fenwick tree (1-based in its logic, 0-based in storage) of chunk totals.
    fenwick: Vec<Accumulator>,
    len: u64,
    /// The first [`MAINTAINED_SYMBOLS`] coded symbols, once any item was added.
    symbols: Vec<Symbol>,
}

#[derive(Clone, Debug)]
struct Chunk {
    keys: Vec<Key>,
    /// `prefix[i]` is the accumulator of `keys[..i]`; one longer than `keys`.
    prefix: Vec<Accumulator>,
}

impl Chunk {
    fn from_keys(keys: Vec<Key>) -> Chunk {
        let mut chunk = Chunk {
            keys,
            prefix: Vec::new(),
        };
        chunk.rebuild_prefix(0);
        chunk
    }

    fn total(&self) -> Accumulator {
        // The prefix vector always holds at least the leading zero.
        self.prefix.last().copied().unwrap_or(Accumulator::ZERO)
    }

    /// Recomputes `prefix[from + 1..]` after keys at or after `from` changed.
    fn rebuild_prefix(&mut self, from: usize) {
        self.prefix.truncate(from + 1);
        if self.prefix.is_empty() {
            self.prefix.push(Accumulator::ZERO);
        }
        let mut acc = self.prefix[from.min(self.prefix.len() - 1)];
        for key in &self.keys[from..] {
            acc.add_id(&key.id);
            self.prefix.push(acc);
        }
    }
}

impl MemItemSet {
    pub fn new() -> MemItemSet {
        MemItemSet::default()
    }

    /// Builds a set from keys in any order, dropping duplicates. O(N log N).
    pub fn from_keys(keys: impl IntoIterator<Item = Key>) -> Result<MemItemSet, InsertError> {
        let mut keys: Vec<Key> = keys.into_iter().collect();
        if keys.iter().any(|key| !key.is_item_key()) {
            return Err(InsertError::ReservedTimestamp);
        }
        keys.sort_unstable();
        keys.dedup();
        let len = keys.len() as u64;
        let chunks = keys
            .chunks(CHUNK_KEYS_FILL)
            .map(|c| Chunk::from_keys(c.to_vec()))
            .collect();
        let mut encoder = riblt::Encoder::new(0, MAINTAINED_SYMBOLS);
        keys.iter()
            .for_each(|key| encoder.add(riblt::prefix_of(&key.id)));
        let mut set = MemItemSet {
            chunks,
            fenwick: Vec::new(),
            len,
            symbols: encoder.finish(),
        };
        set.rebuild_fenwick();
        Ok(set)
    }

    /// Inserts a key; returns whether it was new.
    pub fn insert(&mut self, key: Key) -> Result<bool, InsertError> {
        if !key.is_item_key() {
            return Err(InsertError::ReservedTimestamp);
        }
        if self.symbols.is_empty() {
            self.symbols = vec![Symbol::default(); MAINTAINED_SYMBOLS];
        }
        if self.chunks.is_empty() {
            riblt::toggle_symbols(&mut self.symbols, riblt::prefix_of(&key.id), true);
            self.chunks.push(Chunk::from_keys(vec![key]));
            self.len = 1;
            self.rebuild_fenwick();
            return Ok(true);
        }
        // The first chunk whose last key is >= key, or the last chunk if key is the new maximum.
        let index = self
            .chunks
            .partition_point(|c| c.keys.last().is_some_and(|last| *last < key))
            .min(self.chunks.len() - 1);
        let chunk = &mut self.chunks[index];
        let position = match chunk.keys.binary_search(&key) {
            Ok(_) => return Ok(false),
            Err(position) => position,
        };
        chunk.keys.insert(position, key);
        chunk.rebuild_prefix(position);
        self.len += 1;
        riblt::toggle_symbols(&mut self.symbols, riblt::prefix_of(&key.id), true);
        if chunk.keys.len() > CHUNK_KEYS_MAX {
            let tail = chunk.keys.split_off(chunk.keys.len() / 2);
            chunk.rebuild_prefix(0);
            self.chunks.insert(index + 1, Chunk::from_keys(tail));
            self.rebuild_fenwick();
        } else {
            self.fenwick_add(index, &Accumulator::of_id(&key.id));
        }
        Ok(true)
    }

    /// Removes a key; returns whether it was present.
    pub fn remove(&mut self, key: &Key) -> bool {
        let index = self
            .chunks
            .partition_point(|c| c.keys.last().is_some_and(|last| last < key));
        let Some(chunk) = self.chunks.get_mut(index) else {
            return false;
        };
        let Ok(position) = chunk.keys.binary_search(key) else {
            return false;
        };
        chunk.keys.remove(position);
        chunk.rebuild_prefix(position);
        self.len -= 1;
        riblt::toggle_symbols(&mut self.symbols, riblt::prefix_of(&key.id), false);
        if chunk.keys.is_empty() {
            self.chunks.remove(index);
            self.rebuild_fenwick();
        } else {
            let mut negative = Accumulator::ZERO;
            negative.sub(&Accumulator::of_id(&key.id));
            self.fenwick_add(index, &negative);
        }
        true
    }

    pub fn contains(&self, key: &Key) -> bool {
        let index = self
            .chunks
            .partition_point(|c| c.keys.last().is_some_and(|last| last < key));
        self.chunks
            .get(index)
            .is_some_and(|chunk| chunk.keys.binary_search(key).is_ok())
    }

    /// All keys in order; for tests and small sets.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.chunks.iter().flat_map(|chunk| chunk.keys.iter())
    }

    fn rebuild_fenwick(&mut self) {
        let n = self.chunks.len();
        self.fenwick = self.chunks.iter().map(Chunk::total).collect();
        // Linear-time Fenwick construction: push each node's sum into its parent.
        for i in 1..=n {
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                let child = self.fenwick[i - 1];
                self.fenwick[parent - 1].add(&child);
            }
        }
    }

    fn fenwick_add(&mut self, index: usize, delta: &Accumulator) {
        let mut i = index + 1;
        while i <= self.fenwick.len() {
            self.fenwick[i - 1].add(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// Sum of the totals of the first `chunks` chunks.
    fn fenwick_prefix(&self, chunks: usize) -> Accumulator {
        let mut acc = Accumulator::ZERO;
        let mut i = chunks.min(self.fenwick.len());
        while i > 0 {
            acc.add(&self.fenwick[i - 1]);
            i -= i & i.wrapping_neg();
        }
        acc
    }

    /// The chunk holding rank `rank` and the offset within it, found by descending the Fenwick
    /// tree on counts. For `rank >= len` returns `(chunks.len(), 0)`.
    fn locate(&self, rank: u64) -> (usize, usize) {
        if rank >= self.len {
            return (self.chunks.len(), 0);
        }
        let n = self.fenwick.len();
        let mut position = 0usize;
        let mut remaining = rank;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = position + step;
            if next <= n && self.fenwick[next - 1].count() <= remaining {
                position = next;
                remaining -= self.fenwick[next - 1].count();
            }
            step /= 2;
        }
        // `remaining` is below that chunk's length because rank < len.
        (position, remaining as usize)
    }

    fn prefix(&self, rank: u64) -> Accumulator {
        let (chunk, offset) = self.locate(rank);
        let mut acc = self.fenwick_prefix(chunk);
        if let Some(chunk) = self.chunks.get(chunk) {
            acc.add(&chunk.prefix[offset]);
        }
        acc
    }
}

impl ItemSet for MemItemSet {
    fn len(&self) -> Result<u64, StoreError> {
        Ok(self.len)
    }

    fn coded_symbols(&self, start: u64, len: usize) -> Result<Option<Vec<Symbol>>, StoreError> {
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        if self.len == 0 {
            return Ok(Some(vec![Symbol::default(); len]));
        }
        Ok(start
            .checked_add(len)
            .and_then(|end| self.symbols.get(start..end))
            .map(<[Symbol]>::to_vec))
    }

    fn rank(&self, bound: &Key) -> Result<u64, StoreError> {
        let index = self
            .chunks
            .partition_point(|c| c.keys.last().is_some_and(|last| last < bound));
        let Some(chunk) = self.chunks.get(index) else {
            return Ok(self.len);
        };
        let offset = chunk.keys.partition_point(|key| key < bound);
        Ok(self.fenwick_prefix(index).count() + offset as u64)
    }

    fn key_at(&self, rank: u64) -> Result<Option<Key>, StoreError> {
        let (chunk, offset) = self.locate(rank);
        Ok(self
            .chunks
            .get(chunk)
            .and_then(|chunk| chunk.keys.get(offset))
            .copied())
    }

    fn accumulate(&self, lo: u64, hi: u64) -> Result<Accumulator, StoreError> {
        if hi <= lo {
            return Ok(Accumulator::ZERO);
        }
        let mut acc = self.prefix(hi.min(self.len));
        acc.sub(&self.prefix(lo.min(self.len)));
        Ok(acc)
    }

    fn ids(&self, lo: u64, hi: u64, limit: usize, out: &mut Vec<ItemId>) -> Result<(), StoreError> {
        let hi = hi.min(self.len);
        if hi <= lo {
            return Ok(());
        }
        let wanted = usize::try_from(hi - lo).unwrap_or(usize::MAX).min(limit);
        let (mut chunk, mut offset) = self.locate(lo);
        let mut taken = 0;
        while taken < wanted {
            let Some(keys) = self.chunks.get(chunk).map(|c| &c.keys) else {
                break;
            };
            let take = (keys.len() - offset).min(wanted - taken);
            out.extend(keys[offset..offset + take].iter().map(|key| key.id));
            taken += take;
            chunk += 1;
            offset = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(timestamp_ms: u64, seed: u8) -> Key {
        let mut id = [seed; 32];
        id[31] = seed.wrapping_mul(7);
        Key::new(timestamp_ms, ItemId(id))
    }

    /// Checks every trait answer of `set` against a plain sorted vector.
    fn check_against_model(set: &MemItemSet, model: &[Key]) {
        assert_eq!(set.len().ok(), Some(model.len() as u64));
        assert!(set.keys().eq(model.iter()));
        for (rank, k) in model.iter().enumerate() {
            assert_eq!(set.key_at(rank as u64).ok().flatten(), Some(*k));
            assert_eq!(set.rank(k).ok(), Some(rank as u64));
        }
        assert_eq!(set.key_at(model.len() as u64).ok().flatten(), None);
        let n = model.len();
        for (lo, hi) in [(0, n), (0, n / 2), (n / 3, n), (n / 4, n / 4 + 3), (n, n)] {
            let hi = hi.min(n);
            let lo = lo.min(hi);
            let mut expected = Accumulator::ZERO;
            model[lo..hi].iter().for_each(|k| expected.add_id(&k.id));
            assert_eq!(set.accumulate(lo as u64, hi as u64).ok(), Some(expected));
            let mut ids = Vec::new();
            assert!(set.ids(lo as u64, hi as u64, 5, &mut ids).is_ok());
            let want: Vec<ItemId> = model[lo..hi].iter().take(5).map(|k| k.id).collect();
            assert_eq!(ids, want);
        }
    }

    #[test]
    fn rejects_reserved_timestamp() {
        let mut set = MemItemSet::new();
        assert_eq!(
            set.insert(Key::INFINITY),
            Err(InsertError::ReservedTimestamp)
        );
        assert!(MemItemSet::from_keys([Key::INFINITY]).is_err());
    }

    #[test]
    fn inserts_across_chunk_splits_match_model() {
        let mut set = MemItemSet::new();
        let mut model = Vec::new();
        // Interleave so inserts land in the middle of chunks and force several splits.
        for i in 0..3000u64 {
            let k = key((i * 7919) % 3001, (i % 251) as u8);
            assert_eq!(set.insert(k), Ok(!model.contains(&k)));
            if !model.contains(&k) {
                model.push(k);
            }
        }
        model.sort();
        check_against_model(&set, &model);
        for k in model.clone().iter().step_by(3) {
            assert!(set.remove(k));
            assert!(!set.contains(k));
        }
        model = model
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, k)| k)
            .collect();
        check_against_model(&set, &model);
    }

    #[test]
    fn maintained_symbols_match_a_fresh_encoding() {
        let mut set = MemItemSet::new();
        let mut model = Vec::new();
        for i in 0..700u64 {
            let k = key(i % 50, (i % 251) as u8 ^ (i / 251) as u8);
            if set.insert(k) == Ok(true) {
                model.push(k);
            }
        }
        for k in model.clone().iter().step_by(4) {
            assert!(set.remove(k));
            model.retain(|m| m != k);
        }
        let mut encoder = riblt::Encoder::new(100, 200);
        model
            .iter()
            .for_each(|k| encoder.add(riblt::prefix_of(&k.id)));
        assert_eq!(set.coded_symbols(100, 200), Ok(Some(encoder.finish())));
        let bulk = MemItemSet::from_keys(model.iter().copied()).expect("item keys");
        assert_eq!(bulk.coded_symbols(0, 64), set.coded_symbols(0, 64));
        assert_eq!(
            set.coded_symbols(1000, 100),
            Ok(None),
            "past the maintained symbols"
        );
    }

    proptest! {
        #[test]
        fn bulk_and_incremental_agree(raw in proptest::collection::vec((0u64..50, any::<u8>()), 0..2000)) {
            let keys: Vec<Key> = raw.iter().map(|&(t, s)| key(t, s)).collect();
            let bulk = MemItemSet::from_keys(keys.iter().copied()).map_err(|_| TestCaseError::fail("insert"))?;
            let mut incremental = MemItemSet::new();
            for k in &keys {
                prop_assert!(incremental.insert(*k).is_ok());
            }
            let mut model = keys.clone();
            model.sort();
            model.dedup();
            check_against_model(&bulk, &model);
            check_against_model(&incremental, &model);
        }
    }
}
