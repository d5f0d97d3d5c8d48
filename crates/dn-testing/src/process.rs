//! Child processes of the SDK (the `dn` binary, test programs) run the way
//! a user runs them: the SDK's configuration from the environment, and only
//! the configuration the test gives.

use std::path::Path;
use std::process::Command;

/// A command for `bin` writing under `dir` (`DREADNODE_LOCAL_DIR`, and `HOME`
/// so no profile file of the machine is read), with every remote setting of
/// the environment removed; with `collector`, an OpenTelemetry collector at
/// that base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`).
pub fn sdk_command(bin: &Path, dir: &Path, collector: Option<&str>) -> Command {
    let mut c = Command::new(bin);
    c.env("DREADNODE_LOCAL_DIR", dir).env("HOME", dir);
    for k in [
        "DREADNODE_SERVER",
        "DREADNODE_API_KEY",
        "DREADNODE_ORGANIZATION",
        "DREADNODE_TRACE_BACKEND",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ] {
        c.env_remove(k);
    }
    if let Some(e) = collector {
        c.env("OTEL_EXPORTER_OTLP_ENDPOINT", e);
    }
    c
}
