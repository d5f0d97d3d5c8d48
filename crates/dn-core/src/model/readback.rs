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

/// `dreadnode.metrics` read into series: each series straight into its
/// points (no JSON value per point: a 1 000 000-point series read as values
/// held about 150 bytes a point). Lenient as a reader of any writer's line
/// must be: a value that is not a number reads as NaN, a step that is not
/// an integer as 0, a time that does not parse as 0, a series that is not
/// an object as empty; the three lists are cut to the shortest.
fn rendered_metrics(json: &str) -> IndexMap<String, MetricSeries> {
    let json = crate::json::python_json_as_json(json);
    let Ok(series) = serde_json::from_str::<IndexMap<String, &serde_json::value::RawValue>>(&json) else {
        return IndexMap::new();
    };
    series
        .into_iter()
        .map(|(k, raw)| {
            let s: SeriesJson = serde_json::from_str(raw.get()).unwrap_or_default();
            let values = s.values.into_iter().map(|v| v.0).collect();
            let steps = s.steps.into_iter().map(|v| v.0).collect();
            let timestamps = s.timestamps.into_iter().map(|v| v.0).collect();
            (k, MetricSeries::from_parts(values, steps, timestamps))
        })
        .collect()
}

/// One series as `dreadnode.metrics` holds it.
#[derive(Default, serde::Deserialize)]
struct SeriesJson {
    #[serde(default)]
    values: Vec<Lenient<f64>>,
    #[serde(default)]
    steps: Vec<Lenient<i64>>,
    #[serde(default)]
    timestamps: Vec<Lenient<Timestamp>>,
}

/// A point's field, whatever JSON is there (see [`rendered_metrics`]).
struct Lenient<T>(T);

/// What [`Lenient`] reads a field as.
trait LenientField: Sized {
    /// What a field of the wrong kind reads as.
    const OTHERWISE: Self;
    fn from_f64(_: f64) -> Self {
        Self::OTHERWISE
    }
    fn from_i64(_: i64) -> Self {
        Self::OTHERWISE
    }
    fn from_u64(_: u64) -> Self {
        Self::OTHERWISE
    }
    fn from_str(_: &str) -> Self {
        Self::OTHERWISE
    }
}

impl LenientField for f64 {
    const OTHERWISE: f64 = f64::NAN;
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn from_i64(v: i64) -> f64 {
        v as f64
    }
    fn from_u64(v: u64) -> f64 {
        v as f64
    }
}

impl LenientField for i64 {
    const OTHERWISE: i64 = 0;
    fn from_i64(v: i64) -> i64 {
        v
    }
    fn from_u64(v: u64) -> i64 {
        i64::try_from(v).unwrap_or(0)
    }
}

impl LenientField for Timestamp {
    const OTHERWISE: Timestamp = Timestamp::from_nanos(0);
    fn from_str(s: &str) -> Timestamp {
        Timestamp::parse_iso(s).unwrap_or_default()
    }
}

impl<'de, T: LenientField> serde::Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: LenientField> serde::de::Visitor<'de> for Visit<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Lenient(T::from_f64(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Lenient(T::from_i64(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Lenient(T::from_u64(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Lenient(T::from_str(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(T::OTHERWISE))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Lenient(T::OTHERWISE))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Lenient(T::OTHERWISE))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(Lenient(T::OTHERWISE))
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
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

    /// Points as they were stored (`back`), a value that is not finite
    /// (written as `null`) read as NaN.
    fn same_points(back: &MetricSeries, logged: &MetricSeries) -> bool {
        back.len() == logged.len()
            && back.points().iter().zip(logged.points()).all(|(p, q)| {
                (p.value == q.value || (p.value.is_nan() && !q.value.is_finite()))
                    && p.step == q.step
                    && p.timestamp.as_nanos() / 1000 == q.timestamp.as_nanos() / 1000
            })
    }

    proptest::proptest! {
        /// An ended task's series read back from its rendered JSON are the
        /// series it logged (to the microsecond the line keeps).
        #[test]
        fn series_read_back_from_rendered_json_are_the_logged_ones(
            points in proptest::collection::vec((proptest::num::f64::ANY, proptest::num::i64::ANY, 0u64..4_000_000_000_000_000_000), 0..40),
        ) {
            let mut d = TaskData::default();
            let mut series = MetricSeries::default();
            for &(v, step, ns) in &points {
                series.push(v, step, Timestamp::from_nanos(ns), crate::Aggregation::Direct);
            }
            *d.metrics.get_or_insert_by("loss", || "loss".into(), MetricSeries::default) = series.clone();
            let ended = TaskView::Rendered(Arc::new(RenderedTask::render(&d)));
            let back = ended.metrics();
            proptest::prop_assert!(same_points(&back["loss"], &series));
        }
    }

    #[test]
    fn any_writers_metrics_read_leniently() {
        // Python's literals, numbers of every kind, and what no writer should
        // write: each field of the wrong kind reads as NaN / 0 / time 0.
        let json = r#"{"a":{"values":[NaN,1,-Infinity,"x",true,[1],{"k":1},18446744073709551615,null,2.5],
            "steps":[1,2.5,"s",18446744073709551615,-3,null,[],{},7,8],
            "timestamps":["2026-12-01T10:00:00.000001+00:00",1,"bad",null,"2026-12-01T10:00:00Z",[],{},"","x","y"]},
            "b":7,"c":{"values":[1.0]},"d":{"values":[1,2],"steps":[0,1],"timestamps":["2026-12-01T10:00:00Z"]}}"#;
        let r = RenderedTask::from_parts(["{}", "[]", "[]", json, "{}", "{}", "[]"]);
        let m = TaskView::Rendered(Arc::new(r)).metrics();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        let a = &m["a"];
        let v = a.values();
        assert!(v[0].is_nan() && v[1] == 1.0 && v[2].is_nan() && v[3].is_nan() && v[4].is_nan());
        assert!(v[5].is_nan() && v[6].is_nan() && v[7] == u64::MAX as f64 && v[8].is_nan() && v[9] == 2.5);
        assert_eq!(a.steps(), [1, 0, 0, 0, -3, 0, 0, 0, 7, 8]);
        let t: Vec<u64> = a.timestamps().iter().map(|t| t.as_nanos()).collect();
        assert_eq!(t[0], Timestamp::parse_iso("2026-12-01T10:00:00.000001+00:00").unwrap().as_nanos());
        assert_eq!(&t[1..4], [0, 0, 0]);
        assert_eq!(t[4], Timestamp::parse_iso("2026-12-01T10:00:00Z").unwrap().as_nanos());
        assert!(m["b"].is_empty() && m["c"].is_empty(), "no steps or times: cut to the shortest");
        assert_eq!(m["d"].len(), 1);
        let bad = RenderedTask::from_parts(["{}", "[]", "[]", "[1,2]", "{}", "{}", "[]"]);
        assert!(TaskView::Rendered(Arc::new(bad)).metrics().is_empty());
    }
}
