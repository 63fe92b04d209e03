//! The convergence checker, Jepsen `set-full` style, run after the network healed.
//!
//! Every node is entitled to a set of facility scopes; "everywhere" below means on every node
//! entitled to the item's scope. Every written item is classified: `ok` (durable somewhere and
//! present everywhere), `lost` (durable somewhere, missing somewhere), `recovered` (never durable
//! when written, present everywhere), `vanished` (never durable, gone everywhere: a crash took it
//! before any flush, which is allowed). Anything present that nobody wrote is `unexpected`, and
//! anything a node holds outside its scopes is a leak. On top: every node's key list and state
//! digest equal the reference node's (node 0, entitled to everything) restricted to its scopes,
//! so fully entitled nodes are identical; no duplicate ids, every body hashing to its id, no key
//! without a body or body without a key, and nothing left unflushed.
//!
//! Documents: on every node entitled to a document, the same heads, the same state digest (of
//! the materialised document, every concurrent value included) and the same held-back changes
//! as the reference; the document replayed from the reference's change items in a random order
//! equals it; and the clinical field shows exactly the values no surviving write superseded, so
//! a concurrent conflicting edit stays visible rather than silently resolved.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use kizuna_sync::{DocId, ItemId, Key};

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
    /// The facility code of the item's scope (inside its body, so inside its id).
    pub facility: u64,
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
    /// Facility codes whose scopes the node is entitled to.
    pub scopes: BTreeSet<u64>,
    /// The node's document replicas.
    pub docs: BTreeMap<DocId, DocImage>,
}

/// One document replica as the checker compares it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DocImage {
    pub heads: Vec<[u8; 32]>,
    pub digest: [u8; 32],
    /// Changes held back for missing dependencies.
    pub held: usize,
    /// Every concurrent value of the clinical field.
    pub allergy: BTreeSet<String>,
}

/// What the oracle knows of one document.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DocExpect {
    pub id: DocId,
    pub facility: u64,
    /// Clinical values written, surviving, and superseded by no surviving write.
    pub allergy: BTreeSet<String>,
    /// The reference's change items applied to a fresh replica in a random order.
    pub replayed: Option<DocImage>,
    /// Changes of this document written and never durable anywhere: only these can leave
    /// another change waiting forever for its dependencies.
    pub vanished_writes: usize,
}

impl NodeImage {
    /// This image cut down to `scopes`, judged by `history`: what a node entitled to `scopes`
    /// must hold if this image is the truth.
    fn restricted(
        &self,
        history: &BTreeMap<ItemId, WriteRecord>,
        scopes: &BTreeSet<u64>,
    ) -> NodeImage {
        let within = |id: &ItemId| {
            history
                .get(id)
                .is_some_and(|record| scopes.contains(&record.facility))
        };
        NodeImage {
            node: self.node,
            up: self.up,
            pending: self.pending,
            keys: self
                .keys
                .iter()
                .filter(|key| within(&key.id))
                .copied()
                .collect(),
            bodies: self
                .bodies
                .iter()
                .filter(|(id, _)| within(id))
                .map(|(id, body)| (*id, body.clone()))
                .collect(),
            scopes: scopes.clone(),
            docs: self.docs.clone(),
        }
    }
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
    /// (document, entitled node) pairs compared.
    pub docs_checked: u64,
    /// Documents whose clinical field ends with two or more values on every entitled node.
    pub doc_conflicts_kept: u64,
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

/// Document checks, after the item checks (which the documents are built from).
fn check_docs(verdict: &mut Verdict, nodes: &[NodeImage], docs: &[DocExpect]) {
    let Some(first) = nodes.first() else { return };
    for expect in docs {
        let reference = first.docs.get(&expect.id);
        for image in nodes {
            let n = image.node;
            let replica = image.docs.get(&expect.id);
            if !image.scopes.contains(&expect.facility) {
                if replica.is_some() {
                    verdict.problem(format!(
                        "node {n} holds document {:?} outside its scopes",
                        expect.id
                    ));
                }
                continue;
            }
            verdict.docs_checked += 1;
            match (reference, replica) {
                (Some(a), Some(b)) if a.heads != b.heads => verdict.problem(format!(
                    "node {n} document {:?} heads differ from node {}",
                    expect.id, first.node
                )),
                (Some(a), Some(b)) if a.digest != b.digest => verdict.problem(format!(
                    "node {n} document {:?} state digest differs from node {}",
                    expect.id, first.node
                )),
                (Some(a), Some(b)) if a != b => verdict.problem(format!(
                    "node {n} document {:?} held changes differ from node {}",
                    expect.id, first.node
                )),
                (Some(_), None) | (None, Some(_)) => verdict.problem(format!(
                    "node {n} document {:?} present on one of it and node {} only",
                    expect.id, first.node
                )),
                _ => {}
            }
        }
        let Some(reference) = reference else {
            if !expect.allergy.is_empty() {
                verdict.problem(format!(
                    "document {:?} has surviving writes but node {} has no replica",
                    expect.id, first.node
                ));
            }
            continue;
        };
        if let Some(replayed) = &expect.replayed
            && (replayed.heads != reference.heads || replayed.digest != reference.digest)
        {
            verdict.problem(format!(
                "document {:?} replayed in another order differs from node {}",
                expect.id, first.node
            ));
        }
        if reference.held > 0 {
            // A change whose dependency vanished with an unflushed crash waits forever; its
            // writes are not visible, so the clinical expectation does not apply.
            if expect.vanished_writes == 0 {
                verdict.problem(format!(
                    "document {:?} holds {} changes back with no vanished write to wait for",
                    expect.id, reference.held
                ));
            }
            continue;
        }
        if reference.allergy != expect.allergy {
            verdict.problem(format!(
                "document {:?} clinical field shows {} values where {} concurrent writes \
                 survive unsuperseded: a conflict was resolved silently or invented",
                expect.id,
                reference.allergy.len(),
                expect.allergy.len()
            ));
        } else if expect.allergy.len() >= 2 {
            verdict.doc_conflicts_kept += 1;
        }
    }
}

pub fn check(
    history: &BTreeMap<ItemId, WriteRecord>,
    nodes: &[NodeImage],
    docs: &[DocExpect],
) -> Verdict {
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
        let leaked: Vec<ItemId> = ids
            .iter()
            .filter(|id| {
                history
                    .get(id)
                    .is_some_and(|record| !image.scopes.contains(&record.facility))
            })
            .copied()
            .collect();
        if !leaked.is_empty() {
            verdict.problem(format!(
                "node {n} holds {} items outside its scopes {:?}: {}",
                leaked.len(),
                image.scopes,
                show(&leaked)
            ));
        }
        id_sets.push(ids);
        digests.push(state_digest(image));
    }

