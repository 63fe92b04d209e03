//! Sync over a real, impaired network: each node in its own network namespace, joined by a
//! veth pair, running real `kizuna` processes. Impairments are made only inside these
//! namespaces (never on the host or loopback): iptables DROP rules for partitions, iptables
//! `statistic --mode random` for 20 % loss, `tc tbf` for a 256 kbit/s link (`tc netem` is not
//! available on the target machines). Under each, a sync must complete; and a large-item
//! transfer cut by a partition must resume without re-sending completed chunks. A second test
//! has two daemons with no peer configured find each other by mDNS on the link and converge.
//!
//! Needs root, `ip`, `iptables` and `tc`; anywhere they are missing the test prints why and
//! passes without running (CI runs as root and installs them: `.ci/run`). The namespaces are
//! deleted on drop, also when an assertion fails.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `CHUNK_BYTES` of the sync stream (node/src/net/sync.rs).
const CHUNK_BYTES: u64 = 60 * 1024;
/// The item cut by a partition: 2 MiB is ~8 s on the 2 mbit/s link of that phase.
const BIG_BYTES: usize = 2 * 1024 * 1024;

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) {
    if let Err(e) = sh(args) {
        panic!("{e}");
    }
}

/// Two namespaces joined by a veth pair; deleted on drop (which also removes the veth pair,
/// the iptables rules and the qdiscs made inside them).
struct Net {
    ns: [String; 2],
    dev: [String; 2],
    ip: [&'static str; 2],
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in &self.ns {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
    }
}

impl Net {
    /// Sets up the namespaces, or says why it cannot. `which` keeps the namespaces of tests
    /// running at once in this process apart.
    fn new(which: char) -> Result<Net, String> {
        // SAFETY-free check of root: /proc/self/status names the effective uid.
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?");
        if euid != "0" {
            return Err(format!("not root (euid {euid})"));
        }
        for tool in ["ip", "iptables", "tc"] {
            if sh(&[tool, "-V"]).is_err() && sh(&[tool, "-Version"]).is_err() {
                return Err(format!("`{tool}` is not installed"));
            }
        }
        let tag = std::process::id() % 100_000;
        let net = Net {
            ns: [format!("kz{tag}{which}a"), format!("kz{tag}{which}b")],
            dev: [format!("kz{tag}{which}a"), format!("kz{tag}{which}b")],
            ip: ["10.231.77.1", "10.231.77.2"],
        };
        for ns in &net.ns {
            let _ = sh(&["ip", "netns", "del", ns]);
            sh(&["ip", "netns", "add", ns])
                .map_err(|e| format!("cannot create a namespace: {e}"))?;
        }
        let [a, b] = &net.ns;
        let [da, db] = &net.dev;
        sh(&[
            "ip", "link", "add", da, "netns", a, "type", "veth", "peer", "name", db, "netns", b,
        ])
        .map_err(|e| format!("cannot create a veth pair: {e}"))?;
        for i in 0..2 {
            let (ns, dev) = (&net.ns[i], &net.dev[i]);
            let cidr = format!("{}/24", net.ip[i]);
            sh(&["ip", "-n", ns, "addr", "add", &cidr, "dev", dev])?;
            sh(&["ip", "-n", ns, "link", "set", dev, "up"])?;
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
            sh(&["ip", "netns", "exec", ns, "iptables", "-L", "-n"])
                .map_err(|e| format!("iptables does not work in a namespace: {e}"))?;
        }
        Ok(net)
    }

    fn exec(&self, i: usize, args: &[&str]) {
        let mut all = vec!["ip", "netns", "exec", &self.ns[i]];
        all.extend_from_slice(args);
        must(&all);
    }

    /// Drops everything arriving on either side (a partition), or heals it.
    fn partition(&self, on: bool) {
        for i in 0..2 {
            let op = if on { "-I" } else { "-D" };
            self.exec(
                i,
                &["iptables", op, "INPUT", "-i", &self.dev[i], "-j", "DROP"],
            );
        }
    }

    /// 20 % random loss on arrival, both sides.
    fn loss(&self, on: bool) {
        for i in 0..2 {
            let op = if on { "-I" } else { "-D" };
            self.exec(
                i,
                &[
                    "iptables",
                    op,
                    "INPUT",
                    "-i",
                    &self.dev[i],
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    "0.2",
                    "-j",
                    "DROP",
                ],
            );
        }
    }

