//! `dn`: the command line of the dn SDK.
//!
//! `dn sync` delivers what the local files hold and a remote destination
//! has not acknowledged (see `docs/cli.md`). Every command reads the same
//! configuration as the SDK (`DREADNODE_*`, `OTEL_EXPORTER_OTLP_*`, the
//! profile file).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod sync;

/// The dn command line.
#[derive(Parser, Debug)]
#[command(name = "dn", version, about = "dn: deliver and look at what your runs recorded", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Deliver every span the configured destinations have not
    /// acknowledged yet, plus artifacts and offloaded values not yet in the
    /// platform's storage. A second run sends nothing.
    Sync(sync::SyncArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Sync(args) => sync::run(&args),
    };
    ExitCode::from(code)
}
