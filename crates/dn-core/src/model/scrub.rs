//! Scrubbing: secrets in what users log are replaced by a fixed marker
//! naming why, before a value is hashed and before any exporter sees a
//! record (`docs/scrubbing.md`).
//!
//! Two parts. **Always on**: the secrets the SDK itself was configured with
//! (API key, collector header values, storage credentials) wherever they
//! appear inside a logged string. **Opt-in** ([`Scrubbing`]): key patterns
//! (a map key, param, input, output or attribute name that names a secret —
//! the whole value is replaced) and value patterns with a low false-positive
//! rate (AWS access key ids, `sk-…` keys, JWTs, PEM private keys, `Bearer …`
//! — the match is replaced, the rest of the text kept), plus user patterns
//! and a callback that can keep a match. Nothing here prints a matched text.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use regex::{Regex, RegexSet};

use crate::attrs::{AttrValue, keys};
use crate::object::CapturedValue;
use crate::record::{SpanRecord, Status};
use crate::text::SharedStr;

/// The pattern name of the always-on part: a secret dn was configured with.
pub const CONFIGURED_SECRET: &str = "configured-secret";

/// Secrets shorter than this are not scrubbed by the always-on part (a
/// two-letter header value would otherwise blank every occurrence of it).
pub const MIN_SECRET_LEN: usize = 8;

/// The marker that replaces a scrubbed value or match: `[REDACTED:<pattern>]`.
pub fn marker(pattern: &str) -> String {
    format!("[REDACTED:{pattern}]")
}

/// What a keep-callback is shown about one match.
#[derive(Debug)]
pub struct ScrubMatch<'a> {
    /// The pattern's name (`password`, `jwt`, a user pattern's name).
    pub pattern: &'a str,
    /// Whether a key pattern matched (`true`) or a value pattern.
    pub by_key: bool,
    /// The key or name the value was logged under, if any.
    pub key: Option<&'a str>,
    /// The matched text (a key pattern: the whole value, when it is text).
    pub matched: &'a str,
}

