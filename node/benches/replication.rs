//! Replication benchmark (issue 5, "Must show" 4): Kizuna against `rsync -a` (over its daemon)
//! and Syncthing on one generated region tree, all on loopback.
//!
//! ```sh
//! cargo bench -p kizuna-node --bench replication -- --patients 17000 [--dir /work/bench-tmp]
//! ```
//!
//! Phases, each with a bounded wait (a hang fails the run with a message naming the step):
//! 1. `kizuna gen` writes the tree (N patients, seed 1) and a second tree of N + N/1000 patients
//!    with the same seed; generation is per patient, so the second tree is the first plus the
//!    files of the new patients (checked), which become the 0.1 % delta: real SS-MIX2 files at
//!    paths the receivers have never seen.
//! 2. Initial replication to an empty receiver: Kizuna (source node A imports the tree and runs
//!    as a daemon; node B, empty, runs `kizuna sync --peer A` once, which exits only after every
//!    fetched item is stored), `rsync -a --stats TREE rsync://127.0.0.1:PORT/bench/`, and
//!    Syncthing (source instance scans first; then the receiver starts and is timed until
//!    `/rest/db/completion` says 100 % and `needFiles` is 0).
//! 3. Small delta: the new files are copied into the tree and each tool brings its receiver up
//!    to date; bytes on the wire are counted the same way for all three, by iptables counters on
//!    `lo` matching each tool's ports (a private chain, removed at the end), next to each tool's
//!    own count.
//! 4. Idle: node A with two member peers (B and C, both daemons, stores equal) connected; A's
//!    utime+stime over 60 s.
//!
//! Peak RSS is VmHWM sampled from /proc every 200 ms over each process tree. Needs root (for
//! iptables), `rsync`, `syncthing` and `iptables` on PATH; it stops with a message when any is
//! missing. Nothing here asserts a speed: it prints figures.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

const BIN: &str = env!("CARGO_BIN_EXE_kizuna");
const PASS: &str = "replication-bench-passphrase";
/// iptables chain for the byte counters; one fixed name so a killed run's leftovers are
/// recognised and removed by the next run.
const CHAIN: &str = "KZREPLBENCH";
/// Syncthing folder id.
const FOLDER: &str = "kzbench";
/// Wait budget of every long step: a base plus a per-file allowance far above any tool's
/// expected rate on this machine, so that only a hang or a pathological slowdown trips it.
const BUDGET_BASE: Duration = Duration::from_secs(120);
const BUDGET_PER_FILE: Duration = Duration::from_millis(15);
/// Short steps (start-up, key generation, status queries).
const SHORT: Duration = Duration::from_secs(60);
/// How often waits poll and the sampler reads /proc.
const POLL: Duration = Duration::from_millis(200);
/// Kizuna's session timeout for this run (the config's maximum is 3600 s).
const SESSION_TIMEOUT_S: u64 = 3600;
/// Lines of a child's stderr kept for error messages.
const LOG_LINES_MAX: usize = 10_000;

struct Opts {
    patients: u32,
    facilities: u16,
    dir: PathBuf,
    keep: bool,
    idle_s: u64,
    tools: Vec<String>,
}

fn usage() -> &'static str {
    "usage: replication [--patients N] [--facilities F] [--dir DIR] [--idle-s S] \
     [--only kizuna,rsync,syncthing] [--keep]"
}

fn parse_opts() -> Result<Opts> {
    let mut opts = Opts {
        patients: 500,
        facilities: 5,
        dir: std::env::temp_dir(),
        keep: false,
        idle_s: 60,
        tools: vec!["kizuna".into(), "rsync".into(), "syncthing".into()],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| anyhow!("{name} needs a value; {}", usage()))
        };
        match arg.as_str() {
            "--patients" => opts.patients = value("--patients")?.parse()?,
            "--facilities" => opts.facilities = value("--facilities")?.parse()?,
            "--dir" => opts.dir = PathBuf::from(value("--dir")?),
            "--idle-s" => opts.idle_s = value("--idle-s")?.parse()?,
            "--only" => {
                opts.tools = value("--only")?.split(',').map(str::to_owned).collect();
            }
            "--keep" => opts.keep = true,
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            other => bail!("unknown argument {other}; {}", usage()),
        }
    }
    for tool in &opts.tools {
        if !["kizuna", "rsync", "syncthing"].contains(&tool.as_str()) {
            bail!("--only takes kizuna, rsync, syncthing; got {tool}");
        }
    }
    if opts.patients == 0 {
        bail!("--patients must be at least 1");
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let opts = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("replication bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replication bench FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn budget(files: u64) -> Duration {
    BUDGET_BASE + BUDGET_PER_FILE * u32::try_from(files).unwrap_or(u32::MAX)
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| {
            let f: Vec<&str> = s.split_whitespace().take(3).collect();
            format!("load average {}", f.join(", "))
        })
        .unwrap_or_else(|_| "load average unknown".into())
}

fn require_tool(name: &str, hint: &str) -> Result<()> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(name).is_file()))
        .unwrap_or(false);
    if !found {
        bail!("`{name}` is not installed (needed by this benchmark): {hint}");
    }
    Ok(())
}

/// Output of a finished command.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    wall: Duration,
}

/// A child whose output is collected by threads; killed on drop.
struct Proc {
    what: String,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    started: Instant,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // `syncthing serve` runs its worker as a child of a monitor process, and rsync's
            // daemon forks: kill the whole tree, or the workers outlive the benchmark.
            let descendants = descendants(self.child.id());
            let _ = self.child.kill();
            if !descendants.is_empty() {
                let pids: Vec<String> = descendants.iter().map(u32::to_string).collect();
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .args(&pids)
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = self.child.wait();
    }
}

/// Every process below `root` (not `root` itself).
fn descendants(root: u32) -> Vec<u32> {
    let children = child_map();
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if let Some(kids) = children.get(&pid) {
            out.extend(kids);
            stack.extend(kids);
        }
    }
    out
}

/// Parent pid -> child pids, for every process.
fn child_map() -> HashMap<u32, Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                && let Some(ppid) = proc_ppid(pid)
            {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    children
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut lines = into.lock().unwrap_or_else(|p| p.into_inner());
            if lines.len() < LOG_LINES_MAX {
                lines.push(line);
            }
        }
    });
}

