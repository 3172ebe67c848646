//! Python object <-> `jcs::Value`: into a tree, refusing what JSON cannot carry; out of
//! a parsed tree, as the plain Python values `json.loads` would give.

use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use web4_proto::jcs::{Value, MAX_DEPTH};
use web4_proto::CanonicalError;

use crate::error::{canonical_err, CanonicalizationError};

/// Convert `obj`; when `skip_top_key` is set, that member of a top-level dict is left out.
pub fn to_value(obj: &Bound<'_, PyAny>, skip_top_key: Option<&str>) -> PyResult<Value> {
    convert(obj, 0, skip_top_key)
}

fn convert(obj: &Bound<'_, PyAny>, depth: usize, skip: Option<&str>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: in Python, bool is a subclass of int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(n) => Ok(Value::Int(n)),
            Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => Err(canonical_err(
                CanonicalError::IntegerOutOfRange(obj.to_string()),
            )),
            Err(e) => Err(e),
        };
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return match s.to_str() {
            Ok(text) => Ok(Value::String(text.to_owned())),
            Err(_) => Err(CanonicalizationError::new_err(
                "string is not valid Unicode (lone surrogate)",
            )),
        };
    }
    if depth >= MAX_DEPTH {
        return Err(canonical_err(CanonicalError::TooDeep(MAX_DEPTH)));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut members = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = match k.cast::<PyString>() {
                Ok(s) => s.to_str().map_err(|_| {
                    CanonicalizationError::new_err(
                        "object key is not valid Unicode (lone surrogate)",
                    )
                })?,
                Err(_) => {
                    return Err(CanonicalizationError::new_err(format!(
                        "object keys must be strings, got {}",
                        k.get_type().name()?
                    )))
                }
            };
            if depth == 0 && skip == Some(key) {
                continue;
            }
            members.push((key.to_owned(), convert(&v, depth + 1, None)?));
        }
        return Ok(Value::Object(members));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let mut items = Vec::with_capacity(l.len());
        for v in l.iter() {
            items.push(convert(&v, depth + 1, None)?);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let mut items = Vec::with_capacity(t.len());
        for v in t.iter() {
            items.push(convert(&v, depth + 1, None)?);
        }
        return Ok(Value::Array(items));
    }
    Err(CanonicalizationError::new_err(format!(
        "{} has no JSON form",
        obj.get_type().name()?
    )))
}

/// The Python form of a parsed tree: None, bool, int, float, str, list, dict (members in
/// their order). A lone surrogate stays one (a `str` with a surrogate code point), as
/// `json.loads` gives it; an integer beyond i64 becomes the Python int of its text.
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(n) => n.into_pyobject(py)?.into_any(),
        Value::BigInt(text) => py.get_type::<PyInt>().call1((text.as_str(),))?,
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Utf16(units) => {
            let le: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
            PyBytes::new(py, &le).call_method1("decode", ("utf-16-le", "surrogatepass"))?
        }
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|item| to_python(py, item))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(members) => {
            let dict = PyDict::new(py);
            for (k, v) in members {
                dict.set_item(PyString::new(py, k), to_python(py, v)?)?;
            }
            dict.into_any()
        }
    })
}
