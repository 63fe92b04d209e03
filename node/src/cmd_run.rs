//! `kizuna run` (the daemon) and `kizuna sync` (one-shot reconcile with one peer). Everything
//! async starts here: a tokio runtime with two workers, because nodes are small and share their cores with ingest and the field UI.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use tracing_subscriber::EnvFilter;

use crate::config::{self, LogFormat, Overrides, Settings};
use crate::daemon::{self, NodeEvent};

const WORKER_THREADS: usize = 2;

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Data directory made by `kizuna init` (overrides node.data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// TOML configuration (see deploy/kizuna.example.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Region authority public key, 64 hex digits (overrides region.authority).
    #[arg(long)]
    authority: Option<String>,
    /// This node's admission record (overrides region.membership).
    #[arg(long)]
    membership: Option<PathBuf>,
    /// Directory of revocation records (overrides region.revocations).
    #[arg(long)]
    revocations: Option<PathBuf>,
    /// Log format: auto, human or json (overrides log.format).
    #[arg(long)]
    log_format: Option<String>,
    /// Read the passphrase from the first line of FILE (else KIZUNA_PASSPHRASE).
    #[arg(long)]
    key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Listen address (repeatable; overrides node.listen), e.g. /ip4/0.0.0.0/udp/4433/quic-v1.
    #[arg(long)]
    listen: Vec<String>,
    /// Static peer multiaddr (repeatable; added to node.peers).
    #[arg(long)]
    peer: Vec<String>,
    /// Turn mDNS discovery off.
    #[arg(long)]
    no_mdns: bool,
    /// Seconds between syncs with each member (overrides sync.interval_s).
    #[arg(long)]
    sync_interval_s: Option<u64>,
    /// Serve Prometheus /metrics on HOST:PORT (overrides http.listen).
    #[arg(long)]
    http_listen: Option<String>,
    /// SS-MIX2 root to watch and import live (repeatable; added to ingest.roots).
    #[arg(long)]
    ingest: Vec<PathBuf>,
    /// Hub only: the central SS-MIX2 tree to mirror into and ingest from (overrides hub.central).
    #[arg(long)]
    central: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The peer to reconcile with, e.g. /ip4/10.0.0.2/udp/4433/quic-v1/p2p/12D3Koo….
    #[arg(long)]
    peer: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Leave received items in the packs they arrived in (measurements only).
    #[arg(long, hide = true)]
    no_repack: bool,
}

fn passphrase(key_file: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    match crate::cmd_store::passphrase_without_prompt(key_file)? {
        Some(pass) => Ok(pass),
        None => bail!("no passphrase: pass --key-file FILE or set KIZUNA_PASSPHRASE"),
    }
}

fn settings(args: &NodeArgs, extra: Overrides) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => config::read_file(path)?,
        None => config::File::default(),
    };
    Settings::resolve(
        file,
        Overrides {
            data: args.data.clone(),
            authority: args.authority.clone(),
            membership: args.membership.clone(),
            revocations: args.revocations.clone(),
            log_format: args.log_format.clone(),
            ..extra
        },
    )
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation can only fail in tests that call this twice; logs still flow.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()?)
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(
        &args.node,
        Overrides {
            listen: args.listen.clone(),
            peers: args.peer.clone(),
            no_mdns: args.no_mdns,
            sync_interval_s: args.sync_interval_s,
            http_listen: args.http_listen.clone(),
            ingest: args.ingest.clone(),
            central: args.central.clone(),
            ..Overrides::default()
        },
    )?;
    init_logging(settings.log_format, &settings.log_level);
    let pass = passphrase(args.node.key_file.as_deref())?;
    runtime()?.block_on(async move {
        let (node, events) = daemon::start(settings, pass, true).await?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = daemon::scheduler::run(node.clone(), events) => result?,
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("stopping");
        node.ops.write_now(&node);
        Ok(ExitCode::SUCCESS)
    })
}

pub fn sync(args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let mut settings = settings(
        &args.node,
        Overrides {
            peers: vec![args.peer.clone()],
            no_mdns: true,
            ..Overrides::default()
        },
    )?;
    settings.repack = !args.no_repack;
    init_logging(settings.log_format, &settings.log_level);
    let pass = passphrase(args.node.key_file.as_deref())?;
    let peer_addr: libp2p::Multiaddr = args.peer.parse().context("--peer is not a multiaddr")?;
    let json = args.json;
    let repack = settings.repack;
    runtime()?.block_on(async move {
        let connect_timeout = settings.limits.handshake_timeout + Duration::from_secs(10);
        let (node, mut events) = daemon::start(settings, pass, false).await?;
        node.commands
            .send(crate::net::Command::Dial(peer_addr))
            .await
            .context("the network task stopped")?;
        // The one-shot client dials a single peer, so the first node event decides.
        let peer = tokio::time::timeout(connect_timeout, async {
            match events.recv().await {
                Some(NodeEvent::MemberUp(peer)) => Ok(peer),
                Some(NodeEvent::Refused { peer, error }) => {
                    bail!("membership refused with {peer}: {error}")
                }
                Some(NodeEvent::DialFailed(error)) => bail!("cannot reach the peer: {error}"),
                None => bail!("the network task stopped"),
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("no membership handshake within {connect_timeout:?}"))??;
        let report = node
            .sync_with(peer)
            .await
            .map_err(|e| anyhow::anyhow!("sync failed: {e}"))?;
        // Close the connection so the peer learns at once rather than after its idle timeout;
        // the short pause lets the swarm task send QUIC's CONNECTION_CLOSE before we exit.
        let _ = node
            .commands
            .send(crate::net::Command::Disconnect(peer))
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Items arrive in hash order, one per pack: merge them before exiting, so a replica
        // made by one sync is as small as an imported store. Not part of the report (its
        // `duration_ms` is the sync's); logged with counts.
        if report.items_received > 0 && repack {
            node.store
                .repack()
                .await
                .map_err(|e| anyhow::anyhow!("repacking after the sync: {e}"))?;
        }
        if json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!(
                "sync with {peer}: received {} items ({} B), sent {} items ({} B), peer stored {}, \
                 rejected {}, missing {}, {} round trips, wire {} B in / {} B out, {} ms{}",
                report.items_received,
                report.item_bytes_received,
                report.items_sent,
                report.item_bytes_sent,
                report.items_stored_by_peer,
                report.items_rejected,
                report.items_missing,
                report.round_trips,
                report.wire_bytes_received,
                report.wire_bytes_sent,
                report.duration_ms,
                if report.partial {
                    " (partial: difference above the per-sync cap; sync again)"
                } else {
                    ""
                }
            );
        }
        // Partial or rejected transfers are not a clean success: say so in the exit code.
        if report.partial || report.items_rejected > 0 || report.items_missing > 0 {
            return Ok(ExitCode::from(2));
        }
        Ok(ExitCode::SUCCESS)
    })
}