impl Proc {
    fn spawn(what: &str, mut cmd: Command) -> Result<Proc> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        // Invariant: both were set to piped above.
        collect(
            child.stdout.take().expect("piped stdout"),
            Arc::clone(&stdout),
        );
        collect(
            child.stderr.take().expect("piped stderr"),
            Arc::clone(&stderr),
        );
        Ok(Proc {
            what: what.to_owned(),
            child,
            stdout,
            stderr,
            started: Instant::now(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn lines(&self, stderr: bool) -> Vec<String> {
        let src = if stderr { &self.stderr } else { &self.stdout };
        src.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn tail(&self) -> String {
        let mut lines = self.lines(true);
        lines.extend(self.lines(false));
        let from = lines.len().saturating_sub(15);
        lines[from..].join("\n")
    }

    /// Waits for exit under `limit`; kills and fails on timeout.
    fn finish(mut self, limit: Duration) -> Result<Finished> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                let wall = self.started.elapsed();
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(50));
                return Ok(Finished {
                    status,
                    stdout: self.lines(false).join("\n"),
                    stderr: self.lines(true).join("\n"),
                    wall,
                });
            }
            if self.started.elapsed() > limit {
                bail!(
                    "{} did not finish within {:.0} s; last output:\n{}",
                    self.what,
                    secs(limit),
                    self.tail()
                );
            }
            std::thread::sleep(POLL / 4);
        }
    }

    /// Waits for a line (stdout or stderr) containing `needle`, under `limit`.
    fn wait_line(&mut self, needle: &str, limit: Duration) -> Result<String> {
        let started = Instant::now();
        loop {
            for stderr in [true, false] {
                if let Some(line) = self.lines(stderr).into_iter().find(|l| l.contains(needle)) {
                    return Ok(line);
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before printing {needle:?}:\n{}",
                    self.what,
                    self.tail()
                );
            }
            if started.elapsed() > limit {
                bail!(
                    "{} printed no {needle:?} within {:.0} s:\n{}",
                    self.what,
                    secs(limit),
                    self.tail()
                );
            }
            std::thread::sleep(POLL / 4);
        }
    }

