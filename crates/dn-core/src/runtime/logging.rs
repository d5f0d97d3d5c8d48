//! Logging on a task span: params, inputs and outputs, metrics, samples,
//! links, tags, attributes, events, artifacts and errors.
//!
//! Every logging call comes twice: `log_x` cannot fail the caller's code —
//! a call that logs nothing (the span has ended, a value that is not a map
//! for `log_params`, an empty metric name) warns through the tracer's
//! warning limit and is counted as a logging fault, reported by
//! `flush`/`shutdown` (`ExportReport::logging_faults`) — and `try_log_x`
//! returns the [`Error`] instead, for callers who want it.

use std::borrow::Cow;

use serde::Serialize;

use crate::Error;
use crate::attrs::{AttrValue, keys};
use crate::capture::map_entries;
use crate::generation::Generation;
use crate::metric::{Aggregation, Metric, MetricSeries, Step};
use crate::object::{Hash16, LoggedValue, SerializedValue};
use crate::record::{Event, Key, Status};
use crate::record::{fail_state, set_attr};
use crate::task::{NewTask, Parent, TaskSpan, TaskState};
use crate::task_data::{ObjectRef, RefOptions, Side};
use crate::text::SharedStr;
use crate::time::Timestamp;

impl TaskSpan {
    pub(crate) fn with_open<R>(&self, f: impl FnOnce(&mut TaskState) -> R) -> Result<R, Error> {
        let mut st = self.0.state.lock();
        if st.end.is_some() {
            return Err(Error::SpanEnded(self.0.name.to_string()));
        }
        Ok(f(&mut st))
    }

    /// The value of a fallible call, or (warned and counted as a logging
    /// fault) its default.
    pub(crate) fn or_fault<T: Default>(&self, r: Result<T, Error>) -> T {
        r.unwrap_or_else(|e| {
            self.0.tracer.logging_fault(&e);
            T::default()
        })
    }

    // ----- params ---------------------------------------------------------

    /// Logs a param (any `Serialize` value, by value or by reference); a
    /// later value under the same name replaces it and keeps its position.
    ///
    /// ```
    /// # mod dn { pub use dn_core::*; pub fn run(n: &'static str) -> RunBuilder { Tracer::disabled().run(n) } pub fn task_span(n: &'static str) -> TaskSpanBuilder { Tracer::disabled().task_span(n) } }
    /// let run = dn::run("r").start();
    /// run.log_param("learning_rate", 0.001);
    /// run.log_param("model", "gpt-4o");
    /// run.log_param("layers", &vec![64, 32]);
    /// ```
    pub fn log_param(&self, name: &str, value: impl Serialize) {
        self.or_fault(self.try_log_param(name, value))
    }
    /// [`TaskSpan::log_param`], returning the error.
    pub fn try_log_param(&self, name: &str, value: impl Serialize) -> Result<(), Error> {
        let json = self.0.tracer.param_json(&value, name);
        self.with_open(|st| {
            st.data.params.insert(name.to_string(), json);
            st.mark().dirty_params.push(name.to_string());
        })
    }

