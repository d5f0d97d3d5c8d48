//! # dn-testing
//!
//! Test support shared by the dn workspace's tests, benchmarks and `cargo
//! xtask`; never published, never a dependency of a shipped crate.
//!
//! - [`loopback`]: a minimal OTLP/HTTP receiver on `127.0.0.1` that decodes
//!   every request and answers from a script (statuses, `Retry-After`, a
//!   request that never gets an answer).
//! - [`stand_ins`] and [`storage`]: a real S3 server (`s3s-fs`, installed by
//!   `cargo xtask test`) and a stand-in for the platform's API handing out
//!   scripted storage credentials.
//! - [`process`]: child processes configured the way a user configures them.
//! - [`jsonl`]: reading every span line of a local directory, normalising ids
//!   and times, and comparing with the Python SDK's reference output.
#![allow(clippy::unwrap_used)] // test support fails loudly by design

pub mod jsonl;
pub mod loopback;
pub mod process;
pub mod stand_ins;
pub mod storage;
