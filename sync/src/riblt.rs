//! Rateless invertible Bloom lookup table (Yang, Gilad, Alizadeh, "Practical Rateless Set
//! Reconciliation", SIGCOMM 2024), over 8-byte id prefixes.
//!
//! Every item maps to coded symbol 0 and to later symbols with probability 1 / (1 + i/2), so a
//! peer can stream symbols 0, 1, 2, … until the receiver, which subtracts its own symbols and
//! peels pure cells, has recovered the whole difference; about 1.35–1.7 symbols per difference.
//!
//! Items are id *prefixes*: ids are SHA-256 digests, so 8 bytes are uniform and an honest
//! collision among 10^6 items has probability ~10^-8. A symbol is 13 bytes on the wire (prefix sum,
//! 4-byte checksum, count mod 256) instead of ~45 with full ids. Full ids travel afterwards, once,
//! from the side that owns each item. Collisions, forged checksums or a store that changed between
//! batches can only make decoding fail or report a wrong difference; the session checks the result
//! against the whole-set fingerprints and falls back to range-based reconciliation.
//!
//! Nothing here reads the store; callers feed prefixes in, so memory is bounded by the number of
//! symbols (cells) and recovered items, both capped by the session.

use std::collections::{BTreeSet, VecDeque};

use crate::item::ItemId;

/// Bytes of one coded symbol on the wire: prefix sum, checksum, count mod 256.
pub const SYMBOL_BYTES: usize = 8 + 4 + 1;

/// Salt mixed into the item hash so our mapping is not the public riblt one; a fixed value, since
/// the session has no randomness and both peers must agree.
const HASH_SALT: u64 = 0x6b69_7a75_6e61_7269;

/// The riblt item for an id: its first 8 bytes.
pub fn prefix_of(id: &ItemId) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&id.0[..8]);
    u64::from_le_bytes(bytes)
}

/// One coded symbol as sent: XOR of prefixes, XOR of their checksums, and their count mod 256.
/// The count is truncated because the receiver only needs to recognise ±1 and 0; a wrapped count
/// that looks like ±1 must still pass the 32-bit checksum, and the final fingerprint check catches
/// the rest.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Symbol {
    pub sum: u64,
    pub checksum: u32,
    pub count: u8,
}

/// Where a recovered item lives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// In the remote set only (the peer that streamed symbols).
    Remote,
    /// In the local set only.
    Local,
}

/// Decoding could not continue; the session falls back to range-based reconciliation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DecodeError {
    /// More items recovered than the cap allows, or one recovered twice: the symbols are not a
    /// consistent difference (forged, or a store changed mid-stream).
    Inconsistent,
}

