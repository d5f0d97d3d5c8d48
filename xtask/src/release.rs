//! `cargo xtask release`: bump every crate in lockstep, move each
//! changelog's `## Unreleased` section under the new version, check the
//! metadata crates.io requires, compute the publish order, and (with
//! `--execute`) apply it and verify the packages. Nothing is pushed or
//! published.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use toml_edit::{DocumentMut, Item, value};

/// A `MAJOR.MINOR.PATCH` version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl Version {
    /// Parses `X.Y.Z`.
    pub fn parse(s: &str) -> Result<Version, String> {
        let parts: Vec<&str> = s.trim().split('.').collect();
        let num = |p: &str| p.parse::<u64>().map_err(|_| format!("invalid version {s:?}: expected X.Y.Z"));
        match parts.as_slice() {
            [a, b, c] => Ok(Version { major: num(a)?, minor: num(b)?, patch: num(c)? }),
            _ => Err(format!("invalid version {s:?}: expected X.Y.Z")),
        }
    }
    /// The next version for `level` (`major`, `minor`, `patch` or `X.Y.Z`).
    pub fn bump(self, level: &str) -> Result<Version, String> {
        let next = match level {
            "major" => Version { major: self.major + 1, minor: 0, patch: 0 },
            "minor" => Version { major: self.major, minor: self.minor + 1, patch: 0 },
            "patch" => Version { patch: self.patch + 1, ..self },
            exact => Version::parse(exact)?,
        };
        if next <= self {
            return Err(format!("new version {next} is not greater than the current {self}"));
        }
        Ok(next)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// One crate of the workspace.
#[derive(Debug, Clone)]
pub struct Member {
    /// Package name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Whether it is published.
    pub publish: bool,
    /// Internal crates it needs at build time (normal and build deps).
    pub deps: Vec<String>,
}

/// A file the release changes.
#[derive(Debug, Clone)]
pub struct Edit {
    /// The file.
    pub path: PathBuf,
    /// Current content.
    pub before: String,
    /// New content.
    pub after: String,
}

/// What a release will do.
#[derive(Debug)]
pub struct Plan {
    /// Current version.
    pub from: Version,
    /// New version.
    pub to: Version,
    /// File changes.
    pub edits: Vec<Edit>,
    /// Publishable crates in dependency order.
    pub order: Vec<String>,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_toml(path: &Path, text: &str) -> Result<DocumentMut, String> {
    text.parse::<DocumentMut>().map_err(|e| format!("{}: {e}", path.display()))
}

/// Whether `root` has uncommitted changes (per git).
pub fn is_dirty(root: &Path) -> Result<bool, String> {
    let out = Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("git status: {e}"))?;
    if !out.status.success() {
        return Err(format!("git status failed in {}", root.display()));
    }
    Ok(!out.stdout.is_empty())
}

/// The members of the workspace at `root` (literal paths and `dir/*`).
pub fn members(root: &Path) -> Result<Vec<Member>, String> {
    let manifest = root.join("Cargo.toml");
    let doc = parse_toml(&manifest, &read(&manifest)?)?;
    let list = doc["workspace"]["members"].as_array().ok_or("workspace.members is missing")?;
    let mut dirs = vec![];
    for m in list.iter().filter_map(|v| v.as_str()) {
        if let Some(parent) = m.strip_suffix("/*") {
            let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(parent))
                .map_err(|e| format!("{parent}: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("Cargo.toml").exists())
                .collect();
            found.sort();
            dirs.extend(found);
        } else {
            dirs.push(root.join(m));
        }
    }
    let mut members = vec![];
    for dir in dirs {
        let path = dir.join("Cargo.toml");
        let doc = parse_toml(&path, &read(&path)?)?;
        let name =
            doc["package"]["name"].as_str().ok_or_else(|| format!("{}: no package.name", path.display()))?.to_string();
        let publish = doc["package"].get("publish").and_then(Item::as_bool).unwrap_or(true);
        let mut deps = vec![];
        for table in ["dependencies", "build-dependencies"] {
            if let Some(t) = doc.get(table).and_then(Item::as_table_like) {
                deps.extend(t.iter().map(|(k, _)| k.to_string()));
            }
        }
        members.push(Member { name, dir, publish, deps });
    }
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    for m in &mut members {
        m.deps.retain(|d| names.contains(d));
    }
    Ok(members)
}

/// Publishable crates so that every crate comes after the crates it needs.
pub fn publish_order(members: &[Member]) -> Result<Vec<String>, String> {
    let publishable: BTreeMap<&str, &Member> =
        members.iter().filter(|m| m.publish).map(|m| (m.name.as_str(), m)).collect();
    let mut order: Vec<String> = vec![];
    while order.len() < publishable.len() {
        let next = publishable.values().find(|m| {
            !order.contains(&m.name)
                && m.deps.iter().all(|d| order.contains(d) || !publishable.contains_key(d.as_str()))
        });
        match next {
            Some(m) => order.push(m.name.clone()),
            None => return Err("the publishable crates depend on each other in a cycle".into()),
        }
    }
    for m in publishable.values() {
        if let Some(d) = m.deps.iter().find(|d| !publishable.contains_key(d.as_str())) {
            return Err(format!("{} depends on {d}, which is not published (publish = false)", m.name));
        }
    }
    Ok(order)
}

fn check_metadata(member: &Member, doc: &DocumentMut, ws_package: Option<&Item>) -> Vec<String> {
    let mut problems = vec![];
    for field in ["description", "license", "repository"] {
        let item = doc["package"].get(field);
        let inherited = item.and_then(|i| i.get("workspace")).and_then(Item::as_bool).unwrap_or(false);
        let present = match item {
            Some(_) if inherited => ws_package.and_then(|p| p.get(field)).is_some(),
            Some(i) => i.as_str().is_some_and(|s| !s.trim().is_empty()),
            None => field == "license" && doc["package"].get("license-file").is_some(),
        };
        if !present {
            problems.push(format!("{}: package.{field} is required to publish", member.name));
        }
    }
    problems
}

/// Moves the `## Unreleased` section under `## [version] - date`, keeping an
/// empty `## Unreleased` on top. Errors when there is no such section or it
/// is empty.
pub fn move_changelog(text: &str, version: Version, date: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| {
            l.trim().eq_ignore_ascii_case("## unreleased") || l.trim().eq_ignore_ascii_case("## [unreleased]")
        })
        .ok_or("no `## Unreleased` section")?;
    let end = lines[start + 1..].iter().position(|l| l.starts_with("## ")).map_or(lines.len(), |p| start + 1 + p);
    if lines[start + 1..end].iter().all(|l| l.trim().is_empty()) {
        return Err("the `## Unreleased` section is empty".into());
    }
    let mut out: Vec<String> = lines[..=start].iter().map(|s| s.to_string()).collect();
    out.push(String::new());
    out.push(format!("## [{version}] - {date}"));
    out.extend(lines[start + 1..].iter().map(|s| s.to_string()));
    let mut s = out.join("\n");
    if text.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Builds the plan for `level` at `root` (nothing is written).
pub fn plan(root: &Path, level: &str, date: &str, allow_dirty: bool) -> Result<Plan, String> {
    if !allow_dirty && is_dirty(root)? {
        return Err("the working tree has uncommitted changes; commit or stash them (or pass --allow-dirty)".into());
    }
    let root_manifest = root.join("Cargo.toml");
    let root_text = read(&root_manifest)?;
    let mut root_doc = parse_toml(&root_manifest, &root_text)?;
    let from = Version::parse(
        root_doc["workspace"]["package"]["version"].as_str().ok_or("workspace.package.version is missing")?,
    )?;
    let to = from.bump(level)?;
    let members = members(root)?;
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let mut problems = vec![];
    let mut edits = vec![];

    // Root manifest: the shared version and the `=x.y.z` pins of internal crates.
    root_doc["workspace"]["package"]["version"] = value(to.to_string());
    if let Some(deps) = root_doc["workspace"].get_mut("dependencies").and_then(Item::as_table_like_mut) {
        for (name, dep) in deps.iter_mut() {
            if names.iter().any(|n| n == name.get()) {
                if let Some(t) = dep.as_table_like_mut() {
                    if t.contains_key("version") {
                        t.insert("version", value(format!("={to}")));
                    }
                }
            }
        }
    }
    let ws_package = root_doc["workspace"].get("package").cloned();
    edits.push(Edit { path: root_manifest.clone(), before: root_text, after: root_doc.to_string() });

    for m in &members {
        let path = m.dir.join("Cargo.toml");
        let text = read(&path)?;
        let mut doc = parse_toml(&path, &text)?;
        if m.publish {
            problems.extend(check_metadata(m, &doc, ws_package.as_ref()));
        }
        // Explicit versions (not `version.workspace = true`) move in lockstep.
        if doc["package"].get("version").and_then(Item::as_str).is_some() {
            doc["package"]["version"] = value(to.to_string());
        }
        for table in ["dependencies", "build-dependencies", "dev-dependencies"] {
            if let Some(t) = doc.get_mut(table).and_then(Item::as_table_like_mut) {
                for (name, dep) in t.iter_mut() {
                    if names.iter().any(|n| n == name.get()) {
                        if let Some(d) = dep.as_table_like_mut() {
                            if let Some(v) = d.get("version").and_then(Item::as_str) {
                                let pin = if v.starts_with('=') { format!("={to}") } else { to.to_string() };
                                d.insert("version", value(pin));
                            }
                        }
                    }
                }
            }
        }
        let after = doc.to_string();
        if after != text {
            edits.push(Edit { path, before: text, after });
        }
        if m.publish {
            let changelog = m.dir.join("CHANGELOG.md");
            match std::fs::read_to_string(&changelog) {
                Ok(text) => match move_changelog(&text, to, date) {
                    Ok(after) => edits.push(Edit { path: changelog, before: text, after }),
                    Err(e) => problems.push(format!("{}: CHANGELOG.md: {e}", m.name)),
                },
                Err(_) => problems.push(format!("{}: CHANGELOG.md is missing", m.name)),
            }
        }
    }
    let order = match publish_order(&members) {
        Ok(o) => o,
        Err(e) => {
            problems.push(e);
            vec![]
        }
    };
    if !problems.is_empty() {
        return Err(format!("cannot release {to}:\n  - {}", problems.join("\n  - ")));
    }
    Ok(Plan { from, to, edits, order })
}

/// The plan as text, with a unified diff of every file it changes.
pub fn render(plan: &Plan, root: &Path) -> String {
    let mut s = format!("release {} -> {}\n\npublish order:\n", plan.from, plan.to);
    for (i, c) in plan.order.iter().enumerate() {
        s.push_str(&format!("  {}. {c}\n", i + 1));
    }
    s.push_str("\nchanges:\n");
    for e in &plan.edits {
        let rel = e.path.strip_prefix(root).unwrap_or(&e.path).display().to_string();
        let diff = similar::TextDiff::from_lines(&e.before, &e.after);
        s.push_str(&diff.unified_diff().context_radius(1).header(&format!("a/{rel}"), &format!("b/{rel}")).to_string());
    }
    s
}

/// Writes the plan's changes.
pub fn apply(plan: &Plan) -> Result<(), String> {
    for e in &plan.edits {
        std::fs::write(&e.path, &e.after).map_err(|err| format!("{}: {err}", e.path.display()))?;
    }
    Ok(())
}

/// Today as `YYYY-MM-DD` (UTC).
pub fn today() -> String {
    dn_core::Timestamp::now_system().to_iso()[..10].to_string()
}

/// `cargo xtask release`: print the plan; with `execute`, apply it and
/// verify every publishable crate with `cargo package --workspace`.
pub fn run(root: &Path, level: &str, execute: bool, allow_dirty: bool) -> Result<(), String> {
    let plan = plan(root, level, &today(), allow_dirty)?;
    println!("{}", render(&plan, root));
    if !execute {
        println!("dry run: nothing was changed (pass --execute to apply the plan and verify the packages)");
        return Ok(());
    }
    apply(&plan)?;
    let members = members(root)?;
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root).args(["package", "--workspace", "--allow-dirty"]);
    for m in members.iter().filter(|m| !m.publish) {
        cmd.args(["--exclude", &m.name]);
    }
    crate::ci::step("cargo package --workspace (verify every publishable crate)", &mut cmd)?;
    println!(
        "applied {}: review, commit and tag v{}, then `cargo publish -p <crate>` in the order above",
        plan.to, plan.to
    );
    Ok(())
}
