//! `kizuna init | import | export | verify | store repack`: the node's data directory from the command line.
//!
//! The passphrase comes from `--key-file FILE` (first line), from `KIZUNA_PASSPHRASE`, or from a
//! prompt when stdin is a terminal, in that order (every command that opens the store reads it
//! through [`passphrase_without_prompt`]). Messages name the paths the user typed and
//! counts, never paths found inside a tree (they hold patient IDs).

use std::io::{self, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kizuna_storage::store::{
    ImportOptions, ImportProgress, ImportSummary, InitOptions, OpenError, RepackOptions, Role,
    Store,
};

/// A key file is one line; anything much larger is a mistake.
const KEY_FILE_BYTES_MAX: u64 = 4096;
/// Plain progress lines (no terminal) at most this often.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct PassphraseArgs {
    /// Read the passphrase from the first line of FILE (else `KIZUNA_PASSPHRASE`, else a prompt).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

/// Create a data directory: database, item store, identity key and a data key sealed under a
/// passphrase (PBKDF2-HMAC-SHA256, 600,000 iterations).
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// This node's 10-digit facility code.
    #[arg(long, value_name = "CODE")]
    facility: String,
    #[arg(long, default_value = "facility", value_parser = ["facility", "shelter", "hub"])]
    role: String,
    /// A human name for the node, e.g. the shelter's.
    #[arg(long, value_name = "TEXT")]
    name: Option<String>,
    /// PBKDF2 iterations (tests only; the default is 600,000 and the key file records it).
    #[arg(long, hide = true, default_value_t = kizuna_storage::store::KDF_ITERATIONS_DEFAULT)]
    kdf_iterations: u32,
    #[command(flatten)]
    pass: PassphraseArgs,
}

/// Import standardized-storage trees (storage roots or region directories of 10-digit facility
/// roots). Incremental: unchanged files are skipped without reading; a killed import resumes.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    #[arg(required = true, value_name = "ROOT")]
    roots: Vec<PathBuf>,
    /// Print `{"files":…,"new":…,"unchanged":…,"quarantined":…,"bytes":…,"seconds":…}`.
    #[arg(long)]
    json: bool,
    /// Stat every file, also in directories unchanged since their last complete import (which
    /// are otherwise counted without a look): catches files rewritten in place.
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    pass: PassphraseArgs,
}

/// Write the stored files back as standardized-storage trees, byte for byte. Without
/// `--facility`, OUT gets one 10-digit facility folder per facility; with it, OUT is that
/// facility's storage root.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Output directory; must not exist or be empty.
    #[arg(long, value_name = "OUT")]
    out: PathBuf,
    #[arg(long, value_name = "CODE")]
    facility: Option<String>,
    #[command(flatten)]
    pass: PassphraseArgs,
}

/// Check the database and every item; report problems (exit 1), delete nothing.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pass: PassphraseArgs,
}

/// Data-directory maintenance.
#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Merge poorly filled packs (a replica's items arrive one per pack) patient by patient,
    /// in crash-safe chunks; full packs are left alone. Safe to interrupt and to re-run.
    Repack(RepackArgs),
}

#[derive(Debug, clap::Args)]
pub struct RepackArgs {
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Print the summary as one JSON object (counts and bytes, no paths).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pass: PassphraseArgs,
}

/// The passphrase from the sources that need no terminal: the first line of `key_file` (an
/// explicit flag wins), else `KIZUNA_PASSPHRASE`. `None` when neither is given. A key file
/// larger than [`KEY_FILE_BYTES_MAX`] is refused; a trailing `\r` (a file written on Windows) is
/// not part of the passphrase.
pub(crate) fn passphrase_without_prompt(
    key_file: Option<&Path>,
) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(file) = key_file {
        let meta = std::fs::metadata(file)
            .with_context(|| format!("reading key file {}", file.display()))?;
        if meta.len() > KEY_FILE_BYTES_MAX {
            bail!(
                "key file {} is larger than {KEY_FILE_BYTES_MAX} bytes",
                file.display()
            );
        }
        let text =
            std::fs::read(file).with_context(|| format!("reading key file {}", file.display()))?;
        let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        return Ok(Some(line.to_vec()));
    }
    Ok(std::env::var_os("KIZUNA_PASSPHRASE").map(|p| p.into_encoded_bytes()))
}

fn passphrase(args: &PassphraseArgs, confirm: bool) -> anyhow::Result<Vec<u8>> {
    if let Some(pass) = passphrase_without_prompt(args.key_file.as_deref())? {
        return Ok(pass);
    }
    if !io::stdin().is_terminal() {
        bail!("no passphrase: set KIZUNA_PASSPHRASE, pass --key-file FILE, or run on a terminal");
    }
    let first = rpassword::prompt_password("Passphrase: ").context("reading the passphrase")?;
    if confirm {
        let again =
            rpassword::prompt_password("Repeat passphrase: ").context("reading the passphrase")?;
        if again != first {
            bail!("the passphrases differ");
        }
    }
    Ok(first.into_bytes())
}

pub(crate) fn open(data: &Path, pass: &PassphraseArgs) -> anyhow::Result<Store> {
    let passphrase = passphrase(pass, false)?;
    match Store::open(data, &passphrase) {
        Ok(store) => Ok(store),
        Err(OpenError::NotADataDir) => {
            bail!(
                "{} is not a Kizuna data directory (run `kizuna init`)",
                data.display()
            )
        }
        Err(err) => Err(err).with_context(|| format!("opening {}", data.display())),
    }
}

