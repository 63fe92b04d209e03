//! The daemon's configuration: a TOML file (`deploy/kizuna.example.toml` documents every key),
//! then command-line flags on top. Raw input is validated into [`Settings`] once, so the rest
//! of the daemon never sees an out-of-range value (house style: preconditions live in types).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use libp2p::Multiaddr;
use serde::Deserialize;

use crate::region::PublicKey32;

/// A config file is a few kilobytes; refuse to parse anything much larger.
const CONFIG_BYTES_MAX: u64 = 1024 * 1024;

/// The file as written by an operator. Every field is optional; defaults are in [`Settings`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub node: NodeSection,
    #[serde(default)]
    pub region: RegionSection,
    #[serde(default)]
    pub sync: SyncSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub ingest: IngestSection,
    #[serde(default)]
    pub hub: HubSection,
}

/// The operations endpoint (`daemon/metrics.rs`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// `host:port` of the Prometheus `/metrics` endpoint; absent = no endpoint.
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSection {
    pub roots: Option<Vec<PathBuf>>,
    pub debounce_ms: Option<u64>,
    pub rescan_s: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSection {
    pub central: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    pub data: Option<PathBuf>,
    pub listen: Option<Vec<String>>,
    pub peers: Option<Vec<String>>,
    pub mdns: Option<bool>,
    pub inbox: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSection {
    pub authority: Option<String>,
    pub membership: Option<PathBuf>,
    pub revocations: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSection {
    pub interval_s: Option<u64>,
    pub session_timeout_s: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub connections_max: Option<u32>,
    pub connections_per_peer_max: Option<u32>,
    pub pending_incoming_max: Option<u32>,
    pub pending_outgoing_max: Option<u32>,
    pub handshake_timeout_ms: Option<u64>,
    pub concurrent_syncs_max: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub format: Option<String>,
    pub level: Option<String>,
}

/// How logs are written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON otherwise.
    Auto,
    Human,
    Json,
}

/// Validated settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub data: PathBuf,
    pub listen: Vec<Multiaddr>,
    pub peers: Vec<Multiaddr>,
    pub mdns: bool,
    /// Where received items are staged as SS-MIX2 files before `Store::import`.
    pub inbox: PathBuf,
    pub authority: PublicKey32,
    pub membership: PathBuf,
    pub revocations: Option<PathBuf>,
    pub sync_interval: Duration,
    pub session_timeout: Duration,
    pub limits: Limits,
    pub log_format: LogFormat,
    pub log_level: String,
    /// The `/metrics` endpoint's address, if any.
    pub http_listen: Option<std::net::SocketAddr>,
    /// Live ingest (`daemon/ingest.rs`); on a hub the central tree is added to its roots.
    pub ingest: crate::daemon::ingest::IngestSettings,
    /// Hub mirror target (`daemon/mirror.rs`).
    pub central: Option<PathBuf>,
    /// Merge small packs (`daemon/store.rs`); only the one-shot sync's hidden `--no-repack`
    /// (measurements of a replica as received) clears it.
    pub repack: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub connections_max: u32,
    pub connections_per_peer_max: u32,
    pub pending_incoming_max: u32,
    pub pending_outgoing_max: u32,
    pub handshake_timeout: Duration,
    pub concurrent_syncs_max: usize,
}

/// Bounds of the tunables: wide enough for any site, narrow enough that a typo cannot make a
/// small node accept thousands of connections or sync in a busy loop.
pub const SYNC_INTERVAL_S_RANGE: (u64, u64) = (5, 86_400);
pub const SESSION_TIMEOUT_S_RANGE: (u64, u64) = (5, 3_600);
pub const CONNECTIONS_MAX_RANGE: (u32, u32) = (1, 1_024);
pub const HANDSHAKE_TIMEOUT_MS_RANGE: (u64, u64) = (100, 60_000);
pub const CONCURRENT_SYNCS_RANGE: (usize, usize) = (1, 16);
pub const DEBOUNCE_MS_RANGE: (u64, u64) = (50, 60_000);
pub const RESCAN_S_RANGE: (u64, u64) = (10, 86_400);
/// Ingest roots per node: a facility has one or a few storage trees.
pub const INGEST_ROOTS_MAX: usize = 64;

/// Overrides from the command line (`kizuna run` and `kizuna sync`).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data: Option<PathBuf>,
    pub listen: Vec<String>,
    pub peers: Vec<String>,
    pub no_mdns: bool,
    pub authority: Option<String>,
    pub membership: Option<PathBuf>,
    pub revocations: Option<PathBuf>,
    pub sync_interval_s: Option<u64>,
    pub log_format: Option<String>,
    pub http_listen: Option<String>,
    pub ingest: Vec<PathBuf>,
    pub central: Option<PathBuf>,
}

