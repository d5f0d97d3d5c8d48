//! Metric series and aggregation (`docs/format.md`, "Metrics").

use serde::Serialize;

use crate::json::push_short;
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
    /// each straight into its place in `o`.
    pub fn write_json<O: crate::json::JsonOut>(&self, o: &mut O) {
        use crate::json::lit;
        o.lit(lit!("{\"values\":["));
        if self.points.len() < PARALLEL_RENDER_MIN || !self.write_apart(o) {
            let lits = RestLits::of(o);
            write_values(o.raw(), &self.points, NO_FLUSH);
            write_rest(o.raw(), &self.points, &lits, NO_FLUSH);
        }
    }

    /// The values rendered apart: a run's long series is its line's largest
    /// part, rendered once when the run ends, and its values (shortest
    /// float digits, about half the rendering) do not depend on the steps
    /// and timestamps after them. Both are written into the spare capacity
    /// of `o`'s buffer, the values by a helper thread from where they
    /// belong and the rest by this one from as far on as the longest values
    /// could reach ([`MAX_VALUE_TEXT`] a point); the rest is then moved down
    /// to follow them. So the text touches no memory but the line's own: a
    /// buffer of the helper's, inserted afterwards, was about 550 more pages
    /// first touched per 100 000 points and a copy of the values.
    ///
    /// `false` (nothing written) where a part outgrew its bound, which the
    /// bounds rule out; the caller then renders the series in order. Where
    /// no thread can be started or the helper fails, the values are written
    /// here. The text is the same every way.
    fn write_apart<O: crate::json::JsonOut>(&self, o: &mut O) -> bool {
        let points = &self.points[..];
        let lits = RestLits::of(o);
        let values_max = points.len() * (MAX_VALUE_TEXT + 1);
        let rest_max = lits.max_len(points.len());
        let buf = o.raw();
        let at = buf.len();
        buf.reserve(values_max + rest_max);
        // SAFETY: only ASCII (digits, signs, points, `e`, `null`, commas,
        // quotes, backslashes and the literals of `RestLits`) is written into
        // the spare capacity below, and the length is set over written bytes
        // only: the buffer stays UTF-8.
        #[allow(unsafe_code)]
        let bytes = unsafe { buf.as_mut_vec() };
        let (values_region, rest_region) = bytes.spare_capacity_mut().split_at_mut(values_max);
        let mut values = Region::new(values_region);
        let mut rest = Region::new(&mut rest_region[..rest_max]);
        let helped = std::thread::scope(|scope| {
            let values = &mut values;
            let helper = std::thread::Builder::new()
                .name("dn-render".into())
                .spawn_scoped(scope, move || values.fill(|out, flush| write_values(out, points, flush)));
            rest.fill(|out, flush| write_rest(out, points, &lits, flush));
            helper.is_ok_and(|h| h.join().is_ok())
        });
        if !helped {
            values.fill(|out, flush| write_values(out, points, flush));
        }
        let (Some(v), Some(r)) = (values.written(), rest.written()) else { return false };
        // SAFETY: `[at, at + v)` holds the values and `[at + values_max,
        // at + values_max + r)` the rest, both written above (`Region`
        // writes within its slice of the spare capacity, whose bounds
        // `reserve` made). `copy` allows the overlap of moving the rest down
        // to follow the values; then `[0, at + v + r)` is all written.
        #[allow(unsafe_code)]
        unsafe {
            let base = bytes.as_mut_ptr().add(at);
            std::ptr::copy(base.add(values_max), base.add(v), r);
            bytes.set_len(at + v + r);
        }
        true
    }
}

/// The longest text of one value: Python's shortest round-trip form, 17
/// digits with a sign, a point and an exponent
/// (`-2.2250738585072014e-308`), or `null`.
const MAX_VALUE_TEXT: usize = 24;

/// Rendered text is flushed from its scratch buffer into its region from
/// this many bytes.
const REGION_FLUSH_AT: usize = 16 << 10;

