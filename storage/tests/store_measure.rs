//! Compression measurement behind the codec choice in ARCHITECTURE.md ("Node store"): zstd on
//! single SS-MIX2 messages, without and with a per-data-type dictionary trained on other
//! messages of the same type. Needs a generated region (`kizuna gen --out DIR`), so it is
//! ignored by default:
//!
//! ```text
//! KIZUNA_MEASURE_TREE=/tmp/region cargo test --release -p kizuna-storage --test store_measure -- --ignored --nocapture
//! ```

use std::collections::BTreeMap;
use std::path::Path;

/// Samples per data type used for training; the rest are measured.
const TRAIN_MAX: usize = 2_000;
const DICT_BYTES: usize = 16 * 1024;

#[test]
#[ignore = "needs a generated region in KIZUNA_MEASURE_TREE"]
fn zstd_with_and_without_dictionaries() {
    let Ok(tree) = std::env::var("KIZUNA_MEASURE_TREE") else {
        eprintln!("skipping: KIZUNA_MEASURE_TREE is not set");
        return;
    };
    let mut by_type: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(Path::new(&tree)).sort_by_file_name() {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let kind = entry
            .path()
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        by_type
            .entry(kind)
            .or_default()
            .push(std::fs::read(entry.path()).unwrap());
    }
    let (mut raw_all, mut plain_all, mut dict_all, mut dict_bytes_all) = (0usize, 0, 0, 0);
    println!("type     files  raw B/file  zstd-3  zstd-19  dict-3  (ratio = compressed/raw)");
    for (kind, files) in &by_type {
        // Alternate files between training and measuring, so both see every facility.
        let (train, test): (Vec<_>, Vec<_>) =
            files.iter().enumerate().partition(|(i, _)| i % 2 == 0);
        let train: Vec<&Vec<u8>> = train.into_iter().map(|(_, f)| f).take(TRAIN_MAX).collect();
        let test: Vec<&Vec<u8>> = test.into_iter().map(|(_, f)| f).collect();
        if train.len() < 8 || test.is_empty() {
            continue;
        }
        let Ok(dict) = zstd::dict::from_samples(&train, DICT_BYTES) else {
            println!(
                "{kind:8} {:5}  (too few distinct samples to train)",
                files.len()
            );
            continue;
        };
        let mut with_dict = zstd::bulk::Compressor::with_dictionary(3, &dict).unwrap();
        let (mut raw, mut plain, mut high, mut dicted) = (0usize, 0, 0, 0);
        for f in &test {
            raw += f.len();
            plain += zstd::bulk::compress(f, 3).unwrap().len().min(f.len());
            high += zstd::bulk::compress(f, 19).unwrap().len().min(f.len());
            dicted += with_dict.compress(f).unwrap().len().min(f.len());
        }
        raw_all += raw;
        plain_all += plain;
        dict_all += dicted;
        dict_bytes_all += dict.len();
        println!(
            "{kind:8} {:5}  {:10}  {:6.3}  {:7.3}  {:6.3}",
            files.len(),
            raw / test.len(),
            plain as f64 / raw as f64,
            high as f64 / raw as f64,
            dicted as f64 / raw as f64
        );
        assert!(
            dicted <= plain,
            "a trained dictionary should not lose on its own type"
        );
    }
    println!(
        "all: zstd-3 {:.3}, dict-3 {:.3}; dictionaries total {} bytes",
        plain_all as f64 / raw_all as f64,
        dict_all as f64 / raw_all as f64,
        dict_bytes_all
    );
}
