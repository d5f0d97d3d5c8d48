//! `cargo xtask layout`: keeps the workspace's shape visible.
//!
//! Two rules, checked on every crate under `crates/` and on `xtask`:
//! - no non-test source file has more than [`MAX_CODE_LINES`] lines of code
//!   (blank lines, comments and a trailing `#[cfg(test)] mod` are not counted);
//! - no module circle except those listed in [`ALLOWED_CIRCLES`], each with a
//!   reason. A module depends on another when it names it through `crate::`
//!   (directly or through a name the crate root re-exports) or `super::`.
//!
//! It prints every violation and every circle it allows, and fails on a
//! violation. `cargo xtask ci` runs it first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most lines of code one non-test source file may hold.
pub const MAX_CODE_LINES: usize = 600;

/// Module circles that are part of the design: `(crate, modules, why)`.
pub const ALLOWED_CIRCLES: &[(&str, &[&str], &str)] = &[(
    "dn-core",
    &["runtime::builders", "runtime::context", "runtime::scope", "runtime::span", "runtime::task", "runtime::tracer"],
    "the current context holds task handles, task handles hold their tracer, and the tracer makes the builders \
     that start spans, and scopes enter contexts: the runtime's inherent group (see runtime/mod.rs)",
)];

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A file over the size limit: `(path, code lines)`.
    TooLong(PathBuf, usize),
    /// A module circle not allowed: `(crate, modules)`.
    Circle(String, Vec<String>),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::TooLong(p, n) => {
                write!(f, "{}: {n} lines of code (limit {MAX_CODE_LINES}); split it by concept", p.display())
            }
            Violation::Circle(c, m) => write!(f, "{c}: module circle {}", m.join(" <-> ")),
        }
    }
}

/// What a check of a workspace found.
#[derive(Debug, Default)]
pub struct Layout {
    /// Every violation.
    pub violations: Vec<Violation>,
    /// The allowed circles found: `(crate, modules)`.
    pub allowed: Vec<(String, Vec<String>)>,
    /// How many source files were read.
    pub files: usize,
}

/// Checks every crate under `root/crates` and `root/xtask`.
pub fn check(root: &Path) -> Result<Layout, String> {
    let mut out = Layout::default();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    if root.join("xtask/Cargo.toml").exists() {
        crates.push(root.join("xtask"));
    }
    crates.sort();
    for dir in crates {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        check_crate(root, &name, &dir.join("src"), &mut out)?;
    }
    Ok(out)
}

/// `cargo xtask layout`: prints and fails on violations.
pub fn run(root: &Path) -> Result<(), String> {
    let layout = check(root)?;
    for (c, m) in &layout.allowed {
        eprintln!("xtask: layout: allowed circle in {c}: {}", m.join(" <-> "));
    }
    for v in &layout.violations {
        eprintln!("xtask: layout: {v}");
    }
    if layout.violations.is_empty() {
        eprintln!("xtask: layout: {} files, no violation", layout.files);
        Ok(())
    } else {
        Err(format!("layout: {} violation(s)", layout.violations.len()))
    }
}

fn check_crate(root: &Path, name: &str, src: &Path, out: &mut Layout) -> Result<(), String> {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    files.sort();
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let code = non_test_code(&text);
        out.files += 1;
        let n = code.lines().filter(|l| is_code_line(l)).count();
        if n > MAX_CODE_LINES {
            out.violations.push(Violation::TooLong(f.strip_prefix(root).unwrap_or(f).to_path_buf(), n));
        }
        if let Some(m) = module_of(src, f) {
            modules.insert(m, code);
        }
    }
    // Names the crate root (and each mod.rs) re-exports, mapped to the module they come from.
    let mut reexports: BTreeMap<String, String> = BTreeMap::new();
    for (m, code) in &modules {
        if m.is_empty() || modules.keys().any(|k| k.starts_with(&format!("{m}::"))) {
            for (item, from) in pub_uses(code, m) {
                let key = if m.is_empty() { item } else { format!("{m}::{item}") };
                reexports.insert(key, from);
            }
        }
    }
    let names: BTreeSet<&String> = modules.keys().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, code) in &modules {
        let deps = edges.entry(m.clone()).or_default();
        for path in referenced_paths(code, m) {
            if let Some(target) = resolve(&path, &names, &reexports) {
                if &target != m && !target.is_empty() && !m.starts_with(&format!("{target}::")) {
                    deps.insert(target);
                }
            }
        }
    }
    for scc in circles(&edges) {
        let allowed =
            ALLOWED_CIRCLES.iter().any(|(c, group, _)| *c == name && scc.iter().all(|m| group.contains(&m.as_str())));
        if allowed {
            out.allowed.push((name.to_string(), scc));
        } else {
            out.violations.push(Violation::Circle(name.to_string(), scc));
        }
    }
    Ok(())
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` → `a::b`; `src/a/mod.rs` → `a`; `src/lib.rs` → `""`. Binaries
/// (`main.rs`, `bin/`) are their own roots and are not modules of the library.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.first().is_some_and(|p| p == "bin") || parts == ["main.rs"] {
        return None;
    }
    let last = parts.pop()?;
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    Some(parts.join("::"))
}

/// The file without a trailing `#[cfg(test)]` module.
fn non_test_code(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines.iter().enumerate().position(|(i, l)| {
        l.trim() == "#[cfg(test)]"
            && lines[i + 1..].iter().find(|n| !n.trim().is_empty()).is_some_and(|n| n.trim_start().starts_with("mod "))
    });
    lines[..cut.unwrap_or(lines.len())].join("\n")
}

