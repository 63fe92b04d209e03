//! `kizuna demo`: the outage scenario, narrated, with real processes on loopback. In a temporary
//! directory it generates a small region, starts a hub (with a central SS-MIX2 tree), three
//! facility nodes (each ingesting its own tree live) and a shelter node, all as `kizuna run`
//! children of this process, and walks through: normal sync → the backbone is cut → a facility
//! keeps ingesting → the shelter reads an evacuee's emergency summary from a facility it never
//! talked to → the hub returns → everything reconciles. It ends by checking that every node's
//! item digest is equal and that the central tree equals the union of the facility trees, and
//! prints the figures. Every wait polls a condition under a deadline; children are killed on
//! exit. The same scenario, with assertions, is `node/tests/daemon_ops.rs`.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Longest wait for one step.
const STEP_DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);
/// Log lines kept per child: enough for the demo's few hundred, bounded all the same.
const LOG_LINES_MAX: usize = 100_000;
const DEMO_PASSPHRASE: &str = "kizuna-demo-passphrase";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Patients in the generated region (the outage adds a quarter more at facility 1).
    #[arg(long, default_value_t = 40)]
    patients: u32,
    /// Keep the temporary directory (its path is printed).
    #[arg(long)]
    keep: bool,
}

fn exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("locating the kizuna binary")
}

fn cmd(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(exe()?)
        .args(args)
        .env("KIZUNA_PASSPHRASE", DEMO_PASSPHRASE)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running kizuna {}", args.first().unwrap_or(&"")))?;
    if !out.status.success() {
        bail!(
            "kizuna {} failed: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn p(path: &Path) -> anyhow::Result<&str> {
    path.to_str().context("temporary path is not UTF-8")
}

struct Daemon {
    name: &'static str,
    child: Child,
    log: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn message(line: &serde_json::Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or("")
}

impl Daemon {
    fn start(name: &'static str, args: &[&str]) -> anyhow::Result<Daemon> {
        let mut child = Command::new(exe()?)
            .args(args)
            .env("KIZUNA_PASSPHRASE", DEMO_PASSPHRASE)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting kizuna run")?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line) {
                    let mut log = crate::net::lock(&sink);
                    if log.len() < LOG_LINES_MAX {
                        log.push(value);
                    }
                }
            }
        });
        Ok(Daemon { name, child, log })
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status})", self.name);
        }
        Ok(())
    }

    fn find(&self, pred: impl Fn(&serde_json::Value) -> bool) -> Option<serde_json::Value> {
        crate::net::lock(&self.log)
            .iter()
            .find(|l| pred(l))
            .cloned()
    }

    fn wait_for(
        &mut self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> anyhow::Result<serde_json::Value> {
        let started = Instant::now();
        loop {
            if let Some(line) = self.find(&pred) {
                return Ok(line);
            }
            self.check_alive()?;
            if started.elapsed() > STEP_DEADLINE {
                bail!("{}: no {what} within {STEP_DEADLINE:?}", self.name);
            }
            std::thread::sleep(POLL);
        }
    }

    fn listen_addr(&mut self) -> anyhow::Result<String> {
        let line = self.wait_for("listen address", |l| message(l) == "listening")?;
        line["fields"]["addr"]
            .as_str()
            .map(str::to_owned)
            .context("listening line without addr")
    }

    fn set(&self) -> Option<(u64, String)> {
        crate::net::lock(&self.log).iter().rev().find_map(|l| {
            (message(l) == "item set changed").then(|| {
                (
                    l["fields"]["items"].as_u64().unwrap_or(0),
                    l["fields"]["digest"].as_str().unwrap_or("").to_owned(),
                )
            })
        })
    }
}

/// Waits until all daemons hold `n` items with one digest; returns it and the time taken.
fn converge(daemons: &mut [&mut Daemon], n: u64) -> anyhow::Result<(String, Duration)> {
    let started = Instant::now();
    loop {
        let sets: Vec<Option<(u64, String)>> = daemons.iter().map(|d| d.set()).collect();
        if sets
            .iter()
            .all(|s| s.as_ref().is_some_and(|(c, _)| *c == n))
        {
            let digests: HashSet<&str> = sets.iter().flatten().map(|(_, d)| d.as_str()).collect();
            if digests.len() != 1 {
                bail!("equal counts but different digests");
            }
            let digest = sets[0].as_ref().map(|(_, d)| d.clone()).unwrap_or_default();
            return Ok((digest, started.elapsed()));
        }
        for d in daemons.iter_mut() {
            d.check_alive()?;
        }
        if started.elapsed() > STEP_DEADLINE {
            let counts: Vec<String> = daemons
                .iter()
                .zip(&sets)
                .map(|(d, s)| format!("{} {}", d.name, s.as_ref().map_or(0, |(c, _)| *c)))
                .collect();
            bail!("not converged to {n} items: {}", counts.join(", "));
        }
        std::thread::sleep(POLL);
    }
}