/// 64-bit mixer (SplitMix64 finaliser). Prefixes are already uniform; mixing with the salt only
/// decorrelates the checksum and the mapping from the prefix bits.
fn mix(mut z: u64) -> u64 {
    z ^= HASH_SALT;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn checksum_of(prefix: u64) -> u32 {
    (mix(prefix) >> 32) as u32
}

/// The increasing symbol indices an item maps to: 0, then a random walk whose steps make index i
/// appear with probability 1 / (1 + i/2) (the construction of the paper's reference code).
#[derive(Clone, Copy, Debug)]
pub struct Mapping {
    prng: u64,
    index: u64,
}

impl Mapping {
    pub fn new(prefix: u64) -> Mapping {
        Mapping {
            prng: mix(prefix.rotate_left(17)) | 1,
            index: 0,
        }
    }

    /// The current index; starts at 0.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Moves to the next index. Float arithmetic here is IEEE-exact (mul, div, sqrt, ceil), so
    /// both peers compute the same sequence; `as u64` saturates, and a step is at least 1 so an
    /// item never lands twice on one symbol.
    pub fn advance(&mut self) {
        let r = self.prng.wrapping_mul(0xda94_2042_e4dd_58b5);
        self.prng = r;
        let scale = 4_294_967_296.0 / ((r as f64) + 1.0).sqrt() - 1.0;
        let step = ((self.index as f64 + 1.5) * scale).ceil() as u64;
        self.index = self.index.saturating_add(step.max(1));
    }
}

/// A symbol with a full-width count, as accumulated in memory.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
struct Cell {
    sum: u64,
    checksum: u32,
    /// Remote count minus local count, mod 256 to match the wire.
    count: u8,
}

impl Cell {
    fn toggle(&mut self, prefix: u64, checksum: u32, add: bool) {
        self.sum ^= prefix;
        self.checksum ^= checksum;
        self.count = if add {
            self.count.wrapping_add(1)
        } else {
            self.count.wrapping_sub(1)
        };
    }

    fn is_empty(&self) -> bool {
        self.sum == 0 && self.checksum == 0 && self.count == 0
    }

    /// The single item this cell holds, if it looks pure.
    fn pure(&self) -> Option<Side> {
        let side = match self.count {
            1 => Side::Remote,
            255 => Side::Local,
            _ => return None,
        };
        (checksum_of(self.sum) == self.checksum).then_some(side)
    }
}

/// Computes symbols `[start, start + out.len())` of a set, one item at a time.
#[derive(Debug)]
pub struct Encoder {
    start: u64,
    symbols: Vec<Symbol>,
}

impl Encoder {
    pub fn new(start: u64, len: usize) -> Encoder {
        Encoder {
            start,
            symbols: vec![Symbol::default(); len],
        }
    }

    pub fn add(&mut self, prefix: u64) {
        let checksum = checksum_of(prefix);
        let end = self.start + self.symbols.len() as u64;
        let mut mapping = Mapping::new(prefix);
        while mapping.index() < end {
            if let Some(offset) = mapping.index().checked_sub(self.start) {
                // offset < len because index < end.
                let symbol = &mut self.symbols[offset as usize];
                symbol.sum ^= prefix;
                symbol.checksum ^= checksum;
                symbol.count = symbol.count.wrapping_add(1);
            }
            mapping.advance();
        }
    }

    pub fn finish(self) -> Vec<Symbol> {
        self.symbols
    }
}

/// Adds (or removes) one item to symbols `[0, symbols.len())` kept up to date by a store.
pub fn toggle_symbols(symbols: &mut [Symbol], prefix: u64, add: bool) {
    let checksum = checksum_of(prefix);
    let mut mapping = Mapping::new(prefix);
    while let Some(symbol) = usize::try_from(mapping.index())
        .ok()
        .and_then(|i| symbols.get_mut(i))
    {
        symbol.sum ^= prefix;
        symbol.checksum ^= checksum;
        symbol.count = if add {
            symbol.count.wrapping_add(1)
        } else {
            symbol.count.wrapping_sub(1)
        };
        mapping.advance();
    }
}

/// A recovered item and where its mapping stands, so cells allocated later can be cleaned too.
#[derive(Clone, Copy, Debug)]
struct Recovered {
    prefix: u64,
    side: Side,
    mapping: Mapping,
}

/// The receiving side: holds `remote − local` per cell and peels pure cells.
///
/// Cells are allocated ahead of the remote stream ([`Decoder::extend_local`]) so the local set is
/// scanned once per allocation rather than once per frame; purity is only judged on cells whose
/// remote symbol has arrived.
#[derive(Debug)]
pub struct Decoder {
    cells: Vec<Cell>,
    received: usize,
    recovered: Vec<Recovered>,
    recovered_prefixes: BTreeSet<(u64, bool)>,
    recovered_max: usize,
    queue: VecDeque<usize>,
}

/// Local contributions to cells `[start, end)`, computed by scanning the local set; merged into
/// the decoder with [`Decoder::extend_local`].
#[derive(Debug)]
pub struct LocalCells {
    start: usize,
    cells: Vec<Cell>,
}

impl LocalCells {
    /// Where these cells start and how many there are.
    pub fn span(&self) -> (usize, usize) {
        (self.start, self.cells.len())
    }

    /// Subtracts a precomputed local symbol (from a store that maintains them) at `offset`.
    pub fn add_symbol(&mut self, offset: usize, symbol: &Symbol) {
        if let Some(cell) = self.cells.get_mut(offset) {
            cell.sum ^= symbol.sum;
            cell.checksum ^= symbol.checksum;
            cell.count = cell.count.wrapping_sub(symbol.count);
        }
    }

    pub fn add(&mut self, prefix: u64) {
        let checksum = checksum_of(prefix);
        let end = (self.start + self.cells.len()) as u64;
        let mut mapping = Mapping::new(prefix);
        while mapping.index() < end {
            if let Some(offset) = mapping.index().checked_sub(self.start as u64) {
                self.cells[offset as usize].toggle(prefix, checksum, false);
            }
            mapping.advance();
        }
    }
}

impl Decoder {
    pub fn new(recovered_max: usize) -> Decoder {
        Decoder {
            cells: Vec::new(),
            received: 0,
            recovered: Vec::new(),
            recovered_prefixes: BTreeSet::new(),
            recovered_max,
            queue: VecDeque::new(),
        }
    }

    /// Cells allocated so far (remote symbols expected up to here).
    pub fn allocated(&self) -> usize {
        self.cells.len()
    }

    /// Remote symbols received so far.
    pub fn received(&self) -> usize {
        self.received
    }

    /// Starts a scan of the local set for cells `[allocated, end)`.
    pub fn local_cells(&self, end: usize) -> LocalCells {
        let start = self.cells.len();
        LocalCells {
            start,
            cells: vec![Cell::default(); end.saturating_sub(start)],
        }
    }

    /// Appends scanned local cells, and removes items already recovered from them.
    pub fn extend_local(&mut self, local: LocalCells) {
        if local.start != self.cells.len() {
            return;
        }
        let end = (local.start + local.cells.len()) as u64;
        self.cells.extend(local.cells);
        for item in &mut self.recovered {
            let checksum = checksum_of(item.prefix);
            while item.mapping.index() < end {
                // Recovered items were already removed from every cell below the old end.
                if let Some(cell) = usize::try_from(item.mapping.index())
                    .ok()
                    .filter(|&i| i >= local.start)
                    .and_then(|i| self.cells.get_mut(i))
                {
                    cell.toggle(item.prefix, checksum, item.side == Side::Local);
                }
                item.mapping.advance();
            }
        }
    }

    /// Adds remote symbols at `[received, received + symbols.len())`; they must fall within
    /// allocated cells. Returns how many were taken.
    pub fn receive(&mut self, symbols: &[Symbol]) -> usize {
        let room = self.cells.len() - self.received;
        let take = symbols.len().min(room);
        for symbol in &symbols[..take] {
            let index = self.received;
            let cell = &mut self.cells[index];
            cell.sum ^= symbol.sum;
            cell.checksum ^= symbol.checksum;
            cell.count = cell.count.wrapping_add(symbol.count);
            self.received += 1;
            self.queue.push_back(index);
        }
        take
    }

    /// Peels every pure cell among the received ones.
    pub fn peel(&mut self) -> Result<(), DecodeError> {
        while let Some(index) = self.queue.pop_front() {
            let Some(side) = self.cells.get(index).and_then(Cell::pure) else {
                continue;
            };
            let prefix = self.cells[index].sum;
            if self.recovered.len() >= self.recovered_max
                || !self
                    .recovered_prefixes
                    .insert((prefix, side == Side::Remote))
            {
                return Err(DecodeError::Inconsistent);
            }
            let checksum = checksum_of(prefix);
            let mut mapping = Mapping::new(prefix);
            let end = self.cells.len() as u64;
            while mapping.index() < end {
                let i = mapping.index() as usize;
                // Removing a remote item lowers the count; removing a local one raises it.
                self.cells[i].toggle(prefix, checksum, side == Side::Local);
                if i < self.received {
                    self.queue.push_back(i);
                }
                mapping.advance();
            }
            self.recovered.push(Recovered {
                prefix,
                side,
                mapping,
            });
        }
        Ok(())
    }

    /// Whether the whole difference is recovered: every item maps to symbol 0, so it is empty
    /// exactly when nothing remains (up to a 2^-96 coincidence the session's check catches).
    pub fn is_decoded(&self) -> bool {
        self.received > 0 && self.cells[0].is_empty()
    }

    /// Recovered prefixes and their sides.
    pub fn recovered(&self) -> impl Iterator<Item = (u64, Side)> + '_ {
        self.recovered.iter().map(|r| (r.prefix, r.side))
    }

    pub fn recovered_len(&self) -> usize {
        self.recovered.len()
    }

    /// Estimates the total difference from the received cells: the recovered items plus an
    /// estimate of those left.
    ///
    /// Each remaining item lands in cell i with probability p_i = 1 / (1 + i/2). When some cells
    /// are empty, the maximum-likelihood fit of how many items would leave exactly those cells
    /// empty is accurate ([`Estimate::Empties`]). When every cell is occupied, the signed counts
    /// still tell: a count sums ±1 per item in the cell, so E\[c_i²\] = r·p_i + (δ·p_i)² with δ the
    /// net count of cell 0; that moment estimate has ~25 % error at 64 cells
    /// ([`Estimate::Counts`]), and underestimates once counts wrap past ±127 (r ≳ 2,000).
    pub fn estimate(&self) -> Estimate {
        let recovered = self.recovered.len() as f64;
        let cells = &self.cells[..self.received];
        let mut empty_log = 0.0f64;
        let mut nonempty = Vec::new();
        for (i, cell) in cells.iter().enumerate().skip(1) {
            let q = 1.0 - 1.0 / (1.0 + i as f64 / 2.0);
            if cell.is_empty() {
                empty_log += q.ln();
            } else {
                nonempty.push(q);
            }
        }
        if nonempty.is_empty() {
            return Estimate::Empties(recovered);
        }
        if empty_log == 0.0 {
            let net = cells.first().map_or(0.0, |c| f64::from(c.count as i8));
            let (mut squares, mut weight) = (0.0f64, 0.0f64);
            for (i, cell) in cells.iter().enumerate().skip(1) {
                let p = 1.0 / (1.0 + i as f64 / 2.0);
                let count = f64::from(cell.count as i8);
                squares += count * count - (net * p) * (net * p);
                weight += p;
            }
            return Estimate::Counts(
                recovered + (squares / weight.max(f64::MIN_POSITIVE)).max(1.0),
            );
        }
        // d/dr of the log-likelihood is decreasing in r; bisect its root in log space.
        let slope = |r: f64| {
            empty_log
                + nonempty
                    .iter()
                    .map(|&q| {
                        let qr = q.powf(r);
                        -qr * q.ln() / (1.0 - qr)
                    })
                    .sum::<f64>()
        };
        let (mut lo, mut hi) = (1e-3f64, 1e9f64);
        for _ in 0..60 {
            let mid = (lo * hi).sqrt();
            if slope(mid) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Estimate::Empties(recovered + lo)
    }
}

/// An estimate of the whole difference, and how it was made (see [`Decoder::estimate`]).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Estimate {
    /// From which cells are empty: within ~10 % once a few cells are empty.
    Empties(f64),
    /// From the spread of cell counts, when no cell is empty: within ~25 % below ~2,000.
    Counts(f64),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(seed: u64, n: usize) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
                mix(x)
            })
            .collect()
    }

    fn encode(set: &[u64], start: u64, len: usize) -> Vec<Symbol> {
        let mut encoder = Encoder::new(start, len);
        set.iter().for_each(|&p| encoder.add(p));
        encoder.finish()
    }

    /// Streams symbols in batches of `batch` until decoded; returns symbols used and the result.
    fn reconcile(remote: &[u64], local: &[u64], batch: usize) -> (usize, Vec<(u64, Side)>) {
        let mut decoder = Decoder::new(1 << 20);
        while !decoder.is_decoded() {
            let start = decoder.allocated();
            let mut cells = decoder.local_cells(start + batch);
            local.iter().for_each(|&p| cells.add(p));
            decoder.extend_local(cells);
            let symbols = encode(remote, start as u64, batch);
            assert_eq!(decoder.receive(&symbols), batch);
            assert_eq!(decoder.peel(), Ok(()));
            assert!(decoder.received() < 100_000, "does not converge");
        }
        let mut found: Vec<(u64, Side)> = decoder.recovered().collect();
        found.sort_by_key(|&(p, _)| p);
        (decoder.received(), found)
    }

    #[test]
    fn mapping_density_follows_one_over_one_plus_half_i() {
        let items = prefixes(7, 20_000);
        let mut hits = [0u32; 64];
        for &p in &items {
            let mut m = Mapping::new(p);
            while m.index() < 64 {
                hits[m.index() as usize] += 1;
                m.advance();
            }
        }
        assert_eq!(hits[0], 20_000);
        for i in [1usize, 4, 16, 63] {
            let expect = 20_000.0 / (1.0 + i as f64 / 2.0);
            let got = f64::from(hits[i]);
            assert!(
                (got - expect).abs() < 0.1 * expect,
                "i={i} {got} vs {expect}"
            );
        }
    }

    #[test]
    fn recovers_exact_difference_with_low_overhead() {
        for (d, seed) in [(1usize, 1u64), (10, 2), (100, 3), (2000, 4)] {
            let common = prefixes(seed * 1000, 5000);
            let remote_only = prefixes(seed * 1000 + 1, d / 2 + d % 2);
            let local_only = prefixes(seed * 1000 + 2, d / 2);
            let remote: Vec<u64> = common.iter().chain(&remote_only).copied().collect();
            let local: Vec<u64> = common.iter().chain(&local_only).copied().collect();
            let (used, found) = reconcile(&remote, &local, 8);
            let mut expect: Vec<(u64, Side)> = remote_only
                .iter()
                .map(|&p| (p, Side::Remote))
                .chain(local_only.iter().map(|&p| (p, Side::Local)))
                .collect();
            expect.sort_by_key(|&(p, _)| p);
            assert_eq!(found, expect, "d={d}");
            // The paper's overhead is 1.35–1.72 symbols per difference; small d costs a few
            // symbols more, and batches of 8 round up.
            assert!(used <= d * 17 / 10 + 24, "d={d} used {used}");
        }
    }

    #[test]
    fn identical_sets_decode_at_once() {
        let set = prefixes(9, 100);
        let (used, found) = reconcile(&set, &set, 1);
        assert_eq!((used, found.len()), (1, 0));
    }

    #[test]
    fn estimate_tracks_the_difference() {
        for d in [50usize, 400, 1500] {
            let remote = prefixes(d as u64, d);
            let mut decoder = Decoder::new(1 << 20);
            let n = 1024;
            decoder.extend_local(decoder.local_cells(n));
            // Feed without peeling so the estimate must come from empty cells alone.
            decoder.receive(&encode(&remote, 0, n));
            let Estimate::Empties(estimate) = decoder.estimate() else {
                panic!("d={d}: some of 1,024 cells are empty");
            };
            assert!(
                (estimate - d as f64).abs() < 0.35 * d as f64,
                "d={d} estimate {estimate}"
            );
        }
    }

    #[test]
    fn counts_estimate_when_every_cell_is_occupied() {
        for (d, seed) in [(300usize, 1u64), (1000, 2)] {
            // Half the difference on each side, so the net count is near zero.
            let remote = prefixes(seed, d / 2);
            let local = prefixes(seed + 100, d / 2);
            let mut decoder = Decoder::new(1 << 20);
            let mut cells = decoder.local_cells(64);
            local.iter().for_each(|&p| cells.add(p));
            decoder.extend_local(cells);
            decoder.receive(&encode(&remote, 0, 64));
            let Estimate::Counts(estimate) = decoder.estimate() else {
                panic!("d={d}: 64 cells are all occupied");
            };
            assert!(
                (estimate - d as f64).abs() < 0.6 * d as f64,
                "d={d} estimate {estimate}"
            );
        }
    }

    #[test]
    fn forged_symbols_fail_without_panicking() {
        let mut decoder = Decoder::new(4);
        decoder.extend_local(decoder.local_cells(64));
        let forged: Vec<Symbol> = (0..64u64)
            .map(|i| Symbol {
                sum: i,
                checksum: checksum_of(i),
                count: 1,
            })
            .collect();
        decoder.receive(&forged);
        assert_eq!(decoder.peel(), Err(DecodeError::Inconsistent));
    }
}
