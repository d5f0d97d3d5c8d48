//! Attribute keys and values: the single home of every key the SDK writes
//! (`docs/format.md`, "Attributes"). Exporters and tests refer to these constants.

use serde::Serialize;

use crate::object::CapturedValue;

/// The SDK version written as `dreadnode.version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every attribute key the SDK writes.
pub mod keys {
    /// SDK version.
    pub const VERSION: &str = "dreadnode.version";
    /// Span type (`task`, `span`, `run_update`, ...).
    pub const TYPE: &str = "dreadnode.type";
    /// Cleaned label.
    pub const LABEL: &str = "dreadnode.label";
    /// Tags (native array).
    pub const TAGS: &str = "dreadnode.tags";
    /// JSON schema of attributes set after start.
    pub const SCHEMA: &str = "dreadnode.schema";
    /// Project key (or UUID on the wire).
    pub const PROJECT: &str = "dreadnode.project";
    /// Bound session id.
    pub const SESSION_ID: &str = "dreadnode.session.id";
    /// Run id.
    pub const RUN_ID: &str = "dreadnode.run.id";
    /// Span id of the parent task.
    pub const TASK_PARENT_ID: &str = "dreadnode.task.parent_id";
    /// Params (JSON string).
    pub const PARAMS: &str = "dreadnode.params";
    /// Inputs (JSON string).
    pub const INPUTS: &str = "dreadnode.inputs";
    /// Outputs (JSON string).
    pub const OUTPUTS: &str = "dreadnode.outputs";
    /// Metrics (JSON string).
    pub const METRICS: &str = "dreadnode.metrics";
    /// Objects (JSON string).
    pub const OBJECTS: &str = "dreadnode.objects";
    /// Object schemas (JSON string).
    pub const OBJECT_SCHEMAS: &str = "dreadnode.object_schemas";
    /// Artifacts (JSON string).
    pub const ARTIFACTS: &str = "dreadnode.artifacts";
    /// Which attributes are large (native array).
    pub const LARGE_ATTRIBUTES: &str = "dreadnode.large_attributes";
    /// Logfire span type (always `span`).
    pub const LOGFIRE_SPAN_TYPE: &str = "logfire.span_type";
    /// Logfire message (the span name).
    pub const LOGFIRE_MSG: &str = "logfire.msg";
    /// Logfire level number (17 = error).
    pub const LOGFIRE_LEVEL_NUM: &str = "logfire.level_num";
    /// The prefix of the `code.*` attributes (`#[dn::task]`'s and the
    /// bridge's), which a line carries before dn's own run id and a task
    /// line's key may hold.
    pub const CODE_PREFIX: &str = "code.";
    /// `#[dn::task]`: function name.
    pub const CODE_FUNCTION: &str = "code.function";
    /// `#[dn::task]`: line number.
    pub const CODE_LINENO: &str = "code.lineno";
    /// `#[dn::task]`: file path.
    pub const CODE_FILEPATH: &str = "code.filepath";
    /// Bridged `tracing` spans: the module path (OTel `code.namespace`).
    pub const CODE_NAMESPACE: &str = "code.namespace";
    /// Bridged `tracing` events: the level (`TRACE` .. `ERROR`), as
    /// tracing-opentelemetry writes it.
    pub const EVENT_LEVEL: &str = "level";
    /// Bridged `tracing` events: the target.
    pub const EVENT_TARGET: &str = "target";
    /// Link event name.
    pub const EVENT_OBJECT_LINK: &str = "dreadnode.object.link";
    /// Link event: hash of the origin object.
    pub const OBJECT_HASH: &str = "dreadnode.object.hash";
    /// Link event: hash of the linked object.
    pub const LINK_HASH: &str = "dreadnode.link.hash";
    /// Link event: span that made the link.
    pub const ORIGIN_SPAN_ID: &str = "dreadnode.origin.span_id";
    /// Exception event name.
    pub const EVENT_EXCEPTION: &str = "exception";
    /// Exception type.
    pub const EXCEPTION_TYPE: &str = "exception.type";
    /// Exception message.
    pub const EXCEPTION_MESSAGE: &str = "exception.message";
    /// Exception stacktrace.
    pub const EXCEPTION_STACKTRACE: &str = "exception.stacktrace";
    /// Whether the exception escaped the span.
    pub const EXCEPTION_ESCAPED: &str = "exception.escaped";
    /// Event of a `#[dn::task]` scorer that failed (its metric is logged as 0.0).
    pub const EVENT_SCORER_ERROR: &str = "dreadnode.scorer.error";
    /// Scorer error event: the scorer's name.
    pub const SCORER_NAME: &str = "scorer";
    /// Scorer error event: the error message.
    pub const SCORER_ERROR: &str = "error";

