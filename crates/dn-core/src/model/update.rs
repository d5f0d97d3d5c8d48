//! The run update of a long run (`docs/format.md`, "Run updates"): what was
//! logged on a run since its last update, as a [`TaskData`] delta.

use crate::task_data::TaskData;

/// How much of the task's data the last run update already carried.
#[derive(Default)]
pub struct UpdateMark {
    pub(crate) inputs: usize,
    pub(crate) outputs: usize,
    pub(crate) objects: usize,
    pub(crate) schemas: usize,
    pub(crate) artifacts: usize,
    pub(crate) metrics: Vec<usize>,
    pub(crate) dirty_params: Vec<String>,
}

impl UpdateMark {
    /// Remembers that params `names` changed since the last update.
    pub fn params_changed<I: IntoIterator<Item = String>>(&mut self, names: I) {
        self.dirty_params.extend(names);
    }

    /// What `data` holds beyond this mark; moves the mark to the end of `data`.
    pub fn take_delta(&mut self, data: &TaskData) -> TaskData {
        let m = self;
        let mut delta = TaskData::default();
        m.dirty_params.sort();
        m.dirty_params.dedup();
        for k in m.dirty_params.drain(..) {
            if let Some(v) = data.params.get(&k) {
                delta.params.insert(k, v.clone());
            }
        }
        delta.inputs = data.inputs[m.inputs..].iter().cloned().collect();
        delta.outputs = data.outputs[m.outputs..].iter().cloned().collect();
        delta.objects = data.objects.iter().skip(m.objects).map(|(k, v)| (*k, v.clone())).collect();
        delta.schemas = data.schemas.iter().skip(m.schemas).map(|(k, v)| (*k, v.clone())).collect();
        delta.artifacts = data.artifacts[m.artifacts..].to_vec();
        m.metrics.resize(data.metrics.len(), 0);
        for (i, (k, series)) in data.metrics.iter().enumerate() {
            if series.len() > m.metrics[i] {
                delta.metrics.insert(k.clone(), series.tail(m.metrics[i]));
                m.metrics[i] = series.len();
            }
        }
        m.inputs = data.inputs.len();
        m.outputs = data.outputs.len();
        m.objects = data.objects.len();
        m.schemas = data.schemas.len();
        m.artifacts = data.artifacts.len();
        delta
    }
}
