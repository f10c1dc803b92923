//! Compiled parts of newsflow's story stage, as a Python extension module.
//!
//! `DocFreq` is `workers.stages.stories_text.DocFreq` in Rust: the online document frequencies
//! of the terms of the articles held, and L2-normalised TF-IDF weighing by them; `StoryIndex`
//! is `workers.stages.stories_index.StoryIndex`'s postings and look-up; `Unit` holds a
//! normalised vector for scoring; `pair_features` and `member_feature` are the functions of
//! `workers.stages.stories_score`; `dot`, `normalised`, `ranked`, `top` and the others are the
//! sparse-vector and packing functions of `workers.stages.stories_text` of the same names. The
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
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

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
        DocFreq {
            counts: Counts::default(),
            docs: 0,
        }
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

/// A vector's entries in order (key objects and float weights) and its L2 norm, summed as
/// Python's `sum` adds the squares: what `normalised`, in either form, divides by.
struct Entries<'py> {
    keys: Vec<Bound<'py, PyAny>>,
    values: Vec<f64>,
    norm2: PySum,
}

impl<'py> Entries<'py> {
    fn new() -> Self {
        Entries {
            keys: Vec::new(),
            values: Vec::new(),
            norm2: PySum::new(),
        }
    }

    fn push(&mut self, key: Bound<'py, PyAny>, x: f64) {
        self.norm2.add(x * x);
        self.keys.push(key);
        self.values.push(x);
    }

    fn of(vector: &Bound<'py, PyDict>) -> PyResult<Self> {
        let mut entries = Entries::new();
        for (key, value) in vector.iter() {
            let x = tf_of(&value)?;
            entries.push(key, x);
        }
        Ok(entries)
    }

    /// Divided by the norm, as a dict (`{}` for a zero vector).
    fn divided(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        divided(py, &self.keys, &self.values, self.norm2.value().sqrt())
    }

    /// Divided by the norm, as a `Unit` (empty for a zero vector).
    fn unit(&self) -> PyResult<Unit> {
        let norm = self.norm2.value().sqrt();
        if norm == 0.0 {
            return Ok(Unit::new(Vec::new(), Vec::new()));
        }
        let keys = self
            .keys
            .iter()
            .map(|k| k.extract())
            .collect::<PyResult<Vec<u32>>>()?;
        Ok(Unit::new(
            keys,
            self.values.iter().map(|v| v / norm).collect(),
        ))
    }
}

/// `vector` divided by its L2 norm (`{}` for a zero vector).
#[pyfunction]
fn normalised<'py>(py: Python<'py>, vector: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyDict>> {
    Entries::of(vector)?.divided(py)
}