    // ----- OpenTelemetry GenAI semantic conventions (semconv 1.37.0) ------
    // Written on the span by `TaskSpan::log_generation`.

    /// GenAI: the model asked for.
    pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
    /// GenAI: the model that answered.
    pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// GenAI: the provider (`openai`, `anthropic`, ...).
    pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
    /// GenAI: the operation (`chat`, `text_completion`, `embeddings`, ...).
    pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
    /// GenAI: input (prompt) tokens.
    pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// GenAI: output (completion) tokens.
    pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// GenAI: why the model stopped, one per choice.
    pub const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// GenAI: the input messages (JSON), only when opted in.
    pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// GenAI: the output messages (JSON), only when opted in.
    pub const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";

    // ----- OpenInference (Arize Phoenix; MLflow reads them too) -----------
    // Added to spans sent to OpenTelemetry collectors only, never to the
    // local files or the platform (`docs/format.md`, "Collector conventions").

    /// OpenInference: the span kind (`CHAIN`, `LLM`, `TOOL`, ...).
    pub const OPENINFERENCE_SPAN_KIND: &str = "openinference.span.kind";
    /// OpenInference resource attribute: the Phoenix project.
    pub const OPENINFERENCE_PROJECT_NAME: &str = "openinference.project.name";
    /// OpenInference: the span's input, as text.
    pub const INPUT_VALUE: &str = "input.value";
    /// OpenInference: `text/plain` or `application/json`.
    pub const INPUT_MIME_TYPE: &str = "input.mime_type";
    /// OpenInference: the span's output, as text.
    pub const OUTPUT_VALUE: &str = "output.value";
    /// OpenInference: `text/plain` or `application/json`.
    pub const OUTPUT_MIME_TYPE: &str = "output.mime_type";
    /// OpenInference: the session (`dreadnode.session.id`).
    pub const SESSION_ID_OPENINFERENCE: &str = "session.id";
    /// OpenInference: the model of an LLM span.
    pub const LLM_MODEL_NAME: &str = "llm.model_name";
    /// OpenInference: the provider of an LLM span.
    pub const LLM_PROVIDER: &str = "llm.provider";
    /// OpenInference: prompt tokens.
    pub const LLM_TOKEN_COUNT_PROMPT: &str = "llm.token_count.prompt";
    /// OpenInference: completion tokens.
    pub const LLM_TOKEN_COUNT_COMPLETION: &str = "llm.token_count.completion";
    /// OpenInference: prompt + completion tokens.
    pub const LLM_TOKEN_COUNT_TOTAL: &str = "llm.token_count.total";
}

/// The version of the OpenTelemetry GenAI semantic conventions whose keys
/// [`keys`] holds (`gen_ai.*`).
pub const GEN_AI_SEMCONV_VERSION: &str = "1.37.0";

/// The `User-Agent` of every request the SDK makes.
pub fn user_agent() -> String {
    format!("dreadnode-rust/{}", VERSION)
}

/// The logfire level number of an error.
pub const LEVEL_NUM_ERROR: i64 = 17;

/// An attribute value: primitives, arrays of strings, or compact JSON text.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A native array of strings.
    StrArray(Vec<String>),
    /// A static string (no allocation; e.g. `code.filepath`).
    Static(&'static str),
}

