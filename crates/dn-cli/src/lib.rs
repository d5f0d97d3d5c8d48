//! The `dn` command's library: each command a module (what `src/main.rs`
//! parses arguments into and runs), and the reading of a local directory
//! they share (`local`). A library so that benchmarks (`benches/`) measure
//! the reading itself; the command line is the interface.

pub mod diff;
pub mod export;
pub mod local;
pub mod metrics;
pub mod render;
pub mod runs;
pub mod show;
pub mod sync;
pub mod tui;
