//! The `kizuna` command line.

use clap::Parser;

/// Kizuna (絆): keeps a region's SS-MIX2 medical records readable and writable when the network
/// is broken.
#[derive(Debug, Parser)]
#[command(name = "kizuna", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
