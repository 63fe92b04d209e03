//! The node store end to end: init, import, export, verify on the NHO conformance files and on
//! hand-made bad trees. Trees are copied into temporary directories at run time; the fixtures
//! themselves are never copied into the repository.

use std::collections::BTreeMap;
use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use kizuna_storage::ssmix2::jis;
use kizuna_storage::store::{
    ImportError, ImportOptions, InitError, InitOptions, KDF_ITERATIONS_MIN, OpenError, Role, Store,
};

const PASS: &[u8] = b"correct horse battery staple";
const FACILITY: &str = "1234567890";

fn conformance() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/ssmix2-nho/sampleData");
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!("skipping: ../shared/conformance not found (it sits beside the checkout in CI)");
        None
    }
}

fn options() -> InitOptions {
    InitOptions {
        name: Some("test node".to_owned()),
        // The CLI always uses 600,000; tests need speed in debug builds.
        kdf_iterations: KDF_ITERATIONS_MIN,
        ..InitOptions::new(FACILITY, Role::Shelter)
    }
}

fn new_store(dir: &Path) -> Store {
    Store::init(dir, &options(), PASS).unwrap();
    Store::open(dir, PASS).unwrap()
}

/// Every regular file below `root`, by relative path.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(root).unwrap().to_owned();
            out.insert(rel, fs::read(entry.path()).unwrap());
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let target = to.join(rel);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, bytes).unwrap();
    }
}

fn import(store: &mut Store, roots: &[&Path]) -> kizuna_storage::store::ImportSummary {
    let roots: Vec<PathBuf> = roots.iter().map(|p| p.to_path_buf()).collect();
    store.import(&roots, ImportOptions::default()).unwrap()
}

fn locations(store: &Store) -> Vec<kizuna_storage::store::LocationView> {
    let mut out = Vec::new();
    store.visit_locations(|l| out.push(l)).unwrap();
    out
}

const MISPLACED: &str = "000/000/0000001/20000401/ADT-31/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1";
const ADT00: &str =
    "999/901/9999013/-/ADT-00/9999013_-_ADT-00_999999999999999_20111220224447339_-_1";

#[test]
fn conformance_files_import_export_and_reimport() {
    let Some(sample) = conformance() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut store = new_store(&data);

    let first = import(&mut store, &[&sample]);
    assert_eq!(
        (
            first.files,
            first.new,
            first.unchanged,
            first.quarantined,
            first.skipped
        ),
        (22, 21, 0, 1, 0)
    );
    assert_eq!(first.items_added, 22);
    assert_eq!(
        first.bytes,
        tree(&sample).values().map(|b| b.len() as u64).sum::<u64>()
    );

    let locs = locations(&store);
    assert_eq!(locs.len(), 22);
    let quarantined: Vec<_> = locs.iter().filter(|l| l.quarantined).collect();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].relative_path, MISPLACED.as_bytes());
    let reason = quarantined[0].reason.as_deref().unwrap();
    assert!(reason.contains("path.patient_mismatch"), "{reason}");
    assert!(reason.contains("jis.eight_bit"), "{reason}");
    assert!(locs.iter().all(|l| l.facility == FACILITY));

    let out = tmp.path().join("out");
    let exported = store.export(&out, Some(FACILITY)).unwrap();
    assert_eq!(
        (exported.files, exported.quarantined, exported.failed),
        (22, 1, 0)
    );
    assert_eq!(
        tree(&out),
        tree(&sample),
        "export is byte-identical at the same paths"
    );

    let again = import(&mut store, &[&sample]);
    assert_eq!(
        (
            again.files,
            again.new,
            again.unchanged,
            again.quarantined,
            again.items_added,
            again.bytes
        ),
        (22, 0, 21, 1, 0, 0),
        "a re-import reads nothing"
    );
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!((report.items, report.locations), (22, 22));
}

