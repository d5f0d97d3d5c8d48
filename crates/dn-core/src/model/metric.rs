//! Metric series and aggregation (`docs/format.md`, "Metrics").

use serde::Serialize;

use crate::object::{SerializedValue, serialize};
use crate::time::Timestamp;

/// How a logged value is combined with earlier values of the same metric on
/// the same span. Applied when the value is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Aggregation {
    /// Store the value as given (default).
    #[default]
    Direct,
    /// Store the minimum of this and all earlier values.
    Min,
    /// Store the maximum of this and all earlier values.
    Max,
    /// Store the running mean of all raw values so far.
    Avg,
    /// Store this value plus the last stored value.
    Sum,
    /// Store the number of values logged so far (the value is ignored).
    Count,
}

impl std::str::FromStr for Aggregation {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "direct" => Aggregation::Direct,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            "avg" => Aggregation::Avg,
            "sum" => Aggregation::Sum,
            "count" => Aggregation::Count,
            other => {
                return Err(crate::Error::InvalidInput(format!(
                    "unknown aggregation {other:?} (expected direct, min, max, avg, sum or count)"
                )));
            }
        })
    }
}

/// One stored point of a metric: the value after aggregation, its step and
/// when it was logged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricPoint {
    /// The stored value (after aggregation).
    pub value: f64,
    /// The step.
    pub step: i64,
    /// When it was logged.
    pub timestamp: Timestamp,
}

/// The stored points of one metric on one span, in one vector (one
/// allocation per series, where three parallel vectors made three: a task
/// logging one metric paid two more allocations and frees for it). The
/// first point is held inline: a task's metric is mostly one point, and
/// then the series allocates nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricSeries {
    points: smallvec::SmallVec<[MetricPoint; 1]>,
    raw_sum: f64,
    min_stored: f64,
    max_stored: f64,
}

impl MetricSeries {
    /// Adds a point, applying `aggregation`; returns the stored value.
    pub fn push(&mut self, value: f64, step: i64, ts: Timestamp, aggregation: Aggregation) -> f64 {
        let n = self.points.len();
        self.raw_sum += value;
        let stored = match aggregation {
            Aggregation::Direct => value,
            Aggregation::Count => (n + 1) as f64,
            Aggregation::Min if n > 0 => value.min(self.min_stored),
            Aggregation::Max if n > 0 => value.max(self.max_stored),
            Aggregation::Sum => self.points.last().map_or(value, |last| value + last.value),
            Aggregation::Avg => self.raw_sum / (n + 1) as f64,
            Aggregation::Min | Aggregation::Max => value,
        };
        if n == 0 {
            self.min_stored = stored;
            self.max_stored = stored;
        } else {
            self.min_stored = self.min_stored.min(stored);
            self.max_stored = self.max_stored.max(stored);
        }
        self.points.push(MetricPoint { value: stored, step, timestamp: ts });
        stored
    }
    /// A series from stored points (as read back from JSON); the vectors are
    /// cut to the shortest length.
    pub fn from_parts(values: Vec<f64>, steps: Vec<i64>, timestamps: Vec<Timestamp>) -> MetricSeries {
        let points: smallvec::SmallVec<[MetricPoint; 1]> = values
            .into_iter()
            .zip(steps)
            .zip(timestamps)
            .map(|((value, step), timestamp)| MetricPoint { value, step, timestamp })
            .collect();
        let min = points.iter().map(|p| p.value).fold(f64::INFINITY, f64::min);
        let max = points.iter().map(|p| p.value).fold(f64::NEG_INFINITY, f64::max);
        MetricSeries { raw_sum: points.iter().map(|p| p.value).sum(), points, min_stored: min, max_stored: max }
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.points.shrink_to_fit();
    }
    /// The stored points, in the order they were logged.
    pub fn points(&self) -> &[MetricPoint] {
        &self.points
    }
    /// Stored values, copied out of the points.
    pub fn values(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.value).collect()
    }
    /// Steps, copied out of the points.
    pub fn steps(&self) -> Vec<i64> {
        self.points.iter().map(|p| p.step).collect()
    }
    /// Timestamps, copied out of the points.
    pub fn timestamps(&self) -> Vec<Timestamp> {
        self.points.iter().map(|p| p.timestamp).collect()
    }
    /// The last stored value.
    pub fn last_value(&self) -> Option<f64> {
        self.points.last().map(|p| p.value)
    }
    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }
    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
    /// The points from index `from` on, as a new series (for run updates).
    pub fn tail(&self, from: usize) -> MetricSeries {
        MetricSeries {
            points: self.points[from.min(self.len())..].iter().copied().collect(),
            raw_sum: 0.0,
            min_stored: 0.0,
            max_stored: 0.0,
        }
    }

    /// Appends `{"values":[..],"steps":[..],"timestamps":[..]}`.
    ///
    /// A series of [`PARALLEL_RENDER_MIN`] points or more renders its values
    /// on a helper thread while this one renders the steps and timestamps,
    /// then moves the values in.
    pub fn write_json<O: crate::json::JsonOut>(&self, o: &mut O) {
        use crate::json::lit;
        o.lit(lit!("{\"values\":["));
        if self.points.len() >= PARALLEL_RENDER_MIN {
            self.write_apart(o);
        } else {
            write_values(o.raw(), &self.points);
            self.write_steps_and_timestamps(o);
        }
    }

    /// The values rendered apart: a run's long series is its line's largest
    /// part, rendered once when the run ends, and its values (shortest
    /// float digits, about half the rendering) do not depend on the steps
    /// and timestamps after them. The helper renders them into a buffer of
    /// its own; this thread renders the rest where they belong and then
    /// inserts them before it (moving the rest once, in memory this thread
    /// just wrote). Where no thread can be started or the helper fails, the
    /// values are rendered here: the text is the same either way.
    fn write_apart<O: crate::json::JsonOut>(&self, o: &mut O) {
        let at = o.raw().len();
        let points = &self.points[..];
        let values = std::thread::scope(|scope| {
            let helper = std::thread::Builder::new().name("dn-render".into()).spawn_scoped(scope, || {
                let mut v = String::with_capacity(points.len() * 24);
                write_values(&mut v, points);
                v
            });
            self.write_steps_and_timestamps(o);
            helper.ok().and_then(|h| h.join().ok()).unwrap_or_else(|| {
                let mut v = String::new();
                write_values(&mut v, points);
                v
            })
        });
        o.raw().insert_str(at, &values);
    }

    /// Appends `],"steps":[..],"timestamps":[..]}`: what follows the values.
    fn write_steps_and_timestamps<O: crate::json::JsonOut>(&self, o: &mut O) {
        use crate::json::lit;
        o.lit(lit!("],\"steps\":["));
        for (i, p) in self.points.iter().enumerate() {
            if i > 0 {
                o.raw().push(',');
            }
            crate::json::write_int(o.raw(), i128::from(p.step));
        }
        o.lit(lit!("],\"timestamps\":["));
        for (i, p) in self.points.iter().enumerate() {
            if i > 0 {
                o.raw().push(',');
            }
            o.lit(lit!("\""));
            p.timestamp.write_iso(o.raw());
            o.lit(lit!("\""));
        }
        o.lit(lit!("]}"));
    }
}

