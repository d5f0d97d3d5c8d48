//! The resource attributes every exported span carries (`docs/format.md`, "Remote OTLP").

use dn_core::AttrValue;

/// The version of the OpenTelemetry SDK crates the export is built on.
pub const OTEL_SDK_VERSION: &str = "0.33";

/// Process-wide resource attributes, computed once.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    attributes: Vec<(&'static str, AttrValue)>,
}

impl Resource {
    /// The resource of this process: service, instance, SDK, process, host, OS.
    pub fn detect(service_name: &str) -> Resource {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".to_string());
        Resource {
            attributes: vec![
                ("service.name", AttrValue::Str(service_name.to_string())),
                ("service.instance.id", AttrValue::Str(uuid::Uuid::new_v4().to_string())),
                ("telemetry.sdk.language", AttrValue::Str("rust".into())),
                ("telemetry.sdk.name", AttrValue::Str("opentelemetry".into())),
                ("telemetry.sdk.version", AttrValue::Str(OTEL_SDK_VERSION.into())),
                ("process.pid", AttrValue::Int(i64::from(std::process::id()))),
                ("process.runtime.name", AttrValue::Str("rust".into())),
                ("host.name", AttrValue::Str(host)),
                ("host.arch", AttrValue::Str(std::env::consts::ARCH.into())),
                ("os.type", AttrValue::Str(std::env::consts::OS.into())),
            ],
        }
    }
    /// The attributes, in order.
    pub fn attributes(&self) -> &[(&'static str, AttrValue)] {
        &self.attributes
    }
}