/// Sparse dot product over the shared terms, summed in the order of the smaller vector (the
/// first when both have the same size).
#[pyfunction]
fn dot(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<f64> {
    dot_of(&Sparse::of(a)?, &Sparse::of(b)?)
}

/// A sparse vector as the functions here take it: a dict (term -> weight) or a `Unit`.
enum Sparse<'a, 'py> {
    Dict(Bound<'py, PyDict>),
    Unit(PyRef<'a, Unit>),
}

impl<'a, 'py> Sparse<'a, 'py> {
    fn of(object: &'a Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(unit) = object.downcast::<Unit>() {
            return Ok(Sparse::Unit(unit.borrow()));
        }
        Ok(Sparse::Dict(object.downcast::<PyDict>()?.clone()))
    }

    fn len(&self) -> usize {
        match self {
            Sparse::Dict(d) => d.len(),
            Sparse::Unit(u) => u.keys.len(),
        }
    }
}

/// Sparse dot product over the shared terms, summed in the order of the smaller vector (the
/// first when both have the same size), each product the smaller vector's weight times the
/// larger one's.
fn dot_of(a: &Sparse<'_, '_>, b: &Sparse<'_, '_>) -> PyResult<f64> {
    let (small, large) = if a.len() > b.len() { (b, a) } else { (a, b) };
    let mut total = PySum::new();
    match (small, large) {
        (Sparse::Unit(x), Sparse::Unit(y)) => {
            for (key, value) in x.keys.iter().zip(&x.values) {
                if let Some(&at) = y.index.get(key) {
                    total.add(value * y.values[at as usize]);
                }
            }
        }
        (Sparse::Dict(x), Sparse::Unit(y)) => {
            for (key, value) in x.iter() {
                let term: u32 = match key.extract() {
                    Ok(term) => term,
                    Err(_) => continue, // not a term: in no unit vector
                };
                if let Some(&at) = y.index.get(&term) {
                    total.add(tf_of(&value)? * y.values[at as usize]);
                }
            }
        }
        (Sparse::Unit(x), Sparse::Dict(y)) => {
            for (key, value) in x.keys.iter().zip(&x.values) {
                if let Some(other) = y.get_item(key)? {
                    total.add(value * tf_of(&other)?);
                }
            }
        }
        (Sparse::Dict(x), Sparse::Dict(y)) => {
            for (key, value) in x.iter() {
                if let Some(other) = y.get_item(&key)? {
                    total.add(tf_of(&value)? * tf_of(&other)?);
                }
            }
        }
    }
    Ok(total.value())
}

/// A normalised sparse vector held in Rust (terms in their order, weights, and a hash index
/// of the terms): what `normalised` returns as a dict, for scoring. Cosines against it read
/// contiguous arrays instead of a dict's scattered int and float objects.
#[pyclass(module = "newsflow_native", frozen)]
struct Unit {
    keys: Vec<u32>,
    values: Vec<f64>,
    index: HashMap<u32, u32, BuildHasherDefault<TermHasher>>,
}

impl Unit {
    fn new(keys: Vec<u32>, values: Vec<f64>) -> Self {
        let mut index = HashMap::with_capacity_and_hasher(keys.len(), Default::default());
        for (at, key) in keys.iter().enumerate() {
            index.insert(*key, at as u32);
        }
        Unit {
            keys,
            values,
            index,
        }
    }
}

#[pymethods]
impl Unit {
    fn __len__(&self) -> usize {
        self.keys.len()
    }

    /// The vector as a dict (for tests and checks).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (key, value) in self.keys.iter().zip(&self.values) {
            out.set_item(key, value)?;
        }
        Ok(out)
    }
}

/// `normalised(vector)` as a `Unit`.
#[pyfunction]
fn unit(vector: &Bound<'_, PyDict>) -> PyResult<Unit> {
    Entries::of(vector)?.unit()
}

/// A vector that is normalised already (an article's weighed vectors), as a `Unit`, unchanged.
#[pyfunction]
fn as_unit(vector: &Bound<'_, PyDict>) -> PyResult<Unit> {
    let mut keys: Vec<u32> = Vec::with_capacity(vector.len());
    let mut values: Vec<f64> = Vec::with_capacity(vector.len());
    for (key, value) in vector.iter() {
        keys.push(key.extract()?);
        values.push(tf_of(&value)?);
    }
    Ok(Unit::new(keys, values))
}

/// `normalised_groups(vector, groups)` with each group's vector a `Unit`.
#[pyfunction]
fn unit_groups<'py>(
    py: Python<'py>,
    vector: &Bound<'py, PyDict>,
    groups: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (group, entries) in GROUPS.iter().zip(grouped(vector, groups)?) {
        out.set_item(*group, entries.unit()?)?;
    }
    Ok(out)
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
    let entries = heaviest_entries(vector, k)?;
    let items = entries
        .into_iter()
        .map(|(key, value, _)| PyTuple::new(py, [key, value]))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// The entries of `vector` heaviest first, ties in its order (a stable sort); the first `k`.
#[allow(clippy::type_complexity)]
fn heaviest_entries<'py>(
    vector: &Bound<'py, PyDict>,
    k: Option<usize>,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>, f64)>> {
    let mut entries: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>, f64)> =
        Vec::with_capacity(vector.len());
    for (key, value) in vector.iter() {
        let weight = tf_of(&value)?;
        entries.push((key, value, weight));
    }
    entries.sort_by(|a, b| b.2.partial_cmp(&a.2).unwrap_or(std::cmp::Ordering::Equal));
    entries.truncate(k.unwrap_or(entries.len()));
    Ok(entries)
}

