//! Wire format of sync messages: versioned, length-bounded, and decoded without panics.
//!
//! ```text
//! frame      = version:u8 tag:u8 body                        (at most MESSAGE_BYTES_MAX bytes)
//! tag 0      = Reconcile: round:varint range*                (ranges run to the end of the frame)
//! tag 1      = Abort: reason:u8
//! tag 2      = Symbols: round:varint start:varint n:varint n×symbol      (riblt coded symbols)
//! tag 3      = MoreSymbols: round:varint end:varint                     (send symbols up to end)
//! tag 4      = Resolve: round:varint last:u8 n:varint n×32 bytes m:varint m×8 bytes
//! tag 5      = Resolved: round:varint last:u8 n:varint n×32 bytes
//! symbol     = prefix_sum:8 bytes checksum:4 bytes count:u8                (little-endian)
//! range      = bound mode:u8 payload
//! bound      = ts:varint [prefix_len:u8 prefix]              ts 0 = INFINITY (no prefix follows),
//!                                                            else 1 + delta from previous bound
//! mode 0     = Skip
//! mode 1     = Fingerprint: 16 bytes
//! mode 2     = IdList: n:varint n×32 bytes
//! mode 3     = Diff: n:varint n×32 bytes bits:varint ⌈bits/8⌉ bytes (LSB first, unused bits zero)
//! mode 4     = Summary: 16 bytes count:varint                  (fingerprint plus item count)
//! varint     = unsigned LEB128, at most 10 bytes
//! ```
//!
//! Ranges are contiguous: each starts where the previous one ended (the first at [`Key::MIN`]),
//! and upper bounds must strictly increase. Key space after the last bound is implicitly skipped,
//! so an all-agreed reply is an empty list. A bound's id is sent as its prefix up to the last
//! non-zero byte; zero padding restores it.

use crate::item::{FINGERPRINT_BYTES, Fingerprint, ID_BYTES, ItemId, Key, TIMESTAMP_MS_RESERVED};
use crate::riblt::{SYMBOL_BYTES, Symbol};

/// The only version this build speaks. A peer with another version gets an error, not a guess.
/// Version 2 added the riblt messages (tags 2–5) and the Summary mode.
pub const PROTOCOL_VERSION: u8 = 2;

/// Cap on one encoded message. 64 KiB keeps a frame within one QUIC stream window on small nodes,
/// is about 3 s over a 20 KB/s BLE link, and bounds what a peer can make us buffer per message.
pub const MESSAGE_BYTES_MAX: usize = 64 * 1024;

/// Cap on ids in one list. It follows from the frame cap; decoders check it, and the remaining
/// input, before allocating.
pub const LIST_IDS_MAX: usize = MESSAGE_BYTES_MAX / ID_BYTES;

/// Largest encoding of a message header: version, tag and a 5-byte varint round.
pub const HEADER_BYTES_MAX: usize = 2 + 5;

/// Largest encoding of a bound: a 10-byte varint, the prefix length and a full id.
pub const BOUND_BYTES_MAX: usize = 10 + 1 + ID_BYTES;

/// Largest encoding of a Fingerprint range; used to reserve room for a frame's closing range.
pub const FINGERPRINT_RANGE_BYTES_MAX: usize = BOUND_BYTES_MAX + 1 + FINGERPRINT_BYTES;

/// Cap on coded symbols in one frame, from the frame cap.
pub const SYMBOLS_MAX: usize = MESSAGE_BYTES_MAX / SYMBOL_BYTES;

/// Cap on id prefixes in one frame, from the frame cap.
pub const PREFIXES_MAX: usize = MESSAGE_BYTES_MAX / PREFIX_BYTES;

/// Bytes of an id prefix in [`Resolve`].
pub const PREFIX_BYTES: usize = 8;

/// Largest encoding of a riblt message header: version, tag, a 5-byte varint round, a 5-byte
/// varint index or flag, and a 3-byte varint count (counts are below 2^21).
pub const RIBLT_HEADER_BYTES_MAX: usize = 2 + 5 + 5 + 3;

