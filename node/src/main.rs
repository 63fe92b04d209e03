//! The `kizuna` command line.

mod cmd_gen;

use clap::{Parser, Subcommand};

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
    /// Write a deterministic synthetic SS-MIX2 region (demos, tests, benchmarks).
    Gen(cmd_gen::GenArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Gen(args) => cmd_gen::run(&args),
    }
}
