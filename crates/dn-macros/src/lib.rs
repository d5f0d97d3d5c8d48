//! # dn-macros
//!
//! Procedural macros of `dn` (`#[dn::task]`). Not implemented yet: see the
//! macro issue. The crate exists so the workspace layout is complete.
