//! `kizuna region create | admit | revoke`: the region authority's tools. They run on the
//! authority's (offline) machine, not on nodes.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use libp2p::PeerId;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::net::handshake::now_unix;
use crate::region::{self, Admission, PublicKey32, Revocation, Role};

#[derive(Debug, Subcommand)]
pub enum RegionCommand {
    /// Create a region authority key (PKCS#8, owner-only file) and print its public key.
    Create {
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign an admission record for a node.
    Admit(AdmitArgs),
    /// Sign a revocation record for a node's key.
    Revoke {
        #[arg(long)]
        authority: PathBuf,
        #[arg(long)]
        peer: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public key of an authority key file.
    Pubkey {
        #[arg(long)]
        authority: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct AdmitArgs {
    /// The authority key file from `kizuna region create`.
    #[arg(long)]
    authority: PathBuf,
    /// The node's PeerId (printed by `kizuna status`).
    #[arg(long)]
    peer: String,
    /// The node's 10-digit facility code.
    #[arg(long)]
    facility: String,
    /// facility, shelter or hub.
    #[arg(long)]
    role: String,
    /// Last day of validity is the day before this date: the record expires at 00:00 UTC.
    #[arg(long)]
    expires: String,
    #[arg(long)]
    out: PathBuf,
}

/// Authority key files are a PKCS#8 document (~85 bytes).
const AUTHORITY_FILE_BYTES_MAX: u64 = 4096;

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist)", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn load_authority(path: &Path) -> anyhow::Result<Ed25519KeyPair> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > AUTHORITY_FILE_BYTES_MAX {
        bail!("{} is not an authority key file", path.display());
    }
    let bytes = std::fs::read(path)?;
    Ed25519KeyPair::from_pkcs8(&bytes)
        .map_err(|_| anyhow::anyhow!("{} is not an authority key file", path.display()))
}

fn member_key(peer: &str) -> anyhow::Result<PublicKey32> {
    let peer: PeerId = peer.parse().context("--peer is not a PeerId")?;
    PublicKey32::from_peer_id(&peer).context("--peer is not an Ed25519 PeerId")
}

pub fn run(command: &RegionCommand) -> anyhow::Result<ExitCode> {
    match command {
        RegionCommand::Create { out } => {
            let rng = SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| anyhow::anyhow!("random source failed"))?;
            write_new(out, pkcs8.as_ref(), 0o600)?;
            let pair = load_authority(out)?;
            println!("{}", region::hex(pair.public_key().as_ref()));
        }
        RegionCommand::Pubkey { authority } => {
            let pair = load_authority(authority)?;
            println!("{}", region::hex(pair.public_key().as_ref()));
        }
        RegionCommand::Admit(a) => {
            let pair = load_authority(&a.authority)?;
            let role = Role::parse(&a.role).context("--role must be facility, shelter or hub")?;
            if !region::is_facility_code(&a.facility) {
                bail!("--facility must be 10 digits");
            }
            let expires =
                region::parse_date_unix(&a.expires).context("--expires must be YYYY-MM-DD")?;
            let record = Admission::sign(
                &pair,
                member_key(&a.peer)?,
                &a.facility,
                role,
                now_unix(),
                expires,
            )?;
            write_new(&a.out, &record.bytes, 0o644)?;
        }
        RegionCommand::Revoke {
            authority,
            peer,
            out,
        } => {
            let pair = load_authority(authority)?;
            let record = Revocation::sign(&pair, member_key(peer)?, now_unix())?;
            write_new(out, &record.bytes, 0o644)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
