//! The convergence checker, Jepsen `set-full` style, run after the network healed.
//!
//! Every written item is classified: `ok` (durable somewhere and present everywhere), `lost`
//! (durable somewhere, missing somewhere), `recovered` (never durable when written, present
//! everywhere), `vanished` (never durable, gone everywhere: a crash took it before any flush,
//! which is allowed). Anything present that nobody wrote is `unexpected`. On top: identical key
//! lists and state digests on every node, no duplicate ids, every body hashing to its id, no key
//! without a body or body without a key, and nothing left unflushed.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use kizuna_sync::{ItemId, Key};

use super::store::item_key;

/// Problems reported per check before the list is cut short; the first few say what went wrong.
const PROBLEMS_MAX: usize = 24;

/// Ids listed per problem line.
const IDS_SHOWN_MAX: usize = 4;

/// What the simulation knows about one write (or pre-seeded item).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WriteRecord {
    pub key: Key,
    pub origin: usize,
    /// Durable at its origin: the facility was told the write is safe.
    pub acknowledged: bool,
    /// Durable on at least one node at some point. Durable items are never deleted, so each of
    /// them must survive to the end.
    pub durable_somewhere: bool,
}

/// One node's state at the end of a run, as the checker sees it.
#[derive(Clone, Debug)]
pub struct NodeImage {
    pub node: usize,
    pub up: bool,
    pub pending: usize,
    pub keys: Vec<Key>,
    pub bodies: BTreeMap<ItemId, Rc<[u8]>>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Verdict {
    pub problems: Vec<String>,
    pub ok: usize,
    pub lost: usize,
    pub lost_acknowledged: usize,
    pub unexpected: usize,
    pub recovered: usize,
    pub vanished: usize,
    /// Digest of node 0's state; equal on every node when `problems` is empty.
    pub state_digest: [u8; 32],
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < PROBLEMS_MAX {
            self.problems.push(text);
        }
    }
}

