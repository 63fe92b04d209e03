//! The simulated network: per-link latency and cuts, seeded loss, duplication, reordering
//! (random delay), clogging and body corruption, and a bounded number of packets in flight.

use kizuna_sync::transfer::Frame;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Index of a node; the hub is node 0.
pub type NodeId = usize;

/// Packets in flight across the whole network. Beyond it the network drops, as a router queue
/// does, so a clogged link cannot grow memory without limit (house style, principle 7).
pub const IN_FLIGHT_MAX: usize = 4096;

/// One link's one-way base latency range in milliseconds (LAN to a slow WAN hop).
const LATENCY_MS: std::ops::RangeInclusive<u64> = 1..=60;

/// Names one reconciliation across both peers: the initiator and its session number. The number
/// carries the initiator's incarnation in its high half, so a restarted node never reuses one and
/// a delayed packet of an old session cannot be mistaken for a new one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SessionKey {
    pub initiator: NodeId,
    pub sid: u64,
}

impl SessionKey {
    pub fn incarnation(&self) -> u32 {
        (self.sid >> 32) as u32
    }
}

/// What travels between nodes: opaque frames from `poll_transmit`, of a reconciliation session
/// (`ScopedSync`) or of the pair's item `Transfer` (one per peer, both directions).
#[derive(Clone, Debug)]
pub enum Payload {
    Recon { key: SessionKey, frame: Vec<u8> },
    Xfer { frame: Vec<u8> },
}

impl Payload {
    pub fn len(&self) -> usize {
        match self {
            Payload::Recon { frame, .. } | Payload::Xfer { frame } => frame.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug)]
pub struct Packet {
    pub from: NodeId,
    pub to: NodeId,
    pub payload: Payload,
}

/// Fault rates for the current phase; all zero except jitter once the network heals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    pub loss: f64,
    pub duplicate: f64,
    /// Chance that a chunk's bytes are damaged in transit. Only chunk contents: frames ride an
    /// authenticated transport (QUIC) in production, so damage to their structure is not a fault
    /// we expect; a chunk that a buggy peer or disk damaged before sending is.
    pub corrupt: f64,
    pub jitter_ms: u64,
}

/// Per-link bandwidth cap in bytes per millisecond (20 = BLE-class, 1,000 = 1 MB/s): frames on a
/// link are serialised one after another, so a large chunk delays what follows it.
pub type BytesPerMs = u64;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct NetStats {
    pub sent: u64,
    pub delivered: u64,
    pub lost: u64,
    /// Dropped because the link was cut at send or at arrival.
    pub cut: u64,
    pub overflow: u64,
    /// Dropped because the receiver was down.
    pub down: u64,
    pub duplicated: u64,
    pub corrupted: u64,
}

#[derive(Clone, Copy, Debug)]
struct Link {
    /// When the link finishes sending what is queued on it (bandwidth-capped runs only).
    busy_until: u64,
    latency_ms: u64,
    /// Number of active faults cutting this direction; overlapping partitions nest.
    cuts: u32,
    clog_ms: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkOp {
    Cut,
    Uncut,
    Clog(u64),
    Unclog(u64),
}

#[derive(Debug)]
pub struct Network {
    nodes: usize,
    links: Vec<Link>,
    pub faults: Faults,
    pub bandwidth: Option<BytesPerMs>,
    in_flight: usize,
    pub stats: NetStats,
}

impl Network {
    pub fn new(
        nodes: usize,
        faults: Faults,
        bandwidth: Option<BytesPerMs>,
        rng: &mut ChaCha8Rng,
    ) -> Network {
        let links = (0..nodes * nodes)
            .map(|_| Link {
                busy_until: 0,
                latency_ms: rng.random_range(LATENCY_MS),
                cuts: 0,
                clog_ms: 0,
            })
            .collect();
        Network {
            nodes,
            links,
            faults,
            bandwidth,
            in_flight: 0,
            stats: NetStats::default(),
        }
    }

    fn link(&self, from: NodeId, to: NodeId) -> &Link {
        &self.links[from * self.nodes + to]
    }

    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.link(from, to).cuts > 0
    }

    pub fn apply(&mut self, from: NodeId, to: NodeId, op: LinkOp) {
        let link = &mut self.links[from * self.nodes + to];
        match op {
            LinkOp::Cut => link.cuts += 1,
            LinkOp::Uncut => link.cuts = link.cuts.saturating_sub(1),
            LinkOp::Clog(ms) => link.clog_ms += ms,
            LinkOp::Unclog(ms) => link.clog_ms = link.clog_ms.saturating_sub(ms),
        }
    }

    /// Restores every link and stops loss, duplication and corruption. Reordering stays: it is
    /// not a fault, just a network.
    pub fn heal(&mut self) {
        for link in &mut self.links {
            link.cuts = 0;
            link.clog_ms = 0;
        }
        self.faults = Faults {
            jitter_ms: self.faults.jitter_ms,
            ..Faults::default()
        };
    }