#[test]
fn region_directories_export_per_facility_and_share_items() {
    let Some(sample) = conformance() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let region = tmp.path().join("region");
    copy_tree(&sample, &region.join("1111111111"));
    copy_tree(&sample, &region.join("2222222222"));
    let mut store = new_store(&tmp.path().join("data"));
    let s = import(&mut store, &[&region]);
    assert_eq!(
        (s.files, s.new, s.quarantined, s.items_added),
        (44, 42, 2, 22)
    );
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.items, stats.locations, stats.facilities),
        (22, 44, 2)
    );
    let out = tmp.path().join("out");
    store.export(&out, None).unwrap();
    assert_eq!(tree(&out), tree(&region));
    // A single facility exports as a bare storage root.
    let one = tmp.path().join("one");
    let e = store.export(&one, Some("2222222222")).unwrap();
    assert_eq!(e.files, 22);
    assert_eq!(tree(&one), tree(&sample));
    // Every item's locations, looked up by its hash (one indexed query), are exactly the
    // locations a full scan attributes to it; `max` caps them; an unknown hash has none.
    let all = locations(&store);
    for loc in &all {
        let mut by_hash = Vec::new();
        store
            .locations_of(&loc.hash, 16, |l| {
                by_hash.push((l.facility, l.relative_path))
            })
            .unwrap();
        let mut scanned: Vec<_> = all
            .iter()
            .filter(|l| l.hash == loc.hash)
            .map(|l| (l.facility.clone(), l.relative_path.clone()))
            .collect();
        by_hash.sort();
        scanned.sort();
        assert_eq!(by_hash, scanned);
        assert_eq!(by_hash.len(), 2, "each message sits at both facilities");
        let mut capped = 0;
        store.locations_of(&loc.hash, 1, |_| capped += 1).unwrap();
        assert_eq!(capped, 1);
    }
    let mut none = 0;
    store.locations_of(&[0xab; 32], 16, |_| none += 1).unwrap();
    assert_eq!(none, 0);
    // The item set listed from hashes alone (the one-shot sync's start) is the set of items
    // the locations point at, each once.
    let mut held = Vec::new();
    store.visit_held_hashes(|h| held.push(h)).unwrap();
    held.sort();
    let mut scanned: Vec<[u8; 32]> = all.iter().map(|l| l.hash).collect();
    scanned.sort();
    scanned.dedup();
    assert_eq!(held.len(), 22);
    assert_eq!(held, scanned);
}

#[test]
fn touched_and_renamed_files_add_no_bytes() {
    let Some(sample) = conformance() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy_tree(&sample, &src);
    let mut store = new_store(&tmp.path().join("data"));
    import(&mut store, &[&src]);

    // Same bytes rewritten (new mtime and inode): read again, nothing new.
    let adt = src.join(ADT00);
    let bytes = fs::read(&adt).unwrap();
    fs::remove_file(&adt).unwrap();
    fs::write(&adt, &bytes).unwrap();
    let s = import(&mut store, &[&src]);
    assert_eq!((s.new, s.unchanged, s.items_added), (0, 21, 0));
    assert_eq!(s.bytes, bytes.len() as u64);

    // An update renames the current version `_1` to `_2`.
    let superseded = src.join(ADT00.replace("_-_1", "_-_2"));
    fs::rename(&adt, &superseded).unwrap();
    let s = import(&mut store, &[&src]);
    assert_eq!(
        (s.new, s.renamed, s.items_added, s.unchanged),
        (1, 1, 0, 20)
    );
    assert_eq!(store.stats().unwrap().locations, 22, "the location moved");
    let out = tmp.path().join("out");
    store.export(&out, Some(FACILITY)).unwrap();
    assert_eq!(tree(&out), tree(&src));
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn interrupted_import_resumes_without_duplicates() {
    let Some(sample) = conformance() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut store = new_store(&tmp.path().join("data"));
    let mut seen = 0u64;
    let mut stop_after_12 = |p: &kizuna_storage::store::ImportProgress| {
        seen = p.files;
        if p.files == 12 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let err = store
        .import(
            std::slice::from_ref(&sample),
            ImportOptions {
                batch_files_max: 5,
                progress: Some(&mut stop_after_12),
                ..ImportOptions::default()
            },
        )
        .unwrap_err();
    assert_eq!(seen, 12);
    // Two batches of five were committed; the open batch of two was rolled back.
    assert!(
        matches!(err, ImportError::Interrupted { files: 10 }),
        "{err}"
    );
    assert_eq!(store.stats().unwrap().locations, 10);
    // Scanner threads interleave directories, so which ten files were committed varies; the
    // misplaced fixture (the only quarantined one) may or may not be among them.
    let committed_quarantined = store.stats().unwrap().quarantined;
    assert!(committed_quarantined <= 1);
    drop(store);

    let mut store = Store::open(&tmp.path().join("data"), PASS).unwrap();
    let s = import(&mut store, &[&sample]);
    assert_eq!(s.files, 22);
    assert_eq!(s.unchanged + s.new + s.quarantined, 22);
    assert_eq!(s.quarantined, 1);
    assert_eq!(
        (s.new, s.unchanged),
        (11 + committed_quarantined, 10 - committed_quarantined),
        "only the uncommitted files are read again"
    );
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.items, stats.locations, stats.quarantined),
        (22, 22, 1)
    );
    let out = tmp.path().join("out");
    store.export(&out, Some(FACILITY)).unwrap();
    assert_eq!(tree(&out), tree(&sample));
}