pub fn init(args: &InitArgs) -> anyhow::Result<ExitCode> {
    let role = Role::parse(&args.role).context("unknown role")?;
    let passphrase = passphrase(&args.pass, true)?;
    let opts = InitOptions {
        name: args.name.clone(),
        kdf_iterations: args.kdf_iterations,
        ..InitOptions::new(&args.facility, role)
    };
    let node = Store::init(&args.data, &opts, &passphrase)
        .with_context(|| format!("initialising {}", args.data.display()))?;
    println!(
        "initialised {} for facility {} as {} (identity {})",
        args.data.display(),
        node.facility,
        node.role.as_str(),
        hex(&node.identity_public)
    );
    Ok(ExitCode::SUCCESS)
}

pub fn import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let mut store = open(&args.data, &args.pass)?;
    let bar = io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut last_line = Instant::now();
    let mut report = |p: &ImportProgress| {
        let line = format!(
            "{} files: {} new, {} unchanged, {} quarantined, {} MB read",
            p.files,
            p.new,
            p.unchanged,
            p.quarantined,
            p.bytes / 1_000_000
        );
        match &bar {
            Some(bar) => bar.set_message(line),
            None if last_line.elapsed() >= PLAIN_PROGRESS_EVERY => {
                eprintln!("kizuna import: {line}");
                last_line = Instant::now();
            }
            None => {}
        }
        ControlFlow::Continue(())
    };
    let result = store.import(
        &args.roots,
        ImportOptions {
            progress: Some(&mut report),
            full: args.full,
            ..ImportOptions::default()
        },
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let s: ImportSummary = match result {
        Ok(s) => s,
        Err(kizuna_storage::store::ImportError::RootMissing { index }) => {
            let root = args.roots.get(index).map(|r| r.display().to_string());
            bail!("{} is not a directory", root.unwrap_or_default());
        }
        Err(err) => return Err(err).context("importing"),
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "files": s.files, "new": s.new, "unchanged": s.unchanged,
                "quarantined": s.quarantined, "bytes": s.bytes, "seconds": s.seconds,
                "skipped": s.skipped,
            })
        );
    } else {
        println!(
            "{} files: {} new ({} renamed), {} unchanged, {} quarantined, {} skipped; {} bytes read in {:.2} s",
            s.files, s.new, s.renamed, s.unchanged, s.quarantined, s.skipped, s.bytes, s.seconds
        );
    }
    if s.skipped > 0 {
        eprintln!(
            "kizuna import: {} entries were not stored (symbolic links, unreadable or over 64 MiB); run `kizuna check` on the tree to list them",
            s.skipped
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.data, &args.pass)?;
    let s = store
        .export(&args.out, args.facility.as_deref())
        .with_context(|| format!("exporting to {}", args.out.display()))?;
    println!(
        "{} files ({} quarantined), {} bytes written to {}; {} failed",
        s.files,
        s.quarantined,
        s.bytes,
        args.out.display(),
        s.failed
    );
    Ok(if s.failed > 0 {
        eprintln!("kizuna export: some files could not be exported; run `kizuna verify`");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut store = open(&args.data, &args.pass)?;
    let report = store.verify().context("verifying")?;
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        for p in &report.problems {
            let what = match (&p.item, p.location, &p.detail) {
                (Some(item), _, _) => format!("item {item}"),
                (_, Some(loc), _) => format!("location #{loc}"),
                (_, _, Some(detail)) => detail.clone(),
                _ => String::new(),
            };
            writeln!(out, "{}: {what}", p.code)?;
        }
        writeln!(
            out,
            "{} items, {} locations: {} problems",
            report.items, report.locations, report.problem_count
        )?;
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn store(command: &StoreCommand) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Repack(args) => repack(args),
    }
}

fn repack(args: &RepackArgs) -> anyhow::Result<ExitCode> {
    let mut store = open(&args.data, &args.pass)?;
    let before = store.stats().context("reading the store's size")?;
    let s = store
        .repack(RepackOptions::default())
        .context("repacking")?;
    let after = store.stats().context("reading the store's size")?;
    if args.json {
        let mut v = serde_json::to_value(s)?;
        v["stored_bytes_before"] = before.stored_bytes.into();
        v["stored_bytes_after"] = after.stored_bytes.into();
        v["item_bytes"] = after.item_bytes.into();
        println!("{v}");
    } else {
        println!(
            "{} small packs; {} items ({} bytes) moved in {} chunks: {} packs removed, {} written, \
             {} unreadable items left in place; stored {} -> {} bytes ({:.3} -> {:.3} of {} raw) in {:.2} s",
            s.small_packs,
            s.items_moved,
            s.bytes_moved,
            s.chunks,
            s.packs_removed,
            s.packs_written,
            s.unreadable,
            before.stored_bytes,
            after.stored_bytes,
            ratio(before.stored_bytes, before.item_bytes),
            ratio(after.stored_bytes, after.item_bytes),
            after.item_bytes,
            s.seconds
        );
    }
    if s.unreadable > 0 {
        eprintln!(
            "kizuna store repack: {} items could not be read and were left in place; run `kizuna verify`",
            s.unreadable
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
