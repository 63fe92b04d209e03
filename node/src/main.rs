//! The `kizuna` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd_check;
mod cmd_gen;

/// Kizuna (絆): keeps a region's SS-MIX2 medical records readable and writable when the network
/// is broken.
#[derive(Debug, Parser)]
#[command(name = "kizuna", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate SS-MIX2 standardized-storage trees: one verdict per file.
    Check(cmd_check::Args),
    /// Write a deterministic synthetic SS-MIX2 region (demos, tests, benchmarks).
    Gen(cmd_gen::GenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cmd_check::run(&args),
        Command::Gen(args) => cmd_gen::run(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("kizuna: {err:#}");
            ExitCode::FAILURE
        }
    }
}