fn read_tree(root: &Path) -> anyhow::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut files = BTreeMap::new();
    if !root.exists() {
        return Ok(files);
    }
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry?;
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(root)?.to_owned();
            files.insert(rel, std::fs::read(entry.path())?);
        }
    }
    Ok(files)
}

fn wait_tree(root: &Path, want: &BTreeMap<PathBuf, Vec<u8>>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        if read_tree(root)? == *want {
            return Ok(started.elapsed());
        }
        if started.elapsed() > STEP_DEADLINE {
            bail!("the central tree does not equal the facility trees");
        }
        std::thread::sleep(POLL);
    }
}

fn distinct(tree: &BTreeMap<PathBuf, Vec<u8>>) -> u64 {
    tree.values().collect::<HashSet<_>>().len() as u64
}

struct Node {
    data: PathBuf,
    peer: String,
    membership: PathBuf,
    config: PathBuf,
}

fn node(
    root: &Path,
    authority_key: &Path,
    name: &str,
    facility: &str,
    role: &str,
) -> anyhow::Result<Node> {
    let data = root.join(name);
    // The demo's throw-away stores use the minimum PBKDF2 count so that five nodes start in
    // seconds; a real node keeps the 600,000 default.
    cmd(&[
        "init",
        "--data",
        p(&data)?,
        "--facility",
        facility,
        "--role",
        role,
        "--kdf-iterations",
        "1000",
    ])?;
    let status: serde_json::Value =
        serde_json::from_str(&cmd(&["status", "--data", p(&data)?, "--json"])?)?;
    let peer = status["peer_id"].as_str().context("peer id")?.to_owned();
    let membership = root.join(format!("{name}.kza"));
    cmd(&[
        "region",
        "admit",
        "--authority",
        p(authority_key)?,
        "--peer",
        &peer,
        "--facility",
        facility,
        "--role",
        role,
        "--expires",
        "2099-01-01",
        "--out",
        p(&membership)?,
    ])?;
    let config = root.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        "[sync]\ninterval_s = 5\nsession_timeout_s = 10\n\n[limits]\nconcurrent_syncs_max = 4\n\n\
         [ingest]\ndebounce_ms = 200\n",
    )?;
    Ok(Node {
        data,
        peer,
        membership,
        config,
    })
}

fn daemon(
    name: &'static str,
    node: &Node,
    authority: &str,
    listen: &str,
    extra: &[&str],
) -> anyhow::Result<Daemon> {
    let mut args = vec![
        "run",
        "--config",
        p(&node.config)?,
        "--data",
        p(&node.data)?,
        "--authority",
        authority,
        "--membership",
        p(&node.membership)?,
        "--no-mdns",
        "--log-format",
        "json",
        "--listen",
        listen,
    ];
    args.extend_from_slice(extra);
    Daemon::start(name, &args)
}

