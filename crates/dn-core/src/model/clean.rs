//! Label, tag and metric-name cleaning, and validation of values that
//! become path components.

use std::borrow::Cow;

use crate::Error;
use crate::text::SharedStr;

/// Longest span name kept; longer names are cut at a char boundary.
pub const MAX_NAME_LEN: usize = 1024;

/// `clean_str` of `docs/format.md` ("Attributes"): lowercase, every run of characters outside
/// `[a-z0-9/@.]` becomes `_`, leading and trailing `_` stripped.
///
/// ```
/// # use dn_core as dn;
/// assert_eq!(dn::clean_str("Data Prep!"), "data_prep");
/// assert_eq!(dn::clean_str("a/b.c@d"), "a/b.c@d");
/// ```
pub fn clean_str(s: &str) -> String {
    clean_cow(s).into_owned()
}

/// [`clean_str`] into a [`CompactString`](compact_str::CompactString): a clean name of up to 24 bytes
/// (most metric names) is held inline, with no allocation.
pub fn clean_compact(s: &str) -> compact_str::CompactString {
    match clean_cow(s) {
        Cow::Borrowed(b) => b.into(),
        Cow::Owned(o) => o.into(),
    }
}

/// The cleaning itself, for a name [`is_clean`] rejected.
fn clean_dirty(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for ch in s.chars().flat_map(char::to_lowercase) {
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '/' | '@' | '.') {
            out.push(ch);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    // Trimmed in place: a run at either end became one `_`.
    if out.ends_with('_') {
        out.pop();
    }
    if out.starts_with('_') {
        out.remove(0);
    }
    out
}

/// `clean_str` that borrows `s` when it is already clean. Most names are
/// (`loss`, `latency_ms`): one check, no per-char lowering (measured: 2% of
/// a task span's instructions).
pub fn clean_cow(s: &str) -> Cow<'_, str> {
    if is_clean(s) { Cow::Borrowed(s) } else { Cow::Owned(clean_dirty(s)) }
}

/// One pass (every metric name is checked; `contains("__")` set up a
/// substring search each time): allowed bytes only, no `_` first, last or
/// twice in a row, not empty.
fn is_clean(s: &str) -> bool {
    let mut after_underscore = true; // so a leading `_` fails
    for &c in s.as_bytes() {
        let underscore = c == b'_';
        if (underscore && after_underscore)
            || !(underscore || c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'/' | b'@' | b'.'))
        {
            return false;
        }
        after_underscore = underscore;
    }
    !after_underscore // empty, or a trailing `_`
}

/// Cleans tags and removes duplicates, keeping the first; empty results are
/// dropped.
pub fn clean_tags<I, S>(existing: &mut Vec<String>, tags: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    for t in tags {
        let c = clean_str(t.as_ref());
        if !c.is_empty() && !existing.contains(&c) {
            existing.push(c);
        }
    }
}

/// Checks that `value` can be used as one directory or file-name component
/// under the local directory: non-empty, at most 255 bytes, no `/`, `\`,
/// NUL or control characters, and not `.` or `..`.
pub fn validate_component(what: &str, value: &str) -> Result<(), Error> {
    let bad = value.is_empty()
        || value.len() > 255
        || value == "."
        || value == ".."
        || value.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(Error::InvalidInput(format!(
            "{what} {:?} cannot be used as a path component (empty, '.', '..', '/', '\\', NUL or control characters, or over 255 bytes)",
            excerpt(value)
        )));
    }
    Ok(())
}

/// Most characters of a caller's value an error message repeats.
pub const MAX_ECHO_CHARS: usize = 80;

/// `value` cut to [`MAX_ECHO_CHARS`] characters (with `…` and the full
/// length when cut), for error messages.
///
/// ```
/// # use dn_core as dn;
/// assert_eq!(dn::excerpt("short"), "short");
/// assert_eq!(dn::excerpt(&"x".repeat(10_000)).chars().count(), 80 + "… (10000 chars)".chars().count());
/// ```
pub fn excerpt(value: &str) -> std::borrow::Cow<'_, str> {
    match value.char_indices().nth(MAX_ECHO_CHARS) {
        None => value.into(),
        Some((i, _)) => format!("{}… ({} chars)", &value[..i], value.chars().count()).into(),
    }
}

/// Normalises a span name: empty becomes `unnamed`, names over
/// [`MAX_NAME_LEN`] bytes are cut at a char boundary. Returns whether it
/// changed anything.
#[inline]
pub(crate) fn normalize_name(name: &mut SharedStr) -> bool {
    if name.is_empty() {
        *name = SharedStr::Static("unnamed");
        return true;
    }
    if name.len() > MAX_NAME_LEN {
        let mut cut = MAX_NAME_LEN;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        *name = name[..cut].to_string().into();
        return true;
    }
    false
}

/// `clean_str` that reuses `s` (no allocation) when it is already clean.
pub(crate) fn clean_shared(s: &SharedStr) -> SharedStr {
    if is_clean(s) { s.clone() } else { clean_str(s).into() }
}

