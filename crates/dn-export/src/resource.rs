//! The resource attributes every exported span carries (`docs/format.md`, "Remote OTLP").

use std::borrow::Cow;

use dn_core::AttrValue;

/// The version of the OpenTelemetry SDK crates the export is built on.
pub const OTEL_SDK_VERSION: &str = "0.33";

/// Process-wide resource attributes, computed once.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    attributes: Vec<(Cow<'static, str>, AttrValue)>,
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
                ("service.name".into(), AttrValue::Str(service_name.to_string())),
                ("service.instance.id".into(), AttrValue::Str(uuid::Uuid::new_v4().to_string())),
                ("telemetry.sdk.language".into(), AttrValue::Str("rust".into())),
                ("telemetry.sdk.name".into(), AttrValue::Str("opentelemetry".into())),
                ("telemetry.sdk.version".into(), AttrValue::Str(OTEL_SDK_VERSION.into())),
                ("process.pid".into(), AttrValue::Int(i64::from(std::process::id()))),
                ("process.runtime.name".into(), AttrValue::Str("rust".into())),
                ("host.name".into(), AttrValue::Str(host)),
                ("host.arch".into(), AttrValue::Str(std::env::consts::ARCH.into())),
                ("os.type".into(), AttrValue::Str(std::env::consts::OS.into())),
            ],
        }
    }
    /// With `extra` attributes (`OTEL_RESOURCE_ATTRIBUTES`): each replaces
    /// the detected one of its key, or is added after them.
    pub fn with_attributes(mut self, extra: &[(String, String)]) -> Resource {
        for (k, v) in extra {
            match self.attributes.iter_mut().find(|(key, _)| key == k) {
                Some(slot) => slot.1 = AttrValue::Str(v.clone()),
                None => self.attributes.push((Cow::Owned(k.clone()), AttrValue::Str(v.clone()))),
            }
        }
        self
    }
    /// The attributes, in order.
    pub fn attributes(&self) -> &[(Cow<'static, str>, AttrValue)] {
        &self.attributes
    }
}
