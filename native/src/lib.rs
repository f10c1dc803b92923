//! Compiled parts of newsflow's story stage, as a Python extension module.
//!
//! `DocFreq` is `workers.stages.stories_text.DocFreq` in Rust: the online document frequencies
//! of the terms of the articles held, and L2-normalised TF-IDF weighing by them; `dot`,
//! `normalised` and `ranked` are the module's sparse-vector functions of the same names. The
//! results are bit for bit those of the Python code: the same IEEE operations in the same order
//! (logarithms from the C library's `log`, as Python's `math.log`; sums as Python's `sum` over
//! floats adds them, see `PySum`; no fused multiply-add), and an output dictionary holds the
//! input's key objects in the input's order. `tests/unit/test_stories_native.py` holds both to
//! that.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyTuple};

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

/// Whether this interpreter's `sum` compensates float rounding (CPython 3.12 and newer use
/// Neumaier's algorithm; 3.11 adds left to right). Set when the module is imported.
static COMPENSATED: AtomicBool = AtomicBool::new(false);

/// A sum of floats exactly as Python's built-in `sum` over them (start 0) computes it.
struct PySum {
    total: f64,
    compensation: f64,
    started: bool,
    compensated: bool,
}

impl PySum {
    fn new() -> Self {
        PySum {
            total: 0.0,
            compensation: 0.0,
            started: false,
            compensated: COMPENSATED.load(Ordering::Relaxed),
        }
    }

    fn add(&mut self, x: f64) {
        if !self.started {
            // the int 0 that `sum` starts from, plus the first float
            self.total = 0.0 + x;
            self.started = true;
        } else if self.compensated {
            let t = self.total + x;
            if self.total.abs() >= x.abs() {
                self.compensation += (self.total - t) + x;
            } else {
                self.compensation += (x - t) + self.total;
            }
            self.total = t;
        } else {
            self.total += x;
        }
    }

    fn value(&self) -> f64 {
        if self.compensated && self.compensation != 0.0 && self.compensation.is_finite() {
            self.total + self.compensation
        } else {
            self.total
        }
    }
}

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

    /// L2-normalised TF-IDF of `counts` (term -> count or weight), `idf = ln((N + 1) /
    /// (df + 1)) + 1`; `sublinear`: tf -> `1 + ln(tf)` for `tf >= 1`.
    #[pyo3(signature = (counts, sublinear = true))]
    fn weigh<'py>(
        &self,
        py: Python<'py>,
        counts: &Bound<'py, PyDict>,
        sublinear: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let n = counts.len();
        let log_n = ((self.docs + 1) as f64).ln() + 1.0;
        let mut keys: Vec<Bound<'py, PyAny>> = Vec::with_capacity(n);
        let mut values: Vec<f64> = Vec::with_capacity(n);
        let mut norm2 = PySum::new();
        for (key, value) in counts.iter() {
            let term: u32 = key.extract()?;
            let tf = tf_of(&value)?;
            let df = self.counts.get(&term).copied().unwrap_or(0);
            let idf = log_n - (f64::from(df) + 1.0).ln();
            let weighed = if sublinear { self::sublinear(tf) } else { tf } * idf;
            norm2.add(weighed * weighed);
            keys.push(key);
            values.push(weighed);
        }
        divided(py, &keys, &values, norm2.value().sqrt())
    }
}

/// `keys` -> `values / norm` as a dict, in order (`{}` for a zero norm, which an empty vector
/// has: a sum of nothing is 0).
fn divided<'py>(
    py: Python<'py>,
    keys: &[Bound<'py, PyAny>],
    values: &[f64],
    norm: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    if norm == 0.0 {
        return Ok(out);
    }
    for (key, value) in keys.iter().zip(values) {
        out.set_item(key, PyFloat::new(py, value / norm))?;
    }
    Ok(out)
}

/// `vector` divided by its L2 norm (`{}` for a zero vector).
#[pyfunction]
fn normalised<'py>(py: Python<'py>, vector: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyDict>> {
    let mut keys: Vec<Bound<'py, PyAny>> = Vec::with_capacity(vector.len());
    let mut values: Vec<f64> = Vec::with_capacity(vector.len());
    let mut norm2 = PySum::new();
    for (key, value) in vector.iter() {
        let x = tf_of(&value)?;
        norm2.add(x * x);
        keys.push(key);
        values.push(x);
    }
    divided(py, &keys, &values, norm2.value().sqrt())
}

/// Sparse dot product over the shared terms, summed in the order of the smaller vector (the
/// first when both have the same size).
#[pyfunction]
fn dot(a: &Bound<'_, PyDict>, b: &Bound<'_, PyDict>) -> PyResult<f64> {
    let (small, large) = if a.len() > b.len() { (b, a) } else { (a, b) };
    let mut total = PySum::new();
    for (key, x) in small.iter() {
        if let Some(y) = large.get_item(&key)? {
            total.add(tf_of(&x)? * tf_of(&y)?);
        }
    }
    Ok(total.value())
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

/// The entries of `vector` heaviest first, as `(term, weight)` tuples of its own objects; ties
/// keep the vector's order (a stable sort, as Python's `sorted(..., reverse=True)`); the first
/// `k` only when given.
#[pyfunction]
#[pyo3(signature = (vector, k = None))]
fn ranked<'py>(
    py: Python<'py>,
    vector: &Bound<'py, PyDict>,
    k: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let mut entries: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>, f64)> =
        Vec::with_capacity(vector.len());
    for (key, value) in vector.iter() {
        let weight = tf_of(&value)?;
        entries.push((key, value, weight));
    }
    entries.sort_by(|a, b| b.2.partial_cmp(&a.2).unwrap_or(std::cmp::Ordering::Equal));
    let keep = k.unwrap_or(entries.len()).min(entries.len());
    let items = entries
        .into_iter()
        .take(keep)
        .map(|(key, value, _)| PyTuple::new(py, [key, value]))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

#[pymodule]
fn newsflow_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let version = m.py().version_info();
    let compensated = (version.major, version.minor) >= (3, 12);
    COMPENSATED.store(compensated, Ordering::Relaxed);
    m.add("SUM_COMPENSATED", compensated)?;
    m.add_class::<DocFreq>()?;
    m.add_function(wrap_pyfunction!(dot, m)?)?;
    m.add_function(wrap_pyfunction!(normalised, m)?)?;
    m.add_function(wrap_pyfunction!(ranked, m)?)?;
    Ok(())
}