    if let Some(first) = nodes.first() {
        verdict.state_digest = digests[0];
        let all: BTreeSet<u64> = nodes
            .iter()
            .flat_map(|image| image.scopes.iter().copied())
            .collect();
        if first.scopes != all {
            verdict.problem(format!(
                "reference node {} is not entitled to every scope: {:?} of {all:?}",
                first.node, first.scopes
            ));
        }
        for (i, image) in nodes.iter().enumerate().skip(1) {
            // The reference cut down to this node's scopes; for a fully entitled node it is the
            // reference itself, so those must be identical.
            let expected = first.restricted(history, &image.scopes);
            let expected_ids: BTreeSet<ItemId> = expected.keys.iter().map(|key| key.id).collect();
            let missing: Vec<ItemId> = expected_ids.difference(&id_sets[i]).copied().collect();
            let extra: Vec<ItemId> = id_sets[i].difference(&expected_ids).copied().collect();
            if !missing.is_empty() || !extra.is_empty() {
                verdict.problem(format!(
                    "node {} differs from node {} within its scopes: lacks {} {}, has {} extra {}",
                    image.node,
                    first.node,
                    missing.len(),
                    show(&missing),
                    extra.len(),
                    show(&extra)
                ));
            } else if image.keys != expected.keys {
                verdict.problem(format!(
                    "node {} holds the same ids as node {} under different keys",
                    image.node, first.node
                ));
            } else if digests[i] != state_digest(&expected) {
                verdict.problem(format!(
                    "node {} state digest differs from node {} within its scopes",
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
        let entitled: Vec<&BTreeSet<ItemId>> = nodes
            .iter()
            .zip(&id_sets)
            .filter(|(image, _)| image.scopes.contains(&record.facility))
            .map(|(_, set)| set)
            .collect();
        let present_on = entitled.iter().filter(|set| set.contains(id)).count();
        let everywhere = present_on == entitled.len();
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
    check_docs(&mut verdict, nodes, docs);
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::store::{KIND_DOCUMENT, header, item_facility, item_id};

    /// A body of facility `fill % 2`.
    fn body(timestamp_ms: u64, fill: u8) -> Rc<[u8]> {
        let mut bytes = header(timestamp_ms, u64::from(fill % 2), KIND_DOCUMENT);
        bytes.extend(std::iter::repeat_n(fill, 120));
        bytes.into()
    }

    const DOC: DocId = DocId([4; 16]);

    /// Document `DOC` of facility 1 with a kept conflict, as every node entitled to it holds it.
    fn doc_image() -> DocImage {
        DocImage {
            heads: vec![[1; 32], [2; 32]],
            digest: [9; 32],
            held: 0,
            allergy: BTreeSet::from(["d0-w1: latex".to_string(), "d0-w2: none known".to_string()]),
        }
    }

    fn doc_expect() -> Vec<DocExpect> {
        vec![DocExpect {
            id: DOC,
            facility: 1,
            allergy: doc_image().allergy,
            replayed: Some(doc_image()),
            vanished_writes: 0,
        }]
    }

    /// Node 3, a shelter, is entitled to facility 1 only.
    const SHELTER: usize = 3;

    /// Three identical nodes entitled to facilities 0 and 1 holding items 1..=4 (facilities 1, 0,
    /// 1, 0), all acknowledged, and a shelter holding items 1 and 3; item 5 written but never
    /// durable.
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
                    facility: item_facility(b).expect("valid body"),
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
                facility: 1,
                acknowledged: false,
                durable_somewhere: false,
            },
        );
        keys.sort();
        let mut nodes: Vec<NodeImage> = (0..3)
            .map(|node| NodeImage {
                node,
                up: true,
                pending: 0,
                keys: keys.clone(),
                bodies: map.clone(),
                scopes: BTreeSet::from([0, 1]),
                docs: BTreeMap::from([(DOC, doc_image())]),
            })
            .collect();
        let mut shelter = nodes[0].restricted(&history, &BTreeSet::from([1]));
        shelter.node = SHELTER;
        assert_eq!(shelter.keys.len(), 2, "the shelter holds items 1 and 3");
        nodes.push(shelter);
        (history, nodes)
    }

    #[test]
    fn accepts_a_converged_state() {
        let (history, nodes) = converged();
        let verdict = check(&history, &nodes, &doc_expect());
        assert!(verdict.is_ok(), "{:?}", verdict.problems);
        assert_eq!((verdict.ok, verdict.vanished, verdict.lost), (4, 1, 0));
        assert_eq!((verdict.docs_checked, verdict.doc_conflicts_kept), (4, 1));
    }

    /// Each mutation of a converged state must be caught, or the checker could pass a broken run.
    #[test]
    fn catches_every_kind_of_divergence() {
        type Mutation = fn(&mut BTreeMap<ItemId, WriteRecord>, &mut Vec<NodeImage>);
        let cases: [(&str, Mutation); 18] = [
            ("heads differ", |_, nodes| {
                if let Some(doc) = nodes[1].docs.get_mut(&DOC) {
                    doc.heads.pop();
                }
            }),
            ("state digest differs", |_, nodes| {
                if let Some(doc) = nodes[SHELTER].docs.get_mut(&DOC) {
                    doc.digest[0] ^= 1;
                }
            }),
            ("held changes differ", |_, nodes| {
                if let Some(doc) = nodes[2].docs.get_mut(&DOC) {
                    doc.held = 1;
                }
            }),
            ("present on one", |_, nodes| {
                nodes[SHELTER].docs.clear();
            }),
            ("resolved silently", |_, nodes| {
                // Every node shows one value only: last-writer-wins hid the other.
                for node in nodes.iter_mut() {
                    if let Some(doc) = node.docs.get_mut(&DOC) {
                        doc.allergy.pop_first();
                    }
                }
            }),
            ("no vanished write", |_, nodes| {
                for node in nodes.iter_mut() {
                    if let Some(doc) = node.docs.get_mut(&DOC) {
                        doc.held = 2;
                    }
                }
            }),
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
            ("outside its scopes", |_, nodes| {
                // The shelter also holds item 2, of facility 0, which it is not entitled to.
                let key = nodes[0].keys[1];
                let leaked = nodes[0].bodies[&key.id].clone();
                let shelter = &mut nodes[SHELTER];
                shelter.keys.push(key);
                shelter.keys.sort();
                shelter.bodies.insert(key.id, leaked);
            }),
            ("lost", |_, nodes| {
                // Every full node holds item 3; the shelter, also entitled to it, lost it.
                let key = nodes[SHELTER].keys.remove(1);
                nodes[SHELTER].bodies.remove(&key.id);
            }),
            ("not entitled to every scope", |_, nodes| {
                nodes[0].scopes.remove(&0);
            }),
            ("without key", |_, nodes| {
                let stray = body(3, 77);
                nodes[0].bodies.insert(item_id(&stray), stray);
            }),
        ];
        for (expect, mutate) in cases {
            let (mut history, mut nodes) = converged();
            mutate(&mut history, &mut nodes);
            let verdict = check(&history, &nodes, &doc_expect());
            assert!(
                verdict.problems.iter().any(|p| p.contains(expect)),
                "mutation {expect:?} not reported: {:?}",
                verdict.problems
            );
        }
    }
}
