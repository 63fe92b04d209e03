//! The `kizuna` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd_check;
mod cmd_demo;
mod cmd_gen;
mod cmd_patient;
mod cmd_peers;
mod cmd_region;
mod cmd_run;
mod cmd_store;
mod config;
mod daemon;
mod identity;
mod net;
mod region;

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
    Init(cmd_store::InitArgs),
    Import(cmd_store::ImportArgs),
    Export(cmd_store::ExportArgs),
    Verify(cmd_store::VerifyArgs),
    /// Find patients and show emergency summaries.
    Patient(cmd_patient::PatientArgs),
    /// Run the node daemon: QUIC peer-to-peer sync with the region's members.
    Run(cmd_run::RunArgs),
    /// Reconcile once with one peer and report what moved.
    Sync(cmd_run::SyncArgs),
    /// Show this node's identity and what its store holds.
    Status(cmd_peers::StatusArgs),
    /// List the peers a node's daemon knows, with their sync state.
    Peers(cmd_peers::PeersArgs),
    /// The outage scenario, narrated: a hub, three facilities and a shelter on loopback.
    Demo(cmd_demo::DemoArgs),
    /// Region authority tools: create the key, admit and revoke nodes.
    #[command(subcommand)]
    Region(cmd_region::RegionCommand),
    /// Data-directory maintenance (`repack`).
    #[command(subcommand)]
    Store(cmd_store::StoreCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cmd_check::run(&args),
        Command::Gen(args) => cmd_gen::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Init(args) => cmd_store::init(&args),
        Command::Import(args) => cmd_store::import(&args),
        Command::Export(args) => cmd_store::export(&args),
        Command::Verify(args) => cmd_store::verify(&args),
        Command::Patient(args) => cmd_patient::run(&args),
        Command::Run(args) => cmd_run::run(&args),
        Command::Sync(args) => cmd_run::sync(&args),
        Command::Status(args) => cmd_peers::status(&args),
        Command::Peers(args) => cmd_peers::peers(&args),
        Command::Region(command) => cmd_region::run(&command),
        Command::Demo(args) => cmd_demo::run(&args),
        Command::Store(command) => cmd_store::store(&command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("kizuna: {err:#}");
            ExitCode::FAILURE
        }
    }
}