/// `dict(ranked(vector, k))`, without the tuples: the `k` heaviest entries, heaviest first,
/// ties in the vector's order.
#[pyfunction]
fn top<'py>(
    py: Python<'py>,
    vector: &Bound<'py, PyDict>,
    k: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (key, value, _) in heaviest_entries(vector, Some(k))? {
        out.set_item(key, value)?;
    }
    Ok(out)
}

/// The terms of the `k` heaviest entries of `vector`, ordered by weight descending and then by
/// term (the `k` smallest `(-weight, term)` pairs, as `heapq.nsmallest` picks them).
#[pyfunction]
fn heaviest_by_term<'py>(
    py: Python<'py>,
    vector: &Bound<'py, PyDict>,
    k: usize,
) -> PyResult<Bound<'py, PyList>> {
    let mut entries: Vec<(f64, u64, Bound<'py, PyAny>)> = Vec::with_capacity(vector.len());
    for (key, value) in vector.iter() {
        let term: u64 = key.extract()?;
        entries.push((-tf_of(&value)?, term, key));
    }
    entries.sort_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.1.cmp(&b.1))
    });
    entries.truncate(k);
    PyList::new(py, entries.into_iter().map(|(_, _, key)| key))
}

/// Packed terms (`stories_text.pack_terms`: magic 0x54, title weight, four u32 sizes, then the
/// u32 terms and u32 counts) back as four dicts term -> count (words, title, numbers, years),
/// or None when `value` is not packed terms with this `title_weight`.
#[pyfunction]
fn unpack_terms<'py>(
    py: Python<'py>,
    value: &[u8],
    title_weight: u32,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    const HEAD: usize = 2 + 4 * 4;
    if value.len() < HEAD || value[0] != 0x54 || u32::from(value[1]) != title_weight {
        return Ok(None);
    }
    let word =
        |at: usize| u32::from_le_bytes([value[at], value[at + 1], value[at + 2], value[at + 3]]);
    let sizes: Vec<usize> = (0..4).map(|i| word(2 + 4 * i) as usize).collect();
    let total: usize = sizes.iter().sum();
    if value.len() != HEAD + 8 * total {
        return Ok(None);
    }
    // the terms and counts as `array("I")` wrote them: native byte order
    let native =
        |at: usize| u32::from_ne_bytes([value[at], value[at + 1], value[at + 2], value[at + 3]]);
    let mut parts: Vec<Bound<'py, PyDict>> = Vec::with_capacity(4);
    let mut start = 0;
    for size in sizes {
        let part = PyDict::new(py);
        for i in start..start + size {
            part.set_item(native(HEAD + 4 * i), native(HEAD + 4 * (total + i)))?;
        }
        parts.push(part);
        start += size;
    }
    Ok(Some(PyTuple::new(py, parts)?))
}

/// `workers.stages.stories_index.StoryIndex`'s postings in Rust: each live story is listed under
/// a set of terms (its heaviest centroid terms and entities, chosen by the caller); a query
/// ranks the stories by the summed weight of the query terms they are listed under. Stories
/// are held by slot number, so a look-up adds floats into an array instead of a dict keyed by
/// id strings; the sums are those of the Python code (each story's in query order, plain
/// additions), and the ranking is the same: weight descending, ties by id.
#[pyclass(module = "newsflow_native")]
struct StoryIndex {
    /// Terms listed for more stories than this are skipped at look-up.
    max_postings: usize,
    slots: HashMap<String, u32>,
    /// Per slot: the story's id (the caller's string object) and the terms it is listed under
    /// (sorted, distinct); `None` for a free slot.
    ids: Vec<Option<Py<PyString>>>,
    names: Vec<String>,
    listed: Vec<Vec<u32>>,
    free: Vec<u32>,
    postings: HashMap<u32, Vec<u32>, BuildHasherDefault<TermHasher>>,
    /// Look-up scratch: per slot its sum, and whether it was hit.
    sums: Vec<f64>,
    hit: Vec<bool>,
}

