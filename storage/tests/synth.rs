//! The synthetic region on disk: deterministic, parseable by our own path grammar and codec, and
//! consistent with the SS-MIX2 dating, identity and history rules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kizuna_storage::ssmix2::datatype::{DataType, StandardKind};
use kizuna_storage::ssmix2::jis;
use kizuna_storage::ssmix2::path::{ConditionFlag, StoragePath};
use kizuna_storage::synth::{self, GenSummary, RegionSpec};

const SPEC: RegionSpec = RegionSpec {
    patients: 50,
    facilities: 5,
    seed: 11,
};

/// Every file under `root` as (path relative to root with '/' separators, bytes), sorted.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).expect("under root");
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_str().expect("utf-8 path").to_owned())
                .collect();
            (rel.join("/"), std::fs::read(e.path()).expect("read"))
        })
        .collect()
}

fn generate(spec: &RegionSpec) -> (tempfile::TempDir, GenSummary, BTreeMap<String, Vec<u8>>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = synth::generate(spec, dir.path(), |_| {}).expect("generate");
    let files = tree(dir.path());
    (dir, summary, files)
}

/// Fields of a segment split on '|' (HL7 numbering for non-MSH segments).
fn segments(text: &str) -> Vec<Vec<&str>> {
    text.split('\r').map(|s| s.split('|').collect()).collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (_a, summary, first) = generate(&SPEC);
    let (_b, _, second) = generate(&SPEC);
    assert_eq!(first, second);
    assert_eq!(summary.files as usize, first.len());
    assert_eq!(
        summary.bytes,
        first.values().map(|b| b.len() as u64).sum::<u64>()
    );
    let (_c, _, other) = generate(&RegionSpec { seed: 12, ..SPEC });
    assert_ne!(first, other);
}

#[test]
fn every_file_follows_the_storage_rules() {
    let (_dir, summary, files) = generate(&SPEC);
    assert!(files.len() > 200, "only {} files", files.len());
    let mut current: BTreeMap<(String, String, String, String, String), usize> = BTreeMap::new();
    let mut flags = BTreeSet::new();
    let mut types = BTreeSet::new();
    for (rel, bytes) in &files {
        let parts: Vec<&str> = rel.split('/').collect();
        let (facility, inside) = parts.split_first().expect("facility folder");
        let (path, findings) = StoragePath::parse(inside).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(findings.is_empty(), "{rel}: {findings:?}");
        let name = &path.name;
        let data_type = name.standard_type().expect("standard type");
        types.insert(data_type);
        flags.insert(name.flag);

        let decoded = jis::decode(bytes).unwrap_or_else(|e| panic!("{rel}: {e:?}"));
        assert!(decoded.warnings.is_empty(), "{rel}: {:?}", decoded.warnings);
        assert_eq!(jis::encode(&decoded.text).ok().as_deref(), Some(&bytes[..]));
        let segs = segments(&decoded.text);
        let msh = &segs[0];
        assert_eq!(msh[0], "MSH");
        // MSH-n is split index n-1: MSH-1 is the separator itself.
        assert_eq!(msh[6].replace('.', ""), name.occurred, "{rel}: MSH-7");
        assert!(msh[9].len() <= 20, "{rel}: MSH-10 too long");
        let msg: Vec<&str> = msh[8].split('^').collect();
        let kind = StandardKind::of(data_type, msg[0], msg[1])
            .unwrap_or_else(|| panic!("{rel}: {} not allowed in {data_type}", msh[8]));

        let pid = segs.iter().find(|s| s[0] == "PID").expect("PID");
        assert_eq!(pid[3].split('^').next(), Some(name.patient_id.as_str()));

        match kind.care_date_field() {
            None => assert_eq!(name.care_date, None, "{rel}"),
            Some(field) => {
                let date = name.care_date.as_deref().expect("dated kind has a date");
                let occurrences: Vec<&str> = segs
                    .iter()
                    .filter(|s| s[0] == field.segment)
                    .map(|s| s.get(field.field).copied().unwrap_or(""))
                    .collect();
                assert!(!occurrences.is_empty(), "{rel}: no {field}");
                for value in occurrences {
                    assert_eq!(value.get(..8), Some(date), "{rel}: {field}");
                }
            }
        }

        let orcs: Vec<&Vec<&str>> = segs.iter().filter(|s| s[0] == "ORC").collect();
        for orc in &orcs {
            assert_eq!(orc[2], name.order_no, "{rel}: ORC-2");
            assert_eq!(
                orc[17].split('^').next(),
                name.department.as_deref(),
                "{rel}: ORC-17"
            );
        }
        if data_type.has_no_order() {
            assert!(orcs.is_empty(), "{rel}");
        }

        if name.flag == ConditionFlag::Current {
            let key = (
                facility.to_string(),
                name.patient_id.clone(),
                name.date_folder().to_owned(),
                name.data_type.clone(),
                name.order_no.clone(),
            );
            *current.entry(key).or_default() += 1;
        }
    }
    for (key, n) in &current {
        assert_eq!(*n, 1, "{key:?} has {n} current files");
    }
    assert!(flags.contains(&ConditionFlag::Deleted));
    assert!(flags.contains(&ConditionFlag::Superseded));
    for t in [
        DataType::Adt00,
        DataType::Adt12,
        DataType::Adt61,
        DataType::Ppr01,
        DataType::Omp01,
        DataType::Omp02,
        DataType::Omp11,
        DataType::Omp12,
        DataType::Oml11,
    ] {
        assert!(types.contains(&t), "no {t} file");
    }
    assert_eq!(summary.by_flag.values().sum::<u64>(), summary.files);
}

#[test]
fn some_patients_are_known_to_several_facilities_under_different_ids() {
    let (_dir, summary, files) = generate(&SPEC);
    assert!(summary.multi_facility_patients > 0);
    // Identity (PID-5, PID-7, PID-8, PID-11) → (facility, local patient ID) from ADT-00 files.
    let mut seen: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for (rel, bytes) in files.iter().filter(|(rel, _)| rel.contains("/ADT-00/")) {
        let text = jis::decode(bytes).expect("decodes").text;
        let segs = segments(&text);
        let pid = segs.iter().find(|s| s[0] == "PID").expect("PID");
        let identity = [pid[5], pid[7], pid[8], pid[11]].join("|");
        let facility = rel.split('/').next().expect("facility").to_owned();
        seen.entry(identity)
            .or_default()
            .insert((facility, pid[3].to_owned()));
    }
    let multi: Vec<_> = seen.values().filter(|ids| ids.len() > 1).collect();
    assert!(!multi.is_empty());
    for ids in multi {
        let local: BTreeSet<_> = ids.iter().map(|(_, id)| id).collect();
        assert_eq!(local.len(), ids.len(), "same local ID at two facilities");
    }
}

#[test]
fn in_memory_samples_match_the_files_on_disk() {
    let (_dir, _, files) = generate(&RegionSpec { seed: 5, ..SPEC });
    let samples = synth::sample_messages(5, 40).expect("samples");
    assert_eq!(samples.len(), 40);
    for (path, bytes) in &samples {
        assert_eq!(files.get(path), Some(bytes), "{path}");
    }
    let per_patient = synth::patient_files(&RegionSpec { seed: 5, ..SPEC }, 3).expect("patient");
    assert!(!per_patient.is_empty());
    for file in per_patient {
        assert_eq!(files.get(&file.region_path()), Some(&file.bytes));
    }
}
