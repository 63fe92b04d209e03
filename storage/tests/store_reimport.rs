//! Re-import with the per-directory index (ARCHITECTURE.md, Import): a directory whose
//! (inode, mtime, ctime) is unchanged since its last complete import is counted without a look
//! at its files; a new file and a condition-flag rename change the directory and are caught; a
//! file rewritten in place does not (standardized storage never does that) and is caught by a
//! `full` import.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kizuna_storage::store::{
    ImportOptions, ImportSummary, InitOptions, KDF_ITERATIONS_MIN, Role, Store,
};
use kizuna_storage::synth::{RegionSpec, generate};

const PASS: &[u8] = b"reimport test passphrase";

fn import(store: &mut Store, tree: &Path, full: bool) -> ImportSummary {
    store
        .import(
            std::slice::from_ref(&tree.to_path_buf()),
            ImportOptions {
                full,
                ..ImportOptions::default()
            },
        )
        .unwrap()
}

/// Regular files below `root` whose name ends in `suffix`, sorted.
fn files_ending(root: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .map(|e| e.path().to_path_buf())
        .collect();
    out.sort();
    out
}

/// Waits out the racy window: a directory changed within 2 s of being listed is not recorded.
fn settle() {
    std::thread::sleep(Duration::from_millis(2_200));
}

#[test]
fn unchanged_directories_are_skipped_and_new_renamed_and_full_edited_files_are_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("region");
    let spec = RegionSpec {
        patients: 12,
        facilities: 2,
        seed: 7,
    };
    generate(&spec, &tree, |_| {}).unwrap();
    let data = tmp.path().join("data");
    let opts = InitOptions {
        kdf_iterations: KDF_ITERATIONS_MIN,
        ..InitOptions::new("0400000001", Role::Hub)
    };
    Store::init(&data, &opts, PASS).unwrap();
    let mut store = Store::open(&data, PASS).unwrap();
    settle();

    let first = import(&mut store, &tree, false);
    assert!(first.files > 50, "{} files", first.files);
    assert_eq!(first.new + first.quarantined, first.files);
    assert_eq!(first.dirs_unchanged, 0);

    let again = import(&mut store, &tree, false);
    assert_eq!(again.files, first.files);
    assert_eq!(again.new, 0);
    assert_eq!(again.unchanged + again.quarantined, first.files);
    assert_eq!(again.quarantined, first.quarantined);
    assert!(
        again.dirs_unchanged > 10,
        "{} directories skipped",
        again.dirs_unchanged
    );
    assert_eq!(again.stages.read, 0.0, "nothing read");

    // Three leaf files in three different directories.
    let currents = files_ending(&tree, "_1");
    let mut dirs_seen = Vec::new();
    let mut picks = Vec::new();
    for f in &currents {
        let dir = f.parent().unwrap().to_path_buf();
        if !dirs_seen.contains(&dir) {
            dirs_seen.push(dir);
            picks.push(f.clone());
        }
        if picks.len() == 3 {
            break;
        }
    }
    assert_eq!(picks.len(), 3, "three directories with current files");
    let (to_copy, to_rename, to_edit) = (&picks[0], &picks[1], &picks[2]);

    // A new file (a copy under another order number's name: same bytes, a new location).
    let name = to_copy.file_name().unwrap().to_string_lossy().into_owned();
    let mut fields: Vec<&str> = name.split('_').collect();
    let first_digit = if fields[3].starts_with('8') { '7' } else { '8' };
    let order = format!("{first_digit}{}", &fields[3][1..]);
    fields[3] = &order;
    let new_path = to_copy.with_file_name(fields.join("_"));
    assert!(!new_path.exists());
    fs::copy(to_copy, &new_path).unwrap();
    // A condition-flag rename: current → superseded.
    let renamed = to_rename.with_file_name(format!(
        "{}2",
        to_rename
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('1')
    ));
    fs::rename(to_rename, &renamed).unwrap();
    // An in-place rewrite of a stored file (other bytes, same inode, same directory entries).
    let mut bytes = fs::read(to_edit).unwrap();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'X' { b'Y' } else { b'X' };
    fs::write(to_edit, &bytes).unwrap();

    let changed = import(&mut store, &tree, false);
    assert_eq!(changed.files, first.files + 1, "the new file is counted");
    assert_eq!(changed.new, 2, "the new file and the renamed one");
    assert_eq!(changed.renamed, 1, "the rename stored no bytes");
    assert_eq!(
        changed.items_added, 0,
        "the copy's bytes were stored already"
    );
    assert!(
        changed.dirs_unchanged > 10 && changed.dirs_unchanged < again.dirs_unchanged,
        "{} of {} directories skipped",
        changed.dirs_unchanged,
        again.dirs_unchanged
    );

    // The in-place edit: missed by the directory rule (its directory did not change) …
    let missed = import(&mut store, &tree, false);
    assert_eq!(
        missed.new, 0,
        "an in-place rewrite is not seen without `full`"
    );
    // … and caught by a full import, which stats every file.
    let full = import(&mut store, &tree, true);
    assert_eq!(full.dirs_unchanged, 0);
    assert_eq!(full.files, first.files + 1);
    assert_eq!(full.new, 1, "the rewritten file");
    assert_eq!(full.items_added, 1, "its new bytes");
    let after = import(&mut store, &tree, true);
    assert_eq!(after.new, 0);

    // The export holds the edited bytes, the new file and the renamed one, byte for byte.
    let out = tmp.path().join("out");
    store.export(&out, None).unwrap();
    let exported = |p: &Path| {
        let rel = p.strip_prefix(&tree).unwrap();
        fs::read(out.join(rel)).unwrap()
    };
    assert_eq!(exported(to_edit), bytes);
    assert_eq!(exported(&new_path), fs::read(&new_path).unwrap());
    assert_eq!(exported(&renamed), fs::read(&renamed).unwrap());
    assert!(!out.join(to_rename.strip_prefix(&tree).unwrap()).exists());
}