/// SHA-256 over a node's keys in order and each key's body: two nodes with equal digests hold
/// byte-identical replicas.
pub fn state_digest(image: &NodeImage) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for key in &image.keys {
        context.update(&key.timestamp_ms.to_le_bytes());
        context.update(&key.id.0);
        match image.bodies.get(&key.id) {
            Some(body) => {
                context.update(&(body.len() as u64).to_le_bytes());
                context.update(body);
            }
            None => context.update(&u64::MAX.to_le_bytes()),
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

fn show(ids: &[ItemId]) -> String {
    let shown: Vec<String> = ids
        .iter()
        .take(IDS_SHOWN_MAX)
        .map(|id| format!("{id:?}"))
        .collect();
    let more = ids.len().saturating_sub(IDS_SHOWN_MAX);
    if more > 0 {
        format!("[{} and {more} more]", shown.join(", "))
    } else {
        format!("[{}]", shown.join(", "))
    }
}

pub fn check(history: &BTreeMap<ItemId, WriteRecord>, nodes: &[NodeImage]) -> Verdict {
    let mut verdict = Verdict::default();
    let mut id_sets: Vec<BTreeSet<ItemId>> = Vec::with_capacity(nodes.len());
    let mut digests = Vec::with_capacity(nodes.len());
    for image in nodes {
        let n = image.node;
        if !image.up {
            verdict.problem(format!("node {n} is down after heal"));
        }
        if image.pending > 0 {
            verdict.problem(format!(
                "node {n} not quiescent: {} items not durable",
                image.pending
            ));
        }
        let ids: BTreeSet<ItemId> = image.keys.iter().map(|key| key.id).collect();
        if ids.len() != image.keys.len() {
            verdict.problem(format!(
                "node {n} holds duplicates: {} keys for {} ids",
                image.keys.len(),
                ids.len()
            ));
        }
        if image.keys.windows(2).any(|pair| pair[0] >= pair[1]) {
            verdict.problem(format!("node {n} keys are not strictly ordered"));
        }
        let dangling: Vec<ItemId> = ids
            .iter()
            .filter(|id| !image.bodies.contains_key(id))
            .copied()
            .collect();
        if !dangling.is_empty() {
            verdict.problem(format!("node {n} keys without body {}", show(&dangling)));
        }
        let orphans: Vec<ItemId> = image
            .bodies
            .keys()
            .filter(|id| !ids.contains(id))
            .copied()
            .collect();
        if !orphans.is_empty() {
            verdict.problem(format!("node {n} bodies without key {}", show(&orphans)));
        }
        let corrupt: Vec<ItemId> = image
            .keys
            .iter()
            .filter(|key| {
                image
                    .bodies
                    .get(&key.id)
                    .is_some_and(|body| item_key(body) != Some(**key))
            })
            .map(|key| key.id)
            .collect();
        if !corrupt.is_empty() {
            verdict.problem(format!(
                "node {n} stores bodies that do not hash to their key {}",
                show(&corrupt)
            ));
        }
        id_sets.push(ids);
        digests.push(state_digest(image));
    }

    if let (Some(first), Some(first_ids)) = (nodes.first(), id_sets.first()) {
        verdict.state_digest = digests[0];
        for (i, image) in nodes.iter().enumerate().skip(1) {
            let missing: Vec<ItemId> = first_ids.difference(&id_sets[i]).copied().collect();
            let extra: Vec<ItemId> = id_sets[i].difference(first_ids).copied().collect();
            if !missing.is_empty() || !extra.is_empty() {
                verdict.problem(format!(
                    "node {} differs from node {}: lacks {} {}, has {} extra {}",
                    image.node,
                    first.node,
                    missing.len(),
                    show(&missing),
                    extra.len(),
                    show(&extra)
                ));
            } else if image.keys != first.keys {
                verdict.problem(format!(
                    "node {} holds the same ids as node {} under different keys",
                    image.node, first.node
                ));
            } else if digests[i] != digests[0] {
                verdict.problem(format!(
                    "node {} state digest differs from node {}",
                    image.node, first.node
                ));
            }
        }
    }

    let union: BTreeSet<ItemId> = id_sets.iter().flatten().copied().collect();
    let unexpected: Vec<ItemId> = union
        .iter()
        .filter(|id| !history.contains_key(id))
        .copied()
        .collect();
    verdict.unexpected = unexpected.len();
    if !unexpected.is_empty() {
        verdict.problem(format!(
            "unexpected items nobody wrote {}",
            show(&unexpected)
        ));
    }

    let mut lost = Vec::new();
    for (id, record) in history {
        let present_on = id_sets.iter().filter(|set| set.contains(id)).count();
        let everywhere = present_on == id_sets.len();
        match (record.durable_somewhere, everywhere, present_on) {
            (true, true, _) => verdict.ok += 1,
            (true, false, _) => {
                lost.push(*id);
                verdict.lost_acknowledged += usize::from(record.acknowledged);
            }
            (false, true, _) => verdict.recovered += 1,
            (false, false, 0) => verdict.vanished += 1,
            // Partly present: the node comparison above already reports it.
            (false, false, _) => {}
        }
    }
    verdict.lost = lost.len();
    if !lost.is_empty() {
        verdict.problem(format!(
            "lost {} durable writes ({} acknowledged at their origin) {}",
            lost.len(),
            verdict.lost_acknowledged,
            show(&lost)
        ));
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::store::item_id;

    fn body(timestamp_ms: u64, fill: u8) -> Rc<[u8]> {
        let mut bytes = timestamp_ms.to_le_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(fill, 120));
        bytes.into()
    }

    /// Three identical nodes holding items 1..=4, all acknowledged; item 5 written but never durable.
    fn converged() -> (BTreeMap<ItemId, WriteRecord>, Vec<NodeImage>) {
        let bodies: Vec<Rc<[u8]>> = (1..=4).map(|i| body(i * 10, i as u8)).collect();
        let mut history = BTreeMap::new();
        let mut keys = Vec::new();
        let mut map = BTreeMap::new();
        for b in &bodies {
            let key = item_key(b).expect("valid body");
            history.insert(
                key.id,
                WriteRecord {
                    key,
                    origin: 1,
                    acknowledged: true,
                    durable_somewhere: true,
                },
            );
            keys.push(key);
            map.insert(key.id, b.clone());
        }
        let unflushed = item_key(&body(50, 5)).expect("valid body");
        history.insert(
            unflushed.id,
            WriteRecord {
                key: unflushed,
                origin: 2,
                acknowledged: false,
                durable_somewhere: false,
            },
        );
        keys.sort();
        let nodes = (0..3)
            .map(|node| NodeImage {
                node,
                up: true,
                pending: 0,
                keys: keys.clone(),
                bodies: map.clone(),
            })
            .collect();
        (history, nodes)
    }

    #[test]
    fn accepts_a_converged_state() {
        let (history, nodes) = converged();
        let verdict = check(&history, &nodes);
        assert!(verdict.is_ok(), "{:?}", verdict.problems);
        assert_eq!((verdict.ok, verdict.vanished, verdict.lost), (4, 1, 0));
    }

    /// Each mutation of a converged state must be caught, or the checker could pass a broken run.
    #[test]
    fn catches_every_kind_of_divergence() {
        type Mutation = fn(&mut BTreeMap<ItemId, WriteRecord>, &mut Vec<NodeImage>);
        let cases: [(&str, Mutation); 9] = [
            ("lost", |_, nodes| {
                for node in nodes.iter_mut() {
                    let key = node.keys.remove(0);
                    node.bodies.remove(&key.id);
                }
            }),
            ("differs", |_, nodes| {
                let key = nodes[2].keys.remove(1);
                nodes[2].bodies.remove(&key.id);
            }),
            ("unexpected", |_, nodes| {
                let extra = body(7, 99);
                let key = item_key(&extra).expect("valid body");
                for node in nodes.iter_mut() {
                    node.keys.push(key);
                    node.keys.sort();
                    node.bodies.insert(key.id, extra.clone());
                }
            }),
            ("duplicates", |_, nodes| {
                for node in nodes.iter_mut() {
                    let mut twin = node.keys[0];
                    twin.timestamp_ms += 1;
                    node.keys.insert(1, twin);
                }
            }),
            ("do not hash", |_, nodes| {
                let id = nodes[1].keys[0].id;
                let mut bad = nodes[1].bodies[&id].to_vec();
                bad[20] ^= 4;
                nodes[1].bodies.insert(id, bad.into());
            }),
            ("without body", |_, nodes| {
                let id = nodes[0].keys[0].id;
                nodes[0].bodies.remove(&id);
            }),
            ("not quiescent", |_, nodes| nodes[1].pending = 2),
            ("down", |_, nodes| nodes[2].up = false),
            ("without key", |_, nodes| {
                let stray = body(3, 77);
                nodes[0].bodies.insert(item_id(&stray), stray);
            }),
        ];
        for (expect, mutate) in cases {
            let (mut history, mut nodes) = converged();
            mutate(&mut history, &mut nodes);
            let verdict = check(&history, &nodes);
            assert!(
                verdict.problems.iter().any(|p| p.contains(expect)),
                "mutation {expect:?} not reported: {:?}",
                verdict.problems
            );
        }
    }
}