    /// A token-bucket rate limit on both directions of the link, or none.
    fn rate(&self, rate: Option<&str>) {
        for i in 0..2 {
            let dev = self.dev[i].as_str();
            match rate {
                Some(r) => self.exec(
                    i,
                    &[
                        "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", r, "burst",
                        "16kbit", "latency", "400ms",
                    ],
                ),
                None => self.exec(i, &["tc", "qdisc", "del", "dev", dev, "root"]),
            }
        }
    }

    fn kizuna(&self, i: usize, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns[i], BIN])
            .args(args)
            .env("KIZUNA_PASSPHRASE", PASS);
        cmd
    }
}

/// A client node in namespace 1 that syncs with the daemon in namespace 0.
struct Client {
    data: std::path::PathBuf,
    peer: String,
    membership: std::path::PathBuf,
}

impl Drop for Client {
    fn drop(&mut self) {
        // The staging directory is shared (/dev/shm); leave nothing behind.
        let _ = std::fs::remove_dir_all(partial_dir(&self.peer));
    }
}

fn client(region: &Region, name: &str, facility: &str) -> Client {
    let (data, peer) = node(region, name, facility);
    let membership = admit(region, &region.authority_key, &peer, facility, "2099-01-01");
    Client {
        data,
        peer,
        membership,
    }
}

fn sync_args<'a>(
    region: &'a Region,
    c: &'a Client,
    config: &'a Path,
    addr: &'a str,
) -> Vec<&'a str> {
    vec![
        "sync",
        "--data",
        s(&c.data),
        "--config",
        s(config),
        "--authority",
        &region.authority_pub,
        "--membership",
        s(&c.membership),
        "--peer",
        addr,
        "--json",
        "--log-format",
        "json",
    ]
}

fn report(out: &Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{what}: sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    println!("{what}: {report}");
    report
}

