//! End-to-end tests of the node daemon: real `kizuna` processes on loopback QUIC.
//!
//! Every child is killed on drop and every wait has a deadline, so a hang fails the test
//! instead of stalling CI. Debug builds spend ~2 s per PBKDF2 (600,000 iterations, run by
//! `init`, `import`, `status`, twice by `run` and `sync`), hence the generous deadlines.

mod common;

use common::*;

#[test]
fn two_members_converge_to_the_union() {
    // Enough patients (~2,300 files a side) that each direction spans several FETCH batches
    // (256 ids, two in flight) and several insert batches (1,024 items) on the fetching side.
    let region = region_with(tempfile::tempdir().expect("tempdir"), 500);
    let (fa, fb) = (region.facilities[0].clone(), region.facilities[1].clone());
    let (n1, p1) = node(&region, "n1", &fa);
    let (n2, p2) = node(&region, "n2", &fb);
    let tree = region.root.join("region");
    ok(&["import", "--data", s(&n1), s(&tree.join(&fa))]);
    ok(&["import", "--data", s(&n2), s(&tree.join(&fb))]);
    let m1 = admit(&region, &region.authority_key, &p1, &fa, "2099-01-01");
    let m2 = admit(&region, &region.authority_key, &p2, &fb, "2099-01-01");

    let mut d1 = daemon(&region, &n1, &m1, &[]);
    let addr = d1.listen_addr();
    assert!(
        addr.contains(&p1),
        "listen address names the peer id: {addr}"
    );
    let out = sync(&region.authority_pub, &n2, &m2, &addr);
    assert!(
        out.status.success(),
        "sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    let files_a = read_tree(&tree.join(&fa)).len() as u64;
    let files_b = read_tree(&tree.join(&fb)).len() as u64;
    // Generated files are distinct messages, so items = files on each side.
    assert_eq!(report["items_received"], files_a, "{report}");
    assert_eq!(report["items_sent"], files_b, "{report}");
    assert_eq!(report["items_stored_by_peer"], files_b, "{report}");
    assert_eq!(report["items_rejected"], 0);
    assert!(report["round_trips"].as_u64().expect("rt") >= 1);
    assert!(
        files_a > 2 * 1024,
        "the fetch spans several insert batches: {files_a}"
    );
    assert_eq!(
        report["store_insert_batches"],
        files_a.div_ceil(1024),
        "{report}"
    );
    d1.wait_for("\"sync done\"");
    drop(d1);

    // Both stores now hold the union, byte for byte, at the same paths as the source region.
    let e1 = region.root.join("e1");
    let e2 = region.root.join("e2");
    ok(&["export", "--data", s(&n1), "--out", s(&e1)]);
    ok(&["export", "--data", s(&n2), "--out", s(&e2)]);
    let source = read_tree(&tree);
    assert_eq!(source.len() as u64, files_a + files_b);
    assert_eq!(read_tree(&e1), source);
    assert_eq!(read_tree(&e2), source);

    // A second sync finds nothing to do and still succeeds.
    let mut d1 = daemon(&region, &n1, &m1, &[]);
    let addr = d1.listen_addr();
    let out = sync(&region.authority_pub, &n2, &m2, &addr);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    assert_eq!(report["need"], 0);
    assert_eq!(report["have"], 0);
    assert_eq!(
        report["round_trips"], 1,
        "a no-op sync is one round trip: {report}"
    );
}

#[test]
fn non_members_expired_and_revoked_peers_are_refused() {
    let region = region(tempfile::tempdir().expect("tempdir"));
    let fa = region.facilities[0].clone();
    let fb = region.facilities[1].clone();
    let (n1, p1) = node(&region, "n1", &fa);
    let (n2, p2) = node(&region, "n2", &fb);
    let m1 = admit(&region, &region.authority_key, &p1, &fa, "2099-01-01");

    // Another region's authority: a record it signs means nothing here.
    let other_key = region.root.join("other.key");
    let other_pub = ok(&["region", "create", "--out", s(&other_key)])
        .trim()
        .to_owned();
    let foreign = admit(&region, &other_key, &p2, &fb, "2099-01-01");
    let expired = admit(&region, &region.authority_key, &p2, &fb, "2000-01-01");
    let valid = admit(&region, &region.authority_key, &p2, &fb, "2099-01-01");

    let mut d1 = daemon(&region, &n1, &m1, &[]);
    let addr = d1.listen_addr();

    // Not admitted by this region: the client trusts its own (other) authority, node 1 does not.
    let out = sync(&other_pub, &n2, &foreign, &addr);
    assert!(!out.status.success(), "a foreign member must not sync");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("membership refused"), "{stderr}");
    assert!(
        stderr.contains("not admitted by this region's authority"),
        "{stderr}"
    );
    d1.wait_for("signed by a different region authority");

    let out = sync(&region.authority_pub, &n2, &expired, &addr);
    assert!(!out.status.success(), "an expired member must not sync");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("membership record expired"), "{stderr}");
    d1.wait_for("membership record expired");
    drop(d1);

    // Revoked: node 1 restarts with the revocation; the same valid record is now refused.
    let revoked_dir = region.root.join("revoked");
    std::fs::create_dir(&revoked_dir).expect("mkdir");
    ok(&[
        "region",
        "revoke",
        "--authority",
        s(&region.authority_key),
        "--peer",
        &p2,
        "--out",
        s(&revoked_dir.join("n2.kzr")),
    ]);
    let mut d1 = daemon(&region, &n1, &m1, &["--revocations", s(&revoked_dir)]);
    let addr = d1.listen_addr();
    let out = sync(&region.authority_pub, &n2, &valid, &addr);
    assert!(!out.status.success(), "a revoked member must not sync");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("member key is revoked"), "{stderr}");
    d1.wait_for("member key is revoked");
    // Nothing moved in any refused attempt.
    let status = ok(&["status", "--data", s(&n1), "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    assert_eq!(status["items"], 0);
}
