//! `kizuna gen | init | import | export | verify | patient` end to end through the binary.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kizuna_storage::ssmix2::extract::{self, Clinical};
use kizuna_storage::ssmix2::hl7::Message;
use kizuna_storage::ssmix2::jis;
use kizuna_storage::ssmix2::path::FileName;

/// A generated file's parsed name and bytes.
type Named<'a> = (FileName, &'a Vec<u8>);

const PASS: &str = "cli test passphrase";

fn kizuna(args: &[&str], pass: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(args)
        .env("KIZUNA_PASSPHRASE", pass)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = kizuna(args, PASS);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(root).unwrap().to_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The extraction borrows the decoded text and its parse; both are leaked (kilobytes, once per
/// call in a test) so that the caller can keep it.
fn clinical(bytes: &[u8]) -> Clinical<'static> {
    let text: &'static str = Box::leak(jis::decode(bytes).unwrap().text.into_boxed_str());
    let msg: &'static Message<'static> = Box::leak(Box::new(Message::parse(text).unwrap()));
    extract::extract(msg)
}

/// Full-width katakana → half-width, as a tablet keyboard might send it.
fn half_width(s: &str) -> String {
    const FULL: &str = "ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン";
    const HALF: &str = "ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ";
    let map: Vec<(char, char)> = FULL.chars().zip(HALF.chars()).collect();
    let mut out = String::new();
    for c in s.chars() {
        const VOICED: &str = "ガギグゲゴザジズゼゾダヂヅデドバビブベボヴ";
        const SEMI: &str = "パピプペポ";
        let (base, mark) = if VOICED.contains(c) {
            let base = if c == 'ヴ' {
                'ウ'
            } else {
                char::from_u32(c as u32 - 1).unwrap()
            };
            (base, Some('ﾞ'))
        } else if SEMI.contains(c) {
            (char::from_u32(c as u32 - 2).unwrap(), Some('ﾟ'))
        } else {
            (c, None)
        };
        match map.iter().find(|(f, _)| *f == base) {
            Some((_, h)) => out.push(*h),
            None => out.push(base),
        }
        if let Some(m) = mark {
            out.push(m);
        }
    }
    out
}

#[test]
fn gen_import_export_search_summary_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let region = tmp.path().join("region");
    let data = tmp.path().join("data");
    let out = tmp.path().join("out");
    let (r, d, o) = (
        region.to_str().unwrap(),
        data.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    ok(&["gen", "--out", r, "--patients", "200", "--seed", "3"]);
    ok(&[
        "init",
        "--data",
        d,
        "--facility",
        "0400000001",
        "--kdf-iterations",
        "1000",
    ]);
    let first: serde_json::Value =
        serde_json::from_str(&ok(&["import", "--data", d, r, "--json"])).unwrap();
    let files = tree(&region);
    assert_eq!(first["new"].as_u64().unwrap(), files.len() as u64);
    ok(&["export", "--data", d, "--out", o]);
    assert!(
        tree(&out) == files,
        "export differs from the generated tree"
    );
    let again: serde_json::Value =
        serde_json::from_str(&ok(&["import", "--data", d, r, "--json"])).unwrap();
    assert_eq!(again["new"], 0);
    ok(&["verify", "--data", d]);

    // A patient with allergies (ADT-61) and prescriptions at one facility.
    let mut by_patient: BTreeMap<(String, String), Vec<Named<'_>>> = BTreeMap::new();
    for (rel, bytes) in &files {
        let facility = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        let (name, _) = FileName::parse(rel.file_name().unwrap().to_str().unwrap()).unwrap();
        by_patient
            .entry((facility, name.patient_id.clone()))
            .or_default()
            .push((name, bytes));
    }
    let newest = |fs_: &Vec<Named<'_>>, kind: &str| {
        fs_.iter()
            .filter(|f| f.0.data_type == kind && f.0.flag.as_char() == '1')
            .max_by_key(|f| (f.0.care_date.clone(), f.0.occurred.clone()))
            .map(|f| f.1.clone())
    };
    let ((facility, pid), pf) = by_patient
        .iter()
        .find(|(_, f)| {
            newest(f, "ADT-61").is_some()
                && newest(f, "OMP-01").is_some()
                && newest(f, "ADT-00").is_some()
        })
        .expect("a patient with allergies and prescriptions");
    let p = clinical(&newest(pf, "ADT-00").unwrap()).patient.unwrap();
    let kana = p.kana_name.unwrap();
    let kanji = p.kanji_name.unwrap();
    let dob = p.birth_date.unwrap().to_string();
    let kana_half = half_width(&format!("{} {}", kana.family.unwrap(), kana.given.unwrap()));
    let kanji_full = format!("{}{}", kanji.family.unwrap(), kanji.given.unwrap());
    for args in [
        vec![kana_half.as_str()],
        vec![kanji_full.as_str()],
        vec![pid.as_str()],
        vec!["--dob", dob.as_str()],
    ] {
        let mut full = vec!["patient", "search", "--data", d, "--json"];
        full.extend(args.iter().copied());
        let v: serde_json::Value = serde_json::from_str(&ok(&full)).unwrap();
        let found = v["patients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["facility"] == facility.as_str() && p["patient_id"] == pid.as_str());
        assert!(found, "{args:?}");
    }

    let sum: serde_json::Value = serde_json::from_str(&ok(&[
        "patient",
        "summary",
        "--data",
        d,
        "--facility",
        facility,
        "--id",
        pid,
        "--json",
    ]))
    .unwrap();
    let text = sum.to_string();
    for a in clinical(&newest(pf, "ADT-61").unwrap()).allergies {
        let name = a.allergen.unwrap().text.unwrap().to_string();
        assert!(text.contains(&name), "allergy missing");
    }
    for m in clinical(&newest(pf, "OMP-01").unwrap()).medication_orders {
        let name = m.drug.unwrap().text.unwrap().to_string();
        assert!(
            sum["prescriptions"].to_string().contains(&name),
            "prescription missing"
        );
    }
    assert!(
        sum["flag_rules"]
            .as_str()
            .unwrap()
            .starts_with("kizuna-flags/")
    );

    let wrong = kizuna(
        &["patient", "search", "--data", d, "ﾔ"],
        "not the passphrase",
    );
    assert!(!wrong.status.success());
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("passphrase does not unlock"), "{err}");
}

