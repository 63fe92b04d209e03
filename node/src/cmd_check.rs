//! `kizuna check`: validate standardized-storage trees.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kizuna_storage::ssmix2::check::{self, FileReport, Summary, Verdict};

/// Validate SS-MIX2 standardized-storage trees: one verdict per file (ok, warning, error).
///
/// Exit status: 0 when no file has an error, 1 when one has, 2 on usage errors. A ROOT may be a
/// storage root (holding the 3-character patient level folders) or a region directory whose
/// children are storage roots named by 10-digit facility codes, as `kizuna gen` writes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Storage roots or region directories to check.
    #[arg(required = true, value_name = "ROOT")]
    roots: Vec<PathBuf>,
    /// Print one JSON object per file, then `{"summary": {...}}`.
    #[arg(long)]
    json: bool,
    /// Also list files whose verdict is ok (human output only).
    #[arg(long, short)]
    verbose: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    for root in &args.roots {
        if !root.exists() {
            eprintln!("kizuna check: {} does not exist", root.display());
            return Ok(ExitCode::from(2));
        }
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut summary = Summary::default();
    let mut write_error = None;
    for root in &args.roots {
        for storage_root in check::storage_roots(root) {
            check::check_tree(&storage_root, |report| {
                summary.add(report.verdict);
                if write_error.is_none() {
                    write_error = print_report(&mut out, &report, args).err();
                }
            });
        }
    }
    let printed = if args.json {
        writeln!(out, "{}", serde_json::json!({ "summary": summary }))
    } else {
        writeln!(
            out,
            "{} files: {} ok, {} warning, {} error",
            summary.files, summary.ok, summary.warning, summary.error
        )
    };
    match write_error.map_or(printed.and_then(|()| out.flush()), Err) {
        // A closed pipe (`kizuna check … | head`) is the reader's choice, not a failure.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {}
        other => other.context("writing the report")?,
    }
    Ok(if summary.error > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_report(out: &mut impl Write, report: &FileReport, args: &Args) -> io::Result<()> {
    if args.json {
        let line = serde_json::to_string(report).map_err(io::Error::other)?;
        return writeln!(out, "{line}");
    }
    if report.verdict == Verdict::Ok && !args.verbose {
        return Ok(());
    }
    let verdict = match report.verdict {
        Verdict::Ok => "ok",
        Verdict::Warning => "warning",
        Verdict::Error => "error",
    };
    writeln!(out, "{verdict:7} {}", report.path)?;
    for finding in &report.findings {
        writeln!(out, "        {}: {}", finding.code, finding.message)?;
    }
    Ok(())
}
