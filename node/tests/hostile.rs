//! Hostile peers against a real daemon over loopback QUIC. The attacker is
//! `examples/hostile_peer.rs`: a separate process with its own libp2p identity that speaks the
//! node's real framing and handshake. After a flood of connections from fresh identities,
//! oversized and garbage frames, a tampered item and a burst of streams, the victim's resident
//! memory stays within [`RSS_GROWTH_MAX`] of its warmed-up size, each offending member is
//! disconnected and logged (without the patient data it sent), and honest peers still sync.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

/// Stated bound on the victim's RSS growth across all attacks. The node's own bounds: 32
/// connections × 1 MiB QUIC window, 4 streams per connection, 4 queued frames of ≤ 64 KiB per
/// sync stream, 2 syncs at once; 48 MiB leaves room for allocator slack.
const RSS_GROWTH_MAX: u64 = 48 * 1024 * 1024;
/// Non-member connections in the flood.
const FLOOD: usize = 300;

fn hostile_bin() -> PathBuf {
    let bin = std::path::Path::new(BIN)
        .parent()
        .expect("target dir")
        .join("examples/hostile_peer");
    assert!(
        bin.is_file(),
        "{} is missing: `cargo test` builds examples; for a single test run \
         `cargo build --release -p kizuna-node --example hostile_peer` first",
        bin.display()
    );
    bin
}

fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

fn warnings(d: &Daemon) -> Vec<String> {
    let log = d.log.lock().expect("log");
    log.iter()
        .filter(|l| l.contains("WARN") && !l.contains("wrong length or magic"))
        .cloned()
        .collect()
}

/// Attempts per attack when the attacker could not even open its stream: right after the flood
/// the victim may still be shedding stranger connections and drop a new one (seen in CI under
/// load). Nothing reached the victim in such an attempt, so retrying tests the same thing.
const ATTACK_ATTEMPTS: usize = 3;

fn attack(args: &[&str]) -> serde_json::Value {
    let mut attempt = 1;
    let out = loop {
        let mut cmd = std::process::Command::new(hostile_bin());
        cmd.args(args).env("KIZUNA_PASSPHRASE", PASS);
        let out = run_cmd(cmd, &format!("hostile_peer {}", args[1]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success()
            || attempt == ATTACK_ATTEMPTS
            || !stderr.contains("failed to open stream")
        {
            break out;
        }
        eprintln!(
            "hostile_peer {}: stream not opened, retrying: {stderr}",
            args[1]
        );
        attempt += 1;
        std::thread::sleep(Duration::from_secs(2));
    };
    assert!(
        out.status.success(),
        "hostile_peer {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("attack JSON");
    println!("attack: {v}");
    v
}

#[test]
fn hostile_peers_leave_memory_bounded_and_honest_peers_syncing() {
    let region = region(tempfile::tempdir().expect("tempdir"));
    let (fa, fb) = (region.facilities[0].clone(), region.facilities[1].clone());
    let (n1, p1) = node(&region, "victim", &fa);
    let (n2, p2) = node(&region, "honest", &fb);
    let (n3, p3) = node(&region, "honest2", &fb);
    let (nr, pr) = node(&region, "rogue", &fb);
    let tree = region.root.join("region");
    ok(&["import", "--data", s(&n1), s(&tree.join(&fa))]);
    let items = read_tree(&tree.join(&fa)).len() as u64;
    let m1 = admit(&region, &region.authority_key, &p1, &fa, "2099-01-01");
    let m2 = admit(&region, &region.authority_key, &p2, &fb, "2099-01-01");
    let m3 = admit(&region, &region.authority_key, &p3, &fb, "2099-01-01");
    let mr = admit(&region, &region.authority_key, &pr, &fb, "2099-01-01");

    let mut victim = daemon(&region, &n1, &m1, &[]);
    let addr = victim.listen_addr();
    let pid = victim.child.id();
    // Warm up with an honest sync, so the baseline includes a finished session.
    let out = sync(&region.authority_pub, &n2, &m2, &addr);
    assert!(
        out.status.success(),
        "{}\nvictim warnings: {:?}",
        String::from_utf8_lossy(&out.stderr),
        warnings(&victim)
    );
    std::thread::sleep(Duration::from_secs(1));
    let rss_before = rss(pid);

    let flood = attack(&[&addr, "flood", &FLOOD.to_string()]);
    let outcomes = &flood["outcomes"];
    let total: u64 = ["refused", "dropped", "connect_failed"]
        .iter()
        .map(|k| outcomes[k].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, FLOOD as u64, "{flood}");
    assert!(outcomes["refused"].as_u64().unwrap_or(0) > 0, "{flood}");
    let rss_flood = rss(pid);

    let member = [s(&nr), region.authority_pub.as_str(), s(&mr)];
    let mut disconnects = 0u64;
    for mode in ["oversized", "garbage", "tamper"] {
        let mut args = vec![addr.as_str(), mode];
        args.extend_from_slice(&member);
        let v = attack(&args);
        assert_eq!(v["disconnected"], true, "{mode}: {v}");
        disconnects += 1;
    }
    victim.wait_for("announced a 4294967295-byte frame");
    victim.wait_for("item hash mismatch");
    let mut args = vec![addr.as_str(), "streams"];
    args.extend_from_slice(&member);
    let streams = attack(&args);
    assert!(
        victim.child.try_wait().expect("wait").is_none(),
        "the victim died"
    );
    std::thread::sleep(Duration::from_secs(2));
    let rss_after = rss(pid);
    println!(
        "victim RSS: {:.1} MiB before, {:.1} MiB after {FLOOD} strangers, {:.1} MiB after all \
         attacks (bound: +{} MiB); streams: {}",
        rss_before as f64 / 1048576.0,
        rss_flood as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
        RSS_GROWTH_MAX / 1048576,
        streams["extra"]
    );
    assert!(
        rss_after <= rss_before + RSS_GROWTH_MAX,
        "RSS grew from {rss_before} to {rss_after}"
    );

    // Every hostile member was logged as disconnected, by peer id, without what it sent.
    let log = victim.log.lock().expect("log").clone();
    let hostile_lines = log
        .iter()
        .filter(|l| l.contains("peer broke the sync protocol") && l.contains(&pr))
        .count();
    assert!(
        hostile_lines as u64 >= disconnects,
        "{hostile_lines} hostile disconnects logged"
    );
    assert!(
        !log.iter().any(|l| l.contains("99999999")),
        "a patient ID the rogue sent reached the log"
    );

    // An honest peer still syncs everything.
    let out = sync(&region.authority_pub, &n3, &m3, &addr);
    assert!(
        out.status.success(),
        "{}\nvictim warnings: {:?}",
        String::from_utf8_lossy(&out.stderr),
        warnings(&victim)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["items_received"], items, "{report}");
    victim.wait_for(&p3);
    std::thread::sleep(Duration::from_millis(300));
    let status = json(&ok(&["peers", "--data", s(&n1), "--json"]));
    assert!(status["daemon_running"] == true, "{status}");
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(n1.join("status.json")).expect("snapshot"))
            .expect("snapshot JSON");
    assert!(
        snapshot["counters"]["hostile_disconnects"]
            .as_u64()
            .unwrap_or(0)
            >= disconnects,
        "{snapshot}"
    );
    assert!(
        snapshot["counters"]["handshakes_refused"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
}