#[pymethods]
impl StoryIndex {
    #[new]
    fn new(max_postings: usize) -> Self {
        StoryIndex {
            max_postings,
            slots: HashMap::new(),
            ids: Vec::new(),
            names: Vec::new(),
            listed: Vec::new(),
            free: Vec::new(),
            postings: HashMap::default(),
            sums: Vec::new(),
            hit: Vec::new(),
        }
    }

    /// List the story `story_id` under `terms` (and no longer under the terms it was listed
    /// under before and `terms` lacks).
    fn set(&mut self, story_id: &Bound<'_, PyString>, mut terms: Vec<u32>) -> PyResult<()> {
        terms.sort_unstable();
        terms.dedup();
        let name = story_id.to_str()?;
        let slot = match self.slots.get(name) {
            Some(&slot) => slot,
            None => {
                let slot = match self.free.pop() {
                    Some(slot) => slot,
                    None => {
                        self.ids.push(None);
                        self.names.push(String::new());
                        self.listed.push(Vec::new());
                        self.sums.push(0.0);
                        self.hit.push(false);
                        (self.ids.len() - 1) as u32
                    }
                };
                self.ids[slot as usize] = Some(story_id.clone().unbind());
                self.names[slot as usize] = name.to_owned();
                self.slots.insert(name.to_owned(), slot);
                slot
            }
        };
        let old = std::mem::take(&mut self.listed[slot as usize]);
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < terms.len() {
            if j == terms.len() || (i < old.len() && old[i] < terms[j]) {
                self.unlist(old[i], slot);
                i += 1;
            } else if i == old.len() || terms[j] < old[i] {
                self.postings.entry(terms[j]).or_default().push(slot);
                j += 1;
            } else {
                i += 1;
                j += 1;
            }
        }
        self.listed[slot as usize] = terms;
        Ok(())
    }

    /// Take the story `story_id` out of the index (nothing when it is not in it).
    fn remove(&mut self, story_id: &str) {
        if let Some(slot) = self.slots.remove(story_id) {
            for term in std::mem::take(&mut self.listed[slot as usize]) {
                self.unlist(term, slot);
            }
            self.ids[slot as usize] = None;
            self.names[slot as usize] = String::new();
            self.free.push(slot);
        }
    }

    /// Ids of the `limit` stories sharing the most weight of `query` (`(term, weight)` pairs;
    /// a story listed under a term gets the term's weight each time the term occurs), heaviest
    /// first, ties by id.
    fn ranked<'py>(
        &mut self,
        py: Python<'py>,
        query: Vec<(u32, f64)>,
        limit: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut touched: Vec<u32> = Vec::new();
        for (term, weight) in query {
            if let Some(slots) = self.postings.get(&term) {
                if slots.len() <= self.max_postings {
                    for &slot in slots {
                        let s = slot as usize;
                        if self.hit[s] {
                            self.sums[s] += weight;
                        } else {
                            self.hit[s] = true;
                            self.sums[s] = 0.0 + weight;
                            touched.push(slot);
                        }
                    }
                }
            }
        }
        // the `limit` best by (weight descending, id), kept sorted by insertion
        let mut best: Vec<u32> = Vec::with_capacity(limit + 1);
        for &slot in &touched {
            let s = slot as usize;
            self.hit[s] = false;
            if limit == 0 {
                continue;
            }
            let at = best.partition_point(|&b| self.before(b as usize, s));
            if at < limit {
                best.insert(at, slot);
                best.truncate(limit);
            }
        }
        let ids = best
            .iter()
            .map(|&slot| {
                self.ids[slot as usize]
                    .as_ref()
                    .map(|id| id.clone_ref(py))
                    .ok_or_else(|| PyTypeError::new_err("index slot without a story"))
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, ids)
    }

