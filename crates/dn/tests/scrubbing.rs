//! Scrubbing, end to end: secrets planted in every place a user logs text —
//! params, inputs, outputs, samples, attributes, tags, span names, event
//! fields (dn's and bridged `tracing` ones), error messages — nested in maps
//! and lists, are found in no local file, no OTLP body (decoded at the
//! receiver) and no log line. The configured API key and collector header
//! values are scrubbed with opt-in scrubbing off; a keep-callback keeps the
//! match it chooses; hashes are those of the stored (scrubbed) values.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Mutex, Once};

use dn::AttrValue;
use dn_testing::loopback::receiver;
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;

const API_KEY: &str = "dn_apikey_marker_7c1e0b5a92";
const HEADER_VALUE: &str = "collector-hdr-marker-93ab";

/// One text per default value pattern, with the part searched for.
const VALUE_SECRETS: [(&str, &str, &str); 6] = [
    ("aws_access_key_id", "AKIAZ7Q3ABCDEFGH1234", "AKIAZ7Q3ABCDEFGH1234"),
    ("sk_key", "sk-proj-Zq8xW2vB9nM4kL7pR3sT6yU1", "Zq8xW2vB9nM4kL7pR3sT6yU1"),
    ("github_token", "ghp_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2", "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2"),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZWQtdGVhbSJ9.Qk3vX9tL2mN8pR5sT1uW7yZ0aB4cD6eF",
        "Qk3vX9tL2mN8pR5sT1uW7yZ0aB4cD6eF",
    ),
    (
        "pem_private_key",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    ),
    ("bearer", "Bearer Zx9Yw8Vu7Ts6Rq5Po4Nm", "Zx9Yw8Vu7Ts6Rq5Po4Nm"),
];

/// One key per default key pattern, with a value that must not survive.
const KEY_SECRETS: [(&str, &str, &str); 9] = [
    ("password", "db_password", "kv-password-41f0"),
    ("secret", "client_secret", "kv-secret-77a1"),
    ("api_key", "x-api-key", "kv-apikey-12c2"),
    ("token", "access_token", "kv-token-9d03"),
    ("auth", "Authorization", "kv-auth-5e24"),
    ("credential", "aws_credentials", "kv-cred-3b85"),
    ("private_key", "private_key", "kv-pkey-6f16"),
    ("cookie", "Set-Cookie", "kv-cookie-0aa7"),
    ("session_key", "session_key", "kv-skey-4c98"),
];

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
struct LogSink;
impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bridge and a TRACE log printer into [`LOGS`], once per binary.
fn subscriber() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let sub = tracing_subscriber::registry().with(dn::tracing_layer()).with(
            tracing_subscriber::fmt::layer()
                .with_writer(|| LogSink)
                // dn's own lines only: what the SDK prints, not the test's events.
                .with_filter(tracing_subscriber::filter::filter_fn(|m| m.target().starts_with("dn"))),
        );
        tracing::subscriber::set_global_default(sub).unwrap();
    });
}
use tracing_subscriber::Layer as _;

/// Plants `text` in every place that holds text.
fn plant_text(dn: &dn::Dreadnode, text: &str) {
    dn.run(format!("run {text}")).tags([text]).run(|run| {
        run.log_param("p", text);
        run.log_params(json!({"cfg": {"list": [text, {"deeper": format!("x {text} y")}]}}));
        dn.task_span(format!("task {text}")).label(format!("label {text}")).run(|task| {
            task.log_input("request", json!({"headers": [{"x": format!("prefix {text} suffix")}]}));
            task.log_output("reply", vec![text]);
            task.log_sample("sample", text, json!({"o": [text]}), [("m", 1.0)], 0);
            task.set_attribute("attr", text);
            task.set_attribute("nested", json!({"k": [text]}));
            task.tag([text]);
            let _ = task.add_event("event", vec![("field".into(), AttrValue::Str(format!("f {text}")))]);
            tracing::info!(field = text, "bridged {text}");
            tracing::info_span!("library", arg = text).in_scope(|| tracing::warn!("inside {text}"));
            dn.span(format!("light {text}")).attribute("a", text).run(|| ());
            task.record_error(&format!("failed with {text}"));
        });
    });
}

/// Plants `value` under `key` in every place that has keys.
fn plant_keyed(dn: &dn::Dreadnode, key: &str, value: &str) {
    dn.run("keyed").run(|run| {
        run.log_param(key, value);
        run.log_params(json!({"outer": {key: value}}));
        dn.task_span("keyed-task").run(|task| {
            task.log_input(key, value);
            task.log_input("req", json!({"list": [{key: value}]}));
            task.log_output(key, value);
            task.log_sample("sample", json!({key: value}), json!([{key: value}]), [("m", 1.0)], 0);
            task.set_attribute(key, value);
            task.set_attribute("nested", json!({"in": {key: value}}));
            let _ = task.add_event("event", vec![(key.to_string().into(), AttrValue::Str(value.to_string()))]);
        });
    });
}