fn say(started: Instant, text: &str) {
    println!("[{:>5.1} s] {text}", started.elapsed().as_secs_f64());
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let tmp = std::env::temp_dir().join(format!("kizuna-demo-{}", std::process::id()));
    std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let result = scenario(&tmp, args.patients, started);
    if args.keep {
        println!("kept {}", tmp.display());
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn scenario(root: &Path, patients: u32, started: Instant) -> anyhow::Result<ExitCode> {
    let tree = root.join("region");
    let later = root.join("later");
    let patients_later = patients + (patients / 4).max(1);
    say(
        started,
        &format!("generating a region of {patients} patients at 3 facilities"),
    );
    let n = patients.to_string();
    let n_later = patients_later.to_string();
    cmd(&[
        "gen",
        "--out",
        p(&tree)?,
        "--patients",
        &n,
        "--facilities",
        "3",
        "--quiet",
    ])?;
    cmd(&[
        "gen",
        "--out",
        p(&later)?,
        "--patients",
        &n_later,
        "--facilities",
        "3",
        "--quiet",
    ])?;
    let mut facilities: Vec<String> = std::fs::read_dir(&tree)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    facilities.sort();
    if facilities.len() != 3 {
        bail!("expected 3 facilities");
    }
    let source = read_tree(&tree)?;
    let mut outage = read_tree(&later)?;
    outage
        .retain(|path, bytes| path.starts_with(&facilities[0]) && source.get(path) != Some(bytes));

    let authority_key = root.join("authority.key");
    let authority = cmd(&["region", "create", "--out", p(&authority_key)?])?
        .trim()
        .to_owned();
    say(
        started,
        "initialising and admitting a hub, three facilities and a shelter",
    );
    let hub_node = node(root, &authority_key, "hub", "9999999991", "hub")?;
    let mut fac_nodes = Vec::new();
    for (i, code) in facilities.iter().enumerate() {
        fac_nodes.push(node(
            root,
            &authority_key,
            &format!("facility{}", i + 1),
            code,
            "facility",
        )?);
    }
    let shelter_node = node(root, &authority_key, "shelter", "9999999992", "shelter")?;
    let central = root.join("central");
    let any = "/ip4/127.0.0.1/udp/0/quic-v1";

    // 1. Normal operation.
    let mut hub = daemon(
        "hub",
        &hub_node,
        &authority,
        any,
        &["--central", p(&central)?],
    )?;
    let hub_addr = hub.listen_addr()?;
    let hub_listen = hub_addr.split("/p2p/").next().unwrap_or(any).to_owned();
    let names = ["facility 1", "facility 2", "facility 3"];
    let mut fds: Vec<Daemon> = Vec::new();
    let mut addrs: Vec<String> = Vec::new();
    for (i, node) in fac_nodes.iter().enumerate() {
        let ingest = tree.join(&facilities[i]);
        let mut extra = vec!["--ingest", p(&ingest)?, "--peer", hub_addr.as_str()];
        for a in &addrs {
            extra.extend(["--peer", a.as_str()]);
        }
        let mut d = daemon(names[i], node, &authority, any, &extra)?;
        addrs.push(d.listen_addr()?);
        fds.push(d);
    }
    let n1 = distinct(&source);
    say(
        started,
        &format!(
            "normal operation: each facility ingests its own SS-MIX2 tree ({} files in all) and syncs",
            source.len()
        ),
    );
    let (digest1, t1) = {
        let [a, b, c] = &mut fds[..] else {
            bail!("three facilities")
        };
        converge(&mut [&mut hub, a, b, c], n1)?
    };
    let t1c = wait_tree(&central, &source)?;
    say(
        started,
        &format!(
            "  all four nodes hold {n1} items (digest {digest1}) after {:.1} s; the central tree has all {} files",
            t1.as_secs_f64(),
            source.len()
        ),
    );
    let _ = t1c;

    // 2. The backbone is cut.
    drop(hub);
    say(started, "the backbone is cut: the hub is gone");

    // 3. Facility 1 keeps ingesting.
    for (rel, bytes) in &outage {
        let path = tree.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
    }
    let n2 = n1 + distinct(&outage);
    say(
        started,
        &format!(
            "facility 1's hospital system writes {} new files during the outage",
            outage.len()
        ),
    );
    let (_, t3) = {
        let [a, b, c] = &mut fds[..] else {
            bail!("three facilities")
        };
        converge(&mut [a, b, c], n2)?
    };
    say(
        started,
        &format!(
            "  the facilities reach each other directly: all hold {n2} items after {:.1} s",
            t3.as_secs_f64()
        ),
    );

    // 4. The shelter.
    say(
        started,
        "a shelter node starts next to facility 2 (it has never talked to facility 1)",
    );
    let mut shelter = daemon(
        "shelter",
        &shelter_node,
        &authority,
        any,
        &["--peer", addrs[1].as_str()],
    )?;
    let (_, t4) = converge(&mut [&mut shelter], n2)?;
    let evacuee = outage
        .keys()
        .find_map(|p| p.components().nth(3))
        .and_then(|c| c.as_os_str().to_str())
        .context("no patient folder in the new files")?
        .to_owned();
    say(
        started,
        &format!(
            "  the shelter holds {n2} items after {:.1} s; emergency summary of evacuee {evacuee} from facility 1:",
            t4.as_secs_f64()
        ),
    );
    let summary = cmd(&[
        "patient",
        "summary",
        "--data",
        p(&shelter_node.data)?,
        "--facility",
        &facilities[0],
        "--id",
        &evacuee,
    ])?;
    for line in summary.lines().take(40) {
        println!("    {line}");
    }
    let f1 = &fac_nodes[0].peer;
    if shelter
        .find(|l| message(l) == "member admitted" && l["fields"]["peer"] == f1.as_str())
        .is_some()
    {
        bail!("the shelter talked to facility 1 directly");
    }

    // 5. The hub returns.
    say(started, "links return: the hub restarts at its address");
    let mut hub = daemon(
        "hub",
        &hub_node,
        &authority,
        &hub_listen,
        &["--central", p(&central)?],
    )?;
    let (digest, t5) = {
        let [a, b, c] = &mut fds[..] else {
            bail!("three facilities")
        };
        converge(&mut [&mut hub, a, b, c, &mut shelter], n2)?
    };
    let union = read_tree(&tree)?;
    let t5c = wait_tree(&central, &union)?;
    say(
        started,
        &format!(
            "  reconciled after {:.1} s: every node holds {n2} items, digest {digest}",
            t5.as_secs_f64()
        ),
    );
    say(
        started,
        &format!(
            "  the central tree equals the union of the facility trees ({} files, byte for byte; {:.1} s)",
            union.len(),
            (t5 + t5c).as_secs_f64()
        ),
    );
    drop(hub);
    drop(shelter);
    fds.clear();
    println!();
    println!("figures");
    println!("  items before the outage        {n1}");
    println!("  written during the outage      {} files", outage.len());
    println!("  normal sync (4 nodes)          {:.1} s", t1.as_secs_f64());
    println!("  outage spread (3 facilities)   {:.1} s", t3.as_secs_f64());
    println!("  shelter replication            {:.1} s", t4.as_secs_f64());
    println!("  reconciliation (5 nodes)       {:.1} s", t5.as_secs_f64());
    println!(
        "  whole demo                     {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