fn is_code_line(l: &str) -> bool {
    let t = l.trim();
    !t.is_empty() && !t.starts_with("//")
}

/// Strips comments and string literals (roughly), so paths in docs do not count.
fn strip_comments(code: &str) -> String {
    code.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Every `crate::a::b` / `super::a` path named in `code` (module `m`), as
/// a path from the crate root; `use crate::x::{a, b::c}` expands to each item.
fn referenced_paths(code: &str, m: &str) -> Vec<String> {
    let code = strip_comments(code);
    let mut out = Vec::new();
    let parent = m.rsplit_once("::").map_or("", |(p, _)| p).to_string();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent)] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            let boundary = rest[..i].chars().last().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let tail = &rest[i + prefix.len()..];
            rest = tail;
            if !boundary {
                continue;
            }
            for p in expand_path(tail) {
                out.push(if base.is_empty() { p } else { format!("{base}::{p}") });
            }
        }
    }
    out
}

/// `a::b::{c, d::e}` → `a::b::c`, `a::b::d::e`; `a::b` → `a::b`.
fn expand_path(tail: &str) -> Vec<String> {
    let head: String = tail.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
    let head = head.trim_end_matches(':').to_string();
    let after = &tail[head.len()..];
    let after = after.trim_start_matches(':');
    if after.starts_with('{') {
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let inner = &after[1..end];
        split_top(inner)
            .into_iter()
            .flat_map(|item| expand_path(item.trim()).into_iter().map(|p| join(&head, &p)).collect::<Vec<_>>())
            .collect()
    } else {
        vec![head]
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}::{b}"),
    }
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|x| !x.trim().is_empty()).collect()
}

/// `pub use a::b::{C, D};` (or a private `use`) in module `m` → `(C, m::a::b::C)`, `(D, m::a::b::D)`.
fn pub_uses(code: &str, m: &str) -> Vec<(String, String)> {
    let code = strip_comments(code);
    let mut out = Vec::new();
    for stmt in code.split(';') {
        let s = stmt.trim();
        let Some(path) = ["pub use ", "pub(crate) use ", "use "].iter().find_map(|p| s.strip_prefix(p)) else {
            continue;
        };
        let path = path.trim_start_matches("crate::").trim_start_matches("self::");
        for full in expand_path(path) {
            let item = full.rsplit_once("::").map_or(full.as_str(), |(_, i)| i);
            out.push((item.to_string(), join(m, &full)));
        }
    }
    out
}

/// The longest prefix of `path` that is a module, following re-exports.
fn resolve(path: &str, modules: &BTreeSet<&String>, reexports: &BTreeMap<String, String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    for n in (1..=parts.len()).rev() {
        let p = parts[..n].join("::");
        if modules.iter().any(|m| **m == p) {
            return Some(p);
        }
        if let Some(from) = reexports.get(&p) {
            return resolve(from, modules, reexports).or_else(|| Some(from.clone()));
        }
    }
    None
}

/// Strongly connected components with more than one module (Tarjan).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.edges.get(v) {
            for w in ws {
                let w = w.as_str();
                if !t.edges.contains_key(w) {
                    continue;
                }
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(lw));
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(iw));
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out.sort();
    t.out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_expand_through_braces() {
        assert_eq!(expand_path("a::{b, c::{d, e}};"), vec!["a::b", "a::c::d", "a::c::e"]);
        assert_eq!(expand_path("x::Y)"), vec!["x::Y"]);
    }

    #[test]
    fn test_modules_and_comments_do_not_count() {
        let code = "fn a() {}\n// comment\n\n#[cfg(test)]\nmod tests {\n fn b() {}\n}\n";
        assert_eq!(non_test_code(code).lines().filter(|l| is_code_line(l)).count(), 1);
    }
}