/// A part of a buffer's spare capacity that one thread fills, through a
/// scratch string (it stays in cache; the renderers write `String`s).
struct Region<'a> {
    out: &'a mut [std::mem::MaybeUninit<u8>],
    len: usize,
    overflowed: bool,
}

impl<'a> Region<'a> {
    fn new(out: &'a mut [std::mem::MaybeUninit<u8>]) -> Self {
        Region { out, len: 0, overflowed: false }
    }
    /// Fills the region from its start with what `render` writes, given a
    /// scratch string and where to flush it to the region.
    fn fill(&mut self, render: impl FnOnce(&mut String, Flush<'_>)) {
        (self.len, self.overflowed) = (0, false);
        let mut scratch = String::with_capacity(REGION_FLUSH_AT + 256);
        render(&mut scratch, Flush(Some(&mut |s: &mut String| self.put(s))));
        self.put(&mut scratch);
    }
    fn put(&mut self, s: &mut String) {
        match self.out.get_mut(self.len..self.len + s.len()) {
            Some(to) if !self.overflowed => {
                for (to, b) in to.iter_mut().zip(s.as_bytes()) {
                    to.write(*b);
                }
                self.len += s.len();
            }
            _ => self.overflowed = true,
        }
        s.clear();
    }
    /// How many bytes were written, if all of them fit.
    fn written(&self) -> Option<usize> {
        (!self.overflowed).then_some(self.len)
    }
}

/// The syntax around the steps and timestamps, in the form of the output.
struct RestLits {
    steps: &'static str,
    timestamps: &'static str,
    quote: &'static str,
    end: &'static str,
}

impl RestLits {
    fn of<O: crate::json::JsonOut>(o: &O) -> RestLits {
        use crate::json::lit;
        RestLits {
            steps: o.form(lit!("],\"steps\":[")),
            timestamps: o.form(lit!("],\"timestamps\":[")),
            quote: o.form(lit!("\"")),
            end: o.form(lit!("]}")),
        }
    }
    /// The longest the rest of `n` points can be: a step of 20 characters
    /// (`i64::MIN`), an ISO time of [`crate::time::ISO_LEN`] between quotes,
    /// and their commas.
    fn max_len(&self, n: usize) -> usize {
        self.steps.len()
            + self.timestamps.len()
            + self.end.len()
            + n * (20 + 1 + crate::time::ISO_LEN + 2 * self.quote.len() + 1)
    }
}

/// The number of points from which [`MetricSeries::write_json`] renders a
/// series' values on a helper thread: about 1 ms of rendering, against some
/// 50 µs to start and join the thread.
pub const PARALLEL_RENDER_MIN: usize = 16_384;

/// Where a renderer hands its text on once it holds [`REGION_FLUSH_AT`]
/// bytes (a `Region`'s put), or [`NO_FLUSH`]: it renders in place.
struct Flush<'a>(Option<&'a mut dyn FnMut(&mut String)>);

/// Text rendered where it stays.
const NO_FLUSH: Flush<'static> = Flush(None);

impl Flush<'_> {
    #[inline]
    fn offer(&mut self, out: &mut String) {
        if let Some(put) = &mut self.0 {
            if out.len() >= REGION_FLUSH_AT {
                put(out);
            }
        }
    }
}

/// The values, comma-separated (the same text in both JSON forms: digits,
/// signs, points and `null`).
fn write_values(out: &mut String, points: &[MetricPoint], mut flush: Flush<'_>) {
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::json::write_json_float(out, p.value);
        flush.offer(out);
    }
}