/// `--key-file` (for automation: a provisioning script, a systemd credential) is read by every
/// command that opens the store, wins over `KIZUNA_PASSPHRASE`, and is checked like a typed one.
#[test]
fn key_file_passphrase_is_used_by_every_command_and_wins_over_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let key = tmp.path().join("key");
    // Written on Windows: the line ending is not part of the passphrase.
    fs::write(&key, "passphrase from a file\r\n").unwrap();
    let run = |args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kizuna"));
        cmd.args(args).env_remove("KIZUNA_PASSPHRASE");
        if let Some(pass) = env {
            cmd.env("KIZUNA_PASSPHRASE", pass);
        }
        cmd.output().unwrap()
    };
    let (d, k) = (data.to_str().unwrap(), key.to_str().unwrap());
    let out = run(
        &[
            "init",
            "--data",
            d,
            "--facility",
            "0123456789",
            "--kdf-iterations",
            "1000",
            "--key-file",
            k,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The file alone opens the store; with a wrong passphrase in the environment too.
    for env in [None, Some("not the passphrase")] {
        let out = run(&["verify", "--data", d, "--key-file", k, "--json"], env);
        assert!(
            out.status.success(),
            "{env:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(&["status", "--data", d, "--key-file", k, "--json"], env);
        assert!(
            out.status.success(),
            "{env:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(status["facility"], "0123456789", "{status}");
    }
    // The same passphrase without the `\r` from the environment: the same key.
    let out = run(&["verify", "--data", d], Some("passphrase from a file"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A wrong key file is refused like a wrong passphrase, and touches nothing.
    let wrong = tmp.path().join("wrong");
    fs::write(&wrong, "passphrase from another file\n").unwrap();
    let before = fs::read(data.join("keys.json")).expect("init wrote keys.json");
    let out = run(
        &["verify", "--data", d, "--key-file", wrong.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("passphrase"), "{err}");
    assert_eq!(fs::read(data.join("keys.json")).unwrap(), before);

    // A key file that is not one line of text is refused before it is read.
    let big = tmp.path().join("big");
    fs::write(&big, vec![b'x'; 5000]).unwrap();
    let out = run(
        &["verify", "--data", d, "--key-file", big.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than"));

    // The daemon has no prompt: without any source it says what to do.
    let zero_key = "0".repeat(64);
    let out = run(
        &[
            "sync",
            "--data",
            d,
            "--authority",
            &zero_key,
            "--membership",
            k,
            "--peer",
            "/ip4/127.0.0.1/udp/9/quic-v1",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--key-file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kizuna store repack`: a store whose patients' files arrived over three imports (as live
/// ingest brings them: a few per patient at a time, so each import leaves small packs) is
/// merged; the export is unchanged, `verify` is clean, the stored bytes shrink, and a second
/// run moves nothing.
#[test]
fn store_repack_merges_small_packs_and_keeps_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let region = tmp.path().join("region");
    let staging = tmp.path().join("staging");
    let data = tmp.path().join("data");
    let out = tmp.path().join("out");
    let (r, st, d, o) = (
        region.to_str().unwrap(),
        staging.to_str().unwrap(),
        data.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    ok(&["gen", "--out", r, "--patients", "120", "--seed", "5"]);
    ok(&[
        "init",
        "--data",
        d,
        "--facility",
        "0400000001",
        "--kdf-iterations",
        "1000",
    ]);
    let files = tree(&region);
    for round in 0..3 {
        for (rel, bytes) in files.iter().skip(round).step_by(3) {
            let to = staging.join(rel);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::write(&to, bytes).unwrap();
        }
        ok(&["import", "--data", d, st]);
    }
    let first: serde_json::Value =
        serde_json::from_str(&ok(&["store", "repack", "--data", d, "--json"])).unwrap();
    let moved = first["items_moved"].as_u64().unwrap();
    let (before, after) = (
        first["stored_bytes_before"].as_u64().unwrap(),
        first["stored_bytes_after"].as_u64().unwrap(),
    );
    assert!(moved as usize > files.len() / 2, "{first}");
    assert!(after * 10 < before * 8, "{first}");
    assert_eq!(first["done"], true);
    assert_eq!(first["unreadable"], 0);
    ok(&["verify", "--data", d]);
    ok(&["export", "--data", d, "--out", o]);
    assert!(tree(&out) == files, "export differs after repack");
    let second: serde_json::Value =
        serde_json::from_str(&ok(&["store", "repack", "--data", d, "--json"])).unwrap();
    assert_eq!(second["items_moved"], 0, "{second}");
    assert_eq!(second["stored_bytes_after"], first["stored_bytes_after"]);
    let text = ok(&["store", "repack", "--data", d]);
    assert!(text.contains("0 items (0 bytes) moved"), "{text}");
}