    fn count_lines(&self, needle: &str) -> usize {
        self.lines(true)
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// SIGTERM, then SIGKILL after a grace period.
    fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(POLL / 4);
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// Runs a command to completion under `limit`, failing on a non-zero exit.
fn run_ok(what: &str, cmd: Command, limit: Duration, sampler: &Sampler) -> Result<Finished> {
    let proc = Proc::spawn(what, cmd)?;
    sampler.watch(what, proc.pid());
    let done = proc.finish(limit)?;
    if !done.status.success() {
        bail!(
            "{what} failed ({}):\n{}\n{}",
            done.status,
            done.stderr,
            done.stdout
        );
    }
    Ok(done)
}

fn kizuna(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("KIZUNA_PASSPHRASE", PASS);
    cmd
}

fn s(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("{} is not UTF-8", p.display()))
}

fn free_tcp_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_tcp(port: u16, what: &str, limit: Duration) -> Result<()> {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > limit {
            bail!("{what} is not listening on 127.0.0.1:{port} after {limit:?}");
        }
        std::thread::sleep(POLL / 4);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// /proc sampling: peak RSS (VmHWM) and CPU time per labelled process tree

#[derive(Default)]
struct SamplerState {
    watches: Vec<(String, u32)>,
    /// Label -> largest VmHWM (kB) of any single process in its tree, and that process's name.
    peak_kb: BTreeMap<String, (u64, String)>,
    /// (label, pid) -> latest utime+stime in clock ticks.
    ticks: HashMap<(String, u32), u64>,
}

struct Sampler {
    state: Arc<Mutex<SamplerState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn proc_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the state field.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn proc_ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn proc_hwm_kb(pid: u32) -> Option<(u64, String)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let name = status
        .lines()
        .next()?
        .strip_prefix("Name:")?
        .trim()
        .to_owned();
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some((line.split_whitespace().nth(1)?.parse().ok()?, name))
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn sample(state: &Mutex<SamplerState>) {
    let watches = state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .watches
        .clone();
    if watches.is_empty() {
        return;
    }
    // Parent map of every process, for descendants (rsync's daemon forks a receiver).
    let children = child_map();
    let mut readings = Vec::new();
    for (label, root) in &watches {
        let mut stack = vec![*root];
        while let Some(pid) = stack.pop() {
            if let Some(kids) = children.get(&pid) {
                stack.extend(kids);
            }
            readings.push((label.clone(), pid, proc_hwm_kb(pid), proc_ticks(pid)));
        }
    }
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    for (label, pid, hwm, ticks) in readings {
        if let Some((kb, name)) = hwm {
            let peak = st.peak_kb.entry(label.clone()).or_default();
            if kb > peak.0 {
                *peak = (kb, format!("{name} pid {pid}"));
            }
        }
        if let Some(t) = ticks {
            st.ticks.insert((label, pid), t);
        }
    }
}

impl Sampler {
    fn start() -> Sampler {
        let state = Arc::new(Mutex::new(SamplerState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, flag) = (Arc::clone(&state), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                sample(&st);
                std::thread::sleep(POLL);
            }
        });
        Sampler {
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn watch(&self, label: &str, pid: u32) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.watches.retain(|(_, p)| *p != pid);
        st.watches.push((label.to_owned(), pid));
        drop(st);
        sample(&self.state);
    }

    fn peak_mb(&self, label: &str) -> Option<(f64, String)> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.peak_kb
            .get(label)
            .map(|(kb, who)| (*kb as f64 / 1024.0, who.clone()))
    }

    /// CPU seconds of a label's processes as last sampled (up to one poll interval short).
    fn cpu_s(&self, label: &str, tck: f64) -> f64 {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.ticks
            .iter()
            .filter(|((l, _), _)| l == label)
            .map(|(_, t)| *t as f64 / tck)
            .sum()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// iptables byte counters on lo

struct Counters;

fn iptables(args: &[&str]) -> Result<String> {
    let out = Command::new("iptables")
        .args(args)
        .output()
        .context("running iptables")?;
    if !out.status.success() {
        bail!(
            "iptables {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Counters {
    fn new() -> Result<Counters> {
        Counters::remove();
        iptables(&["-w", "5", "-N", CHAIN])
            .context("creating the counter chain (the benchmark must run as root)")?;
        iptables(&["-w", "5", "-I", "INPUT", "1", "-i", "lo", "-j", CHAIN])?;
        Ok(Counters)
    }

    fn remove() {
        // Every step may fail when nothing is left over; that is the point.
        while iptables(&["-w", "5", "-D", "INPUT", "-i", "lo", "-j", CHAIN]).is_ok() {}
        let _ = iptables(&["-w", "5", "-F", CHAIN]);
        let _ = iptables(&["-w", "5", "-X", CHAIN]);
    }

    /// Counts packets to and from `port` (each loopback packet passes INPUT once).
    fn watch(&self, label: &str, proto: &str, port: u16) -> Result<()> {
        let port = port.to_string();
        for dir in ["--dport", "--sport"] {
            iptables(&[
                "-w",
                "5",
                "-A",
                CHAIN,
                "-p",
                proto,
                dir,
                &port,
                "-m",
                "comment",
                "--comment",
                label,
            ])?;
        }
        Ok(())
    }

    fn zero(&self) -> Result<()> {
        iptables(&["-w", "5", "-Z", CHAIN])?;
        Ok(())
    }

    /// IP bytes (headers included) counted under `label` since the last zero.
    fn bytes(&self, label: &str) -> Result<u64> {
        let listing = iptables(&["-w", "5", "-L", CHAIN, "-v", "-x", "-n"])?;
        let tag = format!("/* {label} */");
        let mut total = 0;
        for line in listing.lines().filter(|l| l.contains(&tag)) {
            let bytes = line
                .split_whitespace()
                .nth(1)
                .and_then(|b| b.parse::<u64>().ok())
                .ok_or_else(|| anyhow!("unreadable iptables counter line: {line}"))?;
            total += bytes;
        }
        Ok(total)
    }
}

impl Drop for Counters {
    fn drop(&mut self) {
        Counters::remove();
    }
}

// ---------------------------------------------------------------------------------------------
// Trees

/// (relative path, size) of every regular file below `root`, sorted.
fn tree_files(root: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry?;
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(root)?.to_owned();
            files.push((rel, entry.metadata()?.len()));
        }
    }
    files.sort();
    Ok(files)
}

fn gen_tree(out: &Path, patients: u32, facilities: u16, sampler: &Sampler) -> Result<Duration> {
    let p = patients.to_string();
    let f = facilities.to_string();
    let cmd = kizuna(&[
        "gen",
        "--out",
        s(out)?,
        "--patients",
        &p,
        "--facilities",
        &f,
        "--seed",
        "1",
        "--quiet",
    ]);
    let limit = budget(u64::from(patients) * 20);
    Ok(run_ok("kizuna gen", cmd, limit, sampler)?.wall)
}

/// Moves the first `want` files (in path order) of `bigger` that `tree` lacks into `delta`
/// (same layout) and checks that every file both have is the same size, with a sample
/// compared byte for byte.
fn split_delta(tree: &Path, bigger: &Path, delta: &Path, want: u64) -> Result<(u64, u64)> {
    let (mut files, mut bytes, mut common) = (0u64, 0u64, 0u64);
    for (rel, size) in tree_files(bigger)? {
        let old = tree.join(&rel);
        match std::fs::metadata(&old) {
            Ok(meta) => {
                if meta.len() != size {
                    bail!(
                        "gen with more patients changed an existing file's size: the delta \
                         would not be new files only"
                    );
                }
                common += 1;
                if common.is_multiple_of(97)
                    && std::fs::read(&old)? != std::fs::read(bigger.join(&rel))?
                {
                    bail!("gen with more patients changed an existing file's bytes");
                }
            }
            Err(_) if files < want => {
                let to = delta.join(&rel);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::rename(bigger.join(&rel), &to)?;
                files += 1;
                bytes += size;
            }
            Err(_) => {}
        }
    }
    if files < want {
        bail!("the new patients brought {files} new files, {want} wanted");
    }
    Ok((files, bytes))
}

/// Copies `delta` into `tree` as new files (fresh mtimes, as a hospital system writes them).
fn apply_delta(delta: &Path, tree: &Path) -> Result<()> {
    for (rel, _) in tree_files(delta)? {
        let to = tree.join(&rel);
        if to.exists() {
            bail!("a delta file already exists in the tree");
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(delta.join(&rel), &to)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Results

#[derive(Default, Clone)]
struct Run {
    wall: Duration,
    /// The tool's own count of bytes exchanged, if it gives one.
    tool_bytes: Option<u64>,
    /// iptables count (IP packets both ways on the tool's ports).
    wire_bytes: u64,
    note: String,
}

#[derive(Default)]
struct Results {
    files: u64,
    bytes: u64,
    delta_files: u64,
    delta_bytes: u64,
    initial: BTreeMap<&'static str, Run>,
    delta: BTreeMap<&'static str, Run>,
    notes: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Kizuna

struct KizunaNode {
    data: PathBuf,
    membership: PathBuf,
}

struct Kizuna {
    authority: String,
    config: PathBuf,
    a: KizunaNode,
    b: KizunaNode,
    c: KizunaNode,
}

fn json(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text.trim()).with_context(|| format!("{what}: not JSON: {text}"))
}

impl Kizuna {
    fn setup(root: &Path, facilities: &[String], sampler: &Sampler) -> Result<Kizuna> {
        std::fs::create_dir_all(root)?;
        let key = root.join("authority.key");
        let authority = run_ok(
            "kizuna region create",
            kizuna(&["region", "create", "--out", s(&key)?]),
            SHORT,
            sampler,
        )?
        .stdout
        .trim()
        .to_owned();
        let config = root.join("bench.toml");
        std::fs::write(
            &config,
            format!(
                "[sync]\nsession_timeout_s = {SESSION_TIMEOUT_S}\n\n[log]\nformat = \"json\"\n"
            ),
        )?;
        let mut nodes = Vec::new();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let facility = &facilities[i % facilities.len()];
            let data = root.join(name);
            run_ok(
                "kizuna init",
                kizuna(&["init", "--data", s(&data)?, "--facility", facility]),
                SHORT,
                sampler,
            )?;
            let status = run_ok(
                "kizuna status",
                kizuna(&["status", "--data", s(&data)?, "--json"]),
                SHORT,
                sampler,
            )?;
            let peer = json(&status.stdout, "kizuna status")?["peer_id"]
                .as_str()
                .ok_or_else(|| anyhow!("kizuna status printed no peer_id"))?
                .to_owned();
            let membership = root.join(format!("{name}.kza"));
            run_ok(
                "kizuna region admit",
                kizuna(&[
                    "region",
                    "admit",
                    "--authority",
                    s(&key)?,
                    "--peer",
                    &peer,
                    "--facility",
                    facility,
                    "--role",
                    "facility",
                    "--expires",
                    "2099-01-01",
                    "--out",
                    s(&membership)?,
                ]),
                SHORT,
                sampler,
            )?;
            nodes.push(KizunaNode { data, membership });
        }
        let mut nodes = nodes.into_iter();
        let mut next = || nodes.next().ok_or_else(|| anyhow!("three nodes were made"));
        Ok(Kizuna {
            authority,
            config,
            a: next()?,
            b: next()?,
            c: next()?,
        })
    }

    fn import(
        &self,
        label: &str,
        node: &KizunaNode,
        tree: &Path,
        files: u64,
        sampler: &Sampler,
    ) -> Result<(Duration, serde_json::Value)> {
        let done = run_ok(
            label,
            kizuna(&["import", "--data", s(&node.data)?, s(tree)?, "--json"]),
            budget(files),
            sampler,
        )?;
        let summary = done
            .stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .map(|l| json(l, "kizuna import --json"))
            .transpose()?
            .unwrap_or_default();
        Ok((done.wall, summary))
    }

    fn items(&self, node: &KizunaNode, sampler: &Sampler) -> Result<u64> {
        let status = run_ok(
            "kizuna status",
            kizuna(&["status", "--data", s(&node.data)?, "--json"]),
            SHORT,
            sampler,
        )?;
        json(&status.stdout, "kizuna status")?["items"]
            .as_u64()
            .ok_or_else(|| anyhow!("kizuna status printed no items"))
    }

    fn node_args<'a>(&'a self, node: &'a KizunaNode) -> Result<Vec<&'a str>> {
        Ok(vec![
            "--data",
            s(&node.data)?,
            "--config",
            s(&self.config)?,
            "--authority",
            &self.authority,
            "--membership",
            s(&node.membership)?,
        ])
    }

    /// Starts a daemon on loopback; returns it with its listen multiaddr once it listens.
    fn daemon(
        &self,
        label: &str,
        node: &KizunaNode,
        port: u16,
        peers: &[&str],
        sampler: &Sampler,
        files: u64,
    ) -> Result<(Proc, String)> {
        let listen = format!("/ip4/127.0.0.1/udp/{port}/quic-v1");
        let mut args = vec!["run"];
        args.extend(self.node_args(node)?);
        args.extend(["--listen", &listen, "--no-mdns"]);
        for p in peers {
            args.extend(["--peer", p]);
        }
        let mut proc = Proc::spawn(label, kizuna(&args))?;
        sampler.watch(label, proc.pid());
        // Start-up builds the item set from the whole store: allow for the store's size.
        let line = proc.wait_line("\"listening\"", budget(files / 4))?;
        let v = json(&line, "daemon log")?;
        let addr = v["fields"]["addr"]
            .as_str()
            .ok_or_else(|| anyhow!("listening event without addr: {line}"))?
            .to_owned();
        Ok((proc, addr))
    }

    /// One-shot `kizuna sync` from `node` to `peer`; returns the wall time and the report.
    fn sync(
        &self,
        label: &str,
        node: &KizunaNode,
        peer: &str,
        files: u64,
        sampler: &Sampler,
    ) -> Result<(Duration, serde_json::Value)> {
        let mut args = vec!["sync"];
        args.extend(self.node_args(node)?);
        args.extend(["--peer", peer, "--json"]);
        let proc = Proc::spawn(label, kizuna(&args))?;
        sampler.watch(label, proc.pid());
        let done = proc.finish(budget(files) + Duration::from_secs(SESSION_TIMEOUT_S.min(600)))?;
        if !done.status.success() {
            bail!(
                "kizuna sync exited {}:\n{}\n{}",
                done.status,
                done.stderr
                    .lines()
                    .rev()
                    .take(10)
                    .collect::<Vec<_>>()
                    .join("\n"),
                done.stdout
            );
        }
        let report = done
            .stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .ok_or_else(|| anyhow!("kizuna sync printed no JSON report"))?;
        Ok((done.wall, json(report, "kizuna sync --json")?))
    }
}

fn udp_port_of(addr: &str) -> Result<u16> {
    let parts: Vec<&str> = addr.split('/').collect();
    let at = parts
        .iter()
        .position(|p| *p == "udp")
        .ok_or_else(|| anyhow!("no udp port in {addr}"))?;
    parts
        .get(at + 1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow!("no udp port in {addr}"))
}

fn free_udp_port() -> Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn report_u64(report: &serde_json::Value, key: &str) -> u64 {
    report[key].as_u64().unwrap_or(0)
}

fn describe_report(r: &serde_json::Value) -> String {
    let mut out = format!(
        "need {} have {}, received {} items ({} B), {} round trips, sync wire {} B in / {} B out, session {} ms",
        report_u64(r, "need"),
        report_u64(r, "have"),
        report_u64(r, "items_received"),
        report_u64(r, "item_bytes_received"),
        report_u64(r, "round_trips"),
        report_u64(r, "wire_bytes_received"),
        report_u64(r, "wire_bytes_sent"),
        report_u64(r, "duration_ms"),
    );
    for key in [
        "reconcile_ms",
        "fetch_wait_ms",
        "store_insert_ms",
        "store_insert_busy_ms",
        "store_insert_batches",
    ] {
        if let Some(v) = r[key].as_u64() {
            let _ = write!(out, ", {key} {v}");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// rsync

struct Rsync {
    dest: PathBuf,
    port: u16,
    /// Killed on drop.
    _daemon: Proc,
}

impl Rsync {
    fn start(root: &Path, sampler: &Sampler) -> Result<Rsync> {
        let dest = root.join("dest");
        std::fs::create_dir_all(&dest)?;
        let port = free_tcp_port()?;
        let conf = root.join("rsyncd.conf");
        std::fs::write(
            &conf,
            format!(
                "port = {port}\naddress = 127.0.0.1\npid file = {pid}\nlog file = {log}\n\
                 use chroot = false\n\n[bench]\npath = {dest}\nread only = false\n\
                 uid = root\ngid = root\n",
                pid = root.join("rsyncd.pid").display(),
                log = root.join("rsyncd.log").display(),
                dest = dest.display(),
            ),
        )?;
        let mut cmd = Command::new("rsync");
        cmd.args([
            "--daemon",
            "--no-detach",
            &format!("--config={}", s(&conf)?),
        ]);
        let daemon = Proc::spawn("rsync daemon", cmd)?;
        sampler.watch("rsync daemon", daemon.pid());
        wait_tcp(port, "rsync --daemon", SHORT)?;
        Ok(Rsync {
            dest,
            port,
            _daemon: daemon,
        })
    }

    fn push(&self, tree: &Path, files: u64, sampler: &Sampler) -> Result<(Duration, u64, u64)> {
        let mut cmd = Command::new("rsync");
        cmd.args([
            "-a",
            "--stats",
            &format!("{}/", s(tree)?),
            &format!("rsync://127.0.0.1:{}/bench/", self.port),
        ]);
        let done = run_ok("rsync client", cmd, budget(files), sampler)?;
        let stat = |name: &str| -> Result<u64> {
            let line = done
                .stdout
                .lines()
                .find(|l| l.starts_with(name))
                .ok_or_else(|| anyhow!("rsync --stats printed no {name:?}:\n{}", done.stdout))?;
            let value = line[name.len()..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .replace(',', "");
            value
                .parse()
                .with_context(|| format!("rsync stat {name:?}: {line}"))
        };
        let transferred = stat("Number of regular files transferred:")?;
        let wire = stat("Total bytes sent:")? + stat("Total bytes received:")?;
        Ok((done.wall, transferred, wire))
    }
}

// ---------------------------------------------------------------------------------------------
// Syncthing

struct Syncthing {
    proc: Option<Proc>,
    home: PathBuf,
    folder: PathBuf,
    gui: u16,
    port: u16,
    key: String,
    id: String,
}

/// Replaces the text of the first `<tag>…</tag>` after `scope` in `xml`.
fn set_tag(xml: &mut String, scope: &str, tag: &str, value: &str) -> Result<()> {
    let from = xml
        .find(scope)
        .ok_or_else(|| anyhow!("syncthing config has no {scope}"))?;
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = from
        + xml[from..]
            .find(&open)
            .ok_or_else(|| anyhow!("syncthing config has no <{tag}>"))?
        + open.len();
    let end = start
        + xml[start..]
            .find(&close)
            .ok_or_else(|| anyhow!("syncthing config has no </{tag}>"))?;
    xml.replace_range(start..end, value);
    Ok(())
}

/// A minimal HTTP/1.0 client for Syncthing's REST API on loopback (HTTP/1.0: no chunking, the
/// body ends at EOF).
fn http(port: u16, key: &str, method: &str, path: &str, limit: Duration) -> Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(limit))?;
    stream.set_write_timeout(Some(limit))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed HTTP response from syncthing"))?;
    let status = head.lines().next().unwrap_or("");
    if !status.contains(" 200") {
        bail!("syncthing {method} {path}: {status}: {body}");
    }
    Ok(body.to_owned())
}

impl Syncthing {
    fn generate(home: &Path, folder: &Path, sampler: &Sampler) -> Result<Syncthing> {
        let mut cmd = Command::new("syncthing");
        cmd.args([
            "generate",
            &format!("--home={}", s(home)?),
            "--no-default-folder",
            "--skip-port-probing",
        ]);
        run_ok("syncthing generate", cmd, SHORT, sampler)?;
        let xml = std::fs::read_to_string(home.join("config.xml"))?;
        let id = xml
            .split("<device id=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .ok_or_else(|| anyhow!("generated syncthing config names no device"))?
            .to_owned();
        let key = xml
            .split("<apikey>")
            .nth(1)
            .and_then(|r| r.split("</apikey>").next())
            .ok_or_else(|| anyhow!("generated syncthing config has no API key"))?
            .to_owned();
        Ok(Syncthing {
            proc: None,
            home: home.to_owned(),
            folder: folder.to_owned(),
            gui: free_tcp_port()?,
            port: free_tcp_port()?,
            key,
            id,
        })
    }

    /// Edits the generated config: one shared folder with `other`, loopback only, no relays,
    /// discovery, NAT, usage reporting, upgrades or low priority; no watcher (scans are asked
    /// for through the REST API, so the timed window starts at a known moment).
    fn configure(&self, other: &Syncthing, folder_type: &str, marker: &str) -> Result<()> {
        let path = self.home.join("config.xml");
        let mut xml = std::fs::read_to_string(&path)?;
        for (tag, value) in [
            ("listenAddress", format!("tcp://127.0.0.1:{}", self.port)),
            ("globalAnnounceEnabled", "false".into()),
            ("localAnnounceEnabled", "false".into()),
            ("relaysEnabled", "false".into()),
            ("natEnabled", "false".into()),
            ("urAccepted", "-1".into()),
            ("startBrowser", "false".into()),
            ("autoUpgradeIntervalH", "0".into()),
            ("crashReportingEnabled", "false".into()),
            ("setLowPriority", "false".into()),
            ("reconnectionIntervalS", "5".into()),
        ] {
            set_tag(&mut xml, "<options>", tag, &value)?;
        }
        set_tag(
            &mut xml,
            "<gui ",
            "address",
            &format!("127.0.0.1:{}", self.gui),
        )?;
        let shared = format!(
            r#"    <folder id="{FOLDER}" label="{FOLDER}" path="{path}" type="{folder_type}" rescanIntervalS="86400" fsWatcherEnabled="false" fsWatcherDelayS="10" ignorePerms="false" autoNormalize="true">
        <filesystemType>basic</filesystemType>
        <device id="{me}" introducedBy=""></device>
        <device id="{them}" introducedBy=""></device>
        <minDiskFree unit="%">1</minDiskFree>
        <markerName>{marker}</markerName>
    </folder>
    <device id="{them}" name="peer" compression="metadata" introducer="false" skipIntroductionRemovals="false" introducedBy="">
        <address>tcp://127.0.0.1:{their_port}</address>
        <paused>false</paused>
        <autoAcceptFolders>false</autoAcceptFolders>
    </device>
"#,
            path = self.folder.display(),
            me = self.id,
            them = other.id,
            their_port = other.port,
        );
        let at = xml
            .find("    <gui ")
            .ok_or_else(|| anyhow!("syncthing config has no <gui>"))?;
        xml.insert_str(at, &shared);
        std::fs::write(&path, xml)?;
        Ok(())
    }

    fn start(&mut self, label: &str, sampler: &Sampler) -> Result<()> {
        let mut cmd = Command::new("syncthing");
        cmd.args([
            "serve",
            &format!("--home={}", s(&self.home)?),
            "--no-browser",
            "--no-restart",
            "--no-upgrade",
        ])
        .env("STNODEFAULTFOLDER", "1")
        .env("STNOUPGRADE", "1");
        let proc = Proc::spawn(label, cmd)?;
        sampler.watch(label, proc.pid());
        self.proc = Some(proc);
        let started = Instant::now();
        while self.get("/rest/system/ping").is_err() {
            if started.elapsed() > SHORT {
                let tail = self.proc.as_ref().map(Proc::tail).unwrap_or_default();
                bail!("{label}: REST API not up after {SHORT:?}:\n{tail}");
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    fn get(&self, path: &str) -> Result<serde_json::Value> {
        json(&http(self.gui, &self.key, "GET", path, SHORT)?, path)
    }

    /// A POST; `/rest/db/scan` answers when the scan is over, hence the caller's limit.
    fn post(&self, path: &str, limit: Duration) -> Result<()> {
        http(self.gui, &self.key, "POST", path, limit).map(|_| ())
    }

    fn status(&self) -> Result<serde_json::Value> {
        self.get(&format!("/rest/db/status?folder={FOLDER}"))
    }

    fn bytes_total(&self) -> Result<u64> {
        let c = self.get("/rest/system/connections")?;
        Ok(c["total"]["inBytesTotal"].as_u64().unwrap_or(0)
            + c["total"]["outBytesTotal"].as_u64().unwrap_or(0))
    }

    /// Waits until the folder holds `files` files locally, needs nothing, reports 100 %
    /// completion and is idle.
    fn wait_complete(&self, label: &str, files: u64, limit: Duration) -> Result<()> {
        let started = Instant::now();
        let mut last: String;
        loop {
            if let Some(p) = &self.proc
                && let Some(tail) = p.lines(false).iter().find(|l| l.contains("FATAL"))
            {
                bail!("{label}: {tail}");
            }
            match (
                self.status(),
                self.get(&format!("/rest/db/completion?folder={FOLDER}")),
            ) {
                (Ok(st), Ok(c)) => {
                    let local = st["localFiles"].as_u64().unwrap_or(0);
                    let need = st["needFiles"].as_u64().unwrap_or(u64::MAX);
                    let state = st["state"].as_str().unwrap_or("");
                    let pct = c["completion"].as_f64().unwrap_or(0.0);
                    let need_items = c["needItems"].as_u64().unwrap_or(u64::MAX);
                    last = format!(
                        "localFiles {local}, needFiles {need}, state {state}, completion {pct}, \
                         needItems {need_items}"
                    );
                    if local == files
                        && need == 0
                        && need_items == 0
                        && pct >= 100.0
                        && state == "idle"
                    {
                        return Ok(());
                    }
                }
                (Err(e), _) | (_, Err(e)) => last = format!("{e:#}"),
            }
            if started.elapsed() > limit {
                bail!("{label} not complete after {:.0} s: {last}", secs(limit));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the (send-only) source has scanned `files` files and is idle.
    fn wait_scanned(&self, label: &str, files: u64, limit: Duration) -> Result<()> {
        let started = Instant::now();
        let mut last: String;
        loop {
            match self.status() {
                Ok(st) => {
                    let local = st["localFiles"].as_u64().unwrap_or(0);
                    let state = st["state"].as_str().unwrap_or("");
                    last = format!("localFiles {local}, state {state}");
                    if local == files && state == "idle" {
                        return Ok(());
                    }
                }
                Err(e) => last = format!("{e:#}"),
            }
            if started.elapsed() > limit {
                bail!("{label} has not scanned after {:.0} s: {last}", secs(limit));
            }
            std::thread::sleep(POLL);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The run

fn phase(title: &str) {
    println!("\n== {title}  ({})", uptime());
}

fn run(opts: &Opts) -> Result<()> {
    let want = |t: &str| opts.tools.iter().any(|x| x == t);
    require_tool("iptables", "apt-get install -y iptables (and run as root)")?;
    if want("rsync") {
        require_tool("rsync", "apt-get install -y rsync")?;
    }
    if want("syncthing") {
        require_tool("syncthing", "apt-get install -y syncthing")?;
    }
    let counters = Counters::new()?;
    let sampler = Sampler::start();
    let tck = clk_tck();
    std::fs::create_dir_all(&opts.dir)?;
    let work = tempfile::Builder::new()
        .prefix("kizuna-repl-bench-")
        .tempdir_in(&opts.dir)
        .with_context(|| format!("making a work directory in {}", opts.dir.display()))?;
    let root = work.path().to_owned();
    println!(
        "replication benchmark: {} patients, {} facilities, work dir {}, {}",
        opts.patients,
        opts.facilities,
        root.display(),
        uptime()
    );

    // 1. The tree and the delta.
    phase("generating the region tree and the 0.1 % delta");
    let tree = root.join("tree");
    let wall = gen_tree(&tree, opts.patients, opts.facilities, &sampler)?;
    let listing = tree_files(&tree)?;
    let mut res = Results {
        files: listing.len() as u64,
        bytes: listing.iter().map(|(_, n)| n).sum(),
        ..Results::default()
    };
    drop(listing);
    println!(
        "tree: {} files, {} bytes of messages ({:.1} s)",
        res.files,
        res.bytes,
        secs(wall)
    );
    // Patients differ in size, so generate a few times more new patients than 0.1 % and keep
    // exactly 0.1 % of the tree's files (whole facility/patient folders first, in path order).
    let extra = opts.patients.div_ceil(250);
    let delta_want = res.files.div_ceil(1000);
    let bigger = root.join("bigger");
    let delta = root.join("delta");
    gen_tree(&bigger, opts.patients + extra, opts.facilities, &sampler)?;
    (res.delta_files, res.delta_bytes) = split_delta(&tree, &bigger, &delta, delta_want)?;
    std::fs::remove_dir_all(&bigger)?;
    println!(
        "delta: {} new files ({} bytes) of {extra} new patients = {:.3} % of the tree",
        res.delta_files,
        res.delta_bytes,
        100.0 * res.delta_files as f64 / res.files as f64
    );
    let mut facilities: Vec<String> = std::fs::read_dir(&tree)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    facilities.sort();
    let total = res.files + res.delta_files;

    // 2. Initial replication.
    let mut kz: Option<Kizuna> = None;
    let mut a_addr = String::new();
    let mut daemon_a: Option<Proc> = None;
    if want("kizuna") {
        phase("Kizuna: initial replication");
        let k = Kizuna::setup(&root.join("kizuna"), &facilities, &sampler)?;
        let (wall, summary) = k.import("kizuna import A", &k.a, &tree, res.files, &sampler)?;
        println!("source node A: import {:.1} s: {summary}", secs(wall));
        res.notes.push(format!(
            "Kizuna source import (not in the replication time): {:.1} s",
            secs(wall)
        ));
        let items = k.items(&k.a, &sampler)?;
        let started = Instant::now();
        let (da, addr) = k.daemon(
            "kizuna A (source daemon)",
            &k.a,
            free_udp_port()?,
            &[],
            &sampler,
            res.files,
        )?;
        println!(
            "A listening at {addr} after {:.1} s (store open + item set of {items} items)",
            secs(started.elapsed())
        );
        let port = udp_port_of(&addr)?;
        counters.watch("kizuna", "udp", port)?;
        counters.zero()?;
        let (wall, report) = k.sync("kizuna sync B (initial)", &k.b, &addr, res.files, &sampler)?;
        let wire = counters.bytes("kizuna")?;
        let got = k.items(&k.b, &sampler)?;
        println!(
            "B: `kizuna sync` {:.1} s: {}",
            secs(wall),
            describe_report(&report)
        );
        if got != items {
            bail!("after the initial sync B holds {got} items, A holds {items}");
        }
        if let Some(line) = da
            .lines(true)
            .iter()
            .rev()
            .find(|l| l.contains("sync done"))
        {
            println!("A's log: {line}");
        }
        res.initial.insert(
            "Kizuna",
            Run {
                wall,
                tool_bytes: Some(
                    report_u64(&report, "wire_bytes_received")
                        + report_u64(&report, "wire_bytes_sent"),
                ),
                wire_bytes: wire,
                note: format!("{items} items"),
            },
        );
        kz = Some(k);
        a_addr = addr;
        daemon_a = Some(da);
    }
    let mut rsync = None;
    if want("rsync") {
        phase("rsync: initial replication");
        let r = Rsync::start(&root.join("rsync"), &sampler)?;
        counters.watch("rsync", "tcp", r.port)?;
        counters.zero()?;
        let (wall, transferred, own) = r.push(&tree, res.files, &sampler)?;
        let wire = counters.bytes("rsync")?;
        println!(
            "rsync -a: {:.1} s, {transferred} files transferred, stats {own} B",
            secs(wall)
        );
        let landed = tree_files(&r.dest)?.len() as u64;
        if landed != res.files {
            bail!(
                "rsync's destination holds {landed} files, expected {}",
                res.files
            );
        }
        res.initial.insert(
            "rsync",
            Run {
                wall,
                tool_bytes: Some(own),
                wire_bytes: wire,
                note: format!("{transferred} files"),
            },
        );
        rsync = Some(r);
    }
    let mut st = None;
    if want("syncthing") {
        phase("Syncthing: initial replication");
        let base = root.join("syncthing");
        let dest = base.join("dest");
        std::fs::create_dir_all(dest.join(".stfolder"))?;
        let mut src = Syncthing::generate(&base.join("src-home"), &tree, &sampler)?;
        let mut dst = Syncthing::generate(&base.join("dst-home"), &dest, &sampler)?;
        // The source's folder marker is a facility directory that is already there, so that
        // Syncthing adds nothing to the tree the other tools read.
        src.configure(&dst, "sendonly", &facilities[0])?;
        dst.configure(&src, "receiveonly", ".stfolder")?;
        counters.watch("syncthing", "tcp", src.port)?;
        counters.watch("syncthing", "tcp", dst.port)?;
        let started = Instant::now();
        src.start("syncthing source", &sampler)?;
        src.wait_scanned("syncthing source", res.files, budget(res.files))?;
        let scan = started.elapsed();
        println!(
            "source instance: started and scanned {} files in {:.1} s",
            res.files,
            secs(scan)
        );
        res.notes.push(format!(
            "Syncthing source scan (not in the replication time): {:.1} s",
            secs(scan)
        ));
        counters.zero()?;
        let started = Instant::now();
        dst.start("syncthing receiver", &sampler)?;
        dst.wait_complete("syncthing receiver", res.files, budget(res.files))?;
        let wall = started.elapsed();
        let wire = counters.bytes("syncthing")?;
        let own = dst.bytes_total()?;
        println!(
            "receiver: complete after {:.1} s, connections total {own} B",
            secs(wall)
        );
        res.initial.insert(
            "Syncthing",
            Run {
                wall,
                tool_bytes: Some(own),
                wire_bytes: wire,
                note: String::new(),
            },
        );
        st = Some((src, dst));
    }

    // 3. The small delta.
    phase("small delta");
    apply_delta(&delta, &tree)?;
    println!("copied {} new files into the tree", res.delta_files);
    let mut a_running = None;
    if let (Some(k), Some(da)) = (kz.as_ref(), daemon_a.take()) {
        // There is no live ingest yet: the source daemon is stopped, imports the new files
        // (incremental: unchanged files are skipped by metadata) and starts again.
        da.stop()?;
        let (wall_import, summary) =
            k.import("kizuna import A (delta)", &k.a, &tree, total, &sampler)?;
        let started = Instant::now();
        // Same port, so the iptables rules still match.
        let (da, addr) = k.daemon(
            "kizuna A (source daemon)",
            &k.a,
            udp_port_of(&a_addr)?,
            &[],
            &sampler,
            total,
        )?;
        let restart = started.elapsed();
        println!(
            "A: incremental import {:.1} s ({summary}), daemon restart {:.1} s",
            secs(wall_import),
            secs(restart)
        );
        res.notes.push(format!(
            "Kizuna source ingest of the delta (no live ingest yet): import {:.1} s + daemon \
             restart {:.1} s, not in the delta time",
            secs(wall_import),
            secs(restart)
        ));
        counters.zero()?;
        let (wall, report) = k.sync("kizuna sync B (delta)", &k.b, &addr, total, &sampler)?;
        let wire = counters.bytes("kizuna")?;
        println!(
            "B: `kizuna sync` {:.1} s: {}",
            secs(wall),
            describe_report(&report)
        );
        if report_u64(&report, "items_received") != res.delta_files {
            res.notes.push(format!(
                "Kizuna delta: received {} items for {} new files",
                report_u64(&report, "items_received"),
                res.delta_files
            ));
        }
        res.delta.insert(
            "Kizuna",
            Run {
                wall,
                tool_bytes: Some(
                    report_u64(&report, "wire_bytes_received")
                        + report_u64(&report, "wire_bytes_sent"),
                ),
                wire_bytes: wire,
                note: format!("session {} ms", report_u64(&report, "duration_ms")),
            },
        );
        res.delta.insert(
            "Kizuna (session)",
            Run {
                wall: Duration::from_millis(report_u64(&report, "duration_ms")),
                tool_bytes: None,
                wire_bytes: wire,
                note: "reconcile + transfer + store, without process start".into(),
            },
        );
        a_running = Some((da, addr));
    }
    if let Some(r) = &rsync {
        counters.zero()?;
        let (wall, transferred, own) = r.push(&tree, total, &sampler)?;
        let wire = counters.bytes("rsync")?;
        println!(
            "rsync -a: {:.2} s, {transferred} files transferred, stats {own} B, wire {wire} B",
            secs(wall)
        );
        res.delta.insert(
            "rsync",
            Run {
                wall,
                tool_bytes: Some(own),
                wire_bytes: wire,
                note: format!("{transferred} files"),
            },
        );
    }
    if let Some((src, dst)) = &st {
        counters.zero()?;
        let before = dst.bytes_total()?;
        let started = Instant::now();
        src.post(&format!("/rest/db/scan?folder={FOLDER}"), budget(total))?;
        dst.wait_complete("syncthing receiver", total, budget(res.files))?;
        let wall = started.elapsed();
        let wire = counters.bytes("syncthing")?;
        let own = dst.bytes_total()?.saturating_sub(before);
        println!(
            "Syncthing: rescan + pull {:.2} s, connections {own} B, wire {wire} B",
            secs(wall)
        );
        res.delta.insert(
            "Syncthing",
            Run {
                wall,
                tool_bytes: Some(own),
                wire_bytes: wire,
                note: "rescan requested over REST".into(),
            },
        );
    }

    // 4. Idle CPU and memory.
    let mut idle = None;
    if let (Some(k), Some((da, addr))) = (kz.as_ref(), a_running.as_ref()) {
        phase(&format!(
            "Kizuna: idle node with two peers, {} s",
            opts.idle_s
        ));
        let (wall, _) = k.import("kizuna import C", &k.c, &tree, total, &sampler)?;
        println!(
            "C: imported the tree locally in {:.1} s (stores now equal)",
            secs(wall)
        );
        let before_done = da.count_lines("sync done");
        let (mut db, _) = k.daemon("kizuna B (daemon)", &k.b, 0, &[addr], &sampler, total)?;
        let (mut dc, _) = k.daemon("kizuna C (daemon)", &k.c, 0, &[addr], &sampler, total)?;
        db.wait_line("sync done", budget(res.delta_files))?;
        dc.wait_line("sync done", budget(res.delta_files))?;
        let started = Instant::now();
        while da.count_lines("sync done") < before_done + 2 {
            if started.elapsed() > SHORT {
                bail!("A did not log both syncs done");
            }
            std::thread::sleep(POLL);
        }
        std::thread::sleep(Duration::from_secs(2));
        let pids = [("A", da.pid()), ("B", db.pid()), ("C", dc.pid())];
        let t0: Vec<Option<u64>> = pids.iter().map(|(_, p)| proc_ticks(*p)).collect();
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs(opts.idle_s));
        let elapsed = secs(started.elapsed());
        let mut line = String::new();
        let mut a_pct = f64::NAN;
        for ((name, pid), before) in pids.iter().zip(t0) {
            let after = proc_ticks(*pid);
            let (Some(b), Some(a)) = (before, after) else {
                bail!("kizuna {name} exited during the idle measurement");
            };
            let pct = 100.0 * (a - b) as f64 / tck / elapsed;
            if *name == "A" {
                a_pct = pct;
            }
            let _ = write!(line, "{name} {pct:.2} %  ");
        }
        let members = da.count_lines("member admitted");
        println!(
            "CPU over {elapsed:.0} s (utime+stime / wall, one core = 100 %): {line}(A admitted {members} members)"
        );
        idle = Some((a_pct, elapsed));
        db.stop()?;
        dc.stop()?;
    }

    // 5. Results.
    phase("results");
    print_results(&res, &sampler, tck, idle);
    if !opts.keep {
        drop(st);
        drop(a_running);
        drop(rsync);
        work.close().context("removing the work directory")?;
    } else {
        println!("kept {}", work.keep().display());
    }
    drop(counters);
    Ok(())
}

fn fmt_bytes(b: u64) -> String {
    if b >= 10 * 1024 * 1024 {
        format!("{:.1} MB", b as f64 / 1e6)
    } else if b >= 10 * 1024 {
        format!("{:.1} kB", b as f64 / 1e3)
    } else {
        format!("{b} B")
    }
}

fn print_results(res: &Results, sampler: &Sampler, tck: f64, idle: Option<(f64, f64)>) {
    println!(
        "tree {} files ({}), delta {} files ({}); {}",
        res.files,
        fmt_bytes(res.bytes),
        res.delta_files,
        fmt_bytes(res.delta_bytes),
        uptime()
    );
    println!(
        "\n| tool | initial: time | files/s | wire (iptables) | tool's count | delta: time | wire (iptables) | tool's count |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut tools: Vec<&str> = res.initial.keys().copied().collect();
    for t in res.delta.keys() {
        if !tools.contains(t) {
            tools.push(t);
        }
    }
    for tool in &tools {
        let mut row = format!("| {tool} |");
        match res.initial.get(tool) {
            Some(r) => {
                let _ = write!(
                    row,
                    " {:.1} s | {:.0} | {} | {} |",
                    secs(r.wall),
                    res.files as f64 / secs(r.wall),
                    fmt_bytes(r.wire_bytes),
                    r.tool_bytes.map(fmt_bytes).unwrap_or_else(|| "–".into())
                );
            }
            None => row.push_str(" – | – | – | – |"),
        }
        match res.delta.get(tool) {
            Some(r) => {
                let _ = write!(
                    row,
                    " {:.2} s | {} | {} |",
                    secs(r.wall),
                    fmt_bytes(r.wire_bytes),
                    r.tool_bytes.map(fmt_bytes).unwrap_or_else(|| "–".into())
                );
            }
            None => row.push_str(" – | – | – |"),
        }
        println!("{row}");
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    if let Some(k) = res.initial.get("Kizuna") {
        let kd = res.delta.get("Kizuna");
        let ks = res.delta.get("Kizuna (session)");
        println!("\n| ratio | target | vs rsync | vs Syncthing |");
        println!("|---|---|---|---|");
        let against = |other: &str,
                       f: &dyn Fn(&Run, &Run) -> f64,
                       table: &BTreeMap<&str, Run>,
                       mine: Option<&Run>|
         -> String {
            match (mine, table.get(other)) {
                (Some(m), Some(o)) => format!("{:.2}", f(m, o)),
                _ => "–".into(),
            }
        };
        let files_ratio = |m: &Run, o: &Run| ratio(secs(o.wall), secs(m.wall));
        let time_ratio = |m: &Run, o: &Run| ratio(secs(o.wall), secs(m.wall));
        let byte_ratio = |m: &Run, o: &Run| ratio(o.wire_bytes as f64, m.wire_bytes as f64);
        println!(
            "| Kizuna files/s ÷ other's files/s (initial) | ≥ 1 | {} | {} |",
            against("rsync", &files_ratio, &res.initial, Some(k)),
            against("Syncthing", &files_ratio, &res.initial, Some(k))
        );
        println!(
            "| other's delta time ÷ Kizuna's (`kizuna sync` process, wall) | ≥ 20 | {} | {} |",
            against("rsync", &time_ratio, &res.delta, kd),
            against("Syncthing", &time_ratio, &res.delta, kd)
        );
        println!(
            "| other's delta time ÷ Kizuna's (sync session only) | ≥ 20 | {} | {} |",
            against("rsync", &time_ratio, &res.delta, ks),
            against("Syncthing", &time_ratio, &res.delta, ks)
        );
        println!(
            "| other's delta bytes ÷ Kizuna's (iptables, both ways) | ≥ 50 | {} | {} |",
            against("rsync", &byte_ratio, &res.delta, kd),
            against("Syncthing", &byte_ratio, &res.delta, kd)
        );
    }
    if let Some((pct, s)) = idle {
        println!(
            "\nidle CPU of Kizuna node A with two peers connected over {s:.0} s: {pct:.2} % of one core (target ≤ 1 %)"
        );
    }
    println!("\npeak RSS (VmHWM, largest single process) and CPU time per process group:");
    let labels: Vec<String> = {
        let st = sampler.state.lock().unwrap_or_else(|p| p.into_inner());
        st.peak_kb.keys().cloned().collect()
    };
    for label in labels {
        let (mb, who) = sampler.peak_mb(&label).unwrap_or_default();
        println!(
            "  {label:<32} {mb:>8.1} MB   CPU {:>7.1} s   ({who})",
            sampler.cpu_s(&label, tck)
        );
    }
    for (phase, table) in [("initial", &res.initial), ("delta", &res.delta)] {
        for (tool, run) in table.iter().filter(|(_, r)| !r.note.is_empty()) {
            println!("note: {tool} {phase}: {}", run.note);
        }
    }
    for note in &res.notes {
        println!("note: {note}");
    }
    println!("{}", uptime());
}