/// The number of points from which [`MetricSeries::write_json`] renders a
/// series' values on a helper thread: about 1 ms of rendering, against some
/// 50 µs to start and join the thread.
pub const PARALLEL_RENDER_MIN: usize = 16_384;

/// The values, comma-separated (the same text in both JSON forms: digits,
/// signs, points and `null`).
fn write_values(out: &mut String, points: &[MetricPoint]) {
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::json::write_json_float(out, p.value);
    }
}

/// A metric step: any integer type. Values beyond the range of `i64`
/// saturate at its bounds (Python's steps are unbounded ints; the wire
/// carries 64-bit integers).
///
/// ```
/// # use dn_core as dn;
/// use dn::Metric;
/// for (i, loss) in [0.9, 0.5].iter().enumerate() {
///     let _ = Metric::new(*loss).step(i); // usize
/// }
/// let _ = Metric::new(1).step(3u8).step(-2i32).step(u64::MAX);
/// ```
pub trait Step: Copy {
    /// The step as an `i64`.
    fn to_step(self) -> i64;
}

macro_rules! step_from {
    ($($t:ty),*) => {$(
        impl Step for $t {
            fn to_step(self) -> i64 {
                i64::try_from(self).unwrap_or(if self > 0 as $t { i64::MAX } else { i64::MIN })
            }
        }
    )*};
}
#[allow(clippy::cast_lossless, unused_comparisons)]
mod steps {
    use super::Step;
    step_from!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
}

/// A metric value with its options. Plain numbers and bools convert into it.
///
/// ```
/// # use dn_core as dn;
/// use dn::{Metric, Aggregation};
/// let m = Metric::new(0.91).step(3).aggregation(Aggregation::Max);
/// let b: Metric = true.into(); // 1.0
/// # let _ = (m, b);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Metric {
    pub(crate) value: f64,
    pub(crate) step: i64,
    pub(crate) aggregation: Aggregation,
    pub(crate) timestamp: Option<Timestamp>,
    /// Boxed: a metric is moved by value through `log_metric`'s layers,
    /// and an inline `SerializedValue` made it 190 bytes, four `memcpy`
    /// calls a point (a fifth of the caller's instructions per point); an
    /// origin is rare (samples, scorers).
    pub(crate) origin: Option<Box<SerializedValue>>,
    pub(crate) prefix: Option<String>,
}

impl Metric {
    /// A metric with `value`, step 0, direct aggregation.
    pub fn new(value: impl Into<Metric>) -> Metric {
        value.into()
    }
    /// The step: any integer type (`usize` from `enumerate()` included);
    /// values beyond `i64` saturate.
    pub fn step(mut self, step: impl Step) -> Self {
        self.step = step.to_step();
        self
    }
    /// The aggregation mode.
    pub fn aggregation(mut self, aggregation: Aggregation) -> Self {
        self.aggregation = aggregation;
        self
    }
    /// An explicit timestamp (default: now).
    pub fn timestamp(mut self, ts: std::time::SystemTime) -> Self {
        self.timestamp = Some(Timestamp::from_system_time(ts));
        self
    }
    /// The object this metric measures; it is stored with the task's objects.
    pub fn origin(mut self, origin: impl Serialize) -> Self {
        self.origin = Some(Box::new(serialize(&origin)));
        self
    }
    /// A prefix: the metric is named `<prefix>.<name>`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }
    /// The raw value.
    pub fn value(&self) -> f64 {
        self.value
    }
}

