//! The simulated network: per-link latency and cuts, seeded loss, duplication, reordering
//! (random delay), clogging and body corruption, and a bounded number of packets in flight.

use std::rc::Rc;

use kizuna_sync::ItemId;
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

/// What travels between nodes. Reconciliation frames are opaque bytes from `poll_transmit`; the
/// item layer is the harness's own: fetch by id, answer with the body.
#[derive(Clone, Debug)]
pub enum Payload {
    Recon { key: SessionKey, frame: Vec<u8> },
    Fetch { ids: Vec<ItemId> },
    Item { id: ItemId, body: Rc<[u8]> },
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
    /// Chance that an item body is damaged in transit. Only bodies: reconciliation frames ride
    /// an authenticated transport (QUIC) in production, so damage there is not a fault we expect.
    pub corrupt: f64,
    pub jitter_ms: u64,
}

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
    in_flight: usize,
    pub stats: NetStats,
}

impl Network {
    pub fn new(nodes: usize, faults: Faults, rng: &mut ChaCha8Rng) -> Network {
        let links = (0..nodes * nodes)
            .map(|_| Link {
                latency_ms: rng.random_range(LATENCY_MS),
                cuts: 0,
                clog_ms: 0,
            })
            .collect();
        Network {
            nodes,
            links,
            faults,
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
        let link = *self.link(packet.from, packet.to);
        for _ in 0..copies {
            if self.in_flight >= IN_FLIGHT_MAX {
                self.stats.overflow += 1;
                continue;
            }
            let mut copy = packet.clone();
            if let Payload::Item { body, .. } = &mut copy.payload
                && rng.random_bool(self.faults.corrupt)
            {
                self.stats.corrupted += 1;
                *body = damage(rng, body);
            }
            let delay =
                link.latency_ms + link.clog_ms + rng.random_range(0..=self.faults.jitter_ms);
            self.in_flight += 1;
            out.push((now_ms + delay, copy));
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
fn damage(rng: &mut ChaCha8Rng, body: &[u8]) -> Rc<[u8]> {
    let mut bytes = body.to_vec();
    if bytes.len() > 1 && rng.random_bool(0.3) {
        let keep = rng.random_range(0..bytes.len());
        bytes.truncate(keep);
    } else if !bytes.is_empty() {
        let at = rng.random_range(0..bytes.len());
        bytes[at] ^= 1 << rng.random_range(0..8);
    }
    bytes.into()
}
