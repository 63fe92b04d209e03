//! Resumable item transfer on real processes over loopback QUIC: a `kizuna sync` killed in the
//! middle of a large item leaves the received prefix in its staging area, and the next sync
//! fetches only the rest. "No completed chunk re-sent" is asserted from the sync report: the
//! second sync receives exactly ⌈(size − prefix) / CHUNK_BYTES⌉ chunks of the large item.

mod common;

use std::path::Path;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// `CHUNK_BYTES` of the sync stream (node/src/net/sync.rs).
const CHUNK_BYTES: u64 = 60 * 1024;
/// Just under the network item cap (16 MiB), so the transfer lasts long enough to be cut.
const BIG_BYTES: usize = 15 * 1024 * 1024;

#[test]
fn a_cut_transfer_resumes_without_resending_completed_chunks() {
    if !Path::new("/dev/shm").is_dir() {
        println!("SKIP: /dev/shm (the default staging area) is missing on this machine");
        return;
    }
    let region = region(tempfile::tempdir().expect("tempdir"));
    let (fa, fb) = (region.facilities[0].clone(), region.facilities[1].clone());
    let (n1, p1) = node(&region, "n1", &fa);
    let (n2, p2) = node(&region, "n2", &fb);
    let tree = region.root.join("region");
    let (_, big) = add_big_item(&tree.join(&fa), BIG_BYTES);
    ok(&["import", "--data", s(&n1), s(&tree.join(&fa))]);
    let m1 = admit(&region, &region.authority_key, &p1, &fa, "2099-01-01");
    let m2 = admit(&region, &region.authority_key, &p2, &fb, "2099-01-01");
    let source = read_tree(&tree.join(&fa));
    let small_bytes: u64 = source
        .iter()
        .map(|(_, b)| b.len() as u64)
        .filter(|len| *len != big)
        .sum();
    let small_items = source.len() as u64 - 1;

    let mut d1 = daemon(&region, &n1, &m1, &[]);
    let addr = d1.listen_addr();
    let partials = partial_dir(&p2);
    let _ = std::fs::remove_dir_all(&partials);

    // First attempt: killed once at least 1 MiB of the large item has arrived.
    let mut child = kizuna(&[
        "sync",
        "--data",
        s(&n2),
        "--authority",
        &region.authority_pub,
        "--membership",
        s(&m2),
        "--peer",
        &addr,
        "--json",
        "--log-format",
        "json",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn sync");
    let started = Instant::now();
    loop {
        if partial_len(&partials) >= 1024 * 1024 {
            child.kill().expect("kill the sync");
            break;
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the sync finished before it could be cut"
        );
        assert!(started.elapsed() < DEADLINE, "no partial item appeared");
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.wait();
    let prefix = partial_len(&partials);
    println!("cut after {prefix} of {big} bytes");
    assert!(prefix > 0 && prefix < big, "prefix {prefix} of {big}");

    // Second attempt: only the rest of the large item moves.
    let out = sync(&region.authority_pub, &n2, &m2, &addr);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    println!("second sync: {report}");
    assert_eq!(report["items_resumed"], 1, "{report}");
    assert_eq!(report["bytes_resumed"], prefix, "{report}");
    assert_eq!(report["items_received"], small_items + 1, "{report}");
    // Each small item is one chunk; the large one only from the prefix on.
    let rest_chunks = (big - prefix).div_ceil(CHUNK_BYTES);
    assert_eq!(
        report["chunks_received"],
        small_items + rest_chunks,
        "completed chunks were sent again: {report}"
    );
    assert_eq!(
        report["item_bytes_received"],
        small_bytes + (big - prefix),
        "{report}"
    );
    assert_eq!(partial_len(&partials), 0, "the partial is gone once stored");

    // The store holds the item byte for byte.
    drop(d1);
    let e2 = region.root.join("e2");
    ok(&["export", "--data", s(&n2), "--out", s(&e2)]);
    assert_eq!(read_tree(&e2.join(&fa)), source);
    let _ = std::fs::remove_dir_all(&partials);
}
