//! `kizuna demo`, the README's first command, end to end: real processes on loopback through
//! normal sync, the backbone cut, live ingest during the outage, the shelter reading an
//! evacuee's summary from a facility it never synced with, and reconciliation. The demo checks
//! its own claims (equal digests, central tree = union of facility trees) and fails when one
//! does not hold; this test holds it to its exit status, to the narration a newcomer reads, and
//! to cleaning up after itself.

mod common;

use std::process::Command;

use common::*;

#[test]
fn demo_runs_the_outage_story_and_checks_its_claims() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = run_cmd(
        {
            let mut cmd = Command::new(BIN);
            // The demo's temporary directory goes below TMPDIR: a private one, checked after.
            cmd.args(["demo", "--patients", "20"])
                .env("TMPDIR", tmp.path());
            cmd
        },
        "kizuna demo",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    for step in [
        "the backbone is cut: the hub is gone",
        "emergency summary of evacuee",
        "links return: the hub restarts at its address",
        "every node holds",
        "the central tree equals the union of the facility trees",
        "whole demo",
    ] {
        assert!(stdout.contains(step), "the demo never said {step:?}");
    }
    // The shelter printed a real summary (its section headings), not an empty one.
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.contains("emergency summary of evacuee"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .collect();
    assert!(summary.len() >= 3, "summary too short: {summary:?}");
    // Every node holds the same number of items, which is the number before the outage plus
    // what was written during it.
    let figure = |name: &str| -> u64 {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.split_whitespace().rev().find_map(|w| w.parse().ok()))
            .unwrap_or_else(|| panic!("no figure {name:?}"))
    };
    assert!(figure("items before the outage") > 0);
    // Nothing left behind: the demo removes its directory (processes, stores, trees).
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read TMPDIR")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("kizuna-demo-"))
        .collect();
    assert!(left.is_empty(), "the demo left {left:?}");
}