#[test]
fn each_class_of_bad_file_is_quarantined_and_exported() {
    let Some(sample) = conformance() else { return };
    let good = fs::read(sample.join(ADT00)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let name = "0000002_-_ADT-00_999999999999999_20111220224447339_-_1";
    let put = |rel: &str, bytes: &[u8]| {
        let p = src.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    };
    let cases: &[(&str, &[u8], &str)] = &[
        (&format!("000/000/0000002/-/ADT-00/{name}"), &good, ""),
        (
            &format!(
                "000/000/0000003/-/ADT-01/{}",
                name.replace('2', "3").replace("ADT-00", "ADT-01")
            ),
            b"\xfb\xfc\x80",
            "jis.eight_bit",
        ),
        (
            "000/000/0000004/-/ADT-00/not_a_valid_name",
            &good,
            "name.grammar",
        ),
        (
            &format!("000/000/0000005/-/ADT-00/{name}"),
            &good,
            "path.patient_mismatch",
        ),
        (
            &format!(
                "000/000/0000006/-/ADT-00/{}",
                name.replace("0000002", "0000006")
            ),
            b"PID|1||0000006\r",
            "hl7.no_msh",
        ),
        (
            &format!(
                "000/000/0000007/-/ADT-00/{}",
                name.replace("0000002", "0000007")
            ),
            b"",
            "hl7.empty",
        ),
    ];
    for (rel, bytes, _) in cases {
        put(rel, bytes);
    }
    let mut store = new_store(&tmp.path().join("data"));
    let s = import(&mut store, &[&src]);
    assert_eq!((s.files, s.new, s.quarantined), (6, 1, 5));
    let locs = locations(&store);
    for (rel, _, code) in cases {
        let loc = locs
            .iter()
            .find(|l| l.relative_path == rel.as_bytes())
            .unwrap();
        if code.is_empty() {
            assert!(!loc.quarantined, "{rel}");
        } else {
            assert!(loc.quarantined, "{rel}");
            let reason = loc.reason.as_deref().unwrap();
            assert!(reason.split(',').any(|c| c == *code), "{rel}: {reason}");
        }
    }
    let out = tmp.path().join("out");
    let e = store.export(&out, Some(FACILITY)).unwrap();
    assert_eq!((e.files, e.quarantined), (6, 5));
    assert_eq!(tree(&out), tree(&src));
}

fn dir_snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let snap = tree(dir);
    assert!(!snap.is_empty());
    snap
}

#[test]
fn wrong_passphrase_is_refused_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    drop(new_store(&data));
    let before = dir_snapshot(&data);
    let err = Store::open(&data, b"wrong passphrase").unwrap_err();
    assert!(matches!(err, OpenError::WrongPassphrase), "{err}");
    assert_eq!(
        err.to_string(),
        "the passphrase does not unlock this data directory"
    );
    assert_eq!(
        dir_snapshot(&data),
        before,
        "no file created, changed or removed"
    );

    // Init refuses to run over it, and leaves it as it was.
    let err = Store::init(&data, &options(), PASS).unwrap_err();
    assert!(matches!(err, InitError::AlreadyExists), "{err}");
    assert_eq!(dir_snapshot(&data), before);
    // Not a data directory, weak passphrase, bad facility.
    assert!(matches!(
        Store::open(tmp.path(), PASS),
        Err(OpenError::NotADataDir)
    ));
    let fresh = tmp.path().join("fresh");
    assert!(matches!(
        Store::init(&fresh, &options(), b"short"),
        Err(InitError::WeakPassphrase)
    ));
    let bad = InitOptions {
        facility: "12345".into(),
        ..options()
    };
    assert!(matches!(
        Store::init(&fresh, &bad, PASS),
        Err(InitError::Facility)
    ));
    assert!(!fresh.exists());
    // An existing empty directory is fine.
    fs::create_dir(&fresh).unwrap();
    let node = Store::init(&fresh, &options(), PASS).unwrap();
    assert_eq!(node.identity_public.len(), 32);
    assert_eq!(Store::open(&fresh, PASS).unwrap().node(), &node);
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "no temporary directory left: {leftovers:?}"
    );
}

