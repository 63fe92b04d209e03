//! `kizuna check` end to end: the real binary on NHO's conformance files and on hostile trees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const SKIP: &str = "skipping: ../shared/conformance not found (it sits beside the checkout in CI)";

fn kizuna() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kizuna"))
}

fn sample_data() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/ssmix2-nho/sampleData");
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!("{SKIP}");
        None
    }
}

/// Runs `kizuna check --json` and returns the per-file objects keyed by data-type folder and
/// file name (unique in the sample set), plus the summary and the exit code.
fn check_json(root: &Path) -> (BTreeMap<String, Value>, Value, Option<i32>) {
    let out = kizuna()
        .arg("check")
        .arg("--json")
        .arg(root)
        .output()
        .expect("kizuna runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let mut files = BTreeMap::new();
    let mut summary = Value::Null;
    for line in stdout.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line is JSON ({e}): {line}"));
        if let Some(s) = v.get("summary") {
            summary = s.clone();
            continue;
        }
        let path = v["path"].as_str().expect("path").to_owned();
        let key: Vec<&str> = path.rsplit('/').take(2).collect();
        files.insert(format!("{}/{}", key[1], key[0]), v);
    }
    (files, summary, out.status.code())
}

fn codes(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().expect("code").to_owned())
        .collect()
}

/// The expectations of `shared/conformance/ssmix2-nho/README.md`, file by file.
#[test]
fn conformance_verdicts_match_the_readme() {
    let Some(root) = sample_data() else { return };
    let (files, summary, status) = check_json(&root);
    assert_eq!(files.len(), 22);
    assert_eq!(
        summary,
        serde_json::json!({"files": 22, "ok": 4, "warning": 17, "error": 1})
    );
    assert_eq!(status, Some(1), "an error file makes the exit status 1");

    // No. 1: the only error, misplaced (patient, date, type) and not ISO-2022-JP.
    let misplaced = &files["ADT-31/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1"];
    assert_eq!(misplaced["verdict"], "error");
    let c = codes(misplaced);
    for code in [
        "path.patient_mismatch",
        "path.date_mismatch",
        "path.data_type_mismatch",
        "jis.eight_bit",
    ] {
        assert!(c.contains(&code.to_owned()), "{code} in {c:?}");
    }
    let messages: Vec<&str> = misplaced["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("0000001") && m.contains("9999013")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("20000401") && m.contains("20110630")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("ADT-31") && m.contains("OMP-11")),
        "{messages:?}"
    );

    let by_number = |n: usize| -> &Value {
        let name = files
            .keys()
            .find(|k| file_number(k) == Some(n))
            .unwrap_or_else(|| panic!("file {n}"));
        &files[name]
    };
    // README table: which files have which finding.
    let expect = |numbers: &[usize], code: &str| {
        for n in 1..=22 {
            let has = codes(by_number(n)).contains(&code.to_owned());
            assert_eq!(has, numbers.contains(&n), "file {n} and {code}");
        }
    };
    expect(&[2, 3, 7, 9, 16, 22], "date.folder_mismatch");
    expect(
        &[2, 3, 5, 6, 11, 15, 16, 17, 18, 19, 20, 22],
        "pid.patient_mismatch",
    );
    expect(&[2, 3, 20], "field.required_empty");
    expect(&[2, 3], "field.not_numeric");
    expect(&[2, 3, 22], "hl7.segment_order");
    expect(&[2, 3, 7, 16], "msh.charset_spelling");
    expect(&[2, 3, 4, 7, 12, 13, 16], "msh.charset_scheme_spelling");
    expect(&[3], "name.occurred_differs_from_msh7");
    assert!(by_number(20)["findings"].to_string().contains("PID-7"));
    for n in [8, 10, 14, 21] {
        assert_eq!(
            by_number(n)["verdict"],
            "ok",
            "file {n}: {:?}",
            codes(by_number(n))
        );
    }
    for n in 2..=22 {
        assert!(
            by_number(n)["sha256"]
                .as_str()
                .is_some_and(|h| h.len() == 64)
        );
    }
}

/// The README's file numbers, recovered from the data-type folder and the name.
fn file_number(key: &str) -> Option<usize> {
    const ORDER: [&str; 22] = [
        "ADT-31/9999013_20110630_OMP-11",
        "OMP-11/0000001_20000401_OMP-11_123456789012345",
        "OMP-11/0000001_20000401_OMP-11_123456789012346",
        "ADT-00/",
        "ADT-61/",
        "PPR-01/",
        "OMP-11/9999013_",
        "OMP-01/",
        "OMP-02/",
        "OMP-12/",
        "OMD/",
        "ADT-22/",
        "ADT-42/",
        "ADT-52/",
        "OMG-01/",
        "OMG-02/",
        "OMG-03/",
        "OMG-11/",
        "OMG-12/",
        "OMG-13/",
        "OML-01/",
        "OML-11/",
    ];
    ORDER
        .iter()
        .position(|prefix| key.starts_with(prefix))
        .map(|i| i + 1)
}

#[test]
fn human_output_and_usage_errors() {
    let out = kizuna()
        .args(["check", "/nonexistent/kizuna-root"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = kizuna().arg("check").output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "missing ROOT is a usage error");
    let out = kizuna()
        .args(["check", "--bogus", "."])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));

    let Some(root) = sample_data() else { return };
    let out: Output = kizuna().arg("check").arg(&root).output().expect("runs");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.ends_with("22 files: 4 ok, 17 warning, 1 error\n"),
        "{text}"
    );
    assert!(text.contains("error   ") && text.contains("path.patient_mismatch"));
}

/// Binary garbage, symlink loops, FIFOs, empty files and deep junk: every entry gets a verdict,
/// nothing hangs or crashes, and a clean tree exits 0.
#[test]
fn hostile_trees_get_verdicts_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let leaf = root.join("999/901/9999013/-/ADT-00");
    std::fs::create_dir_all(&leaf).unwrap();
    let name = "9999013_-_ADT-00_999999999999999_20111220224447339_-_1";
    std::fs::write(
        leaf.join(name),
        (0x80..=0xFFu8)
            .chain(0..=0x7F)
            .cycle()
            .take(5000)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    std::fs::write(
        leaf.join("9999013_-_ADT-00_999999999999999_20111220224447339_-_2"),
        b"",
    )
    .unwrap();
    std::fs::write(root.join("stray.txt"), b"hello").unwrap();
    std::os::unix::fs::symlink(root, leaf.join("loop")).unwrap();
    std::os::unix::fs::symlink(root.join("missing"), root.join("dangling")).unwrap();
    let fifo = root.join("999/fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);

    let (files, summary, status) = check_json(root);
    assert_eq!(status, Some(1));
    let expected = 5 + usize::from(made);
    assert_eq!(summary["files"], expected as u64, "{files:#?}");
    assert_eq!(summary["error"], expected as u64);
    let all: Vec<String> = files.values().flat_map(codes).collect();
    for code in ["jis.eight_bit", "path.symlink", "path.depth", "hl7.empty"] {
        assert!(all.contains(&code.to_owned()), "{code} in {all:?}");
    }
    if made {
        assert!(all.contains(&"path.not_a_file".to_owned()));
    }
}
