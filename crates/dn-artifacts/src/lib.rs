//! # dn-artifacts
//!
//! Content-addressed artifact storage for `dn` (local store and S3 upload).
//! Not implemented yet: this crate only reserves its place in the workspace
//! so the dependency graph is visible; see the artifacts issue.