/// Everything the test can see leaving the process: every local file's
/// text, every span the receiver decoded, every log line.
fn everything(dir: &std::path::Path, rx: &dn_testing::loopback::Receiver) -> String {
    let mut all = String::new();
    for e in walkdir::WalkDir::new(dir).into_iter().flatten().filter(|e| e.file_type().is_file()) {
        all.push_str(&String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()));
    }
    all.push_str(&format!("{:?}", rx.seen.lock().unwrap().spans));
    all.push_str(&String::from_utf8_lossy(&LOGS.lock().unwrap()));
    all
}

fn instance(dir: &std::path::Path, url: &str, scrubbing: Option<dn::Scrubbing>) -> dn::Dreadnode {
    let mut c = dn::Config::new()
        .isolated()
        .local_dir(dir)
        .api_key(API_KEY)
        .otlp_endpoint(url)
        .otlp_header("x-tenant-token", HEADER_VALUE);
    c = match scrubbing {
        Some(s) => c.scrubbing(s),
        None => c,
    };
    dn::Dreadnode::new(c).unwrap()
}

#[test]
fn every_default_pattern_in_every_place_reaches_no_file_no_request_and_no_log() {
    subscriber();
    let rx = receiver(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let dn = instance(dir.path(), &rx.url, Some(dn::Scrubbing::default()));
    for text in [API_KEY, HEADER_VALUE].into_iter().chain(VALUE_SECRETS.iter().map(|(_, t, _)| *t)) {
        plant_text(&dn, text);
    }
    for (_, key, value) in KEY_SECRETS {
        plant_keyed(&dn, key, value);
    }
    let report = dn.shutdown();
    assert!(report.is_clean(), "{report:?}");
    let all = everything(dir.path(), &rx);
    let local = dn_testing::jsonl::spans(dir.path()).len();
    assert!(local >= 8 * 5 + 9 * 3, "every planted span is on disk: {local}");
    assert_eq!(rx.seen.lock().unwrap().spans.len(), local, "and reached the receiver");
    let needles = [API_KEY, HEADER_VALUE]
        .into_iter()
        .chain(VALUE_SECRETS.iter().map(|(_, _, n)| *n))
        .chain(KEY_SECRETS.iter().map(|(_, _, v)| *v));
    for needle in needles {
        assert!(!all.contains(needle), "{needle} left the process");
    }
    // Each pattern was counted, by name; the report names no matched text.
    let counted: Vec<&str> = report.scrubbed.iter().map(|(n, _)| n.as_str()).collect();
    for name in std::iter::once("configured-secret")
        .chain(VALUE_SECRETS.iter().map(|(n, _, _)| *n))
        .chain(KEY_SECRETS.iter().map(|(n, _, _)| *n))
    {
        assert!(counted.contains(&name), "{name} not counted: {counted:?}");
    }
    assert!(all.contains("[REDACTED:jwt]") && all.contains("[REDACTED:password]"), "markers name the pattern");
}

#[test]
fn the_configured_key_is_scrubbed_with_opt_in_off_and_patterns_are_not() {
    subscriber();
    let rx = receiver(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let dn = instance(dir.path(), &rx.url, None);
    plant_text(&dn, API_KEY);
    plant_text(&dn, HEADER_VALUE);
    plant_keyed(&dn, "db_password", "found-password-kept");
    plant_text(&dn, "AKIAZ7Q3ABCDEFGH1234");
    let report = dn.shutdown();
    let all = everything(dir.path(), &rx);
    assert!(!all.contains(API_KEY) && !all.contains(HEADER_VALUE), "configured secrets never leave");
    assert!(all.contains("found-password-kept"), "opt-in off: a red team's found password stays");
    assert!(all.contains("AKIAZ7Q3ABCDEFGH1234"), "opt-in off: value patterns do not apply");
    assert_eq!(report.scrubbed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["configured-secret"]);
}

#[test]
fn a_callback_keeps_the_match_it_chooses_and_hashes_are_of_the_stored_value() {
    subscriber();
    let rx = receiver(vec![]);
    let dir = tempfile::tempdir().unwrap();
    const KEPT: &str = "AKIAKEEPTHISONE12345";
    let scrubbing = dn::Scrubbing::default().keep(|m| m.matched == KEPT);
    let dn = instance(dir.path(), &rx.url, Some(scrubbing));
    dn.run("callback").run(|_| {
        dn.task_span("t").run(|t| {
            t.log_input("found", format!("{KEPT} and AKIAZ7Q3ABCDEFGH1234"));
            t.log_input("db_password", "hunter2hunter2");
        })
    });
    dn.shutdown();
    let all = everything(dir.path(), &rx);
    assert!(all.contains(KEPT), "kept by the callback");
    assert!(!all.contains("AKIAZ7Q3ABCDEFGH1234") && !all.contains("hunter2hunter2"));
    let line: Value = dn_testing::jsonl::spans(dir.path()).into_iter().find(|s| s["name"] == "t").unwrap();
    let inputs: Value = serde_json::from_str(line["attributes"]["dreadnode.inputs"].as_str().unwrap()).unwrap();
    let hash = inputs.as_array().unwrap().iter().find(|r| r["name"] == "db_password").unwrap()["hash"].clone();
    let stored = dn::core::serialize(&"[REDACTED:password]");
    assert_eq!(hash, stored.hash.to_string(), "the hash is that of the scrubbed value");
}
