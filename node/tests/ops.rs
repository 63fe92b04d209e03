//! Operations of the node daemon: the status snapshot, `kizuna status` and `kizuna peers`
//! with and without a running daemon, and the Prometheus `/metrics` endpoint, on real
//! processes over loopback QUIC.

mod common;

use common::*;

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

#[test]
fn status_peers_and_metrics_report_syncs_honestly() {
    let region = region(tempfile::tempdir().expect("tempdir"));
    let (fa, fb) = (region.facilities[0].clone(), region.facilities[1].clone());
    let (n1, p1) = node(&region, "n1", &fa);
    let (n2, p2) = node(&region, "n2", &fb);
    let tree = region.root.join("region");
    ok(&["import", "--data", s(&n1), s(&tree.join(&fa))]);
    ok(&["import", "--data", s(&n2), s(&tree.join(&fb))]);
    let m1 = admit(&region, &region.authority_key, &p1, &fa, "2099-01-01");
    let m2 = admit(&region, &region.authority_key, &p2, &fb, "2099-01-01");
    let files_a = read_tree(&tree.join(&fa)).len() as u64;
    let files_b = read_tree(&tree.join(&fb)).len() as u64;

    // Before any daemon ran: status works from the store, peers says so.
    let st = json(&ok(&["status", "--data", s(&n1), "--json"]));
    assert_eq!(st["items"], files_a);
    assert_eq!(st["daemon_running"], false);
    assert_eq!(st["peers"].as_array().map(Vec::len), Some(0));
    let by_class = &st["items_by_class"];
    let emergency = by_class["emergency"].as_u64().expect("emergency");
    let routine = by_class["routine"].as_u64().expect("routine");
    assert!(emergency > 0 && routine > 0, "{st}");
    assert_eq!(
        emergency + routine,
        files_a,
        "generated files all name a data type"
    );
    let peers = json(&ok(&["peers", "--data", s(&n1), "--json"]));
    assert_eq!(peers["daemon_running"], false);

    let mut d1 = daemon(&region, &n1, &m1, &["--http-listen", "127.0.0.1:0"]);
    let addr = d1.listen_addr();
    let http = d1.logged_addr("\"http listening\"");
    let (status, body) = http_get(&http, "/metrics");
    assert!(status.contains("200"), "{status}");
    assert_eq!(
        metric(&body, "kizuna_items{class=\"emergency\"}"),
        emergency
    );
    assert_eq!(metric(&body, "kizuna_syncs_total{outcome=\"ok\"}"), 0);
    assert_eq!(metric(&body, "kizuna_peers_connected"), 0);
    let (status, _) = http_get(&http, "/other");
    assert!(status.contains("404"), "{status}");

    let out = sync(&region.authority_pub, &n2, &m2, &addr);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d1.wait_for("\"sync done\"");

    let (_, body) = http_get(&http, "/metrics");
    assert_eq!(metric(&body, "kizuna_syncs_total{outcome=\"ok\"}"), 1);
    assert_eq!(metric(&body, "kizuna_syncs_total{outcome=\"failed\"}"), 0);
    assert_eq!(
        metric(&body, "kizuna_syncs_total{outcome=\"timed_out\"}"),
        0
    );
    assert_eq!(metric(&body, "kizuna_items_sent_total"), files_a);
    assert_eq!(metric(&body, "kizuna_items_received_total"), files_b);
    assert!(metric(&body, "kizuna_chunks_sent_total") >= files_a);
    assert!(metric(&body, "kizuna_item_bytes_received_total") > 0);
    assert_eq!(metric(&body, "kizuna_items_rejected_total"), 0);
    let items_after: u64 = ["emergency", "routine", "other", "quarantined"]
        .iter()
        .map(|c| metric(&body, &format!("kizuna_items{{class=\"{c}\"}}")))
        .sum();
    assert_eq!(items_after, files_a + files_b);

    // While the daemon runs: status opens the same store and reads the fresh snapshot.
    let st = json(&ok(&["status", "--data", s(&n1), "--json"]));
    assert_eq!(st["daemon_running"], true, "{st}");
    assert_eq!(st["items"], files_a + files_b);
    let peer = &st["peers"][0];
    assert_eq!(peer["peer_id"], p2.as_str(), "{st}");
    assert_eq!(peer["facility"], fb.as_str());
    assert_eq!(peer["last_outcome"], "ok");
    assert!(peer["last_ok_unix"].as_u64().is_some());
    assert!(peer["lag_s"].as_u64().expect("lag") < 60);
    assert_eq!(peer["last_ok_report"]["items_received"], files_b);
    assert_eq!(st["counters"]["syncs_ok"], 1);

    // A refused handshake is counted, never shown as a sync.
    let stranger_key = region.root.join("stranger.key");
    let stranger_pub = ok(&["region", "create", "--out", s(&stranger_key)])
        .trim()
        .to_owned();
    let foreign = admit(&region, &stranger_key, &p2, &fb, "2099-01-01");
    let out = sync(&stranger_pub, &n2, &foreign, &addr);
    assert!(!out.status.success());
    d1.wait_for("signed by a different region authority");
    let (_, body) = http_get(&http, "/metrics");
    assert!(metric(&body, "kizuna_handshakes_refused_total") >= 1);
    assert_eq!(metric(&body, "kizuna_syncs_total{outcome=\"ok\"}"), 1);

    // After the daemon is gone: both commands still answer, from the last snapshot.
    drop(d1);
    let st = json(&ok(&["status", "--data", s(&n1), "--json"]));
    assert_eq!(st["daemon_running"], false, "{st}");
    assert_eq!(st["peers"][0]["last_outcome"], "ok");
    let peers = json(&ok(&["peers", "--data", s(&n1), "--json"]));
    assert_eq!(peers["daemon_running"], false);
    assert_eq!(peers["peers"][0]["peer_id"], p2.as_str());
    let text = ok(&["peers", "--data", s(&n1)]);
    assert!(text.contains("not running") && text.contains(&p2), "{text}");
    // Without a passphrase, status falls back to the snapshot and says so.
    let out = kizuna(&["status", "--data", s(&n1)])
        .env_remove("KIZUNA_PASSPHRASE")
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("from the snapshot"),
        "{text}"
    );
}
