//! The project's automation, as a library so its logic is tested; the
//! `xtask` binary is a thin command line over it.

pub mod backends;
pub mod ci;
pub mod cli_bench;
pub mod example_snapshots;
pub mod examples;
pub mod instructions;
pub mod layout;
pub mod machine;
pub mod outage;
pub mod release;
pub mod workloads;
pub mod workspace;
