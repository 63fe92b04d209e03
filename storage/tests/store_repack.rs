//! `Store::repack` on a replica filled by `insert_received` in hash order (one item per pack):
//! every item reads back byte-exact, `verify` is clean, the sealed bytes shrink, a run
//! interrupted mid-chunk or stopped between chunks leaves everything readable and a later run
//! finishes, a second run moves nothing, and a damaged item is left in place and reported.

use std::fs;
use std::path::Path;

use kizuna_storage::store::{
    ImportOptions, LocationView, Received, RepackError, RepackOptions, Store,
};
use kizuna_storage::synth::{RegionSpec, generate};

mod common;
use common::{Files, PASS, files, new_store};

fn exported(store: &Store, out: &Path) -> Files {
    let s = store.export(out, None).unwrap();
    assert_eq!(s.failed, 0);
    let got = files(out);
    fs::remove_dir_all(out).unwrap();
    got
}

/// The generated region (imported in walk order, its export as the reference) and a replica of
/// it filled as sync fills one: locations in hash order, 1,024 per call.
struct Fixture {
    tmp: tempfile::TempDir,
    want: Files,
    replica: Store,
}

fn fixture(patients: u32) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let region = tmp.path().join("region");
    generate(
        &RegionSpec {
            patients,
            facilities: 3,
            seed: 29,
        },
        &region,
        |_| {},
    )
    .unwrap();
    let mut imported = new_store(&tmp.path().join("imported"));
    imported
        .import(std::slice::from_ref(&region), ImportOptions::default())
        .unwrap();
    let want = exported(&imported, &tmp.path().join("export-imported"));
    let mut by_hash: Vec<LocationView> = Vec::new();
    imported.visit_locations(|l| by_hash.push(l)).unwrap();
    by_hash.sort_by_key(|l| l.hash);
    let served: Vec<(String, Vec<u8>, Vec<u8>)> = by_hash
        .iter()
        .map(|l| {
            let bytes = imported.item(&l.hash).unwrap().unwrap();
            (l.facility.clone(), l.relative_path.clone(), bytes)
        })
        .collect();
    let mut replica = new_store(&tmp.path().join("replica"));
    for chunk in served.chunks(1024) {
        let batch: Vec<Received<'_>> = chunk
            .iter()
            .map(|(f, p, b)| Received {
                facility: f,
                relative_path: p,
                bytes: b,
            })
            .collect();
        replica.insert_received(&batch).unwrap();
    }
    Fixture { tmp, want, replica }
}