/// The conformance files imported into a new store, verified clean and closed, for a test that
/// then edits the database behind the store's back. `None` (the reason printed) without them.
fn closed_clean_store() -> Option<(tempfile::TempDir, PathBuf)> {
    let sample = conformance()?;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut store = new_store(&data);
    import(&mut store, &[&sample]);
    assert!(store.verify().unwrap().is_clean());
    Some((tmp, data))
}

/// Reopens the store and verifies it.
fn reverify(data: &Path) -> kizuna_storage::store::VerifyReport {
    Store::open(data, PASS).unwrap().verify().unwrap()
}

#[test]
fn tampered_pack_is_detected_its_items_marked_and_kept() {
    let Some((tmp, data)) = closed_clean_store() else {
        return;
    };

    // One bit of the pack holding the fourth item: every item of that pack fails its tag.
    let db = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
    let pack: i64 = db
        .query_row(
            "SELECT pack FROM item ORDER BY id LIMIT 1 OFFSET 3",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let in_pack: Vec<i64> = db
        .prepare("SELECT id FROM item WHERE pack = ?1 ORDER BY id")
        .unwrap()
        .query_map([pack], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let locations: i64 = db
        .query_row(
            "SELECT count(*) FROM location WHERE item_id IN (SELECT id FROM item WHERE pack = ?1)",
            [pack],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!in_pack.is_empty() && locations > 0);
    let mut body: Vec<u8> = db
        .query_row("SELECT body FROM pack WHERE id = ?1", [pack], |r| r.get(0))
        .unwrap();
    let middle = body.len() / 2;
    body[middle] ^= 0x01;
    db.execute(
        "UPDATE pack SET body = ?1 WHERE id = ?2",
        rusqlite::params![body, pack],
    )
    .unwrap();
    drop(db);

    let mut store = Store::open(&data, PASS).unwrap();
    let report = store.verify().unwrap();
    assert_eq!(
        report.problem_count as usize,
        in_pack.len(),
        "{:?}",
        report.problems
    );
    assert!(report.problems.iter().all(|p| p.code == "item.tag"));
    assert_eq!(report.items, 22, "nothing deleted");
    let e = store
        .export(&tmp.path().join("out"), Some(FACILITY))
        .unwrap();
    let locations = u64::try_from(locations).unwrap();
    assert_eq!((e.files, e.failed), (22 - locations, locations));
    drop(store);
    let db = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
    for id in in_pack {
        let damaged: i64 = db
            .query_row("SELECT damaged FROM item WHERE id = ?1", [id], |r| r.get(0))
            .unwrap();
        assert_eq!(damaged, 1);
    }
    let kept: i64 = db
        .query_row("SELECT count(*) FROM pack WHERE id = ?1", [pack], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(kept, 1, "the damaged pack is kept");
}

#[test]
fn an_item_row_pointing_elsewhere_in_its_pack_fails_its_hash() {
    let Some((_tmp, data)) = closed_clean_store() else {
        return;
    };
    let db = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
    let id: i64 = db
        .query_row(
            "SELECT id FROM item WHERE pack_at > 0 ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    db.execute("UPDATE item SET pack_at = pack_at - 1 WHERE id = ?1", [id])
        .unwrap();
    drop(db);
    let report = reverify(&data);
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].code, "item.hash");
}

#[test]
fn a_duplicated_location_row_is_reported() {
    let Some((_tmp, data)) = closed_clean_store() else {
        return;
    };
    // Schema 8 keeps (facility, path token) unique in the writer, not in an index: a copied
    // row is possible on disk and must be found.
    let db = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
    db.execute_batch(
        "INSERT INTO location (facility, path_token, patient_token, item_id, quarantined,
             reason, stat_token, path_nonce, path_sealed)
         SELECT facility, path_token, patient_token, item_id, quarantined, reason, stat_token,
             path_nonce, path_sealed FROM location ORDER BY id LIMIT 1",
    )
    .unwrap();
    drop(db);
    let report = reverify(&data);
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].code, "location.duplicate");
}

