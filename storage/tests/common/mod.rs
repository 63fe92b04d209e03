//! Helpers shared by the store's integration tests (replicas built from a generated region).
#![allow(dead_code, reason = "each test crate uses a subset of the helpers")]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use kizuna_storage::store::{InitOptions, KDF_ITERATIONS_MIN, Role, Store};

pub const PASS: &[u8] = b"store test passphrase";

/// (facility, relative path) → bytes of every file of a region directory.
pub type Key = (String, Vec<u8>);
pub type Files = BTreeMap<Key, Vec<u8>>;

/// A fresh store (shelter role, the fastest allowed KDF) opened with [`PASS`].
pub fn new_store(dir: &Path) -> Store {
    let opts = InitOptions {
        kdf_iterations: KDF_ITERATIONS_MIN,
        ..InitOptions::new("0400000001", Role::Shelter)
    };
    Store::init(dir, &opts, PASS).unwrap();
    Store::open(dir, PASS).unwrap()
}

/// Every file below a region directory, keyed by facility and path below its storage root.
/// BTreeMap order of the path bytes differs from the walk's per-component order only where a
/// name sorts below `/`; generated names do not.
pub fn files(region: &Path) -> Files {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(region).sort_by_file_name() {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e.path().strip_prefix(region).unwrap().to_str().unwrap();
        let (facility, path) = rel.split_once('/').unwrap();
        out.insert(
            (facility.to_owned(), path.as_bytes().to_vec()),
            fs::read(e.path()).unwrap(),
        );
    }
    out
}
