//! Mutable documents (consent entries, ID links, clinical notes written offline) as Automerge
//! documents whose changes travel as ordinary immutable items.
//!
//! Each Automerge change becomes one item: id = SHA-256 of the change bytes, kind
//! [`ItemKind::DocChange`], the document id in its metadata. Reconciliation and transfer then carry
//! document edits exactly as they carry HL7 messages, with the same scopes, priorities, bounds and
//! verification; Automerge's own sync protocol (Bloom filters over the change graph, attackable by
//! poisoning and unbounded in message size; anchors §3.8, §4) is never exposed to peers.
//!
//! Applying change items is idempotent and order-independent: a change whose dependencies have
//! not arrived is held back (at most [`HELD_CHANGES_MAX`] per document) and applied when they do,
//! so Automerge's own unbounded queue stays empty. Concurrent writes to one field are not resolved
//! by last-writer-wins for display: [`Doc::conflicts`] returns every concurrent value, so a
//! clinician sees both allergy entries.

use std::collections::BTreeMap;
use std::fmt;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, Value};

pub use automerge::ScalarValue;

use crate::item::ItemId;
use crate::limits::{CHANGE_BYTES_MAX, HELD_CHANGES_MAX, SCOPE_TAGS_PER_ITEM_MAX};
use crate::meta::{ItemKind, ItemMeta, ScopeTag, item_id_of};

/// Nesting depth [`Doc::state_digest`] walks. Kizuna's documents are a map of maps (two levels);
/// 32 leaves room for any layout we write while bounding the walk's stack on a peer's document.
pub const DIGEST_DEPTH_MAX: usize = 32;

fn put_len(hash: &mut ring::digest::Context, bytes: &[u8]) {
    hash.update(&(bytes.len() as u64).to_le_bytes());
    hash.update(bytes);
}

/// Identity of a document, chosen by its creator (random or derived from a patient link id).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct DocId(pub [u8; 16]);

/// One Automerge change as an item.
#[derive(Clone, PartialEq, Eq)]
pub struct ChangeItem {
    pub id: ItemId,
    pub doc: DocId,
    pub bytes: Vec<u8>,
}

/// What [`Doc::apply_item`] did with a change item.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Applied {
    /// Applied, together with this many held-back changes it unblocked.
    Applied { unblocked: usize },
    /// Already part of the document (or already held): nothing changed.
    Duplicate,
    /// Held back until its dependencies arrive.
    Held,
}

/// Why a document operation failed. Carries no document content.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DocError {
    /// The item's bytes do not hash to its id.
    IdMismatch,
    /// The change is larger than [`CHANGE_BYTES_MAX`].
    ChangeTooLarge,
    /// The bytes are not an Automerge change.
    NotAChange,
    /// [`HELD_CHANGES_MAX`] changes already wait for dependencies; this one was dropped and will
    /// arrive again with the next sync.
    HeldFull,
    /// Automerge refused the operation (a corrupt saved document, a path through a non-map).
    Automerge,
    /// The path is empty.
    EmptyPath,
}

/// A mutable document, its held-back changes, and which changes were already turned into items.
pub struct Doc {
    id: DocId,
    doc: AutoCommit,
    /// Changes waiting for dependencies, by item id (ordered, so release order is deterministic).
    held: BTreeMap<ItemId, Change>,
    /// Heads at the last [`Doc::take_local_items`], to export only new local changes.
    exported: Vec<ChangeHash>,
}

impl fmt::Debug for ChangeItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the bytes: they hold clinical content.
        f.debug_struct("ChangeItem")
            .field("id", &self.id)
            .field("doc", &self.doc)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl fmt::Debug for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doc")
            .field("id", &self.id)
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

impl ChangeItem {
    /// Wraps change bytes as an item (id = SHA-256 of the bytes).
    pub fn new(doc: DocId, bytes: Vec<u8>) -> ChangeItem {
        ChangeItem {
            id: item_id_of(&bytes),
            doc,
            bytes,
        }
    }

    /// Store metadata for this item: a document change of `facility`, in `scopes`.
    pub fn meta(&self, timestamp_ms: u64, facility: u64, scopes: Vec<ScopeTag>) -> ItemMeta {
        let mut scopes = scopes;
        scopes.truncate(SCOPE_TAGS_PER_ITEM_MAX);
        ItemMeta {
            id: self.id,
            timestamp_ms,
            size: self.bytes.len() as u64,
            kind: ItemKind::DocChange,
            data_type: None,
            facility,
            doc: Some(self.doc.0),
            scopes,
        }
    }
}

