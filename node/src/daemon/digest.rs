//! The item-set digest shown by `kizuna status --json` and logged by the daemon whenever its set
//! changes: two nodes hold the same items exactly when count and digest are equal (up to a
//! 2⁻¹²⁸ collision). It is the sync protocol's own fingerprint of the whole key range, so a
//! running node computes it in O(log N) and an offline `status` by rebuilding the set.

use kizuna_storage::store::Store;
use kizuna_sync::{ItemSet, MemItemSet};

use crate::region::hex;

/// Count and hex digest of a set.
pub fn of_set(set: &MemItemSet) -> (u64, String) {
    let len = set.len().unwrap_or(0);
    let digest = set
        .accumulate(0, len)
        .map(|acc| hex(&acc.fingerprint().0))
        .unwrap_or_default();
    (len, digest)
}

/// Count and digest of the items a store holds at some location (the daemon's sync set).
pub fn of_store(store: &Store) -> anyhow::Result<(u64, String)> {
    let mut keys = Vec::new();
    store.visit_locations(|loc| keys.push(super::store::key_of(loc.hash)))?;
    // One item may sit at several locations.
    keys.sort();
    keys.dedup();
    let set = MemItemSet::from_keys(keys).map_err(|_| anyhow::anyhow!("building the item set"))?;
    Ok(of_set(&set))
}
