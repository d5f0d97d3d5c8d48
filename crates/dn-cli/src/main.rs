//! `dn`: the command line of the dn SDK.
//!
//! `dn sync` delivers what the local files hold and a remote destination
//! has not acknowledged; `dn runs`, `dn show`, `dn metrics`, `dn diff` and
//! `dn export` read the local directory — dn's or the Python SDK's — and
//! show what runs recorded (see `docs/cli.md`). Every command reads the same
//! configuration as the SDK (`DREADNODE_*`, `OTEL_EXPORTER_OTLP_*`, the
//! profile file).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use dn_cli::{diff, export, metrics, runs, show, sync, tui};

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
    /// List the runs of the local directory, newest first.
    Runs(runs::RunsArgs),
    /// Show a run: its span tree, params, inputs, outputs, metrics, artifacts.
    Show(show::ShowArgs),
    /// Chart a run's metrics over their steps.
    Metrics(metrics::MetricsArgs),
    /// Compare two runs: params, final metrics, outputs, task trees.
    Diff(diff::DiffArgs),
    /// Write one of a run's tables as CSV or JSON lines.
    Export(export::ExportArgs),
    /// Browse runs in an interactive terminal UI that follows new spans.
    Tui(tui::TuiArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Sync(args) => sync::run(&args),
        Command::Runs(args) => runs::run(&args),
        Command::Show(args) => show::run(&args),
        Command::Metrics(args) => metrics::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Tui(args) => tui::run(&args),
    };
    ExitCode::from(code)
}
