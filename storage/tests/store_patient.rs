//! Patient search, the emergency summary, dictionaries and the v1 → v2 migration on a small
//! generated region; expectations are read from the generated files themselves.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use kizuna_storage::ssmix2::extract::{self, Clinical};
use kizuna_storage::ssmix2::hl7::Message;
use kizuna_storage::ssmix2::jis;
use kizuna_storage::ssmix2::path::FileName;
use kizuna_storage::store::{
    ImportOptions, InitOptions, KDF_ITERATIONS_MIN, Role, SearchQuery, Store, SummaryOptions,
};
use kizuna_storage::synth::{RegionSpec, generate};

const PASS: &[u8] = b"patient test passphrase";

/// A generated file: its parsed name and bytes.
type File = (FileName, Vec<u8>);
/// (facility, relative path) → file, for every file.
type Tree = BTreeMap<(String, PathBuf), File>;

fn region(dir: &Path, patients: u32) -> Tree {
    region_seeded(dir, patients, 5)
}

fn region_seeded(dir: &Path, patients: u32, seed: u64) -> Tree {
    generate(
        &RegionSpec {
            patients,
            facilities: 3,
            seed,
        },
        dir,
        |_| {},
    )
    .unwrap();
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e.path().strip_prefix(dir).unwrap();
        let facility = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        let (name, _) = FileName::parse(e.file_name().to_str().unwrap()).unwrap();
        out.insert(
            (facility, rel.to_owned()),
            (name, fs::read(e.path()).unwrap()),
        );
    }
    out
}

/// Decodes, parses and extracts `bytes`, handing the extraction (which borrows the decoded
/// text) to `f`.
fn with_clinical<R>(bytes: &[u8], f: impl FnOnce(Clinical<'_>) -> R) -> R {
    let text = jis::decode(bytes).unwrap().text;
    f(extract::extract(&Message::parse(&text).unwrap()))
}

fn store(dir: &Path, tree: &Path, dictionary_samples: usize) -> Store {
    store_with(dir, tree, dictionary_samples, true)
}

/// A store whose items are packed (`pack`, schema 8) or each sealed alone (as schema 7 code
/// wrote them, so the store can be taken back to an older schema: [`to_v7`]).
fn store_with(dir: &Path, tree: &Path, dictionary_samples: usize, pack: bool) -> Store {
    let opts = InitOptions {
        kdf_iterations: KDF_ITERATIONS_MIN,
        ..InitOptions::new("0400000001", Role::Shelter)
    };
    Store::init(dir, &opts, PASS).unwrap();
    let mut s = Store::open(dir, PASS).unwrap();
    s.import(
        &[tree.to_owned()],
        ImportOptions {
            dictionary_samples,
            pack,
            ..ImportOptions::default()
        },
    )
    .unwrap();
    s
}

/// Takes a schema 8 store whose items were all sealed alone back to exactly the v7 schema:
/// `item` and `location` rebuilt from the v7 code path's own definitions (read from a database
/// built by `prepare_schema_to(7)`), with their indexes, `pack` dropped, `user_version` 7.
fn to_v7(c: &rusqlite::Connection, scratch: &Path) {
    let packed: i64 = c
        .query_row(
            "SELECT count(*) FROM item WHERE pack IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(packed, 0, "a v7 store holds no packed items");
    let mut v7 = rusqlite::Connection::open(scratch.join("v7-reference.sqlite3")).unwrap();
    kizuna_storage::store::prepare_schema_to(&mut v7, 7).unwrap();
    let sql = |what: &str| -> Vec<String> {
        let mut st = v7
            .prepare(&format!(
                "SELECT sql FROM sqlite_master WHERE {what} AND sql IS NOT NULL ORDER BY name"
            ))
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let tables = sql("type = 'table' AND name IN ('item', 'location')");
    let indexes = sql("type = 'index' AND tbl_name IN ('item', 'location')");
    assert_eq!(tables.len(), 2);
    c.execute_batch(
        "PRAGMA foreign_keys = OFF; BEGIN;
         CREATE TABLE item_v8 AS SELECT * FROM item; DROP TABLE item;
         CREATE TABLE location_v8 AS SELECT * FROM location; DROP TABLE location;",
    )
    .unwrap();
    for t in &tables {
        c.execute_batch(t).unwrap();
    }
    c.execute_batch(
        "INSERT INTO item SELECT id, hash, size, codec, nonce, body, damaged FROM item_v8;
         INSERT INTO location SELECT id, facility, path_token, NULL, patient_token,
             item_id, quarantined, reason, stat_token, path_nonce, path_sealed, damaged
             FROM location_v8;
         DROP TABLE item_v8; DROP TABLE location_v8; DROP TABLE pack;",
    )
    .unwrap();
    for i in &indexes {
        c.execute_batch(i).unwrap();
    }
    c.execute_batch("PRAGMA user_version = 7; COMMIT; PRAGMA foreign_keys = ON;")
        .unwrap();
    assert_eq!(
        dump(c),
        dump(&v7),
        "the fixture has the v7 code path's schema"
    );
}

fn to_hiragana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap(),
            c => c,
        })
        .collect()
}