const VARINT_BYTES_MAX: usize = 10;

const TAG_RECONCILE: u8 = 0;
const TAG_ABORT: u8 = 1;
const TAG_SYMBOLS: u8 = 2;
const TAG_MORE_SYMBOLS: u8 = 3;
const TAG_RESOLVE: u8 = 4;
const TAG_RESOLVED: u8 = 5;

const MODE_SKIP: u8 = 0;
const MODE_FINGERPRINT: u8 = 1;
const MODE_ID_LIST: u8 = 2;
const MODE_DIFF: u8 = 3;
const MODE_SUMMARY: u8 = 4;

/// A sync message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    /// One round of range-based reconciliation.
    Reconcile(Reconcile),
    /// The sender gave up on the session; the receiver should stop too.
    Abort(AbortReason),
    /// Coded symbols of the sender's whole set (rateless IBLT over id prefixes).
    Symbols(Symbols),
    /// Asks for coded symbols up to an index.
    MoreSymbols(MoreSymbols),
    /// The decoded difference, a page at a time: full ids only the sender has, and prefixes of
    /// ids only the receiver has.
    Resolve(Resolve),
    /// Full ids answering a [`Resolve`]'s prefixes.
    Resolved(Resolved),
}

/// Coded symbols `start..start + symbols.len()`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Symbols {
    pub round: u32,
    pub start: u32,
    pub symbols: Vec<Symbol>,
}

/// "Keep sending coded symbols up to index `end`, exclusive."
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MoreSymbols {
    pub round: u32,
    pub end: u32,
}

/// One page of a decoded difference. `ids`: the sender has them and the receiver lacks them.
/// `prefixes`: the receiver has ids with these 8-byte prefixes that the sender lacks; it answers
/// with their full ids. `last` marks the final page, after which the receiver checks the result.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Resolve {
    pub round: u32,
    pub last: bool,
    pub ids: Vec<ItemId>,
    pub prefixes: Vec<u64>,
}

/// Full ids for a [`Resolve`] page's prefixes. `last` means the receiver's check passed and the
/// session is done.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Resolved {
    pub round: u32,
    pub last: bool,
    pub ids: Vec<ItemId>,
}

/// One round: contiguous ranges covering the key space from [`Key::MIN`] upward.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reconcile {
    /// 0 for the initiator's first message, then +1 per message in either direction. Lets a
    /// receiver drop stale duplicates and resend its last reply when the peer retransmits.
    pub round: u32,
    pub ranges: Vec<Range>,
}

/// The key range from the previous range's upper bound (or [`Key::MIN`]) up to `upper`,
/// exclusive, and what the sender says about it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Range {
    pub upper: Key,
    pub mode: Mode,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Mode {
    /// The range is settled; nothing to do.
    Skip,
    /// The sender's fingerprint of the range; the receiver compares it with its own.
    Fingerprint(Fingerprint),
    /// All of the sender's ids in the range; the receiver answers with a [`Mode::Diff`].
    IdList(Vec<ItemId>),
    /// Answer to an [`Mode::IdList`] over the same range: the ids the answerer has that the list
    /// lacked, and one bit per listed id, set when the answerer lacks it. Settles the range for
    /// both peers.
    Diff { have: Vec<ItemId>, lacks: Vec<bool> },
    /// Like [`Mode::Fingerprint`], plus the sender's item count in the range. Sent over the whole
    /// key space in the first message; it tells the peer the sender can decode coded symbols and
    /// bounds the difference from below (|count − ours|).
    Summary {
        fingerprint: Fingerprint,
        count: u64,
    },
}

/// Why a peer aborted. Deliberately coarse: an abort crosses the network and must not carry data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AbortReason {
    /// The peer sent something the protocol does not allow.
    Protocol,
    /// The sender's store failed.
    Storage,
    /// The sender waited too long for a reply.
    Timeout,
}

