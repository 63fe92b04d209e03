//! Helpers shared by the daemon tests (`daemon_sync`, `daemon_ops`, `ops`, `hostile`, `netns`,
//! `resume`): real `kizuna` processes, a generated region, admissions. Every child is killed on
//! drop and every wait has a deadline.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_kizuna");
pub const PASS: &str = "correct-horse-battery";
pub const DEADLINE: Duration = Duration::from_secs(120);

pub fn kizuna(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("KIZUNA_PASSPHRASE", PASS);
    cmd
}

/// Runs a command to completion under [`DEADLINE`].
pub fn run(args: &[&str]) -> Output {
    run_cmd(kizuna(args), &format!("kizuna {args:?}"))
}

/// Runs any command to completion under [`DEADLINE`].
pub fn run_cmd(mut cmd: Command, what: &str) -> Output {
    let mut child = cmd
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
            panic!("{what} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "kizuna {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// A running daemon; killed on drop. Its stderr (JSON log lines) is collected by a thread.
pub struct Daemon {
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub fn start(args: &[&str]) -> Daemon {
        Daemon::spawn(kizuna(args))
    }

    /// Starts a daemon from a prepared command (e.g. wrapped in `ip netns exec`).
    pub fn spawn(mut cmd: Command) -> Daemon {
        let mut child = cmd
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
    pub fn wait_for(&mut self, needle: &str) -> String {
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

    pub fn listen_addr(&mut self) -> String {
        let line = self.wait_for("\"listening\"");
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        value["fields"]["addr"]
            .as_str()
            .expect("addr field")
            .to_owned()
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

pub struct Region {
    pub _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub facilities: Vec<String>,
    pub authority_key: PathBuf,
    pub authority_pub: String,
}

/// A generated region of 20 patients at two facilities, and its authority key.
pub fn region(root_tmp: tempfile::TempDir) -> Region {
    region_with(root_tmp, 20)
}

pub fn region_with(root_tmp: tempfile::TempDir, patients: u32) -> Region {
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
pub fn node(region: &Region, name: &str, facility: &str) -> (PathBuf, String) {
    let data = region.root.join(name);
    ok(&["init", "--data", s(&data), "--facility", facility]);
    let status = ok(&["status", "--data", s(&data), "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    assert_eq!(status["facility"], facility);
    let peer = status["peer_id"].as_str().expect("peer id").to_owned();
    (data, peer)
}

pub fn admit(
    region: &Region,
    authority: &Path,
    peer: &str,
    facility: &str,
    expires: &str,
) -> PathBuf {
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

pub fn read_tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
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

pub fn daemon(region: &Region, data: &Path, membership: &Path, extra: &[&str]) -> Daemon {
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

pub fn sync(authority: &str, data: &Path, membership: &Path, peer: &str) -> Output {
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

impl Daemon {
    /// The `addr` field of the first log line containing `needle`.
    pub fn logged_addr(&mut self, needle: &str) -> String {
        let line = self.wait_for(needle);
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        value["fields"]["addr"]
            .as_str()
            .expect("addr field")
            .to_owned()
    }
}

/// A plain HTTP/1.0 GET (no client crate needed); returns (status line, body).
pub fn http_get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the http endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send request");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// Parses `kizuna status|peers --json` output.
pub fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).expect("JSON output")
}

/// Writes a large but well-formed message next to a generated one: same folder, a new order
/// number, the original bytes plus an NTE segment. Returns (path, size).
pub fn add_big_item(facility_root: &Path, size: usize) -> (PathBuf, u64) {
    let source = walk(facility_root)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("OML-11"))
        .expect("a generated OML-11 file");
    let name = source
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name")
        .to_owned();
    let mut fields: Vec<String> = name.split('_').map(str::to_owned).collect();
    fields[3] = "999999999999998".to_owned();
    let target = source.with_file_name(fields.join("_"));
    let mut bytes = std::fs::read(&source).expect("read source");
    let pad = size - bytes.len() - 9;
    bytes.extend_from_slice(b"NTE|1||");
    bytes.extend(std::iter::repeat_n(b'A', pad));
    bytes.extend_from_slice(b"\r\r");
    assert_eq!(bytes.len(), size);
    std::fs::write(&target, &bytes).expect("write big item");
    (target, bytes.len() as u64)
}

pub fn walk(root: &Path) -> Vec<PathBuf> {
    read_tree(root)
        .into_iter()
        .map(|(p, _)| root.join(p))
        .collect()
}

/// The staging directory where node `peer` keeps interrupted transfers (default inbox).
pub fn partial_dir(peer: &str) -> PathBuf {
    Path::new("/dev/shm").join(format!("kizuna-partial-{peer}"))
}

/// Bytes held in a partial directory.
pub fn partial_len(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