pub fn read_file(path: &Path) -> anyhow::Result<File> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > CONFIG_BYTES_MAX {
        bail!("{} is larger than {CONFIG_BYTES_MAX} bytes", path.display());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    name: &str,
    value: T,
    (lo, hi): (T, T),
) -> anyhow::Result<T> {
    if value < lo || value > hi {
        bail!("{name} = {value} is outside {lo}..={hi}");
    }
    Ok(value)
}

fn addrs(name: &str, raw: &[String]) -> anyhow::Result<Vec<Multiaddr>> {
    raw.iter()
        .map(|s| {
            s.parse::<Multiaddr>()
                .with_context(|| format!("{name}: {s:?} is not a multiaddr"))
        })
        .collect()
}

/// The default staging directory: RAM-backed `/dev/shm` where it exists, so plaintext items
/// never reach flash; the system temporary directory otherwise.
fn default_inbox() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

impl Settings {
    /// Merges the file (if any) and the overrides, and validates the result.
    pub fn resolve(file: File, over: Overrides) -> anyhow::Result<Settings> {
        let data = over
            .data
            .or(file.node.data)
            .context("no data directory: pass --data DIR or set node.data")?;
        let listen_raw = if over.listen.is_empty() {
            file.node
                .listen
                .unwrap_or_else(|| vec!["/ip4/0.0.0.0/udp/4433/quic-v1".to_owned()])
        } else {
            over.listen
        };
        let mut peers_raw = file.node.peers.unwrap_or_default();
        peers_raw.extend(over.peers);
        let authority_raw = over
            .authority
            .or(file.region.authority)
            .context("no region authority: pass --authority HEX or set region.authority")?;
        let authority = PublicKey32::parse_hex(&authority_raw)
            .context("region authority must be 64 hex digits (an Ed25519 public key)")?;
        let membership = over
            .membership
            .or(file.region.membership)
            .context("no membership record: pass --membership FILE or set region.membership")?;
        let l = &file.limits;
        let limits = Limits {
            connections_max: in_range(
                "limits.connections_max",
                l.connections_max.unwrap_or(32),
                CONNECTIONS_MAX_RANGE,
            )?,
            connections_per_peer_max: in_range(
                "limits.connections_per_peer_max",
                l.connections_per_peer_max.unwrap_or(2),
                (1, 8),
            )?,
            pending_incoming_max: in_range(
                "limits.pending_incoming_max",
                l.pending_incoming_max.unwrap_or(8),
                CONNECTIONS_MAX_RANGE,
            )?,
            pending_outgoing_max: in_range(
                "limits.pending_outgoing_max",
                l.pending_outgoing_max.unwrap_or(8),
                CONNECTIONS_MAX_RANGE,
            )?,
            handshake_timeout: Duration::from_millis(in_range(
                "limits.handshake_timeout_ms",
                l.handshake_timeout_ms.unwrap_or(5_000),
                HANDSHAKE_TIMEOUT_MS_RANGE,
            )?),
            concurrent_syncs_max: in_range(
                "limits.concurrent_syncs_max",
                l.concurrent_syncs_max.unwrap_or(2),
                CONCURRENT_SYNCS_RANGE,
            )?,
        };
        let log_format = match over
            .log_format
            .or(file.log.format)
            .as_deref()
            .unwrap_or("auto")
        {
            "auto" => LogFormat::Auto,
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => bail!("log.format = {other:?}: expected auto, human or json"),
        };
        let mut ingest_roots = file.ingest.roots.unwrap_or_default();
        ingest_roots.extend(over.ingest);
        let central = over.central.or(file.hub.central);
        if let Some(central) = &central
            && !ingest_roots.contains(central)
        {
            // What the center writes into its tree flows into the region.
            ingest_roots.push(central.clone());
        }
        if ingest_roots.len() > INGEST_ROOTS_MAX {
            bail!("ingest.roots: more than {INGEST_ROOTS_MAX} roots");
        }
        let ingest = crate::daemon::ingest::IngestSettings {
            roots: ingest_roots,
            debounce: Duration::from_millis(in_range(
                "ingest.debounce_ms",
                file.ingest.debounce_ms.unwrap_or(1_000),
                DEBOUNCE_MS_RANGE,
            )?),
            rescan: Duration::from_secs(in_range(
                "ingest.rescan_s",
                file.ingest.rescan_s.unwrap_or(3_600),
                RESCAN_S_RANGE,
            )?),
        };
        let revocations = over
            .revocations
            .or(file.region.revocations)
            .unwrap_or_else(|| data.join("revocations"));
        Ok(Settings {
            ingest,
            central,
            repack: true,
            data,
            listen: addrs("listen", &listen_raw)?,
            peers: addrs("peers", &peers_raw)?,
            mdns: !over.no_mdns && file.node.mdns.unwrap_or(true),
            inbox: file.node.inbox.unwrap_or_else(default_inbox),
            authority,
            membership,
            revocations: Some(revocations),
            sync_interval: Duration::from_secs(in_range(
                "sync.interval_s",
                over.sync_interval_s.or(file.sync.interval_s).unwrap_or(300),
                SYNC_INTERVAL_S_RANGE,
            )?),
            session_timeout: Duration::from_secs(in_range(
                "sync.session_timeout_s",
                file.sync.session_timeout_s.unwrap_or(120),
                SESSION_TIMEOUT_S_RANGE,
            )?),
            limits,
            log_format,
            log_level: file.log.level.unwrap_or_else(|| "info".to_owned()),
            http_listen: over
                .http_listen
                .or(file.http.listen)
                .map(|a| {
                    a.parse()
                        .with_context(|| format!("http.listen = {a:?} is not host:port"))
                })
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "0101010101010101010101010101010101010101010101010101010101010101";

    #[test]
    fn example_config_parses_and_flags_override() {
        let text = include_str!("../../deploy/kizuna.example.toml");
        let file: File = toml::from_str(text).expect("example config parses");
        let settings = Settings::resolve(
            file,
            Overrides {
                sync_interval_s: Some(60),
                no_mdns: true,
                ..Overrides::default()
            },
        )
        .expect("example config validates");
        assert_eq!(settings.sync_interval, Duration::from_secs(60));
        assert!(!settings.mdns);
        assert_eq!(settings.limits.connections_max, 32);
    }

    #[test]
    fn out_of_range_and_unknown_keys_are_refused() {
        let file: File = toml::from_str("[sync]\ninterval_s = 1\n").expect("parses");
        let over = Overrides {
            data: Some("/d".into()),
            authority: Some(AUTH.into()),
            membership: Some("/m".into()),
            ..Overrides::default()
        };
        let err = Settings::resolve(file, over.clone()).expect_err("1 s is below the floor");
        assert!(err.to_string().contains("sync.interval_s"), "{err}");
        assert!(toml::from_str::<File>("[sync]\nintervall_s = 10\n").is_err());
        let file: File = toml::from_str("").expect("empty is fine");
        let bad = Overrides {
            authority: Some("zz".into()),
            ..over
        };
        assert!(Settings::resolve(file, bad).is_err());
    }
}
