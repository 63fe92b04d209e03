//! NHO's conformance files through the codec and the validator, intact, truncated and corrupted.
//! Nothing may panic; every damaged version must be reported (error or warning).

use std::path::{Path, PathBuf};

use kizuna_storage::ssmix2::check::{self, Verdict};
use kizuna_storage::ssmix2::jis;

const SKIP: &str = "skipping: ../shared/conformance not found (it sits beside the checkout in CI)";

/// Every conformance file as (components below the root, bytes), or `None` after saying why.
fn fixtures() -> Option<Vec<(Vec<String>, Vec<u8>)>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/ssmix2-nho/sampleData");
    if !root.is_dir() {
        eprintln!("{SKIP}");
        return None;
    }
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable fixture dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&root).expect("below root");
                let components = rel
                    .iter()
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect();
                files.push((components, std::fs::read(&path).expect("readable fixture")));
            }
        }
    }
    files.sort();
    assert_eq!(files.len(), 22, "the conformance set has 22 files");
    Some(files)
}

fn verdict(components: &[String], bytes: &[u8]) -> Verdict {
    let parts: Vec<&str> = components.iter().map(String::as_str).collect();
    check::check_file("fixture", &parts, bytes).verdict
}

/// Decoding with Kizuna's codec and re-encoding strictly reproduces the bytes of all 21
/// decodable files; the 22nd (`FB FC`) is a decode error.
#[test]
fn codec_round_trips_every_decodable_file() {
    let Some(files) = fixtures() else { return };
    let mut decoded = 0;
    for (components, bytes) in &files {
        match jis::decode(bytes) {
            Ok(d) => {
                assert!(d.warnings.is_empty(), "{components:?}: {:?}", d.warnings);
                assert_eq!(
                    &jis::encode(&d.text).expect("strict encode"),
                    bytes,
                    "{components:?}"
                );
                decoded += 1;
            }
            Err(err) => assert_eq!(
                err,
                jis::DecodeError::EightBit {
                    offset: 0,
                    byte: 0xFB
                }
            ),
        }
    }
    assert_eq!(decoded, 21);
}

/// A file cut short is reported: a cut inside a segment leaves no final CR, a cut inside a
/// double-byte run leaves the decoder outside ASCII. A cut exactly at a segment boundary leaves a
/// shorter message that SS-MIX2 cannot tell from a complete one (no length or checksum field), so
/// those cuts are only required not to panic and to parse fewer segments.
#[test]
fn every_truncation_is_reported_or_is_a_shorter_message() {
    let Some(files) = fixtures() else { return };
    let mut checked = 0u32;
    for (components, bytes) in &files {
        let intact = verdict(components, bytes);
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            let got = verdict(components, cut);
            let at_boundary =
                len > 0 && matches!(bytes[len - 1], b'\r') && bytes[len..].contains(&b'\r');
            if at_boundary || bytes[len..].iter().all(|&b| b == b'\r' || b == 0x1C) {
                // A cut at a segment boundary, or one that removes only the final CR and 0x1C:
                // a complete shorter message; checking it without a panic is the assertion.
                continue;
            }
            assert_ne!(
                got,
                Verdict::Ok,
                "{components:?} cut to {len} of {} bytes",
                bytes.len()
            );
            if intact == Verdict::Error {
                assert_eq!(got, Verdict::Error);
            }
            checked += 1;
        }
    }
    assert!(checked > 20_000, "checked {checked} truncations");
}

/// Deterministic corruptions of every byte position class: an 8-bit byte, a stray escape, a
/// missing MSH, a lost kanji half. Each is reported, none panics.
#[test]
fn corruptions_are_reported() {
    let Some(files) = fixtures() else { return };
    let mut checked = 0u32;
    for (components, bytes) in &files {
        for pos in (0..bytes.len()).step_by(7) {
            let mut high = bytes.clone();
            high[pos] |= 0x80;
            assert_eq!(
                verdict(components, &high),
                Verdict::Error,
                "{components:?} high bit at {pos}"
            );

            let mut esc = bytes.clone();
            esc.splice(pos..pos, [0x1B, b'x']);
            assert_eq!(
                verdict(components, &esc),
                Verdict::Error,
                "{components:?} ESC x at {pos}"
            );

            // Remove one byte: inside a double-byte run this shifts every following pair; at an
            // ASCII position it changes a value. Either way: a verdict, no panic.
            let mut short = bytes.clone();
            short.remove(pos);
            let _ = verdict(components, &short);
            checked += 3;
        }
        if bytes.starts_with(b"MSH") {
            let mut no_msh = bytes.clone();
            no_msh[0] = b'X';
            assert_eq!(verdict(components, &no_msh), Verdict::Error);
            let lf: Vec<u8> = bytes
                .iter()
                .map(|&b| if b == b'\r' { b'\n' } else { b })
                .collect();
            let parts: Vec<&str> = components.iter().map(String::as_str).collect();
            let report = check::check_file("fixture", &parts, &lf);
            assert!(
                report
                    .findings
                    .iter()
                    .any(|f| f.code == "hl7.lf_terminator"),
                "{components:?}"
            );
        }
    }
    assert!(checked > 5_000, "checked {checked} corruptions");
}