/// Packs no item names (a repack must delete the packs it empties, and only those).
fn empty_packs(data: &Path) -> i64 {
    let db = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
    db.query_row(
        "SELECT count(*) FROM pack WHERE id NOT IN (SELECT pack FROM item WHERE pack IS NOT NULL)",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn packs(data: &Path) -> i64 {
    let db = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
    db.query_row("SELECT count(*) FROM pack", [], |r| r.get(0))
        .unwrap()
}

fn check_intact(f: &mut Fixture, what: &str) {
    let data = f.tmp.path().join("replica");
    assert!(
        exported(&f.replica, &f.tmp.path().join("export-check")) == f.want,
        "{what}: export differs"
    );
    let report = f.replica.verify().unwrap();
    assert!(report.is_clean(), "{what}: {:?}", report.problems);
    assert_eq!(empty_packs(&data), 0, "{what}: packs without items");
}

#[test]
fn replica_in_hash_order_is_repacked_byte_exact_smaller_and_idempotent() {
    let mut f = fixture(200);
    let data = f.tmp.path().join("replica");
    let before = f.replica.stats().unwrap();
    let packs_before = packs(&data);
    assert!(f.replica.small_packs_sealed() > 0);
    // The premise: in hash order, batches of 1,024 items of ~400 patients (more than the
    // writer's 64 open packs) leave most packs with one item.
    assert!(
        packs_before as f64 > 0.6 * before.items as f64,
        "{packs_before} packs for {} items",
        before.items
    );

    let s = f.replica.repack(RepackOptions::default()).unwrap();
    let after = f.replica.stats().unwrap();
    let packs_after = packs(&data);
    println!(
        "repack: {s:?}\nstored {} -> {} of {} raw ({:.3} -> {:.3}); packs {packs_before} -> {packs_after}",
        before.stored_bytes,
        after.stored_bytes,
        before.item_bytes,
        before.stored_bytes as f64 / before.item_bytes as f64,
        after.stored_bytes as f64 / before.item_bytes as f64,
    );
    assert!(s.done);
    assert_eq!(s.unreadable, 0);
    assert!(s.items_moved as f64 > 0.5 * before.items as f64, "{s:?}");
    assert_eq!(
        before.stored_bytes - after.stored_bytes,
        s.sealed_before - s.sealed_after
    );
    // A broken repack (nothing merged, or merged without shared compression) fails this:
    // merged per patient, the sealed bytes drop to about a quarter (measured 0.27 here).
    assert!(
        (after.stored_bytes as f64) < 0.5 * before.stored_bytes as f64,
        "{} -> {}",
        before.stored_bytes,
        after.stored_bytes
    );
    assert!(
        packs_after * 3 < packs_before,
        "{packs_before} -> {packs_after}"
    );
    assert_eq!(
        (after.items, after.locations, after.item_bytes),
        (before.items, before.locations, before.item_bytes)
    );
    assert_eq!(f.replica.small_packs_sealed(), 0);
    check_intact(&mut f, "after repack");

    // Idempotent: a second run finds nothing to merge.
    let again = f.replica.repack(RepackOptions::default()).unwrap();
    assert_eq!(
        (again.items_moved, again.packs_removed, again.packs_written),
        (0, 0, 0),
        "{again:?}"
    );
    assert!(again.done);
    assert_eq!(f.replica.stats().unwrap(), after);

    // Reopened, the store reads the same.
    drop(std::mem::replace(
        &mut f.replica,
        Store::open(&data, PASS).unwrap(),
    ));
    check_intact(&mut f, "reopened");
}

#[test]
fn interrupted_and_bounded_runs_leave_every_item_readable_and_a_later_run_finishes() {
    // Enough items for two chunks (1,024 items each).
    let mut f = fixture(160);
    let data = f.tmp.path().join("replica");
    let before = f.replica.stats().unwrap();
    assert!(before.items > 1500, "{} items", before.items);

    // Crash inside the second chunk: the first is committed, the second rolls back.
    let err = f
        .replica
        .repack(RepackOptions {
            fail_after_items: Some(1200),
            ..RepackOptions::default()
        })
        .unwrap_err();
    assert!(matches!(err, RepackError::Interrupted { .. }), "{err}");
    let mid = f.replica.stats().unwrap();
    assert!(mid.stored_bytes < before.stored_bytes, "first chunk kept");
    assert_eq!(mid.items, before.items);
    check_intact(&mut f, "after an interrupted run");

    // The same after the process died instead: reopen.
    drop(std::mem::replace(
        &mut f.replica,
        Store::open(&data, PASS).unwrap(),
    ));
    check_intact(&mut f, "reopened after an interrupted run");

    // A bounded run stops between chunks and says it is not done.
    let one = f
        .replica
        .repack(RepackOptions {
            chunks_max: Some(1),
            ..RepackOptions::default()
        })
        .unwrap();
    assert_eq!(one.chunks, 1);
    assert!(!one.done, "{one:?}");
    assert!(one.items_moved > 0);
    check_intact(&mut f, "after a bounded run");

    // A full run finishes the job; then nothing is left.
    let rest = f.replica.repack(RepackOptions::default()).unwrap();
    assert!(rest.done, "{rest:?}");
    check_intact(&mut f, "after the finishing run");
    let after = f.replica.stats().unwrap();
    assert!(
        (after.stored_bytes as f64) < 0.5 * before.stored_bytes as f64,
        "{} -> {}",
        before.stored_bytes,
        after.stored_bytes
    );
    let again = f.replica.repack(RepackOptions::default()).unwrap();
    assert_eq!(again.items_moved, 0, "{again:?}");
}

#[test]
fn a_damaged_item_is_left_in_place_reported_and_the_rest_moved() {
    let mut f = fixture(200);
    let data = f.tmp.path().join("replica");
    let before = f.replica.stats().unwrap();
    drop(f.replica);
    // Tamper with the sealed body of one one-item pack: its item fails its tag.
    let (pack, hash) = {
        let db = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
        let (pack, hash): (i64, Vec<u8>) = db
            .query_row(
                // An item of a patient with several files (so its group is merged).
                "SELECT i.pack, i.hash FROM item i JOIN location l ON l.item_id = i.id
                 WHERE i.pack IN (SELECT pack FROM item GROUP BY pack HAVING count(*) = 1)
                   AND l.patient_token IN (SELECT patient_token FROM location
                       GROUP BY patient_token HAVING count(*) > 3)
                 ORDER BY i.id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        db.execute(
            "UPDATE pack SET body = zeroblob(length(body)) WHERE id = ?1",
            [pack],
        )
        .unwrap();
        (pack, hash)
    };
    f.replica = Store::open(&data, PASS).unwrap();
    let s = f.replica.repack(RepackOptions::default()).unwrap();
    assert!(s.done);
    assert_eq!(s.unreadable, 1, "{s:?}");
    assert!(s.items_moved * 2 > before.items, "{s:?}");
    {
        let db = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
        let (at, damaged): (i64, i64) = db
            .query_row(
                "SELECT pack, damaged FROM item WHERE hash = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((at, damaged), (pack, 1), "left in its pack, marked");
    }
    // verify reports exactly that item; every other file exports byte-exact.
    let report = f.replica.verify().unwrap();
    let codes: Vec<_> = report.problems.iter().map(|p| p.code).collect();
    assert_eq!(codes, ["item.tag"], "{:?}", report.problems);
    let out = f.tmp.path().join("export-damaged");
    let s = f.replica.export(&out, None).unwrap();
    assert!(s.failed >= 1);
    let got = files(&out);
    for (key, bytes) in &got {
        assert_eq!(Some(bytes), f.want.get(key));
    }
    assert!(got.len() + 4 >= f.want.len());
    // A second run moves nothing (the damaged item is not a candidate).
    let again = f.replica.repack(RepackOptions::default()).unwrap();
    assert_eq!((again.items_moved, again.unreadable), (0, 0), "{again:?}");
}

/// Live ingest: a patient's files arrive over several imports in one process, so each import
/// leaves small packs; once `REPACK_AFTER_SMALL_PACKS` of them were sealed, an import ends
/// with a repack, and the store still exports byte-exact and verifies clean.
#[test]
fn imports_that_leave_many_small_packs_end_with_a_repack() {
    let tmp = tempfile::tempdir().unwrap();
    let region = tmp.path().join("region");
    generate(
        &RegionSpec {
            patients: 200,
            facilities: 3,
            seed: 31,
        },
        &region,
        |_| {},
    )
    .unwrap();
    let all = files(&region);
    let staging = tmp.path().join("staging");
    let mut store = new_store(&tmp.path().join("data"));
    let mut repacks = Vec::new();
    let rounds = 6;
    for round in 0..rounds {
        for ((facility, path), bytes) in all.iter().skip(round).step_by(rounds) {
            let to = staging
                .join(facility)
                .join(std::str::from_utf8(path).unwrap());
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::write(&to, bytes).unwrap();
        }
        let s = store
            .import(std::slice::from_ref(&staging), ImportOptions::default())
            .unwrap();
        if let Some(r) = s.repack {
            repacks.push(r);
        }
    }
    println!("{repacks:?}");
    assert!(!repacks.is_empty(), "no import repacked");
    assert!(repacks.iter().all(|r| r.done && r.unreadable == 0));
    assert!(repacks.iter().map(|r| r.items_moved).sum::<u64>() > 0);
    assert!(store.small_packs_sealed() < kizuna_storage::store::REPACK_AFTER_SMALL_PACKS);
    let got = exported(&store, &tmp.path().join("export"));
    assert!(got == all, "export differs");
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(empty_packs(&tmp.path().join("data")), 0);
}
