//! # dn-macros
//!
//! `#[dn::task]`: runs a function inside a task span, logging its arguments
//! as inputs and its return value as output. Re-exported by the `dn` crate
//! (feature `macros`, on by default); the generated code only calls
//! `::dn::__private` (or the path given with `crate = ...`).

use proc_macro::TokenStream;

mod expand;
mod options;

/// Runs the function inside a task span. See `dn::task` for the options.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::task(attr.into(), item.into()).into()
}
