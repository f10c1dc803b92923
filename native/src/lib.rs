//! Compiled parts of newsflow's story stage, as a Python extension module.
//!
//! `DocFreq` is `workers.stages.stories_text.PyDocFreq` in Rust: the online document
//! frequencies of the terms of the articles held, and L2-normalised TF-IDF weighing by them.
//! The results are bit for bit those of the Python class: the same IEEE operations in the same
//! order (logarithms from the C library's `log`, as Python's `math.log`; the squares summed left
//! to right, as Python's `sum` over floats; no fused multiply-add), and the output dictionary
//! holds the input's key objects in the input's order. `tests/unit/test_stories_native.py`
//! holds both classes to that.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt};

/// Terms are 32-bit CRC values already: one multiplication spreads them over the hash's high
/// bits, which the table's buckets and tags use (SipHash would cost more than the look-up).
#[derive(Default)]
struct TermHasher(u64);

impl Hasher for TermHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Counts = HashMap<u32, u32, BuildHasherDefault<TermHasher>>;

/// `1 + ln(tf)` for `tf >= 1`, `tf` itself below (Python's `_sublinear`).
fn sublinear(tf: f64) -> f64 {
    if tf < 1.0 {
        tf
    } else {
        1.0 + tf.ln()
    }
}

/// Online document frequencies over the articles currently held.
#[pyclass(module = "newsflow_native")]
struct DocFreq {
    counts: Counts,
    /// The number of articles held (added and not removed).
    #[pyo3(get, set)]
    docs: u64,
}

#[pymethods]
impl DocFreq {
    #[new]
    fn new() -> Self {
        DocFreq { counts: Counts::default(), docs: 0 }
    }

    /// Count one article's terms (each term once per article).
    fn add(&mut self, terms: Vec<u32>) {
        for term in terms {
            *self.counts.entry(term).or_insert(0) += 1;
        }
        self.docs += 1;
    }

    /// Take one article's terms out again (when its story expires).
    fn remove(&mut self, terms: Vec<u32>) {
        for term in terms {
            if let Some(count) = self.counts.get_mut(&term) {
                if *count > 1 {
                    *count -= 1;
                } else {
                    self.counts.remove(&term);
                }
            }
        }
        self.docs = self.docs.saturating_sub(1);
    }

    /// The document frequency of `term` (0 when no article held has it).
    fn get(&self, term: u32) -> u64 {
        u64::from(self.counts.get(&term).copied().unwrap_or(0))
    }

    /// Every counted term with its document frequency, as a dict (for tests and checks).
    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (term, count) in &self.counts {
            out.set_item(term, count)?;
        }
        Ok(out)
    }

    /// Replace the state with `counts` (term -> document frequency) and `docs` articles.
    fn load(&mut self, counts: HashMap<u32, u32>, docs: u64) {
        self.counts = Counts::default();
        self.counts.reserve(counts.len());
        self.counts.extend(counts);
        self.docs = docs;
    }

    fn __len__(&self) -> usize {
        self.counts.len()
    }

    /// L2-normalised TF-IDF of `counts` (term -> count or weight), `idf = ln((N + 1) /
    /// (df + 1)) + 1`; `sublinear`: tf -> `1 + ln(tf)` for `tf >= 1`.
    #[pyo3(signature = (counts, sublinear = true))]
    fn weigh<'py>(
        &self,
        py: Python<'py>,
        counts: &Bound<'py, PyDict>,
        sublinear: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let n = counts.len();
        if n == 0 {
            return Ok(out);
        }
        let log_n = ((self.docs + 1) as f64).ln() + 1.0;
        let mut keys: Vec<Bound<'py, PyAny>> = Vec::with_capacity(n);
        let mut values: Vec<f64> = Vec::with_capacity(n);
        let mut norm2 = 0.0_f64;
        for (key, value) in counts.iter() {
            let term: u32 = key.extract()?;
            let tf = tf_of(&value)?;
            let df = self.counts.get(&term).copied().unwrap_or(0);
            let idf = log_n - (f64::from(df) + 1.0).ln();
            let weighed = if sublinear { self::sublinear(tf) } else { tf } * idf;
            norm2 += weighed * weighed;
            keys.push(key);
            values.push(weighed);
        }
        let norm = norm2.sqrt();
        if norm == 0.0 {
            return Ok(out);
        }
        for (key, value) in keys.iter().zip(values) {
            out.set_item(key, PyFloat::new(py, value / norm))?;
        }
        Ok(out)
    }
}

/// A term count (int) or weight (float) as a float, as Python's arithmetic converts it.
fn tf_of(value: &Bound<'_, PyAny>) -> PyResult<f64> {
    if let Ok(f) = value.downcast::<PyFloat>() {
        return Ok(f.value());
    }
    if value.is_instance_of::<PyInt>() {
        return value.extract::<f64>();
    }
    Err(PyTypeError::new_err("term counts must be int or float"))
}

#[pymodule]
fn newsflow_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<DocFreq>()?;
    Ok(())
}