/// `],"steps":[..],"timestamps":[..]}`: what follows the values.
fn write_rest(out: &mut String, points: &[MetricPoint], lits: &RestLits, mut flush: Flush<'_>) {
    out.push_str(lits.steps);
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::json::write_int(out, i128::from(p.step));
        flush.offer(out);
    }
    out.push_str(lits.timestamps);
    // The thread's ISO writer taken once, not once a point.
    crate::time::with_iso_writer(|iso| {
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_short(out, lits.quote);
            iso.write(p.timestamp, out);
            push_short(out, lits.quote);
            flush.offer(out);
        }
    });
    out.push_str(lits.end);
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

    /// A long series (values rendered on a helper thread and the rest on
    /// this one, each into its place in the buffer's spare capacity) reads
    /// the same as one rendered in order, in both JSON forms, and parses
    /// back to its points. Its values include the longest a float's text can
    /// be, and its steps the longest integers: the bounds hold, so it was
    /// rendered apart.
    #[test]
    fn a_series_rendered_apart_is_the_series_rendered_in_order() {
        let mut s = MetricSeries::default();
        let n = PARALLEL_RENDER_MIN + 7;
        let longest = [-2.2250738585072014e-308, -1.7976931348623157e308, -1.2345678901234567e-100];
        for i in 0..n {
            let v = match i % 6 {
                0 => f64::NAN,
                1 => -1.0 / (i as f64),
                2 => 1e300 * i as f64,
                3 => longest[i % 3],
                _ => i as f64 * 0.5,
            };
            let step = if i % 3 == 0 { i64::MIN + i as i64 } else { i as i64 - 1000 };
            // Timestamps across many seconds, steps negative and positive.
            s.push(
                v,
                step,
                Timestamp::from_nanos(1_700_000_000_000_000_000 + i as u64 * 77_777_777),
                Aggregation::Direct,
            );
        }
        assert!(longest.iter().all(|&v| {
            let mut t = String::new();
            crate::json::write_json_float(&mut t, v);
            t.len() == MAX_VALUE_TEXT
        }));
        let in_order = |nested: bool| {
            let mut out = String::from("prefix");
            if nested {
                let o = &mut crate::json::NestedJson(&mut out);
                crate::json::JsonOut::lit(o, crate::json::lit!("{\"values\":["));
                let lits = RestLits::of(o);
                write_values(crate::json::JsonOut::raw(o), &s.points, NO_FLUSH);
                write_rest(crate::json::JsonOut::raw(o), &s.points, &lits, NO_FLUSH);
            } else {
                let o = &mut crate::json::PlainJson(&mut out);
                crate::json::JsonOut::lit(o, crate::json::lit!("{\"values\":["));
                let lits = RestLits::of(o);
                write_values(crate::json::JsonOut::raw(o), &s.points, NO_FLUSH);
                write_rest(crate::json::JsonOut::raw(o), &s.points, &lits, NO_FLUSH);
            }
            out
        };
        let mut plain = String::from("prefix");
        let o = &mut crate::json::PlainJson(&mut plain);
        crate::json::JsonOut::lit(o, crate::json::lit!("{\"values\":["));
        assert!(s.write_apart(o), "rendered apart, within the bounds");
        let mut nested = String::from("prefix");
        let o = &mut crate::json::NestedJson(&mut nested);
        crate::json::JsonOut::lit(o, crate::json::lit!("{\"values\":["));
        assert!(s.write_apart(o), "rendered apart, within the bounds");
        assert_eq!(plain, in_order(false));
        assert_eq!(nested, in_order(true));
        assert_ne!(plain, nested, "the nested form escapes the timestamps' quotes");
        let mut via_write_json = String::from("prefix");
        s.write_json(&mut crate::json::PlainJson(&mut via_write_json));
        assert_eq!(via_write_json, plain);

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

    /// Text that outgrows its region is not written past it: the region
    /// says so, and its series is then rendered in order.
    #[test]
    fn a_region_refuses_text_past_its_end() {
        let mut space = [std::mem::MaybeUninit::new(b' '); 8];
        let mut r = Region::new(&mut space);
        r.fill(|out, _| out.push_str("1234567"));
        assert_eq!(r.written(), Some(7));
        r.fill(|out, mut flush| {
            out.push_str("12345");
            flush.offer(out);
            out.push_str("6789");
        });
        assert_eq!(r.written(), None, "9 bytes in 8");
        let mut space = [std::mem::MaybeUninit::new(b' '); 8];
        let mut r = Region::new(&mut space);
        r.fill(|out, _| out.push_str("12345678"));
        assert_eq!(r.written(), Some(8));
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
