//! `Store::insert_received` against `Store::import`: the same files imported from a generated
//! tree and received in memory (in walk order, and in a replica's hash order) give the same
//! export, locations, patient search results and counts; quarantine, flag renames, replaced
//! bytes and hostile input are handled as the module doc says.

use std::fs;
use std::path::Path;

use kizuna_storage::ssmix2::path::FileName;
use kizuna_storage::store::{
    ImportOptions, LocationView, Received, ReceivedOutcome, SearchQuery, Store,
};
use kizuna_storage::synth::{RegionSpec, generate};

mod common;
use common::{Files, Key, files, new_store};

fn received(files: &[(&Key, &Vec<u8>)]) -> Vec<Received<'static>> {
    // Leaked for brevity: the test process is short-lived.
    files
        .iter()
        .map(|((facility, path), bytes)| Received {
            facility: Box::leak(facility.clone().into_boxed_str()),
            relative_path: Box::leak(path.clone().into_boxed_slice()),
            bytes: Box::leak(bytes.to_vec().into_boxed_slice()),
        })
        .collect()
}

fn locations(store: &Store) -> Vec<LocationView> {
    let mut out = Vec::new();
    store.visit_locations(|l| out.push(l)).unwrap();
    out.sort_by(|a, b| (&a.facility, &a.relative_path).cmp(&(&b.facility, &b.relative_path)));
    out
}

fn exported(store: &Store, out: &Path) -> Files {
    store.export(out, None).unwrap();
    files(out)
}

fn search(store: &Store, text: &str) -> Vec<(String, String, Option<String>)> {
    store
        .search(&SearchQuery {
            text: text.to_owned(),
            dob: None,
            sex: None,
            limit: 200,
        })
        .unwrap()
        .patients
        .into_iter()
        .map(|p| (p.facility, p.patient_id, p.kana_name))
        .collect()
}

/// A quarantined file (not an HL7 message at a standardized path) added to a region.
fn add_bad_file(region: &Path, facility: &str) -> (String, Vec<u8>) {
    let rel = "000/000/0000001/20240401/ADT-00/0000001_20240401_ADT-00_123456789012345_20240401120000000_-_1";
    let path = region.join(facility).join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, b"not a message\r").unwrap();
    (rel.to_owned(), b"not a message\r".to_vec())
}

#[test]
fn received_files_store_exactly_as_imported_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let region = tmp.path().join("region");
    generate(
        &RegionSpec {
            patients: 40,
            facilities: 3,
            seed: 11,
        },
        &region,
        |_| {},
    )
    .unwrap();
    let first_facility = fs::read_dir(&region)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .min()
        .unwrap();
    let (bad_rel, _) = add_bad_file(&region, &first_facility);
    let tree = files(&region);
    assert!(
        tree.len() > 300,
        "a generated region of {} files",
        tree.len()
    );

    let mut imported = new_store(&tmp.path().join("imported"));
    let summary = imported
        .import(std::slice::from_ref(&region), ImportOptions::default())
        .unwrap();
    assert_eq!(summary.quarantined, 1, "{summary:?}");
    let want_locations = locations(&imported);
    let want_export = exported(&imported, &tmp.path().join("export-imported"));
    let want_stats = imported.stats().unwrap();
    assert!(
        want_locations
            .iter()
            .any(|l| l.quarantined && l.relative_path == bad_rel.as_bytes())
    );

    // 1. Received in walk order, in batches of 97.
    let mut walk = new_store(&tmp.path().join("walk"));
    let all: Vec<_> = tree.iter().collect();
    let mut quarantined = 0;
    for chunk in all.chunks(97) {
        let batch = received(chunk);
        let (s, outcomes) = walk.insert_received(&batch).unwrap();
        assert_eq!(outcomes.len(), batch.len());
        assert_eq!(s.skipped, 0, "nothing of a real tree is refused");
        assert!(outcomes.iter().all(|o| o.held()));
        quarantined += outcomes.iter().filter(|o| o.quarantined()).count();
    }
    assert_eq!(quarantined, 1);
    assert_eq!(locations(&walk), want_locations);
    assert_eq!(
        exported(&walk, &tmp.path().join("export-walk")),
        want_export
    );
    let stats = walk.stats().unwrap();
    assert_eq!(
        (
            stats.items,
            stats.locations,
            stats.quarantined,
            stats.patients
        ),
        (
            want_stats.items,
            want_stats.locations,
            want_stats.quarantined,
            want_stats.patients
        )
    );

    // 2. Received as a replica receives them: the imported store's locations in hash order
    // (ids spread uniformly), bytes read back from the imported store, batches of 256.
    let mut replica = new_store(&tmp.path().join("replica"));
    let mut by_hash: Vec<LocationView> = want_locations.clone();
    by_hash.sort_by_key(|l| l.hash);
    let served: Vec<(Key, Vec<u8>)> = by_hash
        .iter()
        .map(|l| {
            (
                (l.facility.clone(), l.relative_path.clone()),
                imported.item(&l.hash).unwrap().unwrap(),
            )
        })
        .collect();
    for chunk in served.chunks(256) {
        let refs: Vec<_> = chunk.iter().map(|(k, v)| (k, v)).collect();
        replica.insert_received(&received(&refs)).unwrap();
    }
    assert_eq!(locations(&replica), want_locations);
    assert_eq!(
        exported(&replica, &tmp.path().join("export-replica")),
        want_export
    );
    assert!(replica.verify().unwrap().is_clean());

    // Patient search finds the same patients with the same records in all three stores.
    let mut searched = 0;
    for ((_, path), _) in tree.iter().step_by(37) {
        let Some(name) = std::str::from_utf8(path)
            .unwrap()
            .rsplit('/')
            .next()
            .and_then(|n| FileName::parse(n).ok())
            .map(|(n, _)| n)
        else {
            continue;
        };
        let want = search(&imported, &name.patient_id);
        assert_eq!(search(&walk, &name.patient_id), want);
        assert_eq!(search(&replica, &name.patient_id), want);
        searched += usize::from(!want.is_empty());
    }
    assert!(searched > 3, "only {searched} patients found");

    // 3. Receiving everything again changes nothing.
    let before = replica.stats().unwrap();
    let batch = received(&all[..200]);
    let (s, outcomes) = replica.insert_received(&batch).unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, ReceivedOutcome::Unchanged { .. })),
        "{s:?}"
    );
    assert_eq!(s.items_added, 0);
    assert_eq!(replica.stats().unwrap(), before);
}

