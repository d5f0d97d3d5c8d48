//! The standard OpenTelemetry environment (docs/configuration.md), each
//! variable set and unset, in child processes (each case its own
//! environment): what dn follows, and what it refuses by name.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::process::Command;

use serde_json::Value;

/// Runs the settings probe with only `env` set among `DREADNODE_*` /
/// `OTEL_*`; returns its JSON, stderr and the resource of the line it wrote.
fn probe(env: &[(&str, &str)]) -> (Value, String, Value) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_print_settings"));
    cmd.env("HOME", home.path()).env("DREADNODE_LOCAL_DIR", home.path().join("dn"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("DREADNODE_") || k.starts_with("OTEL_")) {
        if k != "DREADNODE_LOCAL_DIR" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dir = home.path().join("dn");
    let resource = if dir.join("projects").is_dir() {
        dn_testing::jsonl::spans(&dir).first().map(|s| s["resource"].clone()).unwrap_or_default()
    } else {
        Value::Null // not configured: nothing was written
    };
    (v, String::from_utf8_lossy(&out.stderr).into_owned(), resource)
}

/// A loopback receiver that answers 200 at once (so a probe with a
/// collector ends without waiting out its shutdown timeout) and its URL.
fn collector() -> (dn_testing::loopback::Server, String) {
    // Bound to a port the system picks, not to one found free first: tests
    // run side by side, and another could take that port before the bind
    // (a CI run failed with "Address already in use").
    let (srv, _) = dn_testing::loopback::null_receiver_on(0);
    let url = srv.base.clone();
    (srv, url)
}

fn configured(v: &Value) -> bool {
    v["configured"] == true
}

#[test]
fn otel_service_name_and_resource_attributes_reach_the_jsonl_resource() {
    let (v, _, r) = probe(&[]);
    assert_eq!((v["service_name"].as_str(), r["service.name"].as_str()), (Some("dn"), Some("dn")), "unset: dn");
    let (_, _, r) = probe(&[("OTEL_SERVICE_NAME", "ticket-triage")]);
    assert_eq!(r["service.name"], "ticket-triage");
    let (_, _, r) =
        probe(&[("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team=red%20team,service.name=from-attrs")]);
    assert_eq!(r["deployment.environment"], "prod");
    assert_eq!(r["team"], "red team", "values are percent-decoded");
    assert_eq!(r["service.name"], "from-attrs");
    let (_, _, r) = probe(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"), ("OTEL_SERVICE_NAME", "wins")]);
    assert_eq!(r["service.name"], "wins", "OTEL_SERVICE_NAME before OTEL_RESOURCE_ATTRIBUTES");
    let (v, err, _) = probe(&[("OTEL_RESOURCE_ATTRIBUTES", "no-equals-sign")]);
    assert!(!configured(&v) && err.contains("OTEL_RESOURCE_ATTRIBUTES"), "{err}");
}

#[test]
fn the_traces_exporter_and_sdk_disabled_switch_the_collector_off() {
    let (_rx, url) = collector();
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str());
    let (v, _, _) = probe(&[endpoint]);
    assert_eq!(v["otlp_endpoint"], format!("{url}/v1/traces"), "set: the collector is a destination");
    let (v, _, _) = probe(&[endpoint, ("OTEL_TRACES_EXPORTER", "otlp")]);
    assert_eq!(v["otlp_endpoint"], format!("{url}/v1/traces"));
    let (v, _, _) = probe(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]);
    assert!(configured(&v) && v["otlp_endpoint"].is_null(), "none: no collector, local files still written");
    assert_eq!(v["run_ok"], true);
    let (v, _, _) = probe(&[endpoint, ("OTEL_SDK_DISABLED", "true")]);
    assert!(configured(&v) && v["otlp_endpoint"].is_null(), "disabled: no collector");
    let (v, _, _) = probe(&[endpoint, ("OTEL_SDK_DISABLED", "false")]);
    assert!(!v["otlp_endpoint"].is_null());
    let (v, err, _) = probe(&[endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")]);
    assert!(!configured(&v) && err.contains("OTEL_TRACES_EXPORTER") && err.contains("zipkin"), "{err}");
}

#[test]
fn a_protocol_dn_does_not_speak_is_a_configuration_error_that_names_it() {
    let (_rx, url) = collector();
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str());
    let (v, _, _) = probe(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]);
    assert!(configured(&v) && !v["otlp_endpoint"].is_null());
    for (k, p) in [("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")] {
        let (v, err, _) = probe(&[endpoint, (k, p)]);
        assert!(!configured(&v), "{p}: configuration refused");
        assert!(err.contains(p) && err.contains("http/protobuf"), "names {p}: {err}");
    }
    let (v, _, _) = probe(&[
        endpoint,
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
    ]);
    assert!(configured(&v), "the traces variable comes first");
}

#[test]
fn traces_headers_come_before_the_general_headers() {
    let (_rx, url) = collector();
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str());
    let (v, _, _) = probe(&[endpoint, ("OTEL_EXPORTER_OTLP_HEADERS", "x-general=1")]);
    assert_eq!(v["otlp_headers"], serde_json::json!(["x-general"]));
    let (v, _, _) = probe(&[
        endpoint,
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-general=1"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-traces=2"),
    ]);
    assert_eq!(v["otlp_headers"], serde_json::json!(["x-traces"]));
}

#[test]
fn timeout_and_compression() {
    let (_rx, url) = collector();
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str());
    let (v, _, _) = probe(&[endpoint]);
    assert!(v["otlp_timeout_ms"].is_null(), "unset: the default");
    let (v, _, _) = probe(&[endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")]);
    assert_eq!(v["otlp_timeout_ms"], 2500);
    let (v, _, _) =
        probe(&[endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"), ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700")]);
    assert_eq!(v["otlp_timeout_ms"], 700, "the traces variable comes first");
    let (v, err, _) = probe(&[endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")]);
    assert!(!configured(&v) && err.contains("OTEL_EXPORTER_OTLP_TIMEOUT"), "{err}");
    let (v, _, _) = probe(&[endpoint, ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]);
    assert!(configured(&v));
    let (v, err, _) = probe(&[endpoint, ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none")]);
    assert!(!configured(&v) && err.contains("none") && err.contains("gzip"), "{err}");
}

#[test]
fn the_traces_endpoint_is_used_as_given_and_comes_before_the_general_one() {
    let (_rx, url) = collector();
    let (v, _, _) = probe(&[]);
    assert!(configured(&v) && v["otlp_endpoint"].is_null(), "unset: no collector");
    let (v, _, _) = probe(&[("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str())]);
    assert_eq!(v["otlp_endpoint"], format!("{url}/v1/traces"), "the general endpoint gets /v1/traces appended");
    let traces = format!("{url}/custom/traces");
    let (v, _, _) = probe(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.as_str())]);
    assert_eq!(v["otlp_endpoint"], traces, "the traces endpoint is used as given");
    let (v, _, _) = probe(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.as_str()),
    ]);
    assert_eq!(v["otlp_endpoint"], traces, "the traces variable comes first");
}
