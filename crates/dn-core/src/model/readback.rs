//! Reading a task's logged data back as JSON values, from its structured
//! data while it is open and from its rendered JSON once it has ended.

use std::sync::Arc;

use indexmap::IndexMap;

use crate::metric::MetricSeries;
use crate::object::Hash16;
use crate::task_data::{ObjectRef, RenderedTask, StoredValue, TaskData};
use crate::time::Timestamp;

/// A task's data as it stands: structured while the task is open, rendered
/// once it has ended. Each read parses what it needs (ended tasks keep only
/// their rendered JSON, see [`RenderedTask`]).
#[derive(Clone, Debug)]
pub enum TaskView {
    /// An open task's data.
    Data(Arc<TaskData>),
    /// An ended task's rendered data.
    Rendered(Arc<RenderedTask>),
}

impl TaskView {
    /// Params as JSON values.
    pub fn params(&self) -> IndexMap<String, serde_json::Value> {
        match self {
            TaskView::Data(d) => {
                d.params.iter().map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap_or_default())).collect()
            }
            TaskView::Rendered(r) => parse_map(&r.params()),
        }
    }
    /// Inputs by name (the last value logged under each name).
    pub fn inputs(&self) -> IndexMap<String, serde_json::Value> {
        match self {
            TaskView::Data(d) => refs_to_values(d, &d.inputs),
            TaskView::Rendered(r) => rendered_refs(&r.inputs(), &r.objects()),
        }
    }
    /// Outputs by name.
    pub fn outputs(&self) -> IndexMap<String, serde_json::Value> {
        match self {
            TaskView::Data(d) => refs_to_values(d, &d.outputs),
            TaskView::Rendered(r) => rendered_refs(&r.outputs(), &r.objects()),
        }
    }
    /// Metric series by name.
    pub fn metrics(&self) -> IndexMap<String, MetricSeries> {
        match self {
            TaskView::Data(d) => d.metrics.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            TaskView::Rendered(r) => rendered_metrics(&r.metrics()),
        }
    }
}

/// A task's inputs by name, as logged (JSON values): what a scorer written
/// `f(output, inputs)` in `#[dn::task(scorers = [..])]` receives.
///
/// ```
/// # use dn_core as dn;
/// use dn::TaskInputs;
/// let inputs = TaskInputs::from_iter([("label".to_string(), serde_json::json!("cat"))]);
/// assert_eq!(inputs.str("label"), Some("cat"));
/// assert_eq!(inputs.get_as::<String>("label").as_deref(), Some("cat"));
/// assert!(inputs.get("missing").is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskInputs(IndexMap<String, serde_json::Value>);

impl TaskInputs {
    /// The value logged under `name`.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.get(name)
    }
    /// The value logged under `name`, if it is a string.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(serde_json::Value::as_str)
    }
    /// The value logged under `name`, deserialized as `T`.
    pub fn get_as<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        self.0.get(name).and_then(|v| serde_json::from_value(v.clone()).ok())
    }
    /// Every input, in the order logged.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// How many inputs there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, serde_json::Value)> for TaskInputs {
    fn from_iter<I: IntoIterator<Item = (String, serde_json::Value)>>(iter: I) -> Self {
        TaskInputs(iter.into_iter().collect())
    }
}

fn parse_map(json: &str) -> IndexMap<String, serde_json::Value> {
    match crate::json::parse_python_json(json) {
        Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
        _ => IndexMap::new(),
    }
}

fn rendered_refs(refs_json: &str, objects_json: &str) -> IndexMap<String, serde_json::Value> {
    let objects = parse_map(objects_json);
    let refs: Vec<serde_json::Value> = serde_json::from_str(refs_json).unwrap_or_default();
    refs.iter()
        .map(|r| {
            let o = r["hash"].as_str().and_then(|h| objects.get(h));
            let v = o.map(|o| if o["type"] == "uri" { o["uri"].clone() } else { o["value"].clone() });
            (r["name"].as_str().unwrap_or_default().to_string(), v.unwrap_or_default())
        })
        .collect()
}

fn rendered_metrics(json: &str) -> IndexMap<String, MetricSeries> {
    parse_map(json)
        .into_iter()
        .map(|(k, v)| {
            let values = v["values"].as_array().map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect());
            let steps = v["steps"].as_array().map(|a| a.iter().map(|x| x.as_i64().unwrap_or(0)).collect());
            let ts = v["timestamps"]
                .as_array()
                .map(|a| a.iter().map(|x| x.as_str().and_then(Timestamp::parse_iso).unwrap_or_default()).collect());
            (k, MetricSeries::from_parts(values.unwrap_or_default(), steps.unwrap_or_default(), ts.unwrap_or_default()))
        })
        .collect()
}

fn refs_to_values(data: &TaskData, refs: &[ObjectRef]) -> IndexMap<String, serde_json::Value> {
    // With values kept unhashed, by the hash each will be written under:
    // the first object stored with it, as its line will say.
    let hashes = data.object_hashes();
    let mut first: std::collections::HashMap<Hash16, &StoredValue> = std::collections::HashMap::new();
    if !hashes.is_empty() {
        for o in data.objects.values() {
            first.entry(hashes.of(o.hash)).or_insert(&o.value);
        }
    }
    refs.iter()
        .map(|r| {
            let value = match hashes.is_empty() {
                true => data.objects.get(&r.hash).map(|o| &o.value),
                false => first.get(&hashes.of(r.hash)).copied(),
            };
            let v = match value {
                Some(StoredValue::Inline(j)) => crate::json::parse_python_json(j).unwrap_or_default(),
                Some(StoredValue::Text(s)) => serde_json::Value::String(s.clone()),
                Some(StoredValue::Uri { uri, .. }) => serde_json::Value::String(uri.clone()),
                None => serde_json::Value::Null,
            };
            (r.name.to_string(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::object::serialize;
    use crate::task_data::ObjectRef;

    fn data() -> TaskData {
        let mut d = TaskData::default();
        d.params.insert("lr".into(), "0.001".into());
        let o = serialize(&vec![1, 2]);
        d.inputs.push(ObjectRef { name: "xs".into(), label: None, hash: o.hash, attributes: None });
        let value = o.value.clone();
        d.add_object((o, value));
        d.metrics.get_or_insert_by("m", || "m".into(), MetricSeries::default).push(
            0.5,
            3,
            Timestamp::now(),
            crate::Aggregation::Direct,
        );
        d
    }

    #[test]
    fn open_and_ended_views_read_the_same_values() {
        let d = Arc::new(data());
        let open = TaskView::Data(d.clone());
        let ended = TaskView::Rendered(Arc::new(RenderedTask::render(&d)));
        for v in [&open, &ended] {
            assert_eq!(v.params()["lr"], serde_json::json!(0.001));
            assert_eq!(v.inputs()["xs"], serde_json::json!([1, 2]));
            assert_eq!(v.metrics()["m"].values(), &[0.5]);
            assert!(v.outputs().is_empty());
        }
    }
}