impl Doc {
    /// A new, empty document edited by `actor` (the node id plus a per-device suffix: actors must
    /// never be shared between replicas, and a fixed actor keeps simulations deterministic).
    pub fn new(id: DocId, actor: &[u8]) -> Doc {
        Doc {
            id,
            doc: AutoCommit::new().with_actor(ActorId::from(actor)),
            held: BTreeMap::new(),
            exported: Vec::new(),
        }
    }

    /// Loads a saved document; new local edits use `actor`.
    pub fn load(id: DocId, saved: &[u8], actor: &[u8]) -> Result<Doc, DocError> {
        let doc = AutoCommit::load(saved).map_err(|_| DocError::Automerge)?;
        let mut doc = doc.with_actor(ActorId::from(actor));
        let exported = doc.get_heads();
        Ok(Doc {
            id,
            doc,
            held: BTreeMap::new(),
            exported,
        })
    }

    pub fn id(&self) -> DocId {
        self.id
    }

    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Heads, sorted, for comparing replicas.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        let mut heads = self.doc.get_heads();
        heads.sort();
        heads
    }

    /// Changes held back for missing dependencies.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Sets the scalar at `path` (map keys from the root), creating missing maps on the way.
    ///
    /// Two replicas that both create the same missing map concurrently create two maps, and one
    /// hides the other; so a document's creator lays out its maps in the first change and other
    /// replicas edit only after receiving it.
    pub fn put(&mut self, path: &[&str], value: impl Into<ScalarValue>) -> Result<(), DocError> {
        let (last, parents) = path.split_last().ok_or(DocError::EmptyPath)?;
        let mut obj = ROOT;
        for key in parents {
            obj = match self.doc.get(&obj, *key).map_err(|_| DocError::Automerge)? {
                Some((Value::Object(ObjType::Map), id)) => id,
                _ => self
                    .doc
                    .put_object(&obj, *key, ObjType::Map)
                    .map_err(|_| DocError::Automerge)?,
            };
        }
        self.doc
            .put(&obj, *last, value)
            .map_err(|_| DocError::Automerge)
    }

    /// The value Automerge shows at `path` (one of the conflicting values, if any).
    pub fn value(&mut self, path: &[&str]) -> Result<Option<ScalarValue>, DocError> {
        Ok(self.conflicts(path)?.into_iter().next())
    }

    /// Every concurrent value at `path`: one when there is no conflict, several when offline
    /// edits conflict. Callers show all of them for clinical fields rather than a silent winner.
    /// Objects at `path` are not scalars and are left out.
    pub fn conflicts(&mut self, path: &[&str]) -> Result<Vec<ScalarValue>, DocError> {
        let (last, parents) = path.split_last().ok_or(DocError::EmptyPath)?;
        let Some(obj) = self.map_at(parents)? else {
            return Ok(Vec::new());
        };
        let values = self
            .doc
            .get_all(&obj, *last)
            .map_err(|_| DocError::Automerge)?;
        Ok(values
            .into_iter()
            .filter_map(|(value, _)| match value {
                Value::Scalar(scalar) => Some(scalar.into_owned()),
                Value::Object(_) => None,
            })
            .collect())
    }

    /// Commits pending local edits and returns every local change not yet exported, as items.
    pub fn take_local_items(&mut self) -> Vec<ChangeItem> {
        self.doc.commit();
        let changes = self.doc.get_changes(&self.exported);
        self.exported = self.doc.get_heads();
        changes
            .iter()
            .map(|change| ChangeItem::new(self.id, change.raw_bytes().to_vec()))
            .collect()
    }

    /// Every change of the document as items (for a replica that has none of it).
    pub fn all_items(&mut self) -> Vec<ChangeItem> {
        self.doc.commit();
        self.doc
            .get_changes(&[])
            .iter()
            .map(|change| ChangeItem::new(self.id, change.raw_bytes().to_vec()))
            .collect()
    }

    /// Applies one received change item: verified against its id, applied if its dependencies
    /// are present, otherwise held back. Idempotent.
    pub fn apply_item(&mut self, id: &ItemId, bytes: &[u8]) -> Result<Applied, DocError> {
        if bytes.len() > CHANGE_BYTES_MAX {
            return Err(DocError::ChangeTooLarge);
        }
        if item_id_of(bytes) != *id {
            return Err(DocError::IdMismatch);
        }
        if self.held.contains_key(id) {
            return Ok(Applied::Duplicate);
        }
        let change = Change::from_bytes(bytes.to_vec()).map_err(|_| DocError::NotAChange)?;
        // Local edits must be committed before foreign changes are applied.
        self.doc.commit();
        if self.doc.get_change_by_hash(&change.hash()).is_some() {
            return Ok(Applied::Duplicate);
        }
        if !self.deps_present(&change) {
            if self.held.len() >= HELD_CHANGES_MAX {
                return Err(DocError::HeldFull);
            }
            self.held.insert(*id, change);
            return Ok(Applied::Held);
        }
        self.doc
            .apply_changes([change])
            .map_err(|_| DocError::Automerge)?;
        let unblocked = self.release_held()?;
        Ok(Applied::Applied { unblocked })
    }

    fn deps_present(&mut self, change: &Change) -> bool {
        change
            .deps()
            .iter()
            .all(|dep| self.doc.get_change_by_hash(dep).is_some())
    }

    /// Applies held changes whose dependencies are now present, until none is.
    fn release_held(&mut self) -> Result<usize, DocError> {
        let mut released = 0;
        loop {
            let ready: Vec<ItemId> = self
                .held
                .iter()
                .filter(|(_, change)| {
                    change
                        .deps()
                        .iter()
                        .all(|dep| self.doc.get_change_by_hash(dep).is_some())
                })
                .map(|(id, _)| *id)
                .collect();
            if ready.is_empty() {
                return Ok(released);
            }
            for id in ready {
                if let Some(change) = self.held.remove(&id) {
                    self.doc
                        .apply_changes([change])
                        .map_err(|_| DocError::Automerge)?;
                    released += 1;
                }
            }
        }
    }

    /// SHA-256 of the materialised document: every map key (sorted), list element and text, with
    /// **every** concurrent value of each (Automerge orders them by op id, the same on every
    /// replica), so two replicas with equal digests show the same values and the same conflicts.
    /// Held-back changes are not part of the state. Objects nested deeper than
    /// [`DIGEST_DEPTH_MAX`] are hashed as a marker, so a hostile document cannot exhaust the stack.
    pub fn state_digest(&mut self) -> [u8; 32] {
        self.doc.commit();
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        // Depth-first with an explicit stack: (object, depth). Each entry's bytes are written
        // with tags and lengths, so distinct states cannot collide by concatenation.
        let mut stack = vec![(ROOT, 0usize)];
        while let Some((obj, depth)) = stack.pop() {
            let Ok(kind) = self.doc.object_type(&obj) else {
                hash.update(b"?");
                continue;
            };
            if depth >= DIGEST_DEPTH_MAX {
                hash.update(b"D");
                continue;
            }
            let mut children = Vec::new();
            let mut entry =
                |hash: &mut ring::digest::Context, prop: &[u8], values: Vec<(Value<'_>, ObjId)>| {
                    put_len(hash, prop);
                    hash.update(&(values.len() as u64).to_le_bytes());
                    for (value, id) in values {
                        match value {
                            Value::Scalar(scalar) => {
                                hash.update(b"s");
                                put_len(hash, format!("{:?}", scalar.as_ref()).as_bytes());
                            }
                            Value::Object(kind) => {
                                hash.update(b"o");
                                put_len(hash, format!("{kind:?}").as_bytes());
                                children.push((id, depth + 1));
                            }
                        }
                    }
                };
            match kind {
                ObjType::Map | ObjType::Table => {
                    hash.update(b"M");
                    let mut keys: Vec<String> = self.doc.keys(&obj).collect();
                    keys.sort();
                    hash.update(&(keys.len() as u64).to_le_bytes());
                    for key in keys {
                        let values = self.doc.get_all(&obj, key.as_str()).unwrap_or_default();
                        entry(&mut hash, key.as_bytes(), values);
                    }
                }
                ObjType::List => {
                    hash.update(b"L");
                    let length = self.doc.length(&obj);
                    hash.update(&(length as u64).to_le_bytes());
                    for index in 0..length {
                        let values = self.doc.get_all(&obj, index).unwrap_or_default();
                        entry(&mut hash, &(index as u64).to_le_bytes(), values);
                    }
                }
                ObjType::Text => {
                    hash.update(b"T");
                    let text = self.doc.text(&obj).unwrap_or_default();
                    put_len(&mut hash, text.as_bytes());
                }
            }
            // Children in reverse so they are visited in document order.
            stack.extend(children.into_iter().rev());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(hash.finish().as_ref());
        out
    }

    fn map_at(&mut self, path: &[&str]) -> Result<Option<ObjId>, DocError> {
        let mut obj = ROOT;
        for key in path {
            match self.doc.get(&obj, *key).map_err(|_| DocError::Automerge)? {
                Some((Value::Object(ObjType::Map), id)) => obj = id,
                _ => return Ok(None),
            }
        }
        Ok(Some(obj))
    }
}