    /// Every listed term with the ids of the stories listed under it (for tests and checks).
    #[getter]
    fn postings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (term, slots) in &self.postings {
            let ids = pyo3::types::PySet::empty(py)?;
            for &slot in slots {
                if let Some(id) = &self.ids[slot as usize] {
                    ids.add(id.bind(py))?;
                }
            }
            out.set_item(term, ids)?;
        }
        Ok(out)
    }

    fn __len__(&self) -> usize {
        self.slots.len()
    }
}

impl StoryIndex {
    /// Whether slot `a` ranks before slot `b`: heavier, or as heavy with a smaller id (Python
    /// orders `(-weight, id)` tuples so; ids compare by code point, as their UTF-8 bytes do).
    fn before(&self, a: usize, b: usize) -> bool {
        let (wa, wb) = (-self.sums[a], -self.sums[b]);
        wa < wb || (wa == wb && self.names[a] < self.names[b])
    }

    fn unlist(&mut self, term: u32, slot: u32) {
        if let Some(slots) = self.postings.get_mut(&term) {
            if let Some(at) = slots.iter().position(|&s| s == slot) {
                slots.swap_remove(at);
            }
            if slots.is_empty() {
                self.postings.remove(&term);
            }
        }
    }
}

/// Sparse vectors as bytes: their sizes (u32 each), then every term (u32), then every weight
/// (f64), in the vectors' order, native byte order: what `array("I", ...)` and `array("d",
/// ...)` of the same values give.
#[pyfunction]
fn pack_vectors<'py>(
    py: Python<'py>,
    vectors: Vec<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let total: usize = vectors.iter().map(|v| v.len()).sum();
    let mut out: Vec<u8> = Vec::with_capacity(4 * vectors.len() + 12 * total);
    let mut weights: Vec<u8> = Vec::with_capacity(8 * total);
    for vector in &vectors {
        out.extend_from_slice(&(vector.len() as u32).to_ne_bytes());
    }
    for vector in &vectors {
        for (key, value) in vector.iter() {
            let term: u32 = key.extract()?;
            out.extend_from_slice(&term.to_ne_bytes());
            weights.extend_from_slice(&tf_of(&value)?.to_ne_bytes());
        }
    }
    out.extend_from_slice(&weights);
    Ok(PyBytes::new(py, &out))
}

/// The entity groups of `stories_score.GROUPS`, in order.
const GROUPS: [&str; 3] = ["P", "L", "O"];

/// `stories_score._apart`: 1.0 when both sides have terms of the kind but share none.
fn apart(a: &Sparse<'_, '_>, b: &Sparse<'_, '_>, cos: f64) -> f64 {
    if a.len() > 0 && b.len() > 0 && cos == 0.0 {
        1.0
    } else {
        0.0
    }
}

/// The cosine of two vectors (dicts or `Unit`s), and whether they contradict (`apart`).
fn cosine(
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    row: &mut Vec<f64>,
    with_apart: bool,
) -> PyResult<()> {
    let (a, b) = (Sparse::of(a)?, Sparse::of(b)?);
    let cos = dot_of(&a, &b)?;
    row.push(cos);
    if with_apart {
        row.push(apart(&a, &b, cos));
    }
    Ok(())
}

/// `stories_score.pair_features`: the feature row of (article, story) without its last
/// feature, the same floats in the same order; the sides' vectors are dicts or `Unit`s.
#[pyfunction]
fn pair_features<'py>(
    py: Python<'py>,
    article: &Bound<'py, PyAny>,
    story: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let mut row: Vec<f64> = Vec::with_capacity(16);
    for name in ["text", "ents"] {
        cosine(
            &article.getattr(name)?,
            &story.getattr(name)?,
            &mut row,
            false,
        )?;
    }
    let (mine, theirs) = (article.getattr("by_group")?, story.getattr("by_group")?);
    for group in GROUPS {
        cosine(
            &mine.get_item(group)?,
            &theirs.get_item(group)?,
            &mut row,
            true,
        )?;
    }
    cosine(
        &article.getattr("title")?,
        &story.getattr("title")?,
        &mut row,
        false,
    )?;
    for name in ["numbers", "years"] {
        cosine(
            &article.getattr(name)?,
            &story.getattr(name)?,
            &mut row,
            true,
        )?;
    }
    let size: i64 = story.getattr("size")?.extract()?;
    row.push(if size > 1 {
        (1.0f64).min((size as f64).ln() / 16.0f64.ln())
    } else {
        0.0
    });
    PyList::new(py, row)
}

