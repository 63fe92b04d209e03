//! End-to-end tests of the node daemon: real `kizuna` processes on loopback QUIC.
//!
//! Every child is killed on drop and every wait has a deadline, so a hang fails the test
//! instead of stalling CI. Debug builds spend ~2 s per PBKDF2 (600,000 iterations, run by
//! `init`, `import`, `status`, twice by `run` and `sync`), hence the generous deadlines.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kizuna");
const PASS: &str = "correct-horse-battery";
const DEADLINE: Duration = Duration::from_secs(120);

fn kizuna(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("KIZUNA_PASSPHRASE", PASS);
    cmd
}

/// Runs a command to completion under [`DEADLINE`].
fn run(args: &[&str]) -> Output {
    let mut child = kizuna(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kizuna");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("kizuna {args:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "kizuna {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// A running daemon; killed on drop. Its stderr (JSON log lines) is collected by a thread.
struct Daemon {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(args: &[&str]) -> Daemon {
        let mut child = kizuna(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kizuna run");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log lock").push(line);
            }
        });
        Daemon { child, log }
    }

    /// Waits for a log line containing `needle` and returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self
                .log
                .lock()
                .expect("log lock")
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            if let Some(status) = self.child.try_wait().expect("wait") {
                panic!(
                    "daemon exited ({status}) before logging {needle:?}: {:?}",
                    self.log
                );
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no {needle:?} in daemon log: {:?}",
                self.log
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn listen_addr(&mut self) -> String {
        let line = self.wait_for("\"listening\"");
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        value["fields"]["addr"]
            .as_str()
            .expect("addr field")
            .to_owned()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

struct Region {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    facilities: Vec<String>,
    authority_key: PathBuf,
    authority_pub: String,
}

fn region(root_tmp: tempfile::TempDir, patients: u32) -> Region {
    let root = root_tmp.path().to_owned();
    let patients = patients.to_string();
    let tree = root.join("region");
    ok(&[
        "gen",
        "--out",
        s(&tree),
        "--patients",
        &patients,
        "--facilities",
        "2",
        "--quiet",
    ]);
    let mut facilities: Vec<String> = std::fs::read_dir(&tree)
        .expect("region dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    facilities.sort();
    assert_eq!(facilities.len(), 2);
    let authority_key = root.join("authority.key");
    let authority_pub = ok(&["region", "create", "--out", s(&authority_key)])
        .trim()
        .to_owned();
    Region {
        _tmp: root_tmp,
        root,
        facilities,
        authority_key,
        authority_pub,
    }
}

/// `kizuna init` a data dir for `facility` and return (dir, peer id).
fn node(region: &Region, name: &str, facility: &str) -> (PathBuf, String) {
    let data = region.root.join(name);
    ok(&["init", "--data", s(&data), "--facility", facility]);
    let status = ok(&["status", "--data", s(&data), "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    assert_eq!(status["facility"], facility);
    let peer = status["peer_id"].as_str().expect("peer id").to_owned();
    (data, peer)
}

fn admit(region: &Region, authority: &Path, peer: &str, facility: &str, expires: &str) -> PathBuf {
    let by = authority
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or("authority");
    let out = region.root.join(format!("{peer}-{by}-{expires}.kza"));
    ok(&[
        "region",
        "admit",
        "--authority",
        s(authority),
        "--peer",
        peer,
        "--facility",
        facility,
        "--role",
        "facility",
        "--expires",
        expires,
        "--out",
        s(&out),
    ]);
    out
}

fn read_tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read file");
                files.push((path.strip_prefix(root).expect("prefix").to_owned(), bytes));
            }
        }
    }
    files.sort();
    files
}

fn daemon(region: &Region, data: &Path, membership: &Path, extra: &[&str]) -> Daemon {
    let mut args = vec![
        "run",
        "--data",
        s(data),
        "--authority",
        &region.authority_pub,
        "--membership",
        s(membership),
        "--listen",
        "/ip4/127.0.0.1/udp/0/quic-v1",
        "--no-mdns",
        "--log-format",
        "json",
    ];
    args.extend_from_slice(extra);
    Daemon::start(&args)
}

fn sync(authority: &str, data: &Path, membership: &Path, peer: &str) -> Output {
    run(&[
        "sync",
        "--data",
        s(data),
        "--authority",
        authority,
        "--membership",
        s(membership),
        "--peer",
        peer,
        "--json",
        "--log-format",
        "json",
    ])
}

#[test]
fn two_members_converge_to_the_union() {
    // Enough patients (~2,300 files a side) that each direction spans several FETCH batches
    // (256 ids, two in flight) and several insert batches (1,024 items) on the fetching side.
    let region = region(tempfile::tempdir().expect("tempdir"), 500);
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
    let region = region(tempfile::tempdir().expect("tempdir"), 20);
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
