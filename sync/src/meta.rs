//! Item metadata: what scopes and priorities are decided from, and the narrow trait the
//! transfer layer reads items through.
//!
//! Metadata never leaves the node in this crate's messages except as it is implied by the item
//! itself; it holds no patient data (facility codes, data types and tags are not PHI).

use std::collections::HashMap;
use std::fmt;

use crate::item::ItemId;
use crate::limits::{LARGE_ITEM_BYTES, SCOPE_TAG_BYTES_MAX, SCOPE_TAGS_PER_ITEM_MAX};
use crate::store::StoreError;

/// What an item is. Messages and documents are immutable; a document change is one immutable
/// Automerge change of a mutable document (consent, ID links, offline notes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ItemKind {
    /// One SS-MIX2 HL7 v2.5 message.
    Message,
    /// An extended-storage document (CDA and the like).
    Document,
    /// One Automerge change of the document named in [`ItemMeta::doc`].
    DocChange,
}

/// An SS-MIX2 data type code such as `ADT-00` or `OMP-01` (always 6 ASCII bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataType(pub [u8; 6]);

/// The transfer tier of an item; lower goes first.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Priority {
    /// Feeds the emergency summary (domain §2): identity, allergies, diagnoses, prescriptions,
    /// injections, labs; and small document changes (consent and ID links gate whether the
    /// summary may be shown at all).
    Emergency = 0,
    /// Every other small item.
    Routine = 1,
    /// Documents and items of at least [`LARGE_ITEM_BYTES`]: one of them would hold up many
    /// emergency items on a slow link.
    Bulk = 2,
}

/// A scope: a named slice of the data two peers may agree to exchange, such as a facility
/// (`fac:0412345678`), a region (`region:04`) or the patients a shelter is entitled to
/// (`group:shelter-12`). Printable ASCII, 1..=[`SCOPE_TAG_BYTES_MAX`] bytes. Ordered, so both
/// peers walk an agreed list in the same order.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeTag(String);

/// Why a [`ScopeTag`] was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScopeTagError {
    Empty,
    TooLong,
    /// Only printable ASCII is allowed, so tags cannot smuggle names in other scripts into logs.
    NotPrintableAscii,
}

/// Metadata of one item as the store keeps it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ItemMeta {
    pub id: ItemId,
    pub timestamp_ms: u64,
    /// Body size in bytes.
    pub size: u64,
    pub kind: ItemKind,
    /// SS-MIX2 data type for messages; `None` for documents and document changes.
    pub data_type: Option<DataType>,
    /// The facility the item originates from (its medical institution code).
    pub facility: u64,
    /// For [`ItemKind::DocChange`]: the document the change belongs to.
    pub doc: Option<[u8; 16]>,
    /// The scopes the item belongs to; at most [`SCOPE_TAGS_PER_ITEM_MAX`] (the store enforces it,
    /// [`ItemMeta::in_any`] looks at no more).
    pub scopes: Vec<ScopeTag>,
}

/// Read access to item bodies and metadata, for the sending side of a transfer.
pub trait ItemSource {
    /// Metadata of `id`, or `None` if the item is not stored.
    fn meta(&self, id: &ItemId) -> Result<Option<ItemMeta>, StoreError>;

    /// Appends up to `len` bytes of the body of `id` starting at `offset`. Returning fewer bytes
    /// than the body holds there is treated as corruption.
    fn read(
        &self,
        id: &ItemId,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError>;
}

/// In-memory [`ItemSource`]: the reference model for tests.
#[derive(Clone, Debug, Default)]
pub struct MemItemSource {
    items: HashMap<ItemId, (ItemMeta, Vec<u8>)>,
}

impl fmt::Debug for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DataType {
    pub const ADT_00: DataType = DataType(*b"ADT-00");
    pub const ADT_61: DataType = DataType(*b"ADT-61");
    pub const PPR_01: DataType = DataType(*b"PPR-01");
    pub const OMP_01: DataType = DataType(*b"OMP-01");
    pub const OMP_02: DataType = DataType(*b"OMP-02");
    pub const OML_11: DataType = DataType(*b"OML-11");