impl AttrValue {
    /// Converts any `Serialize` value: primitives stay primitive, anything
    /// else becomes its compact JSON text (`docs/format.md`, "Attributes").
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> AttrValue {
        match CapturedValue::capture(value) {
            Ok(CapturedValue::Str(s)) => AttrValue::Str(s),
            Ok(CapturedValue::Bool(b)) => AttrValue::Bool(b),
            Ok(CapturedValue::Int(i)) => match i64::try_from(i) {
                Ok(i) => AttrValue::Int(i),
                Err(_) => AttrValue::Str(i.to_string()),
            },
            Ok(CapturedValue::Float(f)) => AttrValue::Float(f),
            Ok(other) => AttrValue::Str(other.to_json()),
            Err(_) => AttrValue::Str(std::any::type_name::<T>().to_string()),
        }
    }
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        AttrValue::Str(v.to_string())
    }
}
impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        AttrValue::Str(v)
    }
}
impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        AttrValue::Int(v)
    }
}
impl From<f64> for AttrValue {
    fn from(v: f64) -> Self {
        AttrValue::Float(v)
    }
}
impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        AttrValue::Bool(v)
    }
}

/// The kind of a span, written as `dreadnode.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanType {
    /// A task (the default for task spans and runs).
    #[default]
    Task,
    /// An evaluation.
    Evaluation,
    /// An agent.
    Agent,
    /// A study.
    Study,
    /// A tool call.
    Tool,
    /// A trial.
    Trial,
    /// A sample.
    Sample,
    /// A generation.
    Generation,
    /// A scorer.
    Scorer,
    /// A transform (a step that reshapes data).
    Transform,
    /// A light span.
    Span,
    /// A continued task in another process (internal).
    TaskFragment,
    /// A run update written by `push_update` (internal).
    RunUpdate,
}

impl SpanType {
    /// The types a user may give a span (`#[dn::task(type = ..)]`, builders);
    /// `TaskFragment` and `RunUpdate` are the SDK's own.
    pub const USER: [SpanType; 11] = [
        SpanType::Task,
        SpanType::Evaluation,
        SpanType::Agent,
        SpanType::Study,
        SpanType::Tool,
        SpanType::Trial,
        SpanType::Sample,
        SpanType::Generation,
        SpanType::Scorer,
        SpanType::Transform,
        SpanType::Span,
    ];

    /// The OpenInference span kind generic backends (Phoenix, MLflow) show:
    /// generation → `LLM`, tool → `TOOL`, agent → `AGENT`, scorer →
    /// `EVALUATOR`, everything else (runs, tasks, light spans, ...) → `CHAIN`.
    pub fn openinference_kind(self) -> &'static str {
        match self {
            SpanType::Generation => "LLM",
            SpanType::Tool => "TOOL",
            SpanType::Agent => "AGENT",
            SpanType::Scorer => "EVALUATOR",
            SpanType::Task
            | SpanType::Evaluation
            | SpanType::Study
            | SpanType::Trial
            | SpanType::Sample
            | SpanType::Transform
            | SpanType::Span
            | SpanType::TaskFragment
            | SpanType::RunUpdate => "CHAIN",
        }
    }

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanType::Task => "task",
            SpanType::Evaluation => "evaluation",
            SpanType::Agent => "agent",
            SpanType::Study => "study",
            SpanType::Tool => "tool",
            SpanType::Trial => "trial",
            SpanType::Sample => "sample",
            SpanType::Generation => "generation",
            SpanType::Scorer => "scorer",
            SpanType::Transform => "transform",
            SpanType::Span => "span",
            SpanType::TaskFragment => "task_fragment",
            SpanType::RunUpdate => "run_update",
        }
    }
}

impl std::str::FromStr for SpanType {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "task" => SpanType::Task,
            "evaluation" => SpanType::Evaluation,
            "agent" => SpanType::Agent,
            "study" => SpanType::Study,
            "tool" => SpanType::Tool,
            "trial" => SpanType::Trial,
            "sample" => SpanType::Sample,
            "generation" => SpanType::Generation,
            "scorer" => SpanType::Scorer,
            "transform" => SpanType::Transform,
            "span" => SpanType::Span,
            "task_fragment" => SpanType::TaskFragment,
            "run_update" => SpanType::RunUpdate,
            other => return Err(crate::Error::InvalidInput(format!("unknown span type {other:?}"))),
        })
    }
}

impl std::fmt::Display for SpanType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