/// `path` with `.` and `..` components resolved lexically (`/` separators,
/// `\` read as one too), borrowed when there were none: what `code.filepath`
/// records, for `#[dn::task]` and bridged `tracing` spans alike.
pub fn normalize_path(path: &'static str) -> std::borrow::Cow<'static, str> {
    // A `.` or `..` component starts with a dot at the path's start or
    // after a separator. Looking at the path's dots alone (a `memchr`
    // search; most paths have one, the extension's) leaves out nearly
    // every path before it is split: the split, for each bridged
    // `tracing` span, was about 520 instructions, a quarter of the
    // bridge's work a span (callgrind, `dn_bridged_tracing_span_in_run`).
    let dot_starts_component =
        path.match_indices('.').any(|(i, _)| i == 0 || matches!(path.as_bytes()[i - 1], b'/' | b'\\'));
    if !dot_starts_component || !path.split(['/', '\\']).any(|c| c == "." || c == "..") {
        return std::borrow::Cow::Borrowed(path);
    }
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split(['/', '\\']) {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    std::borrow::Cow::Owned(if absolute { format!("/{joined}") } else { joined })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_str_matches_reference_tags() {
        assert_eq!(clean_str("Data Prep!"), "data_prep");
        assert_eq!(clean_str("Base Line"), "base_line");
        assert_eq!(clean_str("Needs Review!"), "needs_review");
        assert_eq!(clean_str("  spaced  "), "spaced");
        assert_eq!(clean_str("Accuracy Score (Top-1)"), "accuracy_score_top_1");
        assert_eq!(clean_str("child-tag"), "child_tag");
        assert_eq!(clean_str("train.loss"), "train.loss");
        assert_eq!(clean_str("!!!"), "");
    }

    #[test]
    fn a_name_is_borrowed_exactly_when_cleaning_leaves_it_unchanged() {
        // Every string of up to 5 characters over an alphabet with each kind
        // of byte the check tells apart.
        let alphabet = ['a', '7', '/', '@', '.', '_', 'Z', ' ', 'é'];
        let (mut names, mut level) = (Vec::new(), vec![String::new()]);
        for _ in 0..5 {
            level = level.iter().flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}"))).collect();
            names.extend(level.iter().cloned());
        }
        // The rule as `docs/format.md` states it, in another form: split on
        // every character outside the allowed set, drop the empty pieces
        // (so runs collapse and the ends are trimmed), join with `_`.
        // `clean_str`, which skips the work for clean names and trims in
        // place, must agree with it on every name.
        let reference = |s: &str| {
            let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '/' | '@' | '.');
            let lowered: String = s.chars().flat_map(char::to_lowercase).collect();
            lowered.split(|c: char| !allowed(c)).filter(|p| !p.is_empty()).collect::<Vec<_>>().join("_")
        };
        let mut borrowed = 0;
        for n in &names {
            let cleaned = clean_str(n);
            assert_eq!(cleaned, reference(n), "{n:?}");
            assert_eq!(is_clean(n), cleaned == *n, "{n:?} cleans to {cleaned:?}");
            assert_eq!(clean_cow(n), cleaned, "{n:?}");
            borrowed += usize::from(is_clean(n));
        }
        assert!(borrowed > 1000, "{borrowed} of {} names were clean already", names.len());
    }

    #[test]
    fn paths_are_normalized_and_borrowed_exactly_when_unchanged() {
        for (path, want) in [
            ("src/lib.rs", "src/lib.rs"),
            ("./src/lib.rs", "src/lib.rs"),
            ("crates/dn/../dn-core/src/x.rs", "crates/dn-core/src/x.rs"),
            ("/a/./b/../c.rs", "/a/c.rs"),
            ("/../a", "/a"),
            ("../a", "../a"),
            ("a\\.\\b.rs", "a/b.rs"),
            (".hidden/x.rs", ".hidden/x.rs"),
            ("a/.b/c", "a/.b/c"),
            ("a..b/c.d", "a..b/c.d"),
        ] {
            assert_eq!(normalize_path(path), want, "{path:?}");
        }
        // Every path of up to 6 characters over the characters the rule
        // tells apart: the fast check agrees with the rule on each.
        let alphabet = ['a', '.', '/', '\\', 'é'];
        let mut level = vec![String::new()];
        for _ in 0..6 {
            level = level.iter().flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}"))).collect();
            for p in &level {
                let path: &'static str = Box::leak(p.clone().into_boxed_str());
                let has_dot_component = path.split(['/', '\\']).any(|c| c == "." || c == "..");
                let got = normalize_path(path);
                assert_eq!(matches!(got, std::borrow::Cow::Borrowed(_)), !has_dot_component, "{path:?}");
                if !has_dot_component {
                    assert_eq!(got, path);
                }
            }
        }
    }

    #[test]
    fn tags_are_deduplicated_keeping_the_first() {
        let mut t = vec![];
        clean_tags(&mut t, ["baseline", "Base Line", "baseline", "v2", "!!"]);
        assert_eq!(t, ["baseline", "base_line", "v2"]);
    }

    #[test]
    fn path_components_are_validated() {
        for bad in ["", ".", "..", "a/b", "../x", "a\0b", "a\\b", &"x".repeat(300)] {
            assert!(validate_component("project", bad).is_err(), "{bad:?}");
        }
        for good in ["default", "my-project", "session_123", "a.b"] {
            assert!(validate_component("project", good).is_ok());
        }
    }

    #[test]
    fn names_are_normalized() {
        let mut n = SharedStr::from("");
        assert!(normalize_name(&mut n));
        assert_eq!(n, "unnamed");
        let mut n = SharedStr::from("é".repeat(1000));
        assert!(normalize_name(&mut n));
        assert!(n.len() <= MAX_NAME_LEN);
        let mut n = SharedStr::from("ok");
        assert!(!normalize_name(&mut n));
        for s in ["data-prep", "ok", "a_b", "_x", "x_", "Data", "a__b", "a_b_", "é", "", "a-b_c"] {
            assert_eq!(clean_shared(&SharedStr::from(s)).as_str(), clean_str(s), "{s}");
            assert_eq!(clean_cow(s), clean_str(s), "{s}");
        }
    }
}