    /// Sends `packet`, pushing each copy that will arrive, with its arrival time, onto `out`.
    pub fn send(
        &mut self,
        rng: &mut ChaCha8Rng,
        now_ms: u64,
        packet: Packet,
        out: &mut Vec<(u64, Packet)>,
    ) {
        self.stats.sent += 1;
        if self.is_cut(packet.from, packet.to) {
            self.stats.cut += 1;
            return;
        }
        if rng.random_bool(self.faults.loss) {
            self.stats.lost += 1;
            return;
        }
        let copies = if rng.random_bool(self.faults.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        // Serialisation on a capped link: this frame starts when the previous one is out.
        let mut start = now_ms;
        if let Some(rate) = self.bandwidth {
            let index = packet.from * self.nodes + packet.to;
            let link = &mut self.links[index];
            start = link.busy_until.max(now_ms);
            link.busy_until = start + (packet.payload.len() as u64).div_ceil(rate.max(1));
            start = link.busy_until;
        }
        let link = *self.link(packet.from, packet.to);
        for _ in 0..copies {
            if self.in_flight >= IN_FLIGHT_MAX {
                self.stats.overflow += 1;
                continue;
            }
            let mut copy = packet.clone();
            if let Payload::Xfer { frame } = &mut copy.payload
                && self.faults.corrupt > 0.0
                && peek_item(frame).is_some_and(|(_, index)| index.is_some())
                && rng.random_bool(self.faults.corrupt)
                && let Ok(Frame::Chunk { id, index, bytes }) = Frame::decode(frame)
            {
                self.stats.corrupted += 1;
                *frame = Frame::Chunk {
                    id,
                    index,
                    bytes: damage(rng, &bytes),
                }
                .encode();
            }
            let delay =
                link.latency_ms + link.clog_ms + rng.random_range(0..=self.faults.jitter_ms);
            self.in_flight += 1;
            out.push((start + delay, copy));
        }
    }

    /// A packet reached its destination's link; returns whether it may be delivered.
    pub fn arrive(&mut self, packet: &Packet) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.is_cut(packet.from, packet.to) {
            self.stats.cut += 1;
            return false;
        }
        self.stats.delivered += 1;
        true
    }
}

/// A damaged copy of `body`: one flipped bit, or a truncation, as a bad cable or a buggy peer
/// would produce.
fn damage(rng: &mut ChaCha8Rng, body: &[u8]) -> Vec<u8> {
    let mut bytes = body.to_vec();
    if bytes.len() > 1 && rng.random_bool(0.3) {
        let keep = rng.random_range(0..bytes.len());
        bytes.truncate(keep);
    } else if !bytes.is_empty() {
        let at = rng.random_range(0..bytes.len());
        bytes[at] ^= 1 << rng.random_range(0..8);
    }
    bytes
}

/// The item a manifest or chunk frame is about, and a chunk's index, read without decoding (and
/// copying) the chunk: the oracle looks at every such frame, and chunks are up to 64 KiB.
/// Layout (`kizuna_sync::transfer`): version, tag (33 manifest, 35 chunk), 32-byte id, then for
/// a chunk its index as a LEB128 varint.
pub fn peek_item(frame: &[u8]) -> Option<(kizuna_sync::ItemId, Option<u32>)> {
    const TAG_MANIFEST: u8 = 33;
    const TAG_CHUNK: u8 = 35;
    let tag = *frame.get(1)?;
    if tag != TAG_MANIFEST && tag != TAG_CHUNK {
        return None;
    }
    let id: [u8; 32] = frame.get(2..34)?.try_into().ok()?;
    if tag == TAG_MANIFEST {
        return Some((kizuna_sync::ItemId(id), None));
    }
    let mut index = 0u32;
    for (i, byte) in frame.get(34..39)?.iter().enumerate() {
        index |= u32::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((kizuna_sync::ItemId(id), Some(index)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use kizuna_sync::ItemId;

    #[test]
    fn peek_item_reads_what_the_encoder_wrote() {
        let id = ItemId([3; 32]);
        for index in [0, 1, 127, 128, 1023] {
            let chunk = Frame::Chunk {
                id,
                index,
                bytes: vec![1; 10],
            };
            assert_eq!(peek_item(&chunk.encode()), Some((id, Some(index))));
        }
        let manifest = Frame::Manifest {
            id,
            size: 5,
            hashes: vec![[0; 32]],
        };
        assert_eq!(peek_item(&manifest.encode()), Some((id, None)));
        assert_eq!(peek_item(&Frame::Done { id, ok: true }.encode()), None);
        assert_eq!(peek_item(&[2, 35, 1]), None);
    }
}