    /// The types the emergency summary is built from (domain §2.1): identity (ADT-00),
    /// allergies (ADT-61), diagnoses (PPR-01), prescriptions and injections (OMP-01/02), labs
    /// and infections (OML-11).
    pub const EMERGENCY_SUMMARY: [DataType; 6] = [
        DataType::ADT_00,
        DataType::ADT_61,
        DataType::PPR_01,
        DataType::OMP_01,
        DataType::OMP_02,
        DataType::OML_11,
    ];

    /// Parses `XXX-nn`; anything else is `None`.
    pub fn parse(code: &str) -> Option<DataType> {
        let bytes: [u8; 6] = code.as_bytes().try_into().ok()?;
        let shape = bytes[..3].iter().all(u8::is_ascii_uppercase)
            && bytes[3] == b'-'
            && bytes[4..].iter().all(u8::is_ascii_digit);
        shape.then_some(DataType(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Only `parse` and the constants build a DataType in this crate, both ASCII; a caller
        // that built one from raw bytes gets a placeholder rather than a panic.
        std::str::from_utf8(&self.0).unwrap_or("??????")
    }

    pub fn is_emergency_summary(&self) -> bool {
        DataType::EMERGENCY_SUMMARY.contains(self)
    }
}

impl fmt::Debug for ScopeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl ScopeTag {
    pub fn new(tag: &str) -> Result<ScopeTag, ScopeTagError> {
        ScopeTag::check(tag.as_bytes())?;
        Ok(ScopeTag(tag.to_owned()))
    }

    /// From wire bytes; checked like [`ScopeTag::new`].
    pub fn from_bytes(bytes: &[u8]) -> Result<ScopeTag, ScopeTagError> {
        ScopeTag::check(bytes)?;
        // `check` admitted only printable ASCII, which is UTF-8.
        let tag = std::str::from_utf8(bytes).map_err(|_| ScopeTagError::NotPrintableAscii)?;
        Ok(ScopeTag(tag.to_owned()))
    }

    /// The scope of one facility's data.
    pub fn facility(code: u64) -> ScopeTag {
        ScopeTag(format!("fac:{code}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn check(bytes: &[u8]) -> Result<(), ScopeTagError> {
        if bytes.is_empty() {
            return Err(ScopeTagError::Empty);
        }
        if bytes.len() > SCOPE_TAG_BYTES_MAX {
            return Err(ScopeTagError::TooLong);
        }
        if !bytes.iter().all(|b| b.is_ascii_graphic()) {
            return Err(ScopeTagError::NotPrintableAscii);
        }
        Ok(())
    }
}

impl ItemMeta {
    /// The tier this item transfers in. See [`Priority`] for the reasons.
    pub fn priority(&self) -> Priority {
        if self.kind == ItemKind::Document || self.size >= LARGE_ITEM_BYTES {
            return Priority::Bulk;
        }
        match (self.kind, self.data_type) {
            (ItemKind::DocChange, _) => Priority::Emergency,
            (_, Some(data_type)) if data_type.is_emergency_summary() => Priority::Emergency,
            _ => Priority::Routine,
        }
    }

    /// Whether the item belongs to at least one of `scopes` (a sorted list).
    pub fn in_any(&self, scopes: &[ScopeTag]) -> bool {
        self.scopes
            .iter()
            .take(SCOPE_TAGS_PER_ITEM_MAX)
            .any(|tag| scopes.binary_search(tag).is_ok())
    }
}

impl MemItemSource {
    pub fn new() -> MemItemSource {
        MemItemSource::default()
    }

    /// Stores `body` under `meta.id`. The caller computes the id; tests use [`item_id_of`].
    pub fn insert(&mut self, meta: ItemMeta, body: Vec<u8>) {
        self.items.insert(meta.id, (meta, body));
    }

    /// Overwrites one byte of a stored body, to test that corruption is caught on read.
    pub fn corrupt(&mut self, id: &ItemId, offset: usize) -> bool {
        match self
            .items
            .get_mut(id)
            .and_then(|(_, body)| body.get_mut(offset))
        {
            Some(byte) => {
                *byte ^= 0x5a;
                true
            }
            None => false,
        }
    }

    pub fn body(&self, id: &ItemId) -> Option<&[u8]> {
        self.items.get(id).map(|(_, body)| body.as_slice())
    }
}

impl ItemSource for MemItemSource {
    fn meta(&self, id: &ItemId) -> Result<Option<ItemMeta>, StoreError> {
        Ok(self.items.get(id).map(|(meta, _)| meta.clone()))
    }

    fn read(
        &self,
        id: &ItemId,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let body = self.items.get(id).map(|(_, body)| body.as_slice());
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if let Some(slice) = body.and_then(|body| body.get(start..)) {
            out.extend_from_slice(&slice[..len.min(slice.len())]);
        }
        Ok(())
    }
}

/// SHA-256 of an item body: its id.
pub fn item_id_of(body: &[u8]) -> ItemId {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let mut id = [0u8; crate::item::ID_BYTES];
    id.copy_from_slice(digest.as_ref());
    ItemId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: ItemKind, data_type: Option<&str>, size: u64) -> ItemMeta {
        ItemMeta {
            id: ItemId([1; 32]),
            timestamp_ms: 1,
            size,
            kind,
            data_type: data_type.and_then(DataType::parse),
            facility: 412345678,
            doc: None,
            scopes: vec![ScopeTag::facility(412345678)],
        }
    }

    #[test]
    fn priorities_follow_the_emergency_summary() {
        for code in ["ADT-00", "ADT-61", "PPR-01", "OMP-01", "OMP-02", "OML-11"] {
            assert_eq!(
                meta(ItemKind::Message, Some(code), 900).priority(),
                Priority::Emergency,
                "{code}"
            );
        }
        for code in ["ADT-12", "OMG-01", "ADT-21", "OMP-12"] {
            assert_eq!(
                meta(ItemKind::Message, Some(code), 900).priority(),
                Priority::Routine,
                "{code}"
            );
        }
        assert_eq!(
            meta(ItemKind::Message, Some("OMP-01"), LARGE_ITEM_BYTES).priority(),
            Priority::Bulk
        );
        assert_eq!(
            meta(ItemKind::Document, None, 10).priority(),
            Priority::Bulk
        );
        assert_eq!(
            meta(ItemKind::DocChange, None, 300).priority(),
            Priority::Emergency
        );
    }

    #[test]
    fn data_types_and_tags_are_validated() {
        assert_eq!(DataType::parse("OML-11"), Some(DataType::OML_11));
        for bad in ["OML11", "oml-11", "OML-1x", "OML-111", ""] {
            assert_eq!(DataType::parse(bad), None, "{bad}");
        }
        assert!(ScopeTag::new("region:04").is_ok());
        assert_eq!(ScopeTag::new(""), Err(ScopeTagError::Empty));
        assert_eq!(
            ScopeTag::new(&"x".repeat(SCOPE_TAG_BYTES_MAX + 1)),
            Err(ScopeTagError::TooLong)
        );
        assert_eq!(
            ScopeTag::new("fac 1"),
            Err(ScopeTagError::NotPrintableAscii)
        );
        assert_eq!(
            ScopeTag::from_bytes("患者".as_bytes()),
            Err(ScopeTagError::NotPrintableAscii)
        );
        let m = meta(ItemKind::Message, Some("ADT-00"), 1);
        let mut agreed = vec![ScopeTag::new("region:04").unwrap_or_else(|_| ScopeTag::facility(0))];
        assert!(!m.in_any(&agreed));
        agreed.push(ScopeTag::facility(412345678));
        agreed.sort();
        assert!(m.in_any(&agreed));
    }
}