#[test]
fn sync_completes_through_partitions_loss_and_a_slow_link_and_resumes_a_cut_transfer() {
    let net = match Net::new('s') {
        Ok(net) => net,
        Err(why) => {
            println!("SKIP netns test: network namespaces unavailable: {why}");
            return;
        }
    };
    let t0 = Instant::now();
    let region = region(tempfile::tempdir().expect("tempdir"));
    let (fa, fb) = (region.facilities[0].clone(), region.facilities[1].clone());
    let (n0, p0) = node(&region, "n0", &fa);
    let tree = region.root.join("region");
    let (_, big) = add_big_item(&tree.join(&fa), BIG_BYTES);
    ok(&["import", "--data", s(&n0), s(&tree.join(&fa))]);
    let m0 = admit(&region, &region.authority_key, &p0, &fa, "2099-01-01");
    let source = read_tree(&tree.join(&fa));
    let items = source.len() as u64;
    let small_items = items - 1;

    // The daemon: session timeout long enough for the slow link; enough concurrent syncs that
    // a responder stuck behind a partition does not block the next client.
    let daemon_config = region.root.join("daemon.toml");
    std::fs::write(
        &daemon_config,
        "[sync]\nsession_timeout_s = 60\n[limits]\nconcurrent_syncs_max = 6\n",
    )
    .expect("write config");
    // Clients: a short session timeout, so a sync cut by a partition fails in seconds.
    let cut_config = region.root.join("cut.toml");
    std::fs::write(&cut_config, "[sync]\nsession_timeout_s = 6\n").expect("write config");
    let client_config = region.root.join("client.toml");
    std::fs::write(&client_config, "[sync]\nsession_timeout_s = 60\n").expect("write config");

    let listen = format!("/ip4/{}/udp/0/quic-v1", net.ip[0]);
    let mut d0 = Daemon::spawn(net.kizuna(
        0,
        &[
            "run",
            "--data",
            s(&n0),
            "--config",
            s(&daemon_config),
            "--authority",
            &region.authority_pub,
            "--membership",
            s(&m0),
            "--listen",
            &listen,
            "--no-mdns",
            "--log-format",
            "json",
        ],
    ));
    let addr = d0.listen_addr();

    // 1. Partition first, healed two seconds into the sync: the QUIC handshake retransmits.
    let c1 = client(&region, "c1", &fb);
    net.partition(true);
    let mut cmd = net.kizuna(1, &sync_args(&region, &c1, &client_config, &addr));
    let heal = std::thread::spawn({
        let ns = net.ns.clone();
        let dev = net.dev.clone();
        move || {
            std::thread::sleep(Duration::from_secs(2));
            for i in 0..2 {
                must(&[
                    "ip", "netns", "exec", &ns[i], "iptables", "-D", "INPUT", "-i", &dev[i], "-j",
                    "DROP",
                ]);
            }
        }
    });
    cmd.stdin(Stdio::null());
    let started = Instant::now();
    let out = run_cmd(cmd, "sync across a healed partition");
    heal.join().expect("heal thread");
    let r = report(&out, "partition healed");
    assert_eq!(r["items_received"], items);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the partition held"
    );

    // 2. A partition that is not healed fails honestly.
    let c_fail = client(&region, "cfail", &fb);
    net.partition(true);
    let out = run_cmd(
        net.kizuna(1, &sync_args(&region, &c_fail, &cut_config, &addr)),
        "sync into a partition",
    );
    net.partition(false);
    assert!(!out.status.success(), "a partitioned sync must not succeed");

    // 3. 20 % random loss both ways.
    let c2 = client(&region, "c2", &fb);
    net.loss(true);
    let out = run_cmd(
        net.kizuna(1, &sync_args(&region, &c2, &client_config, &addr)),
        "sync with 20% loss",
    );
    net.loss(false);
    let r = report(&out, "20% loss");
    assert_eq!(r["items_received"], items);

    // 4. 256 kbit/s both ways. Only the small items: the 2 MiB one would take over a minute,
    //    so this client already holds it (imported from a copy of the source tree).
    let c3 = client(&region, "c3", &fa);
    let only_big = region.root.join("only-big");
    for (rel, bytes) in &source {
        if bytes.len() as u64 == big {
            let path = only_big.join(&fa).join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, bytes).expect("write");
        }
    }
    ok(&["import", "--data", s(&c3.data), s(&only_big.join(&fa))]);
    net.rate(Some("256kbit"));
    let started = Instant::now();
    let out = run_cmd(
        net.kizuna(1, &sync_args(&region, &c3, &client_config, &addr)),
        "sync at 256 kbit/s",
    );
    let slow = started.elapsed();
    net.rate(None);
    let r = report(&out, "256 kbit/s");
    assert_eq!(r["items_received"], small_items);
    let wire = r["wire_bytes_received"].as_u64().expect("wire bytes");
    println!(
        "256 kbit/s: {wire} B in {:.1} s ({:.0} kbit/s)",
        slow.as_secs_f64(),
        wire as f64 * 8.0 / 1000.0 / slow.as_secs_f64()
    );

    // 5. A transfer cut mid-way by a partition resumes without re-sending completed chunks.
    let c4 = client(&region, "c4", &fb);
    let partials = partial_dir(&c4.peer);
    let _ = std::fs::remove_dir_all(&partials);
    net.rate(Some("2mbit"));
    let mut child = net
        .kizuna(1, &sync_args(&region, &c4, &cut_config, &addr))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sync");
    let started = Instant::now();
    while partial_len(&partials) < 512 * 1024 {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the sync ended before the cut"
        );
        assert!(started.elapsed() < DEADLINE, "no partial item appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    net.partition(true);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("the cut sync did not time out");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "a cut sync must not report success");
    net.partition(false);
    let prefix = partial_len(&partials);
    println!("cut after {prefix} of {big} bytes");
    assert!(prefix > 0 && prefix < big);
    let out = run_cmd(
        net.kizuna(1, &sync_args(&region, &c4, &client_config, &addr)),
        "resumed sync",
    );
    net.rate(None);
    let r = report(&out, "resumed");
    assert_eq!(r["items_resumed"], 1, "{r}");
    assert_eq!(r["bytes_resumed"], prefix, "{r}");
    // Small items come whole (none was stored by the cut sync: its batch never completed);
    // the big one only from the prefix on.
    let small_received = r["items_received"].as_u64().expect("items") - 1;
    assert_eq!(
        r["chunks_received"].as_u64().expect("chunks"),
        small_received + (big - prefix).div_ceil(CHUNK_BYTES),
        "completed chunks were sent again: {r}"
    );
    assert_eq!(partial_len(&partials), 0);
    let _ = std::fs::remove_dir_all(&partials);

    // The daemon's own view: every completed client sync is recorded as ok, none otherwise.
    std::thread::sleep(Duration::from_millis(300));
    let peers = json(&ok(&["peers", "--data", s(&n0), "--json"]));
    let list = peers["peers"].as_array().expect("peers");
    for c in [&c1, &c2, &c3, &c4] {
        let p = list
            .iter()
            .find(|p| p["peer_id"] == c.peer.as_str())
            .unwrap_or_else(|| panic!("client {} missing in {peers}", c.peer));
        assert_eq!(p["last_outcome"], "ok", "{p}");
        assert!(p["last_ok_unix"].as_u64().is_some(), "{p}");
    }
    assert!(
        !list
            .iter()
            .any(|p| p["peer_id"] == c_fail.peer.as_str() && p["last_ok_unix"].is_u64()),
        "a client that never synced is shown with a success: {peers}"
    );

    drop(d0);
    let e4 = region.root.join("e4");
    ok(&["export", "--data", s(&c4.data), "--out", s(&e4)]);
    assert_eq!(read_tree(&e4.join(&fa)), source);
    println!("netns test: {:.1} s", t0.elapsed().as_secs_f64());
}