/// Why a frame could not be decoded. Carries no payload bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WireError {
    Truncated,
    TooLarge,
    UnsupportedVersion(u8),
    UnknownTag(u8),
    UnknownMode(u8),
    UnknownAbortReason(u8),
    VarintOverlong,
    RoundOverflow,
    TimestampOverflow,
    ReservedTimestamp,
    PrefixTooLong,
    BoundsNotIncreasing,
    ListTooLong,
    BitmapPadding,
    TrailingBytes,
    BadFlag,
    IndexOverflow,
}

impl AbortReason {
    fn code(self) -> u8 {
        match self {
            AbortReason::Protocol => 1,
            AbortReason::Storage => 2,
            AbortReason::Timeout => 3,
        }
    }

    fn from_code(code: u8) -> Option<AbortReason> {
        match code {
            1 => Some(AbortReason::Protocol),
            2 => Some(AbortReason::Storage),
            3 => Some(AbortReason::Timeout),
            _ => None,
        }
    }
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![PROTOCOL_VERSION];
        match self {
            Message::Reconcile(reconcile) => {
                out.push(TAG_RECONCILE);
                put_varint(&mut out, u64::from(reconcile.round));
                let mut prev_ts = 0;
                for range in &reconcile.ranges {
                    encode_range(&mut out, prev_ts, range);
                    prev_ts = range.upper.timestamp_ms;
                }
            }
            Message::Abort(reason) => {
                out.push(TAG_ABORT);
                out.push(reason.code());
            }
            Message::Symbols(symbols) => {
                out.push(TAG_SYMBOLS);
                put_varint(&mut out, u64::from(symbols.round));
                put_varint(&mut out, u64::from(symbols.start));
                put_varint(&mut out, symbols.symbols.len() as u64);
                for symbol in &symbols.symbols {
                    out.extend_from_slice(&symbol.sum.to_le_bytes());
                    out.extend_from_slice(&symbol.checksum.to_le_bytes());
                    out.push(symbol.count);
                }
            }
            Message::MoreSymbols(more) => {
                out.push(TAG_MORE_SYMBOLS);
                put_varint(&mut out, u64::from(more.round));
                put_varint(&mut out, u64::from(more.end));
            }
            Message::Resolve(resolve) => {
                out.push(TAG_RESOLVE);
                put_varint(&mut out, u64::from(resolve.round));
                out.push(u8::from(resolve.last));
                put_ids(&mut out, &resolve.ids);
                put_varint(&mut out, resolve.prefixes.len() as u64);
                for prefix in &resolve.prefixes {
                    out.extend_from_slice(&prefix.to_le_bytes());
                }
            }
            Message::Resolved(resolved) => {
                out.push(TAG_RESOLVED);
                put_varint(&mut out, u64::from(resolved.round));
                out.push(u8::from(resolved.last));
                put_ids(&mut out, &resolved.ids);
            }
        }
        out
    }

    /// The round number the message carries; aborts carry none.
    pub fn round(&self) -> Option<u32> {
        match self {
            Message::Reconcile(m) => Some(m.round),
            Message::Abort(_) => None,
            Message::Symbols(m) => Some(m.round),
            Message::MoreSymbols(m) => Some(m.round),
            Message::Resolve(m) => Some(m.round),
            Message::Resolved(m) => Some(m.round),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
        if bytes.len() > MESSAGE_BYTES_MAX {
            return Err(WireError::TooLarge);
        }
        let mut reader = Reader { rest: bytes };
        let version = reader.u8()?;
        if version != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
        match reader.u8()? {
            TAG_RECONCILE => {
                let round = reader.round()?;
                let mut ranges = Vec::new();
                let mut prev = Key::MIN;
                while !reader.rest.is_empty() {
                    if prev == Key::INFINITY {
                        return Err(WireError::BoundsNotIncreasing);
                    }
                    let range = decode_range(&mut reader, &prev)?;
                    prev = range.upper;
                    ranges.push(range);
                }
                Ok(Message::Reconcile(Reconcile { round, ranges }))
            }
            TAG_ABORT => {
                let code = reader.u8()?;
                let reason =
                    AbortReason::from_code(code).ok_or(WireError::UnknownAbortReason(code))?;
                if !reader.rest.is_empty() {
                    return Err(WireError::TrailingBytes);
                }
                Ok(Message::Abort(reason))
            }
            TAG_SYMBOLS => {
                let round = reader.round()?;
                let start = reader.index()?;
                let count = reader.count(SYMBOLS_MAX)?;
                // Check the input holds them all before allocating anything sized by the peer.
                let bytes = reader.bytes(count * SYMBOL_BYTES)?;
                let symbols = bytes
                    .chunks_exact(SYMBOL_BYTES)
                    .map(|chunk| {
                        let mut sum = [0u8; 8];
                        sum.copy_from_slice(&chunk[..8]);
                        let mut checksum = [0u8; 4];
                        checksum.copy_from_slice(&chunk[8..12]);
                        Symbol {
                            sum: u64::from_le_bytes(sum),
                            checksum: u32::from_le_bytes(checksum),
                            count: chunk[12],
                        }
                    })
                    .collect();
                if start.checked_add(count as u32).is_none() {
                    return Err(WireError::IndexOverflow);
                }
                reader.end()?;
                Ok(Message::Symbols(Symbols {
                    round,
                    start,
                    symbols,
                }))
            }
            TAG_MORE_SYMBOLS => {
                let round = reader.round()?;
                let end = reader.index()?;
                reader.end()?;
                Ok(Message::MoreSymbols(MoreSymbols { round, end }))
            }
            TAG_RESOLVE => {
                let round = reader.round()?;
                let last = reader.flag()?;
                let ids = reader.ids()?;
                let count = reader.count(PREFIXES_MAX)?;
                let bytes = reader.bytes(count * PREFIX_BYTES)?;
                let prefixes = bytes
                    .chunks_exact(PREFIX_BYTES)
                    .map(|chunk| {
                        let mut prefix = [0u8; PREFIX_BYTES];
                        prefix.copy_from_slice(chunk);
                        u64::from_le_bytes(prefix)
                    })
                    .collect();
                reader.end()?;
                Ok(Message::Resolve(Resolve {
                    round,
                    last,
                    ids,
                    prefixes,
                }))
            }
            TAG_RESOLVED => {
                let round = reader.round()?;
                let last = reader.flag()?;
                let ids = reader.ids()?;
                reader.end()?;
                Ok(Message::Resolved(Resolved { round, last, ids }))
            }
            tag => Err(WireError::UnknownTag(tag)),
        }
    }
}

