//! `kizuna gen`: writes a deterministic synthetic SS-MIX2 region for demos, tests and benchmarks.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use kizuna_storage::synth::{self, RegionSpec};

/// Arguments of `kizuna gen`.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Region directory; each facility writes its storage root `<out>/<facility code>/`.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of patients (1 to 5,000,000).
    #[arg(long)]
    pub patients: u32,
    /// Number of facilities (1 to 999), cycling hospital, clinic, pharmacy.
    #[arg(long, default_value_t = 5)]
    pub facilities: u16,
    /// Seed: the same seed gives a byte-identical tree.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Do not print progress lines.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: &GenArgs) -> anyhow::Result<()> {
    let spec = RegionSpec {
        patients: args.patients,
        facilities: args.facilities,
        seed: args.seed,
    };
    let started = Instant::now();
    let quiet = args.quiet;
    let summary = synth::generate(&spec, &args.out, |p| {
        if !quiet {
            eprintln!(
                "gen: {}/{} patients, {} files, {} bytes",
                p.patients_done, p.patients_total, p.files, p.bytes
            );
        }
    })
    .with_context(|| format!("generating a region under {}", args.out.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "generated {} patients ({} registrations, {} at several facilities) at {} facilities in {:.1} s",
        summary.patients,
        summary.registrations,
        summary.multi_facility_patients,
        summary.facilities.len(),
        seconds
    );
    for (code, kind) in &summary.facilities {
        println!("  facility {code} {kind:?}");
    }
    println!("files: {}  bytes: {}", summary.files, summary.bytes);
    let flags: Vec<String> = summary
        .by_flag
        .iter()
        .map(|(flag, n)| format!("_{flag}: {n}"))
        .collect();
    println!("by flag: {}", flags.join("  "));
    let types: Vec<String> = summary
        .by_type
        .iter()
        .map(|(dt, n)| format!("{dt}: {n}"))
        .collect();
    println!("by type: {}", types.join("  "));
    Ok(())
}