fn hits(s: &Store, q: SearchQuery) -> Vec<(String, String)> {
    s.search(&SearchQuery { limit: 200, ..q })
        .unwrap()
        .patients
        .into_iter()
        .map(|p| (p.facility, p.patient_id))
        .collect()
}

#[test]
fn search_summary_and_dictionaries_match_the_generated_files() {
    let tmp = tempfile::tempdir().unwrap();
    let tree_dir = tmp.path().join("region");
    let tree = region(&tree_dir, 24);
    let mut s = store(&tmp.path().join("data"), &tree_dir, 16);
    let stats = s.stats().unwrap();
    assert!(stats.dictionaries > 0, "{stats:?}");
    assert!(stats.dictionary_items > 0, "{stats:?}");
    assert!(s.verify().unwrap().is_clean());

    // Every current ADT-00 patient is found by ID, kana (hiragana, spaced, prefix), kanji and
    // birth date.
    let mut checked = 0;
    for ((facility, _), (name, bytes)) in &tree {
        if name.data_type != "ADT-00" || name.flag.as_char() != '1' {
            continue;
        }
        let (kana, kanji, dob) = with_clinical(bytes, |c| {
            let p = c.patient.unwrap();
            (
                p.kana_name.unwrap().into_owned(),
                p.kanji_name.unwrap().into_owned(),
                p.birth_date.unwrap().into_owned(),
            )
        });
        let want = (facility.clone(), name.patient_id.clone());
        let family_kana = kana.family.clone().unwrap().to_string();
        let full_kana = format!("{} {}", family_kana, kana.given.clone().unwrap());
        for q in [
            SearchQuery {
                text: name.patient_id.clone(),
                ..Default::default()
            },
            SearchQuery {
                text: to_hiragana(&full_kana),
                ..Default::default()
            },
            SearchQuery {
                text: family_kana.chars().take(2).collect(),
                ..Default::default()
            },
            SearchQuery {
                text: full_kana.replace(' ', "　"),
                dob: Some(dob.clone()),
                ..Default::default()
            },
            SearchQuery {
                text: format!(
                    "{} {}",
                    kanji.family.clone().unwrap(),
                    kanji.given.clone().unwrap()
                ),
                ..Default::default()
            },
            SearchQuery {
                text: kanji.family.clone().unwrap().to_string(),
                ..Default::default()
            },
            SearchQuery {
                text: dob.clone(),
                ..Default::default()
            },
            SearchQuery {
                text: String::new(),
                dob: Some(dob.clone()),
                ..Default::default()
            },
        ] {
            let found = hits(&s, q.clone());
            assert!(found.contains(&want), "{q:?} → {found:?}");
        }
        // A wrong birth date excludes the patient.
        let found = hits(
            &s,
            SearchQuery {
                text: name.patient_id.clone(),
                dob: Some("18000101".into()),
                ..Default::default()
            },
        );
        assert!(!found.contains(&want));
        checked += 1;
    }
    assert!(checked >= 10, "{checked} patients checked");

    // A query with more answers than its limit stops early and says so; the answer it gives
    // is one of the full answer's.
    let mut first_kana: BTreeMap<char, usize> = BTreeMap::new();
    for ((_, _), (name, bytes)) in &tree {
        if name.data_type == "ADT-00" && name.flag.as_char() == '1' {
            let c = with_clinical(bytes, |c| {
                let kana = c.patient.unwrap().kana_name.unwrap();
                kana.family.unwrap().to_string().chars().next().unwrap()
            });
            *first_kana.entry(c).or_default() += 1;
        }
    }
    let (common, _) = first_kana.iter().max_by_key(|(_, n)| **n).unwrap();
    let q = SearchQuery {
        text: common.to_string(),
        ..Default::default()
    };
    let all = s
        .search(&SearchQuery {
            limit: 200,
            ..q.clone()
        })
        .unwrap();
    assert!(all.patients.len() >= 2, "{} answers", all.patients.len());
    assert!(!all.truncated);
    let one = s.search(&SearchQuery { limit: 1, ..q }).unwrap();
    assert_eq!(one.patients.len(), 1);
    assert!(one.truncated, "more answers than the limit");
    assert!(all.patients.contains(&one.patients[0]));

    // Summaries: every IAM allergen of the newest current ADT-61 and every drug of the newest
    // current OMP-01 appear, with the right facility.
    let mut by_patient: BTreeMap<(String, String), Vec<&File>> = BTreeMap::new();
    for ((facility, _), f) in &tree {
        by_patient
            .entry((facility.clone(), f.0.patient_id.clone()))
            .or_default()
            .push(f);
    }
    let mut with_allergies = 0;
    let mut with_drugs = 0;
    for ((facility, pid), files) in &by_patient {
        let sum = s
            .summary(facility, pid, &SummaryOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(sum.flag_rules, kizuna_storage::store::FLAG_RULES_VERSION);
        let newest = |kind: &str| {
            files
                .iter()
                .filter(|f| f.0.data_type == kind && f.0.flag.as_char() == '1')
                .max_by_key(|f| (f.0.care_date.clone(), f.0.occurred.clone()))
        };
        if let Some(f) = newest("ADT-61") {
            let names: Vec<String> = with_clinical(&f.1, |c| {
                c.allergies
                    .into_iter()
                    .map(|a| a.allergen.unwrap().text.unwrap().into_owned())
                    .collect()
            });
            for name in names {
                assert!(
                    sum.allergies
                        .iter()
                        .any(|x| x.allergen.as_deref() == Some(&name)
                            && &x.source.facility == facility),
                    "allergy missing from the summary"
                );
                with_allergies += 1;
            }
        }
        if let Some(f) = newest("OMP-01") {
            let drugs: Vec<String> = with_clinical(&f.1, |c| {
                c.medication_orders
                    .into_iter()
                    .map(|o| o.drug.unwrap().text.unwrap().into_owned())
                    .collect()
            });
            for drug in drugs {
                assert!(
                    sum.prescriptions
                        .iter()
                        .any(|x| x.drug.as_deref() == Some(&drug)),
                    "prescription missing from the summary"
                );
                if drug.contains("ランタス") || drug.contains("ノボラピッド") {
                    assert!(sum.flags.iter().any(|f| f.flag == "insulin"));
                }
                with_drugs += 1;
            }
        }
        // Superseded versions: excluded, and shown with `history`.
        assert!(
            sum.prescriptions
                .iter()
                .all(|m| m.source.version == "current")
        );
        if files
            .iter()
            .any(|f| f.0.data_type == "OMP-01" && f.0.flag.as_char() == '2')
        {
            let h = s
                .summary(
                    facility,
                    pid,
                    &SummaryOptions {
                        history: true,
                        now: Some("29991231".into()),
                    },
                )
                .unwrap()
                .unwrap();
            assert!(
                h.prescriptions
                    .iter()
                    .any(|m| m.source.version == "superseded")
            );
        }
    }
    assert!(with_allergies > 0 && with_drugs > 0);

    // Export decodes codec 2 bodies byte for byte.
    let out = tmp.path().join("out");
    s.export(&out, None).unwrap();
    for ((_, rel), (_, bytes)) in &tree {
        assert_eq!(&fs::read(out.join(rel)).unwrap(), bytes);
    }
    assert!(
        s.summary("0400000001", "nobody", &SummaryOptions::default())
            .unwrap()
            .is_none()
    );
    assert!(s.summary("bad", "1", &SummaryOptions::default()).is_err());
}

#[test]
fn a_v1_store_upgrades_and_rebuilds_its_patient_index() {
    let tmp = tempfile::tempdir().unwrap();
    let tree_dir = tmp.path().join("region");
    region(&tree_dir, 6);
    let data = tmp.path().join("data");
    // No dictionaries, no packs: what schema 1 code wrote (codec ≤ 1).
    let s = store_with(&data, &tree_dir, usize::MAX, false);
    let before = s.search(&SearchQuery {
        text: "".into(),
        dob: None,
        ..Default::default()
    });
    assert!(before.is_err(), "an empty query is refused");
    let fresh_schema = schema(&data);
    let found_before = s.stats().unwrap().patients;
    drop(s);
    {
        // Back to exactly the v1 schema: the v2 tables dropped, v3's dropped index back,
        // user_version 1.
        let c = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
        to_v7(&c, tmp.path());
        c.execute_batch(
            "DROP TABLE search; DROP TABLE patient; DROP TABLE dictionary;
             DROP INDEX location_patient; CREATE INDEX location_patient ON location (patient_token);
             CREATE INDEX location_version ON location (version_token); PRAGMA user_version = 1;",
        )
        .unwrap();
        let mut v1 = rusqlite::Connection::open(tmp.path().join("v1.sqlite3")).unwrap();
        kizuna_storage::store::prepare_schema_to(&mut v1, 1).unwrap();
        assert_eq!(
            dump(&c),
            dump(&v1),
            "the fixture has the v1 code path's schema"
        );
    }
    let mut s = Store::open(&data, PASS).unwrap();
    assert_eq!(schema(&data), fresh_schema);
    assert_eq!(s.stats().unwrap().patients, found_before);
    assert!(found_before > 0);
    assert!(s.verify().unwrap().is_clean());
}

/// The versioned schema. `import_dir` is left out: before schema 8 the import created it on
/// first use (outside the schema versions), so a pre-8 fixture may or may not have it.
fn dump(c: &rusqlite::Connection) -> Vec<String> {
    let mut st = c
        .prepare("SELECT type || ' ' || name || ': ' || sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'import_dir%' ORDER BY name")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn schema(data: &Path) -> Vec<String> {
    dump(&rusqlite::Connection::open(data.join("store.sqlite3")).unwrap())
}

#[test]
fn a_v4_store_drops_the_search_by_patient_index_and_still_verifies_and_searches() {
    let tmp = tempfile::tempdir().unwrap();
    let tree_dir = tmp.path().join("region");
    region(&tree_dir, 6);
    let data = tmp.path().join("data");
    let s = store_with(&data, &tree_dir, 8, false);
    let fresh_schema = schema(&data);
    assert!(
        !fresh_schema.iter().any(|x| x.contains("search_patient")),
        "schema 5 has no index of search rows by patient"
    );
    let stats_before = s.stats().unwrap();
    drop(s);
    {
        // Back to exactly the v4 schema: the index re-created, `location_patient` on the whole
        // token again (schema 7 indexes a prefix), user_version 4.
        let c = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
        to_v7(&c, tmp.path());
        c.execute_batch(
            "CREATE INDEX search_patient ON search (patient_id); DROP INDEX location_item;
             DROP INDEX location_patient; CREATE INDEX location_patient ON location (patient_token);
             PRAGMA user_version = 4;",
        )
        .unwrap();
        let mut v4 = rusqlite::Connection::open(tmp.path().join("v4.sqlite3")).unwrap();
        kizuna_storage::store::prepare_schema_to(&mut v4, 4).unwrap();
        assert_eq!(
            dump(&c),
            dump(&v4),
            "the fixture has the v4 code path's schema"
        );
    }
    let mut s = Store::open(&data, PASS).unwrap();
    assert_eq!(schema(&data), fresh_schema);
    let stats = s.stats().unwrap();
    assert_eq!(stats.search_tokens, stats_before.search_tokens);
    assert!(stats.search_tokens > 0);
    assert!(s.verify().unwrap().is_clean());
    // The patient rows are kept across the migration.
    let c = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM patient", [], |r| r.get(0))
        .unwrap();
    assert_eq!(u64::try_from(n).unwrap(), stats.patients);
    // A search row removed behind the store's back is reported against its patient.
    c.execute_batch(
        "DELETE FROM search WHERE (token, patient_id) IN (SELECT token, patient_id FROM search LIMIT 1);",
    )
    .unwrap();
    drop(c);
    let report = s.verify().unwrap();
    assert!(!report.is_clean(), "a missing search token is found");
}

#[test]
fn a_v6_store_rebuilds_its_patient_index_with_8_byte_search_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let tree_dir = tmp.path().join("region");
    let tree = region(&tree_dir, 6);
    let data = tmp.path().join("data");
    let s = store_with(&data, &tree_dir, 8, false);
    let fresh_schema = schema(&data);
    let before = s.stats().unwrap();
    drop(s);
    let lengths = |c: &rusqlite::Connection| -> Vec<i64> {
        let mut st = c
            .prepare("SELECT DISTINCT length(token) FROM search ORDER BY 1")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    {
        // Schema 6: the same tables, `location_patient` on the whole token, 16-byte search
        // tokens.
        let c = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
        assert_eq!(lengths(&c), vec![8]);
        to_v7(&c, tmp.path());
        c.execute_batch(
            "UPDATE search SET token = CAST(token || x'0102030405060708' AS BLOB);
             DROP INDEX location_patient;
             CREATE INDEX location_patient ON location (patient_token);
             PRAGMA user_version = 6;",
        )
        .unwrap();
        assert_eq!(lengths(&c), vec![16]);
        let mut v6 = rusqlite::Connection::open(tmp.path().join("v6.sqlite3")).unwrap();
        kizuna_storage::store::prepare_schema_to(&mut v6, 6).unwrap();
        assert_eq!(
            dump(&c),
            dump(&v6),
            "the fixture has the v6 code path's schema"
        );
    }
    let mut s = Store::open(&data, PASS).unwrap();
    assert_eq!(schema(&data), fresh_schema);
    let after = s.stats().unwrap();
    assert_eq!(
        (after.patients, after.search_tokens),
        (before.patients, before.search_tokens)
    );
    let c = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
    assert_eq!(lengths(&c), vec![8], "every token rewritten");
    assert!(s.verify().unwrap().is_clean());
    let mut found = 0;
    for ((facility, _), (name, _)) in &tree {
        if name.data_type == "ADT-00" && name.flag.as_char() == '1' {
            let q = SearchQuery {
                text: name.patient_id.clone(),
                ..Default::default()
            };
            assert!(hits(&s, q).contains(&(facility.clone(), name.patient_id.clone())));
            found += 1;
        }
    }
    assert!(found > 0);
}

#[test]
fn a_v7_store_keeps_its_unpacked_items_and_packs_new_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (tree_a, tree_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let a = region(&tree_a, 6);
    let b = region_seeded(&tree_b, 6, 6);
    let data = tmp.path().join("data");
    let s = store_with(&data, &tree_a, 8, false);
    drop(s);
    {
        let c = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
        to_v7(&c, tmp.path());
    }
    let mut s = Store::open(&data, PASS).unwrap();
    s.import(std::slice::from_ref(&tree_b), ImportOptions::default())
        .unwrap();
    assert!(s.verify().unwrap().is_clean());
    {
        let c = rusqlite::Connection::open(data.join("store.sqlite3")).unwrap();
        let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert!(
            count("SELECT count(*) FROM item WHERE pack IS NULL") > 0,
            "v7 items kept"
        );
        assert!(
            count("SELECT count(*) FROM item WHERE pack IS NOT NULL") > 0,
            "new items packed"
        );
        assert!(count("SELECT count(*) FROM pack") > 0);
    }
    // Export gives back both trees byte for byte, old and new items alike.
    let out = tmp.path().join("out");
    let e = s.export(&out, None).unwrap();
    assert_eq!(e.failed, 0);
    let mut expected: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    for ((_, rel), (_, bytes)) in a.into_iter().chain(b) {
        expected.insert(rel, bytes);
    }
    let mut exported = 0usize;
    for entry in walkdir::WalkDir::new(&out) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(&out).unwrap();
        assert_eq!(
            Some(&fs::read(entry.path()).unwrap()),
            expected.get(rel),
            "{}",
            rel.display()
        );
        exported += 1;
    }
    assert_eq!(exported, expected.len());
}