/// Decides to keep a match: `true` keeps the text as it is.
pub type KeepCallback = Arc<dyn Fn(&ScrubMatch<'_>) -> bool + Send + Sync>;

/// The opt-in part: key patterns, value patterns and a keep-callback.
/// `Scrubbing::default()` holds the documented default set.
#[derive(Clone)]
pub struct Scrubbing {
    keys: Vec<(String, Regex)>,
    values: Vec<(String, Regex)>,
    /// All key patterns in one automaton: one pass per key.
    key_set: RegexSet,
    /// All value patterns in one automaton: one pass per text, the
    /// individual patterns run only on a hit.
    value_set: RegexSet,
    keep: Option<KeepCallback>,
}

impl std::fmt::Debug for Scrubbing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubbing")
            .field("keys", &self.keys.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("values", &self.values.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("keep", &self.keep.is_some())
            .finish()
    }
}

/// The default key patterns: `(name, regex)`, matched case-insensitively
/// against a key. Written so that `tokens`, `max_tokens`, `author` and
/// `session_id` do not match.
pub const DEFAULT_KEY_PATTERNS: [(&str, &str); 9] = [
    ("password", r"pass(word|wd|phrase)|mysql_pwd"),
    ("secret", r"secret"),
    ("api_key", r"api[._ -]?key"),
    ("token", r"(^|[^a-z])(access[._ -]?|refresh[._ -]?|id[._ -]?|auth[._ -]?|bearer[._ -]?)?token($|[^a-z])"),
    ("auth", r"(^|[^a-z])(auth|authorization|authentication)($|[^a-z])"),
    ("credential", r"credential"),
    ("private_key", r"private[._ -]?key"),
    ("cookie", r"cookie"),
    ("session_key", r"session[._ -]?(key|token|secret)"),
];

/// The default value patterns: `(name, regex)`, searched for inside text.
pub const DEFAULT_VALUE_PATTERNS: [(&str, &str); 6] = [
    ("aws_access_key_id", r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("sk_key", r"\bsk-[A-Za-z0-9][A-Za-z0-9_-]{19,}"),
    ("github_token", r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),
    ("pem_private_key", r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----"),
    ("bearer", r"\b[Bb]earer\s+[A-Za-z0-9._~+/=-]{8,}"),
];

impl Default for Scrubbing {
    fn default() -> Self {
        let compile = |(n, p): &(&str, &str), ci: bool| {
            let p = if ci { format!("(?i){p}") } else { (*p).to_string() };
            // The defaults are fixed and tested; a failure here is a bug in them.
            Regex::new(&p).map(|r| ((*n).to_string(), r)).ok()
        };
        Scrubbing {
            keys: DEFAULT_KEY_PATTERNS.iter().filter_map(|p| compile(p, true)).collect(),
            values: DEFAULT_VALUE_PATTERNS.iter().filter_map(|p| compile(p, false)).collect(),
            key_set: RegexSet::empty(),
            value_set: RegexSet::empty(),
            keep: None,
        }
        .with_sets()
    }
}

impl Scrubbing {
    /// No patterns at all (add your own with the builders below).
    pub fn empty() -> Self {
        Scrubbing { keys: vec![], values: vec![], key_set: RegexSet::empty(), value_set: RegexSet::empty(), keep: None }
    }
    /// Rebuilds the combined automata from the patterns (each compiled
    /// alone already, so this cannot fail but for size limits, which the
    /// empty set then stands for: the individual patterns still apply).
    fn with_sets(mut self) -> Self {
        let set = |v: &[(String, Regex)]| RegexSet::new(v.iter().map(|(_, r)| r.as_str())).ok();
        let (k, v) = (set(&self.keys), set(&self.values));
        self.key_set = k.unwrap_or_else(RegexSet::empty);
        self.value_set = v.unwrap_or_else(RegexSet::empty);
        self
    }
    /// Adds a key pattern (a regex, matched case-insensitively).
    pub fn key_pattern(mut self, name: &str, regex: &str) -> Result<Self, crate::Error> {
        let r = Regex::new(&format!("(?i){regex}"))
            .map_err(|e| crate::Error::InvalidInput(format!("scrubbing key pattern {name}: {e}")))?;
        self.keys.push((name.to_string(), r));
        Ok(self.with_sets())
    }
    /// Adds a value pattern (a regex searched for inside text).
    pub fn value_pattern(mut self, name: &str, regex: &str) -> Result<Self, crate::Error> {
        let r = Regex::new(regex)
            .map_err(|e| crate::Error::InvalidInput(format!("scrubbing value pattern {name}: {e}")))?;
        self.values.push((name.to_string(), r));
        Ok(self.with_sets())
    }
    /// Removes the pattern named `name` (a default one included).
    pub fn without(mut self, name: &str) -> Self {
        self.keys.retain(|(n, _)| n != name);
        self.values.retain(|(n, _)| n != name);
        self.with_sets()
    }
    /// A callback asked about every match; returning `true` keeps it.
    pub fn keep(mut self, callback: impl Fn(&ScrubMatch<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.keep = Some(Arc::new(callback));
        self
    }
    /// The names of its patterns, keys first.
    pub fn pattern_names(&self) -> Vec<&str> {
        self.keys.iter().chain(&self.values).map(|(n, _)| n.as_str()).collect()
    }
}

/// Applies both parts and counts what it replaced, per pattern name.
pub struct Scrubber {
    secrets: RwLock<Vec<String>>,
    scrubbing: Option<Scrubbing>,
    /// Counts: the configured secrets first, then the opt-in patterns in
    /// [`Scrubbing::pattern_names`] order.
    names: Vec<String>,
    counts: Vec<AtomicU64>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber")
            .field("secrets", &self.secrets.read().len())
            .field("scrubbing", &self.scrubbing)
            .field("counts", &self.counts())
            .finish()
    }
}

impl Scrubber {
    /// A scrubber for `secrets` (those under [`MIN_SECRET_LEN`] ignored) and
    /// the opt-in `scrubbing`, if any.
    pub fn new(secrets: impl IntoIterator<Item = String>, scrubbing: Option<Scrubbing>) -> Scrubber {
        let mut names = vec![CONFIGURED_SECRET.to_string()];
        if let Some(s) = &scrubbing {
            names.extend(s.pattern_names().into_iter().map(String::from));
        }
        let counts = names.iter().map(|_| AtomicU64::new(0)).collect();
        let s = Scrubber { secrets: RwLock::new(Vec::new()), scrubbing, names, counts };
        for secret in secrets {
            s.add_secret(&secret);
        }
        s
    }

    /// Adds a secret learned later (refreshed storage credentials).
    pub fn add_secret(&self, secret: &str) {
        if secret.len() >= MIN_SECRET_LEN {
            let mut s = self.secrets.write();
            if !s.iter().any(|x| x == secret) {
                s.push(secret.to_string());
                // Longest first, so a secret containing another is replaced whole.
                s.sort_by_key(|x| std::cmp::Reverse(x.len()));
            }
        }
    }

    /// Whether there is anything to scrub (a secret, or opt-in patterns).
    pub fn has_work(&self) -> bool {
        self.scrubbing.is_some() || !self.secrets.read().is_empty()
    }

    /// Whether opt-in scrubbing is on.
    pub fn opt_in(&self) -> bool {
        self.scrubbing.is_some()
    }

    /// How many values or matches each pattern replaced (only those above 0).
    pub fn counts(&self) -> Vec<(String, u64)> {
        self.names
            .iter()
            .zip(&self.counts)
            .map(|(n, c)| (n.clone(), c.load(Ordering::Relaxed)))
            .filter(|(_, c)| *c > 0)
            .collect()
    }

    fn count(&self, name: &str) {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn keep(&self, m: &ScrubMatch<'_>) -> bool {
        self.scrubbing.as_ref().and_then(|s| s.keep.as_ref()).is_some_and(|k| k(m))
    }

    /// The marker for a value logged under `key` when a key pattern matches
    /// it (counted); `None` when none does or the callback keeps it.
    fn redact_by_key(&self, key: &str, value_text: &str) -> Option<String> {
        let name = self.key_match(key, value_text)?.to_string();
        self.count(&name);
        Some(marker(&name))
    }

    /// The key pattern `key` matches (and that the callback does not keep).
    fn key_match(&self, key: &str, value_text: &str) -> Option<&str> {
        let s = self.scrubbing.as_ref()?;
        let (name, _) = if s.key_set.len() == s.keys.len() {
            &s.keys[s.key_set.matches(key).iter().next()?]
        } else {
            s.keys.iter().find(|(_, r)| r.is_match(key))?
        };
        let m = ScrubMatch { pattern: name, by_key: true, key: Some(key), matched: value_text };
        if self.keep(&m) { None } else { Some(name) }
    }

    /// Whether `text` (with no key) holds anything to scrub: a configured
    /// secret or a value pattern's match. Cheap; no allocation.
    pub fn text_hit(&self, text: &str) -> bool {
        if text.len() >= MIN_SECRET_LEN && self.secrets.read().iter().any(|s| text.contains(s.as_str())) {
            return true;
        }
        match &self.scrubbing {
            Some(s) if s.value_set.len() == s.values.len() => s.value_set.is_match(text),
            Some(s) => s.values.iter().any(|(_, r)| r.is_match(text)),
            None => false,
        }
    }

    /// Scrubs one text in place; `true` when it changed.
    pub fn scrub_text(&self, key: Option<&str>, text: &mut String) -> bool {
        let mut changed = false;
        if text.len() >= MIN_SECRET_LEN {
            let secrets = self.secrets.read();
            for secret in secrets.iter() {
                if text.contains(secret.as_str()) {
                    let n = text.matches(secret.as_str()).count();
                    *text = text.replace(secret.as_str(), &marker(CONFIGURED_SECRET));
                    for _ in 0..n {
                        self.count(CONFIGURED_SECRET);
                    }
                    changed = true;
                }
            }
        }
        let Some(s) = &self.scrubbing else { return changed };
        if let Some(m) = key.and_then(|k| self.redact_by_key(k, text)) {
            *text = m;
            return true;
        }
        if s.value_set.len() == s.values.len() && !s.value_set.is_match(text) {
            return changed;
        }
        for (name, r) in &s.values {
            if !r.is_match(text) {
                continue;
            }
            let mut out = String::with_capacity(text.len());
            let mut last = 0;
            for m in r.find_iter(text) {
                let sm = ScrubMatch { pattern: name, by_key: false, key, matched: m.as_str() };
                if self.keep(&sm) {
                    continue;
                }
                out.push_str(&text[last..m.start()]);
                out.push_str(&marker(name));
                last = m.end();
                self.count(name);
            }
            if last > 0 {
                out.push_str(&text[last..]);
                *text = out;
                changed = true;
            }
        }
        changed
    }

    /// Scrubs a captured value logged under `key` (nested map keys are
    /// matched too); `true` when it changed.
    pub fn scrub_value(&self, key: Option<&str>, value: &mut CapturedValue) -> bool {
        if let (Some(k), false) = (key, matches!(value, CapturedValue::Null)) {
            let text = match value {
                CapturedValue::Str(s) => s.as_str(),
                _ => "",
            };
            if let Some(m) = self.redact_by_key(k, text) {
                *value = CapturedValue::Str(m);
                return true;
            }
        }
        match value {
            CapturedValue::Str(s) => self.scrub_text(None, s),
            CapturedValue::Seq(items) => items.iter_mut().fold(false, |c, v| self.scrub_value(None, v) | c),
            CapturedValue::Map(entries) => {
                let mut changed = false;
                for (k, v) in entries.iter_mut() {
                    changed |= self.scrub_text(None, k);
                    changed |= self.scrub_value(Some(k), v);
                }
                changed
            }
            _ => false,
        }
    }

    /// Scrubs a JSON value logged under `key` (keys nested in it too).
    pub fn scrub_json(&self, key: Option<&str>, value: &mut serde_json::Value) -> bool {
        use serde_json::Value;
        if let (Some(k), false) = (key, value.is_null()) {
            if let Some(m) = self.redact_by_key(k, value.as_str().unwrap_or("")) {
                *value = Value::String(m);
                return true;
            }
        }
        match value {
            Value::String(s) => self.scrub_text(None, s),
            Value::Array(items) => items.iter_mut().fold(false, |c, v| self.scrub_json(None, v) | c),
            Value::Object(map) => map.iter_mut().fold(false, |c, (k, v)| self.scrub_json(Some(k), v) | c),
            _ => false,
        }
    }

    /// Scrubs an attribute value set under `key`. A structured value (its
    /// compact JSON text) is scrubbed key by key when opt-in is on. dn's own
    /// `code.*` attributes (source locations from the compiler) are left as
    /// they are.
    pub fn scrub_attr(&self, key: &str, value: &mut AttrValue) -> bool {
        if key.starts_with(keys::CODE_PREFIX) {
            return false;
        }
        match value {
            AttrValue::Str(s) if self.opt_in() && (s.starts_with('{') || s.starts_with('[')) => {
                if let Some(m) = self.redact_by_key(key, s) {
                    *s = m;
                    return true;
                }
                match serde_json::from_str::<serde_json::Value>(s) {
                    Ok(mut v) => {
                        let changed = self.scrub_json(None, &mut v);
                        if changed {
                            *s = v.to_string();
                        }
                        changed
                    }
                    Err(_) => self.scrub_text(Some(key), s),
                }
            }
            AttrValue::Str(s) => self.scrub_text(Some(key), s),
            AttrValue::Static(s) => {
                if !self.text_hit(s) && self.key_match(key, s).is_none() {
                    return false;
                }
                let mut owned = (*s).to_string();
                let changed = self.scrub_text(Some(key), &mut owned);
                if changed {
                    *value = AttrValue::Str(owned);
                }
                changed
            }
            AttrValue::StrArray(items) => items.iter_mut().fold(false, |c, s| self.scrub_text(Some(key), s) | c),
            AttrValue::Int(_) | AttrValue::Float(_) | AttrValue::Bool(_) => match self.redact_by_key(key, "") {
                Some(m) => {
                    *value = AttrValue::Str(m);
                    true
                }
                None => false,
            },
        }
    }

    /// Scrubs what a record holds as text: name, label, tags, attributes,
    /// events (names and fields) and the error message. Logged values were
    /// scrubbed when they were captured.
    pub fn scrub_record(&self, rec: &mut SpanRecord) {
        let shared = |s: &mut SharedStr| {
            if self.text_hit(s.as_str()) {
                let mut t = s.as_str().to_string();
                if self.scrub_text(None, &mut t) {
                    *s = SharedStr::from(t);
                }
            }
        };
        shared(&mut rec.name);
        shared(&mut rec.label);
        for t in &mut rec.tags {
            self.scrub_text(None, t);
        }
        for (k, v) in &mut rec.attributes {
            self.scrub_attr(k, v);
        }
        for e in &mut rec.events {
            if self.text_hit(&e.name) {
                let mut name = e.name.to_string();
                if self.scrub_text(None, &mut name) {
                    e.name = name.into();
                }
            }
            for (k, v) in &mut e.attributes {
                self.scrub_attr(k, v);
            }
        }
        if let Status::Error(message) = &mut rec.status {
            self.scrub_text(None, message);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn text(s: &Scrubber, key: Option<&str>, t: &str) -> String {
        let mut t = t.to_string();
        s.scrub_text(key, &mut t);
        t
    }

    #[test]
    fn configured_secrets_are_replaced_anywhere_even_with_opt_in_off() {
        let s = Scrubber::new(["dn_key_0123456789".to_string(), "t1".to_string()], None);
        assert_eq!(text(&s, None, "key=dn_key_0123456789;"), "key=[REDACTED:configured-secret];");
        assert_eq!(text(&s, Some("password"), "hunter22"), "hunter22", "opt-in off: key patterns do not apply");
        assert_eq!(text(&s, None, "t1"), "t1", "secrets under 8 bytes are not scrubbed");
        assert_eq!(s.counts(), [("configured-secret".to_string(), 1)]);
    }

    #[test]
    fn every_default_value_pattern_matches_its_kind_and_leaves_the_rest() {
        let s = Scrubber::new([], Some(Scrubbing::default()));
        let cases = [
            ("aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"),
            ("sk_key", "sk-proj-abcdefghijklmnopqrstuvwx"),
            ("github_token", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
            ("pem_private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"),
            ("bearer", "Bearer abcdef0123456789"),
        ];
        for (name, secret) in cases {
            let got = text(&s, None, &format!("before {secret} after"));
            assert_eq!(got, format!("before [REDACTED:{name}] after"), "{name}");
        }
        for clean in ["a sketch of tokens", "skeleton-key", "Bearer", "eyJ only", "AKIA123"] {
            assert_eq!(text(&s, None, clean), clean, "false positive on {clean:?}");
        }
    }

    #[test]
    fn key_patterns_replace_the_whole_value_and_spare_look_alikes() {
        let s = Scrubber::new([], Some(Scrubbing::default()));
        for key in [
            "password",
            "DB_PASSWD",
            "client_secret",
            "x-api-key",
            "apikey",
            "access_token",
            "token",
            "Authorization",
            "auth",
            "aws_credentials",
            "private_key",
            "Set-Cookie",
            "session_key",
        ] {
            assert!(text(&s, Some(key), "v").starts_with("[REDACTED:"), "{key} should match");
        }
        for key in ["tokens", "max_tokens", "input_tokens", "author", "session_id", "tokenizer", "passage"] {
            assert_eq!(text(&s, Some(key), "v"), "v", "{key} should not match");
        }
    }

    #[test]
    fn nested_values_are_scrubbed_by_key_and_by_value() {
        let s = Scrubber::new([], Some(Scrubbing::default()));
        let mut v = CapturedValue::Map(vec![
            ("user".into(), CapturedValue::Str("alice".into())),
            ("auth".into(), CapturedValue::Map(vec![("scheme".into(), CapturedValue::Str("basic".into()))])),
            ("notes".into(), CapturedValue::Seq(vec![CapturedValue::Str("key AKIAIOSFODNN7EXAMPLE".into())])),
            ("retries".into(), CapturedValue::Int(3)),
        ]);
        assert!(s.scrub_value(Some("request"), &mut v));
        let CapturedValue::Map(e) = v else { unreachable!() };
        assert_eq!(e[0].1, CapturedValue::Str("alice".into()));
        assert_eq!(e[1].1, CapturedValue::Str("[REDACTED:auth]".into()), "a whole subtree under a secret key");
        assert_eq!(e[2].1, CapturedValue::Seq(vec![CapturedValue::Str("key [REDACTED:aws_access_key_id]".into())]));
        assert_eq!(e[3].1, CapturedValue::Int(3));
    }

    #[test]
    fn a_callback_keeps_what_it_chooses_and_user_patterns_count_by_name() {
        let scrubbing = Scrubbing::default()
            .value_pattern("employee_id", r"\bEMP-\d{6}\b")
            .unwrap()
            .keep(|m| m.pattern == "aws_access_key_id" && m.matched.ends_with("EXAMPLE"));
        let s = Scrubber::new([], Some(scrubbing));
        assert_eq!(text(&s, None, "found AKIAIOSFODNN7EXAMPLE"), "found AKIAIOSFODNN7EXAMPLE", "kept by the callback");
        assert_eq!(text(&s, None, "found AKIAIOSFODNN7ABCDEFG"), "found [REDACTED:aws_access_key_id]");
        assert_eq!(text(&s, None, "EMP-123456 and EMP-654321"), "[REDACTED:employee_id] and [REDACTED:employee_id]");
        assert_eq!(s.counts(), [("aws_access_key_id".to_string(), 1), ("employee_id".to_string(), 2)]);
        assert!(!format!("{s:?}").contains("AKIA"), "Debug shows no match");
    }
}