#[test]
fn item_without_location_is_reported_as_orphan() {
    let Some((_tmp, data)) = closed_clean_store() else {
        return;
    };

    // Point one location at another location's item: the first item loses its only referrer.
    // (Schema 3 has no index of locations by item; verify must still find it.)
    let db = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
    let lost: Vec<u8> = db
        .query_row(
            "SELECT i.hash FROM item i JOIN location l ON l.item_id = i.id
             GROUP BY i.id HAVING count(*) = 1 ORDER BY i.id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    db.execute(
        "UPDATE location SET item_id = (SELECT max(id) FROM item WHERE hash != ?1)
         WHERE item_id = (SELECT id FROM item WHERE hash = ?1)",
        [&lost],
    )
    .unwrap();
    drop(db);

    let mut store = Store::open(&data, PASS).unwrap();
    let report = store.verify().unwrap();
    let orphans: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.code == "item.orphan")
        .collect();
    assert_eq!(orphans.len(), 1, "{:?}", report.problems);
    let hex: String = lost.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(orphans[0].item.as_deref(), Some(hex.as_str()));
    // An item no location points at is not in the set a node offers to peers.
    let mut held = Vec::new();
    store.visit_held_hashes(|h| held.push(h.to_vec())).unwrap();
    assert!(!held.contains(&lost));
    assert_eq!(held.len() as u64, store.stats().unwrap().items - 1);
}

#[test]
fn no_plaintext_patient_data_in_the_data_directory() {
    let Some(sample) = conformance() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut store = new_store(&data);
    import(&mut store, &[&sample]);
    // The bytes must be in the store for the search to mean anything.
    let adt = fs::read(sample.join(ADT00)).unwrap();
    let hash: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, &adt)
        .as_ref()
        .try_into()
        .unwrap();
    assert_eq!(store.item(&hash).unwrap().as_deref(), Some(&adt[..]));

    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for text in [
        "患者^太郎",
        "カンジャ^タロウ",
        "患者",
        "太郎",
        "カンジャ",
        "静岡県静岡市",
    ] {
        needles.push((format!("{text} (UTF-8)"), text.as_bytes().to_vec()));
        // The double-byte run without its escapes: how the text sits inside a longer run.
        let jis = jis::encode(text).unwrap();
        let inner = jis[3..jis.len() - 3].to_vec();
        if !text.contains('^') {
            assert!(
                adt.windows(inner.len()).any(|w| w == inner),
                "{text}: JIS bytes are in the fixture"
            );
        }
        needles.push((format!("{text} (ISO-2022-JP)"), jis));
        needles.push((format!("{text} (JIS X 0208 run)"), inner));
    }
    needles.push(("PID|".into(), b"PID|".to_vec()));
    needles.push(("MSH|".into(), b"MSH|".to_vec()));
    needles.push(("patient ID".into(), b"9999013".to_vec()));
    needles.push(("patient ID (other)".into(), b"0000001".to_vec()));
    needles.push(("birth date".into(), b"19480405".to_vec()));

    let check = |when: &str| {
        let files = tree(&data);
        let names: Vec<_> = files.keys().map(|p| p.display().to_string()).collect();
        assert!(
            names.iter().any(|n| n.ends_with("store.sqlite3")),
            "{names:?}"
        );
        if when == "open" {
            assert!(names.iter().any(|n| n.ends_with("-wal")), "{names:?}");
            assert!(names.iter().any(|n| n.ends_with("-shm")), "{names:?}");
        }
        for (file, bytes) in &files {
            for (what, needle) in &needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == &needle[..]),
                    "{what} found in {} ({when})",
                    file.display()
                );
            }
        }
    };
    check("open");
    drop(store);
    check("closed");
}

/// The identity the network layer uses is the one `init` sealed: its seed yields the public key
/// in the node record, and it is the same on every open.
#[test]
fn identity_seed_matches_the_node_record() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = new_store(&data);
    let seed = store.identity_seed();
    let public = store.node().identity_public.clone();
    assert!(ring::signature::Ed25519KeyPair::from_seed_and_public_key(&seed, &public).is_ok());
    drop(store);
    let again = Store::open(&data, PASS).unwrap();
    assert_eq!(again.identity_seed(), seed);
}