#[test]
fn renames_replacements_and_hostile_input() {
    let tmp = tempfile::tempdir().unwrap();
    let region = tmp.path().join("region");
    generate(
        &RegionSpec {
            patients: 3,
            facilities: 1,
            seed: 3,
        },
        &region,
        |_| {},
    )
    .unwrap();
    let tree = files(&region);
    let ((facility, path), bytes) = tree
        .iter()
        .find(|((_, p), _)| p.ends_with(b"_1"))
        .expect("a current message");
    let mut store = new_store(&tmp.path().join("s"));
    let with_flag = |flag: u8| {
        let mut p = path.clone();
        *p.last_mut().unwrap() = flag;
        p
    };
    fn one<'a>(facility: &'a str, p: &'a [u8], b: &'a [u8]) -> Received<'a> {
        Received {
            facility,
            relative_path: p,
            bytes: b,
        }
    }

    // `_1` → `_2` → `_0` with the same bytes: the location moves, the bytes are stored once.
    let (_, o) = store
        .insert_received(&[one(facility, path, bytes)])
        .unwrap();
    assert_eq!(
        o,
        [ReceivedOutcome::Stored {
            renamed: false,
            item_added: true
        }]
    );
    for flag in [b'2', b'0'] {
        let (_, o) = store
            .insert_received(&[one(facility, &with_flag(flag), bytes)])
            .unwrap();
        assert_eq!(
            o,
            [ReceivedOutcome::Stored {
                renamed: true,
                item_added: false
            }]
        );
        let l = locations(&store);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].relative_path, with_flag(flag));
    }
    assert_eq!(store.stats().unwrap().items, 1);

    // New bytes at a known path replace the old ones (which stay stored).
    let mut changed = bytes.clone();
    changed.extend_from_slice(b"ZZZ|x\r");
    let (_, o) = store
        .insert_received(&[one(facility, &with_flag(b'0'), &changed)])
        .unwrap();
    assert!(o[0].held(), "{o:?}");
    let l = locations(&store);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].hash, kizuna_storage_sha256(&changed));
    assert_eq!(store.stats().unwrap().items, 2);

    // Hostile input is refused and stores nothing.
    let before = store.stats().unwrap();
    let long = vec![b'a'; 5000];
    let huge = vec![b'x'; 64 * 1024 * 1024 + 1];
    let mut hostile: Vec<Received<'_>> = [
        &b"../../etc/passwd"[..],
        b"/etc/passwd",
        b"a//b",
        b"a/./b",
        b"",
        b"a\\b",
        b"a\0b",
        &long,
    ]
    .into_iter()
    .map(|p| one(facility, p, bytes))
    .collect();
    hostile.push(Received {
        facility: "../../tmp",
        relative_path: path,
        bytes,
    });
    hostile.push(Received {
        facility: "12345",
        relative_path: path,
        bytes,
    });
    hostile.push(one(facility, path, &huge));
    let (s, o) = store.insert_received(&hostile).unwrap();
    assert!(o.iter().all(|o| *o == ReceivedOutcome::Refused), "{o:?}");
    assert_eq!(s.skipped, hostile.len() as u64);
    assert_eq!(store.stats().unwrap(), before);
    assert!(store.verify().unwrap().is_clean());
}

fn kizuna_storage_sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref().try_into().unwrap()
}