/// Exact encoded size of `range` when the previous bound had timestamp `prev_ts`; lets a sender
/// budget a frame without encoding twice.
pub fn range_encoded_len(prev_ts: u64, range: &Range) -> usize {
    let bound = if range.upper == Key::INFINITY {
        1
    } else {
        let delta = range
            .upper
            .timestamp_ms
            .saturating_sub(prev_ts)
            .saturating_add(1);
        varint_len(delta) + 1 + prefix_len(&range.upper.id)
    };
    let payload = match &range.mode {
        Mode::Skip => 0,
        Mode::Fingerprint(_) => FINGERPRINT_BYTES,
        Mode::Summary { count, .. } => FINGERPRINT_BYTES + varint_len(*count),
        Mode::IdList(ids) => varint_len(ids.len() as u64) + ids.len() * ID_BYTES,
        Mode::Diff { have, lacks } => {
            varint_len(have.len() as u64)
                + have.len() * ID_BYTES
                + varint_len(lacks.len() as u64)
                + lacks.len().div_ceil(8)
        }
    };
    bound + 1 + payload
}

/// Encoded size of a Reconcile header for `round`.
pub fn header_encoded_len(round: u32) -> usize {
    2 + varint_len(u64::from(round))
}

fn prefix_len(id: &ItemId) -> usize {
    id.0.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

fn encode_range(out: &mut Vec<u8>, prev_ts: u64, range: &Range) {
    if range.upper == Key::INFINITY {
        out.push(0);
    } else {
        // Callers send ascending bounds; saturation keeps a broken caller from panicking, and the
        // peer's decoder then rejects the frame.
        let delta = range
            .upper
            .timestamp_ms
            .saturating_sub(prev_ts)
            .saturating_add(1);
        put_varint(out, delta);
        let len = prefix_len(&range.upper.id);
        out.push(len as u8);
        out.extend_from_slice(&range.upper.id.0[..len]);
    }
    match &range.mode {
        Mode::Skip => out.push(MODE_SKIP),
        Mode::Fingerprint(fingerprint) => {
            out.push(MODE_FINGERPRINT);
            out.extend_from_slice(&fingerprint.0);
        }
        Mode::Summary { fingerprint, count } => {
            out.push(MODE_SUMMARY);
            out.extend_from_slice(&fingerprint.0);
            put_varint(out, *count);
        }
        Mode::IdList(ids) => {
            out.push(MODE_ID_LIST);
            put_ids(out, ids);
        }
        Mode::Diff { have, lacks } => {
            out.push(MODE_DIFF);
            put_ids(out, have);
            put_varint(out, lacks.len() as u64);
            for bits in lacks.chunks(8) {
                let byte = bits
                    .iter()
                    .enumerate()
                    .fold(0u8, |acc, (i, &bit)| acc | (u8::from(bit) << i));
                out.push(byte);
            }
        }
    }
}

pub(crate) fn put_ids(out: &mut Vec<u8>, ids: &[ItemId]) {
    put_varint(out, ids.len() as u64);
    for id in ids {
        out.extend_from_slice(&id.0);
    }
}

fn decode_range(reader: &mut Reader<'_>, prev: &Key) -> Result<Range, WireError> {
    let ts_field = reader.varint()?;
    let upper = if ts_field == 0 {
        Key::INFINITY
    } else {
        let timestamp_ms = prev
            .timestamp_ms
            .checked_add(ts_field - 1)
            .ok_or(WireError::TimestampOverflow)?;
        if timestamp_ms == TIMESTAMP_MS_RESERVED {
            return Err(WireError::ReservedTimestamp);
        }
        let len = usize::from(reader.u8()?);
        if len > ID_BYTES {
            return Err(WireError::PrefixTooLong);
        }
        let mut id = [0u8; ID_BYTES];
        id[..len].copy_from_slice(reader.bytes(len)?);
        Key::new(timestamp_ms, ItemId(id))
    };
    if upper <= *prev {
        return Err(WireError::BoundsNotIncreasing);
    }
    let mode = match reader.u8()? {
        MODE_SKIP => Mode::Skip,
        MODE_FINGERPRINT => {
            let mut fingerprint = [0u8; FINGERPRINT_BYTES];
            fingerprint.copy_from_slice(reader.bytes(FINGERPRINT_BYTES)?);
            Mode::Fingerprint(Fingerprint(fingerprint))
        }
        MODE_SUMMARY => {
            let mut fingerprint = [0u8; FINGERPRINT_BYTES];
            fingerprint.copy_from_slice(reader.bytes(FINGERPRINT_BYTES)?);
            let count = reader.varint()?;
            Mode::Summary {
                fingerprint: Fingerprint(fingerprint),
                count,
            }
        }
        MODE_ID_LIST => Mode::IdList(reader.ids()?),
        MODE_DIFF => {
            let have = reader.ids()?;
            let bits = reader.count(LIST_IDS_MAX)?;
            let bytes = reader.bytes(bits.div_ceil(8))?;
            let mut lacks = Vec::with_capacity(bits);
            lacks.extend((0..bits).map(|i| bytes[i / 8] & (1 << (i % 8)) != 0));
            if bits % 8 != 0 && bytes.last().is_some_and(|last| last >> (bits % 8) != 0) {
                return Err(WireError::BitmapPadding);
            }
            Mode::Diff { have, lacks }
        }
        mode => return Err(WireError::UnknownMode(mode)),
    };
    Ok(Range { upper, mode })
}

fn varint_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Cursor over untrusted input; every read checks the remaining length first.
pub(crate) struct Reader<'a> {
    pub(crate) rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        let (&first, rest) = self.rest.split_first().ok_or(WireError::Truncated)?;
        self.rest = rest;
        Ok(first)
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        if len > self.rest.len() {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..VARINT_BYTES_MAX {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may only carry the top bit of a u64; anything more overflows.
            if i == VARINT_BYTES_MAX - 1 && (bits > 1 || byte & 0x80 != 0) {
                return Err(WireError::VarintOverlong);
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError::VarintOverlong)
    }

    pub(crate) fn round(&mut self) -> Result<u32, WireError> {
        u32::try_from(self.varint()?).map_err(|_| WireError::RoundOverflow)
    }

    pub(crate) fn index(&mut self) -> Result<u32, WireError> {
        u32::try_from(self.varint()?).map_err(|_| WireError::IndexOverflow)
    }

    pub(crate) fn flag(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::BadFlag),
        }
    }

    pub(crate) fn end(&self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }

    /// A count of at most `max`, returned as usize.
    pub(crate) fn count(&mut self, max: usize) -> Result<usize, WireError> {
        let count = self.varint()?;
        usize::try_from(count)
            .ok()
            .filter(|&c| c <= max)
            .ok_or(WireError::ListTooLong)
    }

    pub(crate) fn ids(&mut self) -> Result<Vec<ItemId>, WireError> {
        let count = self.count(LIST_IDS_MAX)?;
        // Check the input holds them all before allocating anything sized by the peer.
        let bytes = self.bytes(count * ID_BYTES)?;
        Ok(bytes
            .chunks_exact(ID_BYTES)
            .map(|chunk| {
                let mut id = [0u8; ID_BYTES];
                id.copy_from_slice(chunk);
                ItemId(id)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_id() -> impl Strategy<Value = ItemId> {
        any::<[u8; ID_BYTES]>().prop_map(ItemId)
    }

    fn arb_mode() -> impl Strategy<Value = Mode> {
        prop_oneof![
            Just(Mode::Skip),
            any::<[u8; FINGERPRINT_BYTES]>().prop_map(|f| Mode::Fingerprint(Fingerprint(f))),
            proptest::collection::vec(arb_id(), 0..40).prop_map(Mode::IdList),
            (
                proptest::collection::vec(arb_id(), 0..40),
                proptest::collection::vec(any::<bool>(), 0..70)
            )
                .prop_map(|(have, lacks)| Mode::Diff { have, lacks }),
            (any::<[u8; FINGERPRINT_BYTES]>(), any::<u64>()).prop_map(|(f, count)| {
                Mode::Summary {
                    fingerprint: Fingerprint(f),
                    count,
                }
            }),
        ]
    }

    fn arb_symbol() -> impl Strategy<Value = Symbol> {
        (any::<u64>(), any::<u32>(), any::<u8>()).prop_map(|(sum, checksum, count)| Symbol {
            sum,
            checksum,
            count,
        })
    }

    fn arb_riblt() -> impl Strategy<Value = Message> {
        prop_oneof![
            (
                any::<u32>(),
                0u32..1 << 30,
                proptest::collection::vec(arb_symbol(), 0..60)
            )
                .prop_map(|(round, start, symbols)| Message::Symbols(Symbols {
                    round,
                    start,
                    symbols
                })),
            (any::<u32>(), any::<u32>())
                .prop_map(|(round, end)| Message::MoreSymbols(MoreSymbols { round, end })),
            (
                any::<u32>(),
                any::<bool>(),
                proptest::collection::vec(arb_id(), 0..30),
                proptest::collection::vec(any::<u64>(), 0..30)
            )
                .prop_map(|(round, last, ids, prefixes)| Message::Resolve(Resolve {
                    round,
                    last,
                    ids,
                    prefixes
                })),
            (
                any::<u32>(),
                any::<bool>(),
                proptest::collection::vec(arb_id(), 0..30)
            )
                .prop_map(|(round, last, ids)| Message::Resolved(Resolved {
                    round,
                    last,
                    ids
                })),
        ]
    }

    /// Strictly increasing bounds, some sharing timestamps (so ids matter), some truncated ids,
    /// optionally ending at INFINITY.
    fn arb_reconcile() -> impl Strategy<Value = Reconcile> {
        (
            any::<u32>(),
            proptest::collection::vec((0u64..3, arb_id(), 0usize..=ID_BYTES, arb_mode()), 0..20),
            any::<bool>(),
            arb_mode(),
        )
            .prop_map(|(round, raw, end_at_infinity, last_mode)| {
                let mut keys: Vec<Key> = Vec::new();
                let mut ts = 1u64;
                let mut ranges = Vec::new();
                for (step, id, keep, mode) in raw {
                    ts += step;
                    let mut bytes = id.0;
                    bytes[keep..].iter_mut().for_each(|b| *b = 0);
                    let key = Key::new(ts, ItemId(bytes));
                    if keys.last().is_some_and(|last| *last >= key) {
                        continue;
                    }
                    keys.push(key);
                    ranges.push(Range { upper: key, mode });
                }
                if end_at_infinity {
                    ranges.push(Range {
                        upper: Key::INFINITY,
                        mode: last_mode,
                    });
                }
                Reconcile { round, ranges }
            })
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            arb_reconcile().prop_map(Message::Reconcile),
            prop_oneof![
                Just(AbortReason::Protocol),
                Just(AbortReason::Storage),
                Just(AbortReason::Timeout)
            ]
            .prop_map(Message::Abort),
            arb_riblt(),
        ]
    }

    proptest! {
        #[test]
        fn every_message_round_trips(message in arb_message()) {
            let bytes = message.encode();
            prop_assert_eq!(Message::decode(&bytes), Ok(message.clone()));
            if let Message::Reconcile(reconcile) = &message {
                let mut prev_ts = 0;
                let mut expected = header_encoded_len(reconcile.round);
                for range in &reconcile.ranges {
                    expected += range_encoded_len(prev_ts, range);
                    prev_ts = range.upper.timestamp_ms;
                }
                prop_assert_eq!(expected, bytes.len());
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Message::decode(&bytes);
        }

        #[test]
        fn decoding_mutated_messages_never_panics(
            message in arb_message(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let mut bytes = message.encode();
            for (at, xor) in flips {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] ^= xor;
                }
            }
            bytes.truncate(cut % (bytes.len() + 1));
            if let Ok(decoded) = Message::decode(&bytes) {
                // Whatever decodes must re-encode to something that decodes to the same message.
                prop_assert_eq!(Message::decode(&decoded.encode()), Ok(decoded));
            }
        }
    }

    #[test]
    fn hostile_lengths_are_rejected_before_allocating() {
        // IdList claiming 2^62 ids in a tiny frame.
        let mut bytes = vec![PROTOCOL_VERSION, TAG_RECONCILE, 0, 2, 0, MODE_ID_LIST];
        put_varint(&mut bytes, 1 << 62);
        assert_eq!(Message::decode(&bytes), Err(WireError::ListTooLong));
        // IdList claiming the maximum count but carrying one id.
        let mut bytes = vec![PROTOCOL_VERSION, TAG_RECONCILE, 0, 2, 0, MODE_ID_LIST];
        put_varint(&mut bytes, LIST_IDS_MAX as u64);
        bytes.extend_from_slice(&[7; ID_BYTES]);
        assert_eq!(Message::decode(&bytes), Err(WireError::Truncated));
        // Oversized frame.
        assert_eq!(
            Message::decode(&vec![PROTOCOL_VERSION; MESSAGE_BYTES_MAX + 1]),
            Err(WireError::TooLarge)
        );
    }

    #[test]
    fn malformed_riblt_frames_give_specific_errors() {
        let check =
            |bytes: &[u8], expect: WireError| assert_eq!(Message::decode(bytes), Err(expect));
        // Symbols claiming more than a frame can hold, and claiming 3 but carrying 1.
        let mut bytes = vec![PROTOCOL_VERSION, TAG_SYMBOLS, 0, 0];
        put_varint(&mut bytes, SYMBOLS_MAX as u64 + 1);
        check(&bytes, WireError::ListTooLong);
        let mut bytes = vec![PROTOCOL_VERSION, TAG_SYMBOLS, 0, 0, 3];
        bytes.extend_from_slice(&[0; SYMBOL_BYTES]);
        check(&bytes, WireError::Truncated);
        // Start index past u32, and start + count wrapping it.
        let mut bytes = vec![PROTOCOL_VERSION, TAG_SYMBOLS, 0];
        put_varint(&mut bytes, 1 << 32);
        bytes.push(0);
        check(&bytes, WireError::IndexOverflow);
        let mut bytes = vec![PROTOCOL_VERSION, TAG_SYMBOLS, 0];
        put_varint(&mut bytes, u64::from(u32::MAX));
        bytes.push(1);
        bytes.extend_from_slice(&[0; SYMBOL_BYTES]);
        check(&bytes, WireError::IndexOverflow);
        check(
            &[PROTOCOL_VERSION, TAG_MORE_SYMBOLS, 0, 5, 0],
            WireError::TrailingBytes,
        );
        check(
            &[PROTOCOL_VERSION, TAG_RESOLVE, 0, 2, 0, 0],
            WireError::BadFlag,
        );
        check(
            &[PROTOCOL_VERSION, TAG_RESOLVED, 0, 1, 1],
            WireError::Truncated,
        );
        // Resolve prefixes claimed but missing.
        check(
            &[PROTOCOL_VERSION, TAG_RESOLVE, 0, 1, 0, 2, 1, 2, 3],
            WireError::Truncated,
        );
    }

    #[test]
    fn malformed_frames_give_specific_errors() {
        let check =
            |bytes: &[u8], expect: WireError| assert_eq!(Message::decode(bytes), Err(expect));
        check(&[], WireError::Truncated);
        check(&[3, TAG_RECONCILE, 0], WireError::UnsupportedVersion(3));
        check(&[PROTOCOL_VERSION, 9], WireError::UnknownTag(9));
        check(
            &[PROTOCOL_VERSION, TAG_ABORT, 0],
            WireError::UnknownAbortReason(0),
        );
        check(
            &[PROTOCOL_VERSION, TAG_ABORT, 1, 0],
            WireError::TrailingBytes,
        );
        check(
            &[
                PROTOCOL_VERSION,
                TAG_RECONCILE,
                0x80,
                0x80,
                0x80,
                0x80,
                0x10,
            ],
            WireError::RoundOverflow,
        );
        check(
            &[PROTOCOL_VERSION, TAG_RECONCILE, 0, 2, 0, 9],
            WireError::UnknownMode(9),
        );
        check(
            &[PROTOCOL_VERSION, TAG_RECONCILE, 0, 1, 33],
            WireError::PrefixTooLong,
        );
        // Second bound equal to the first.
        check(
            &[PROTOCOL_VERSION, TAG_RECONCILE, 0, 2, 0, 0, 1, 0, 0],
            WireError::BoundsNotIncreasing,
        );
        // A range after INFINITY.
        check(
            &[PROTOCOL_VERSION, TAG_RECONCILE, 0, 0, 0, 0, 0],
            WireError::BoundsNotIncreasing,
        );
        // Timestamp delta reaching the reserved value.
        let mut bytes = vec![PROTOCOL_VERSION, TAG_RECONCILE, 0, 2, 0, MODE_SKIP];
        put_varint(&mut bytes, u64::MAX);
        bytes.extend_from_slice(&[0, 0]);
        check(&bytes, WireError::ReservedTimestamp);
        // Eleven-byte varint.
        check(
            &[
                PROTOCOL_VERSION,
                TAG_RECONCILE,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0x02,
            ],
            WireError::VarintOverlong,
        );
        // Diff with 3 bits but a padding bit set.
        check(
            &[
                PROTOCOL_VERSION,
                TAG_RECONCILE,
                0,
                2,
                0,
                MODE_DIFF,
                0,
                3,
                0b1000_0001,
            ],
            WireError::BitmapPadding,
        );
    }
}