/// `stories_score.member_feature`: the highest cosine of the article's text with one of the
/// story's recent members (0.0 without members).
#[pyfunction]
fn member_feature(article: &Bound<'_, PyAny>, story: &Bound<'_, PyAny>) -> PyResult<f64> {
    let text = article.getattr("text")?;
    let text = Sparse::of(&text)?;
    let mut best: Option<f64> = None;
    for member in story.getattr("members")?.try_iter()? {
        let member = member?;
        let cos = dot_of(&text, &Sparse::of(&member)?)?;
        // Python's max keeps the first of equals and only replaces on a strictly greater one
        if best.map_or(true, |b| cos > b) {
            best = Some(cos);
        }
    }
    Ok(best.unwrap_or(0.0))
}

/// `stories_score.normalised_groups`: the entries of `vector` split by their group in `groups`
/// (term -> "P", "L", "O" or another group, which is left out), each part normalised: a dict
/// from each of the three groups to its unit vector (`{}` when empty or zero), the vector's
/// own key objects in its order.
#[pyfunction]
fn normalised_groups<'py>(
    py: Python<'py>,
    vector: &Bound<'py, PyDict>,
    groups: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (group, entries) in GROUPS.iter().zip(grouped(vector, groups)?) {
        out.set_item(*group, entries.divided(py)?)?;
    }
    Ok(out)
}

/// The entries of `vector` split by their group in `groups` (term -> "P", "L", "O"; other
/// groups and terms without one left out), in `GROUPS`' order.
fn grouped<'py>(
    vector: &Bound<'py, PyDict>,
    groups: &Bound<'py, PyDict>,
) -> PyResult<[Entries<'py>; 3]> {
    let mut parts = [Entries::new(), Entries::new(), Entries::new()];
    for (key, value) in vector.iter() {
        // (matches, not let-else or is_ok_and: Rust 1.63 is the crate's rust-version)
        let group = match groups.get_item(&key)? {
            Some(group) => group,
            None => continue,
        };
        let at = match group.downcast::<PyString>() {
            Ok(name) => {
                let name = name.to_str()?;
                match GROUPS.iter().position(|g| *g == name) {
                    Some(at) => at,
                    None => continue,
                }
            }
            Err(_) => continue,
        };
        let x = tf_of(&value)?;
        parts[at].push(key, x);
    }
    Ok(parts)
}

#[pymodule]
fn newsflow_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let version = m.py().version_info();
    let compensated = (version.major, version.minor) >= (3, 12);
    COMPENSATED.store(compensated, Ordering::Relaxed);
    m.add("SUM_COMPENSATED", compensated)?;
    m.add_class::<DocFreq>()?;
    m.add_class::<StoryIndex>()?;
    m.add_function(wrap_pyfunction!(dot, m)?)?;
    m.add_function(wrap_pyfunction!(normalised, m)?)?;
    m.add_function(wrap_pyfunction!(ranked, m)?)?;
    m.add_function(wrap_pyfunction!(top, m)?)?;
    m.add_function(wrap_pyfunction!(heaviest_by_term, m)?)?;
    m.add_function(wrap_pyfunction!(unpack_terms, m)?)?;
    m.add_function(wrap_pyfunction!(pack_vectors, m)?)?;
    m.add_function(wrap_pyfunction!(pair_features, m)?)?;
    m.add_function(wrap_pyfunction!(member_feature, m)?)?;
    m.add_function(wrap_pyfunction!(normalised_groups, m)?)?;
    m.add_class::<Unit>()?;
    m.add_function(wrap_pyfunction!(unit, m)?)?;
    m.add_function(wrap_pyfunction!(as_unit, m)?)?;
    m.add_function(wrap_pyfunction!(unit_groups, m)?)?;
    Ok(())
}