macro_rules! metric_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Metric {
            fn from(v: $t) -> Metric {
                Metric { value: v as f64, ..Default::default() }
            }
        }
    )*};
}
metric_from!(f64, f32, i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl From<bool> for Metric {
    fn from(v: bool) -> Metric {
        Metric { value: if v { 1.0 } else { 0.0 }, ..Default::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(agg: Aggregation) -> Vec<f64> {
        let mut s = MetricSeries::default();
        for (i, v) in [3.0, 1.0, 4.0, 1.0, 5.0].into_iter().enumerate() {
            s.push(v, i as i64, Timestamp::from_nanos(i as u64), agg);
        }
        assert_eq!(s.steps(), &[0, 1, 2, 3, 4], "steps are kept as given");
        s.values()
    }

    #[test]
    fn aggregation_modes_follow_spec_section_7() {
        assert_eq!(run(Aggregation::Direct), [3.0, 1.0, 4.0, 1.0, 5.0]);
        assert_eq!(run(Aggregation::Min), [3.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(run(Aggregation::Max), [3.0, 3.0, 4.0, 4.0, 5.0]);
        assert_eq!(run(Aggregation::Sum), [3.0, 4.0, 8.0, 9.0, 14.0]);
        assert_eq!(run(Aggregation::Avg), [3.0, 2.0, 8.0 / 3.0, 2.25, 2.8]);
        assert_eq!(run(Aggregation::Count), [1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    /// A long series (values rendered on a helper thread, then moved in
    /// before the steps) reads the same as one rendered in order, in both
    /// JSON forms, and parses back to its points.
    #[test]
    fn a_series_rendered_apart_is_the_series_rendered_in_order() {
        let mut s = MetricSeries::default();
        let n = PARALLEL_RENDER_MIN + 7;
        for i in 0..n {
            let v = match i % 5 {
                0 => f64::NAN,
                1 => -1.0 / (i as f64),
                2 => 1e300 * i as f64,
                _ => i as f64 * 0.5,
            };
            // Timestamps across many seconds, steps negative and positive.
            s.push(
                v,
                i as i64 - 1000,
                Timestamp::from_nanos(1_700_000_000_000_000_000 + i as u64 * 77_777_777),
                Aggregation::Direct,
            );
        }
        let in_order = |nested: bool| {
            let mut out = String::from("prefix");
            if nested {
                let o = &mut crate::json::NestedJson(&mut out);
                crate::json::JsonOut::lit(o, crate::json::lit!("{\"values\":["));
                write_values(crate::json::JsonOut::raw(o), &s.points);
                s.write_steps_and_timestamps(o);
            } else {
                let o = &mut crate::json::PlainJson(&mut out);
                crate::json::JsonOut::lit(o, crate::json::lit!("{\"values\":["));
                write_values(crate::json::JsonOut::raw(o), &s.points);
                s.write_steps_and_timestamps(o);
            }
            out
        };
        let mut plain = String::from("prefix");
        s.write_json(&mut crate::json::PlainJson(&mut plain));
        let mut nested = String::from("prefix");
        s.write_json(&mut crate::json::NestedJson(&mut nested));
        assert_eq!(plain, in_order(false));
        assert_eq!(nested, in_order(true));
        assert_ne!(plain, nested, "the nested form escapes the timestamps' quotes");

        let v: serde_json::Value = serde_json::from_str(&plain["prefix".len()..]).unwrap();
        let values = v["values"].as_array().unwrap();
        assert_eq!(values.len(), n);
        for (got, p) in values.iter().zip(s.points()) {
            match got.as_f64() {
                Some(x) => assert_eq!(x, p.value),
                None => assert!(got.is_null() && !p.value.is_finite()),
            }
        }
        let steps: Vec<i64> = v["steps"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
        assert_eq!(steps, s.steps());
        let stamps = v["timestamps"].as_array().unwrap();
        assert_eq!(stamps.len(), n);
        assert_eq!(stamps[n - 1].as_str().unwrap(), s.points()[n - 1].timestamp.to_iso());
    }

    #[test]
    fn non_finite_values_are_kept_and_written_as_null() {
        let mut s = MetricSeries::default();
        s.push(f64::NAN, 0, Timestamp::from_nanos(0), Aggregation::Direct);
        s.push(f64::INFINITY, 1, Timestamp::from_nanos(0), Aggregation::Direct);
        let mut out = String::new();
        s.write_json(&mut crate::json::PlainJson(&mut out));
        assert!(out.starts_with(r#"{"values":[null,null],"steps":[0,1],"timestamps":["1970"#));
        assert_eq!(s.len(), 2);
    }
}