/// The newest item count a daemon logged (`item set changed`).
fn logged_items(d: &Daemon) -> Option<u64> {
    let log = d.log.lock().expect("log lock");
    log.iter().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["fields"]["message"] == "item set changed")
            .then(|| v["fields"]["items"].as_u64())
            .flatten()
    })
}

#[test]
fn mdns_finds_a_neighbour_on_the_link_and_both_converge() {
    let net = match Net::new('m') {
        Ok(net) => net,
        Err(why) => {
            println!("SKIP netns mDNS test: network namespaces unavailable: {why}");
            return;
        }
    };
    // Multicast needs a route on the link (there is no default route in a fresh namespace).
    for i in 0..2 {
        net.exec(
            i,
            &["ip", "route", "add", "224.0.0.0/4", "dev", &net.dev[i]],
        );
    }
    let region = region(tempfile::tempdir().expect("tempdir"));
    let (fa, fb) = (region.facilities[0].clone(), region.facilities[1].clone());
    let tree = region.root.join("region");
    let mut daemons = Vec::new();
    // Items are distinct byte strings: the same message at two paths is one item.
    let mut distinct = std::collections::HashSet::new();
    // Each node holds its own facility's records: only talking to each other unites them.
    for (i, facility) in [&fa, &fb].into_iter().enumerate() {
        let (data, peer) = node(&region, &format!("m{i}"), facility);
        ok(&["import", "--data", s(&data), s(&tree.join(facility))]);
        let membership = admit(
            &region,
            &region.authority_key,
            &peer,
            facility,
            "2099-01-01",
        );
        distinct.extend(read_tree(&tree.join(facility)).into_iter().map(|(_, b)| b));
        let listen = format!("/ip4/{}/udp/0/quic-v1", net.ip[i]);
        // No `--peer`, no `--no-mdns`: discovery is the only way to the other node.
        let d = Daemon::spawn(net.kizuna(
            i,
            &[
                "run",
                "--data",
                s(&data),
                "--authority",
                &region.authority_pub,
                "--membership",
                s(&membership),
                "--listen",
                &listen,
                "--log-format",
                "json",
            ],
        ));
        daemons.push((d, data));
    }
    let expected = distinct.len() as u64;
    let started = Instant::now();
    loop {
        let counts: Vec<Option<u64>> = daemons.iter().map(|(d, _)| logged_items(d)).collect();
        if counts.iter().all(|c| *c == Some(expected)) {
            break;
        }
        for (d, _) in daemons.iter_mut() {
            if let Some(status) = d.child.try_wait().expect("wait") {
                panic!("a daemon exited ({status}): {:?}", d.log);
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no convergence by mDNS within {DEADLINE:?}: {counts:?} of {expected}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "mDNS: both nodes hold {expected} items after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Same bytes on both sides: export each node's copy of the other's facility.
    let data: Vec<_> = daemons.drain(..).map(|(_, data)| data).collect();
    for (i, facility) in [(1, &fa), (0, &fb)] {
        let out = region.root.join(format!("export{i}"));
        ok(&["export", "--data", s(&data[i]), "--out", s(&out)]);
        assert_eq!(
            read_tree(&out.join(facility)),
            read_tree(&tree.join(facility))
        );
    }
}
