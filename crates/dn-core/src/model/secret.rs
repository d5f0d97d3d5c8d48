//! `Secret`: a credential (API key, storage secret key, session token) that
//! never appears in `Debug` output, errors, files or logs.

/// A secret string. `Debug` prints `Secret(<redacted>)`; there is no
/// `Display`, so it cannot end up in a formatted message by accident.
///
/// ```
/// # use dn_core as dn;
/// let key = dn::Secret::new("dn_live_123");
/// assert_eq!(format!("{key:?}"), "Secret(<redacted>)");
/// assert_eq!(key.expose(), "dn_live_123");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }
    /// The secret itself, for the header or signature that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Replaces every occurrence of this secret in `text` with `<redacted>`
    /// (for messages that may echo a request back, such as S3 error bodies).
    pub fn redact_in(&self, text: &str) -> String {
        if self.0.is_empty() { text.to_string() } else { text.replace(&self.0, "<redacted>") }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}
