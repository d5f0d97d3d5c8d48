//! One LLM call, described the way the OpenTelemetry GenAI semantic
//! conventions (version [`GEN_AI_SEMCONV_VERSION`]) describe it: plain data,
//! turned into `gen_ai.*` attributes by [`Generation::attributes`].

use serde::Serialize;

use crate::attrs::{AttrValue, GEN_AI_SEMCONV_VERSION, keys};
use crate::record::Key;

/// One LLM generation: model, provider, operation, token counts and finish
/// reasons; the messages only when [`Generation::messages`] opts in.
///
/// ```
/// let g = dn_core::Generation::new("gpt-4o")
///     .provider("openai")
///     .input_tokens(12)
///     .output_tokens(30)
///     .finish_reasons(["stop"]);
/// let attrs = g.attributes();
/// assert_eq!(attrs[0].0, "gen_ai.operation.name");
/// assert!(attrs.iter().any(|(k, _)| k == "gen_ai.usage.output_tokens"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generation {
    /// The model asked for (`gen_ai.request.model`).
    pub model: String,
    /// The model that answered, when it differs (`gen_ai.response.model`).
    pub response_model: Option<String>,
    /// The provider (`gen_ai.provider.name`): `openai`, `anthropic`, ...
    pub provider: Option<String>,
    /// The operation (`gen_ai.operation.name`); `chat` unless set.
    pub operation: Option<String>,
    /// Input (prompt) tokens.
    pub input_tokens: Option<u64>,
    /// Output (completion) tokens.
    pub output_tokens: Option<u64>,
    /// Why the model stopped, one per choice (`stop`, `length`, ...).
    pub finish_reasons: Vec<String>,
    /// Input and output messages as JSON, recorded only when set.
    messages: Option<(String, String)>,
}

impl Generation {
    /// A generation by `model`.
    pub fn new(model: impl Into<String>) -> Self {
        Generation { model: model.into(), ..Default::default() }
    }
    /// The provider (`gen_ai.provider.name`).
    pub fn provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }
    /// The operation (`chat`, `text_completion`, `embeddings`, ...).
    pub fn operation(mut self, operation: impl Into<String>) -> Self {
        self.operation = Some(operation.into());
        self
    }
    /// The model that answered.
    pub fn response_model(mut self, model: impl Into<String>) -> Self {
        self.response_model = Some(model.into());
        self
    }
    /// Input (prompt) tokens.
    pub fn input_tokens(mut self, n: u64) -> Self {
        self.input_tokens = Some(n);
        self
    }
    /// Output (completion) tokens.
    pub fn output_tokens(mut self, n: u64) -> Self {
        self.output_tokens = Some(n);
        self
    }
    /// Finish reasons, one per choice.
    pub fn finish_reasons<I, S>(mut self, reasons: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.finish_reasons = reasons.into_iter().map(Into::into).collect();
        self
    }
    /// Opts in to recording the messages (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`, compact JSON). Off by default: prompts and
    /// completions can hold what should not leave the process.
    pub fn messages(mut self, input: impl Serialize, output: impl Serialize) -> Self {
        let json = |v: &dyn erased::Json| v.to_json();
        self.messages = Some((json(&input), json(&output)));
        self
    }
    /// The operation, `chat` unless set.
    pub fn operation_name(&self) -> &str {
        self.operation.as_deref().unwrap_or("chat")
    }

    /// The `gen_ai.*` attributes, in the order the conventions list them.
    pub fn attributes(&self) -> Vec<(Key, AttrValue)> {
        let mut out: Vec<(Key, AttrValue)> = Vec::with_capacity(9);
        let mut push = |k: &'static str, v: AttrValue| out.push((Key::Borrowed(k), v));
        push(keys::GEN_AI_OPERATION_NAME, AttrValue::Str(self.operation_name().to_string()));
        if let Some(p) = &self.provider {
            push(keys::GEN_AI_PROVIDER_NAME, AttrValue::Str(p.clone()));
        }
        push(keys::GEN_AI_REQUEST_MODEL, AttrValue::Str(self.model.clone()));
        if let Some(m) = &self.response_model {
            push(keys::GEN_AI_RESPONSE_MODEL, AttrValue::Str(m.clone()));
        }
        if let Some(n) = self.input_tokens {
            push(keys::GEN_AI_USAGE_INPUT_TOKENS, int(n));
        }
        if let Some(n) = self.output_tokens {
            push(keys::GEN_AI_USAGE_OUTPUT_TOKENS, int(n));
        }
        if !self.finish_reasons.is_empty() {
            push(keys::GEN_AI_RESPONSE_FINISH_REASONS, AttrValue::StrArray(self.finish_reasons.clone()));
        }
        if let Some((input, output)) = &self.messages {
            push(keys::GEN_AI_INPUT_MESSAGES, AttrValue::Str(input.clone()));
            push(keys::GEN_AI_OUTPUT_MESSAGES, AttrValue::Str(output.clone()));
        }
        out
    }

    /// The semantic-conventions version the attributes follow.
    pub fn semconv_version() -> &'static str {
        GEN_AI_SEMCONV_VERSION
    }
}

fn int(n: u64) -> AttrValue {
    i64::try_from(n).map_or_else(|_| AttrValue::Str(n.to_string()), AttrValue::Int)
}

mod erased {
    /// Serialises any `Serialize` to compact JSON (`null` when it cannot).
    pub(super) trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_else(|_| "null".into())
        }
    }
}