    /// Logs every entry of a value that serializes to a map (a struct,
    /// `HashMap`, `serde_json::json!({...})`, ...) as a param.
    pub fn log_params(&self, params: impl Serialize) {
        self.or_fault(self.try_log_params(params))
    }
    /// [`TaskSpan::log_params`], returning the error (a value that is not a
    /// map is [`Error::InvalidInput`]).
    pub fn try_log_params(&self, params: impl Serialize) -> Result<(), Error> {
        let mut entries = map_entries(&params, "log_params")?;
        self.0.tracer.scrub_entries(&mut entries);
        self.with_open(|st| {
            let data = &mut st.data;
            let mut keys = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                data.params.insert(k.clone(), v.to_json());
                keys.push(k);
            }
            st.mark().dirty_params.extend(keys);
        })
    }

    // ----- inputs and outputs -----------------------------------------------

    /// Logs an input (any `Serialize` value, by value or by reference).
    pub fn log_input(&self, name: &str, value: impl Serialize) {
        self.or_fault(self.log_value_as(Side::Input, name, self.0.tracer.logged(&value, name), None, None))
    }
    /// [`TaskSpan::log_input`], returning the object hash or the error.
    pub fn try_log_input(&self, name: &str, value: impl Serialize) -> Result<Hash16, Error> {
        self.log_object_ref(Side::Input, name, self.0.tracer.serialize(&value, name), &RefOptions::default())
    }
    /// Logs an input with a label and attributes.
    pub fn log_input_with(&self, name: &str, value: impl Serialize, options: RefOptions) {
        let value = self.0.tracer.logged(&value, name);
        self.or_fault(self.log_value_with(Side::Input, name, value, &options))
    }
    /// [`TaskSpan::log_input_with`], returning the object hash or the error.
    pub fn try_log_input_with(&self, name: &str, value: impl Serialize, options: RefOptions) -> Result<Hash16, Error> {
        self.log_object_ref(Side::Input, name, self.0.tracer.serialize(&value, name), &options)
    }
    /// Logs every entry of a map-like value as an input, in order.
    pub fn log_inputs(&self, inputs: impl Serialize) {
        self.or_fault(self.try_log_inputs(inputs).map(drop))
    }
    /// [`TaskSpan::log_inputs`], returning the object hashes or the error.
    pub fn try_log_inputs(&self, inputs: impl Serialize) -> Result<Vec<Hash16>, Error> {
        self.log_entries(Side::Input, &inputs, "log_inputs")
    }

    /// Logs an output (any `Serialize` value, by value or by reference).
    pub fn log_output(&self, name: &str, value: impl Serialize) {
        self.or_fault(self.log_value_as(Side::Output, name, self.0.tracer.logged(&value, name), None, None))
    }
    /// [`TaskSpan::log_output`], returning the object hash or the error.
    pub fn try_log_output(&self, name: &str, value: impl Serialize) -> Result<Hash16, Error> {
        self.log_object_ref(Side::Output, name, self.0.tracer.serialize(&value, name), &RefOptions::default())
    }
    /// Logs an output with a label and attributes.
    pub fn log_output_with(&self, name: &str, value: impl Serialize, options: RefOptions) {
        let value = self.0.tracer.logged(&value, name);
        self.or_fault(self.log_value_with(Side::Output, name, value, &options))
    }
    /// [`TaskSpan::log_output_with`], returning the object hash or the error.
    pub fn try_log_output_with(&self, name: &str, value: impl Serialize, options: RefOptions) -> Result<Hash16, Error> {
        self.log_object_ref(Side::Output, name, self.0.tracer.serialize(&value, name), &options)
    }
    /// Logs every entry of a map-like value as an output, in order.
    pub fn log_outputs(&self, outputs: impl Serialize) {
        self.or_fault(self.try_log_outputs(outputs).map(drop))
    }
    /// [`TaskSpan::log_outputs`], returning the object hashes or the error.
    pub fn try_log_outputs(&self, outputs: impl Serialize) -> Result<Vec<Hash16>, Error> {
        self.log_entries(Side::Output, &outputs, "log_outputs")
    }

    fn log_entries<T: Serialize + ?Sized>(&self, side: Side, value: &T, what: &str) -> Result<Vec<Hash16>, Error> {
        let mut entries = map_entries(value, what)?;
        self.0.tracer.scrub_entries(&mut entries);
        entries
            .into_iter()
            .map(|(k, v)| self.log_object_ref(side, &k, v.into_object(), &RefOptions::default()))
            .collect()
    }

    /// Logs a value captured by `#[dn::task]` (attributes `{"auto":true}`).
    pub fn log_auto_value(&self, side: Side, name: &str, value: LoggedValue) -> Result<(), Error> {
        // The attributes `RefOptions::new().attribute("auto", true)` renders,
        // without building them for every call of a `#[dn::task]` function.
        self.log_value_as(side, name, value, None, Some(Cow::Borrowed(crate::task_data::AUTO_ATTRIBUTES)))
    }

    fn log_value_with(&self, side: Side, name: &str, value: LoggedValue, options: &RefOptions) -> Result<(), Error> {
        self.log_value_as(side, name, value, options.label.as_deref(), options.attributes_json().map(Cow::Owned))
    }

    /// Logs a value whose hash nobody reads: one kept unhashed is stored
    /// under a placeholder and hashed when the task's groups are rendered
    /// (see [`LoggedValue`]).
    pub(crate) fn log_value_as(
        &self,
        side: Side,
        name: &str,
        value: LoggedValue,
        label: Option<&str>,
        attributes: Option<Cow<'static, str>>,
    ) -> Result<(), Error> {
        let value = match value {
            // A run's values are hashed as logged: each of its updates
            // leaves out the objects an earlier one carried, by hash.
            LoggedValue::Unhashed(value) if !self.0.is_run => value,
            other => return self.log_object_ref_as(side, name, other.into_hashed(), label, attributes).map(drop),
        };
        // The label cleaned before the lock; the hash is the placeholder
        // the value is stored under, known once it is.
        let mut r = ObjectRef::new(name, label, Hash16::placeholder(0), attributes);
        self.with_open(|st| {
            r.hash = st.data.add_unhashed(value);
            st.data.push_ref(side, r);
        })
    }

    pub(crate) fn log_object_ref(
        &self,
        side: Side,
        name: &str,
        obj: SerializedValue,
        options: &RefOptions,
    ) -> Result<Hash16, Error> {
        self.log_object_ref_as(side, name, obj, options.label.as_deref(), options.attributes_json().map(Cow::Owned))
    }

    fn log_object_ref_as(
        &self,
        side: Side,
        name: &str,
        obj: SerializedValue,
        label: Option<&str>,
        attributes: Option<Cow<'static, str>>,
    ) -> Result<Hash16, Error> {
        let hash = obj.hash;
        let r = ObjectRef::new(name, label, hash, attributes);
        let obj = self.0.tracer.stored_value(obj);
        self.with_open(|st| {
            st.data.add_object(obj);
            st.data.push_ref(side, r);
        })?;
        Ok(hash)
    }

    // ----- metrics ----------------------------------------------------------

    /// Logs a metric point; returns the stored (aggregated) value — the value
    /// given when nothing could be logged. The name is cleaned with
    /// `clean_str`; non-finite values are kept (written as `null`).
    pub fn log_metric(&self, name: &str, metric: impl Into<Metric>) -> f64 {
        let m: Metric = metric.into();
        let given = m.value;
        self.try_log_metric(name, m).unwrap_or_else(|e| {
            self.0.tracer.logging_fault(&e);
            given
        })
    }
    /// [`TaskSpan::log_metric`], returning the error.
    pub fn try_log_metric(&self, name: &str, metric: impl Into<Metric>) -> Result<f64, Error> {
        let m: Metric = metric.into();
        let prefixed;
        let given: &str = match &m.prefix {
            Some(p) => {
                prefixed = format!("{p}.{name}");
                &prefixed
            }
            None => name,
        };
        let ts = m.timestamp.unwrap_or_else(Timestamp::now);
        // Boxed while it is carried into the closure below: inline, the
        // 160-byte pair was copied in and out by `memcpy` on every point,
        // origin or not.
        let origin = m.origin.map(|o| Box::new(self.0.tracer.stored_value(*o)));
        self.with_open(|st| {
            let data = &mut st.data;
            // The series map holds cleaned names only: a name logged before
            // is found as given, not cleaned again (a tenth of a point).
            let series = data.metrics.get_or_insert_derived(
                given,
                || {
                    let key = crate::clean::clean_compact(given);
                    if key.is_empty() {
                        return Err(Error::InvalidInput(format!("metric name {name:?} is empty after cleaning")));
                    }
                    Ok(key)
                },
                MetricSeries::default,
            )?;
            let stored = series.push(m.value, m.step, ts, m.aggregation);
            if let Some(o) = origin {
                data.add_object(*o);
            }
            Ok(stored)
        })?
    }

    /// Logs a metric whose origin object is already serialized.
    pub fn log_metric_with_origin(
        &self,
        name: &str,
        metric: impl Into<Metric>,
        origin: SerializedValue,
    ) -> Result<f64, Error> {
        self.try_log_metric(name, Metric { origin: Some(Box::new(origin)), ..metric.into() })
    }

    /// Logs several metrics with the same step (any integer type) and
    /// aggregation.
    pub fn log_metrics<I, K, V>(&self, metrics: I, step: impl Step, aggregation: Aggregation)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<Metric>,
    {
        self.or_fault(self.try_log_metrics(metrics, step, aggregation))
    }
    /// [`TaskSpan::log_metrics`], returning the first error (the entries
    /// before it are logged).
    pub fn try_log_metrics<I, K, V>(&self, metrics: I, step: impl Step, aggregation: Aggregation) -> Result<(), Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<Metric>,
    {
        for (k, v) in metrics {
            self.try_log_metric(k.as_ref(), v.into().step(step).aggregation(aggregation))?;
        }
        Ok(())
    }

    // ----- samples and links -------------------------------------------------

    /// Logs a sample: a child task span named `label` with input `input`,
    /// output `output`, a link output → input, and `metrics` logged with the
    /// output as origin (`docs/format.md`, "Samples, links, tags").
    pub fn log_sample<M, K>(
        &self,
        label: &str,
        input: impl Serialize,
        output: impl Serialize,
        metrics: M,
        step: impl Step,
    ) where
        M: IntoIterator<Item = (K, f64)>,
        K: AsRef<str>,
    {
        self.or_fault(self.try_log_sample(label, input, output, metrics, step))
    }
    /// [`TaskSpan::log_sample`], returning the error.
    pub fn try_log_sample<M, K>(
        &self,
        label: &str,
        input: impl Serialize,
        output: impl Serialize,
        metrics: M,
        step: impl Step,
    ) -> Result<(), Error>
    where
        M: IntoIterator<Item = (K, f64)>,
        K: AsRef<str>,
    {
        if !self.active() {
            return Err(Error::SpanEnded(self.0.name.to_string()));
        }
        let sample = TaskSpan::create(
            &self.0.tracer,
            NewTask { parent: Parent::Task(self.clone()), ..NewTask::task(SharedStr::from(label.to_string())) },
        );
        let i = sample.try_log_input("input", input)?;
        let out = self.0.tracer.serialize(&output, "output");
        let o = sample.log_object_ref(Side::Output, "output", out.clone(), &RefOptions::default())?;
        sample.add_link_event(o, i, vec![])?;
        for (k, v) in metrics {
            sample.try_log_metric(
                k.as_ref(),
                Metric { origin: Some(Box::new(out.clone())), ..Metric::new(v).step(step) },
            )?;
        }
        sample.try_end()
    }

    /// Logs several samples under one name: `(input, output, metrics)` each.
    pub fn log_samples<I, O, M>(&self, name: &str, samples: impl IntoIterator<Item = (I, O, M)>)
    where
        I: Serialize,
        O: Serialize,
        M: IntoIterator<Item = (String, f64)>,
    {
        self.or_fault(self.try_log_samples(name, samples))
    }
    /// [`TaskSpan::log_samples`], returning the first error.
    pub fn try_log_samples<I, O, M>(
        &self,
        name: &str,
        samples: impl IntoIterator<Item = (I, O, M)>,
    ) -> Result<(), Error>
    where
        I: Serialize,
        O: Serialize,
        M: IntoIterator<Item = (String, f64)>,
    {
        for (i, o, m) in samples {
            self.try_log_sample(name, i, o, m, 0)?;
        }
        Ok(())
    }

    /// Links two values: both are stored as objects on this task and a
    /// `dreadnode.object.link` event records `a → b` with `attributes`.
    pub fn link_objects(&self, a: impl Serialize, b: impl Serialize, attributes: &[(&str, AttrValue)]) {
        self.or_fault(self.try_link_objects(a, b, attributes))
    }
    /// [`TaskSpan::link_objects`], returning the error.
    pub fn try_link_objects(
        &self,
        a: impl Serialize,
        b: impl Serialize,
        attributes: &[(&str, AttrValue)],
    ) -> Result<(), Error> {
        let (oa, ob) = (self.0.tracer.serialize(&a, ""), self.0.tracer.serialize(&b, ""));
        let (ha, hb) = (oa.hash, ob.hash);
        let (oa, ob) = (self.0.tracer.stored_value(oa), self.0.tracer.stored_value(ob));
        self.with_open(|st| {
            let data = &mut st.data;
            data.add_object(oa);
            data.add_object(ob);
        })?;
        self.add_link_event(ha, hb, attributes.iter().map(|(k, v)| (Key::from(k.to_string()), v.clone())).collect())
    }

    fn add_link_event(&self, a: Hash16, b: Hash16, mut attributes: Vec<(Key, AttrValue)>) -> Result<(), Error> {
        attributes.push((keys::OBJECT_HASH.into(), AttrValue::Str(a.to_string())));
        attributes.push((keys::LINK_HASH.into(), AttrValue::Str(b.to_string())));
        attributes.push((keys::ORIGIN_SPAN_ID.into(), AttrValue::Str(self.0.span_id.to_string())));
        let ev = Event { name: keys::EVENT_OBJECT_LINK.into(), timestamp: Timestamp::now(), attributes };
        self.with_open(|st| st.extras().events.push(ev))
    }

    // ----- tags, attributes, events, errors -----------------------------------

    /// Adds tags (cleaned, de-duplicated).
    pub fn tag<I, S>(&self, tags: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.or_fault(self.try_tag(tags))
    }
    /// [`TaskSpan::tag`], returning the error.
    pub fn try_tag<I, S>(&self, tags: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let tags: Vec<S> = tags.into_iter().collect();
        let tracer = &self.0.tracer;
        self.with_open(|st| tracer.clean_tags(&mut st.tags, tags))
    }

    /// Sets a user attribute; primitives stay primitive, anything else is
    /// stored as compact JSON.
    pub fn set_attribute(&self, key: &str, value: impl Serialize) {
        self.or_fault(self.try_set_attribute(key, value))
    }
    /// [`TaskSpan::set_attribute`], returning the error.
    pub fn try_set_attribute(&self, key: &str, value: impl Serialize) -> Result<(), Error> {
        let v = AttrValue::from_serialize(&value);
        self.with_open(|st| {
            let late = &mut st.extras.get_or_insert_with(Default::default).late_keys;
            set_attr(&mut st.attributes, late, key, v)
        })
    }

    /// Records one LLM generation on this span: the `gen_ai.*` attributes
    /// of [`Generation::attributes`], the token counts as the metrics
    /// `input_tokens` and `output_tokens`, and the finish reasons as the
    /// output `finish_reasons`. Meant for a span of type `generation`.
    pub fn log_generation(&self, generation: &Generation) {
        self.or_fault(self.try_log_generation(generation))
    }
    /// [`TaskSpan::log_generation`], returning the error.
    pub fn try_log_generation(&self, generation: &Generation) -> Result<(), Error> {
        let attributes = generation.attributes();
        self.with_open(|st| {
            let late = &mut st.extras.get_or_insert_with(Default::default).late_keys;
            for (k, v) in attributes {
                set_attr(&mut st.attributes, late, &k, v);
            }
        })?;
        for (name, n) in [("input_tokens", generation.input_tokens), ("output_tokens", generation.output_tokens)] {
            if let Some(n) = n {
                self.try_log_metric(name, n as f64)?;
            }
        }
        if !generation.finish_reasons.is_empty() {
            self.try_log_output("finish_reasons", &generation.finish_reasons)?;
        }
        Ok(())
    }

    /// Adds an event with the given attributes.
    pub fn add_event(&self, name: &str, attributes: Vec<(Key, AttrValue)>) -> Result<(), Error> {
        let ev = Event { name: Key::from(name.to_string()), timestamp: Timestamp::now(), attributes };
        self.with_open(|st| st.extras().events.push(ev))
    }

    /// Adds an artifact record (a compact JSON object) to this task.
    pub fn add_artifact_record(&self, record_json: String) -> Result<(), Error> {
        self.with_open(|st| st.data.artifacts.push(record_json))
    }

    /// Marks the task failed with `error` (status ERROR, an `exception`
    /// event, `failed() == true`) without ending it.
    pub fn record_error<E: std::fmt::Display + ?Sized>(&self, error: &E) {
        self.or_fault(self.record_exception(std::any::type_name::<E>(), &error.to_string(), false))
    }

    /// Records an exception event and sets the ERROR status.
    pub fn record_exception(&self, type_name: &str, message: &str, escaped: bool) -> Result<(), Error> {
        self.with_open(|st| {
            let mut status = std::mem::take(&mut st.status);
            fail_state(&mut status, &mut st.extras().events, type_name, message, escaped);
            st.status = status;
        })
    }

    /// Sets the status to OK (unless it already failed).
    pub fn set_ok(&self) -> Result<(), Error> {
        self.with_open(|st| {
            if st.status == Status::Unset {
                st.status = Status::Ok;
            }
        })
    }
}
