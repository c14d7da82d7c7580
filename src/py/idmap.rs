//! `pyns.IdMap` (a validated uid/gid map) and `pyns.capabilities`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyFrozenSet;

use super::errors::check_pid;
use super::html;
use crate::sys::caps;
use crate::sys::idmap::{IdMap, Which};

/// A user-namespace id map: `[(inside, outside, count), ...]` or the kernel's text
/// (`"0 1000 1\n1 100000 65536"`), validated on construction.
///
/// Raises:
///     ValueError: negative or out-of-range ids, zero counts, overlapping or overflowing
///         ranges, or more than 340 lines.
///     TypeError: neither a str nor a sequence of 3-tuples of ints.
#[pyclass(name = "IdMap", module = "pyns", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash, Clone)]
pub struct PyIdMap {
    pub map: IdMap,
}

impl PyIdMap {
    /// An IdMap from what the Python API accepts: an IdMap, kernel text, or 3-tuples.
    pub fn from_any(obj: &Bound<'_, PyAny>) -> PyResult<IdMap> {
        if let Ok(m) = obj.cast::<PyIdMap>() {
            return Ok(m.get().map.clone());
        }
        if let Ok(text) = obj.extract::<String>() {
            return IdMap::parse(&text).map_err(PyValueError::new_err);
        }
        let lines: Vec<(i64, i64, i64)> = obj.extract().map_err(|_| {
            PyTypeError::new_err(
                "an id map is a str in the kernel's form (\"0 1000 1\") or a sequence of \
                 (inside, outside, count) tuples of ints",
            )
        })?;
        IdMap::new(&lines).map_err(PyValueError::new_err)
    }
}

#[pymethods]
impl PyIdMap {
    #[new]
    fn new(map: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PyIdMap {
            map: PyIdMap::from_any(map)?,
        })
    }

    /// The lines as `(inside, outside, count)` tuples.
    #[getter]
    fn ranges(&self) -> Vec<(u32, u32, u32)> {
        self.map
            .ranges()
            .iter()
            .map(|r| (r.inside, r.outside, r.count))
            .collect()
    }

    /// Writes the map to `/proc/<pid>/uid_map` or `gid_map` (`file` is "uid_map" or
    /// "gid_map"). The kernel accepts one write per map and process.
    fn write(&self, pid: &Bound<'_, PyAny>, file: &str) -> PyResult<()> {
        let which: Which = file.parse().map_err(PyValueError::new_err)?;
        Ok(self.map.write(check_pid("pid", pid)?, which)?)
    }

    fn __len__(&self) -> usize {
        self.map.ranges().len()
    }

    fn __str__(&self) -> String {
        self.map.to_string()
    }

    fn __repr__(&self) -> String {
        let lines: Vec<String> = self
            .map
            .ranges()
            .iter()
            .map(|r| format!("({}, {}, {})", r.inside, r.outside, r.count))
            .collect();
        format!("IdMap([{}])", lines.join(", "))
    }
}

/// The capability sets of a process, as frozensets of names such as "cap_sys_admin".
#[pyclass(module = "pyns", frozen)]
pub struct Capabilities {
    sets: caps::Sets,
    last: u32,
}

impl Capabilities {
    fn set<'py>(&self, py: Python<'py>, mask: u64) -> PyResult<Bound<'py, PyFrozenSet>> {
        PyFrozenSet::new(py, caps::names(mask, self.last))
    }
}

#[pymethods]
impl Capabilities {
    #[getter]
    fn effective<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyFrozenSet>> {
        self.set(py, self.sets.effective)
    }

    #[getter]
    fn permitted<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyFrozenSet>> {
        self.set(py, self.sets.permitted)
    }

    #[getter]
    fn inheritable<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyFrozenSet>> {
        self.set(py, self.sets.inheritable)
    }

    #[getter]
    fn bounding<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyFrozenSet>> {
        self.set(py, self.sets.bounding)
    }

    #[getter]
    fn ambient<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyFrozenSet>> {
        self.set(py, self.sets.ambient)
    }

    /// Jupyter's rich display: a table of the five sets.
    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        html(slf, "capabilities_html")
    }

    fn __repr__(&self) -> String {
        let show = |mask: u64| {
            let mut names = caps::names(mask, self.last);
            names.sort();
            if names.is_empty() {
                "frozenset()".to_owned()
            } else {
                let quoted: Vec<String> = names.iter().map(|n| super::quote(n)).collect();
                format!("frozenset({{{}}})", quoted.join(", "))
            }
        };
        format!(
            "Capabilities(effective={}, permitted={}, inheritable={}, bounding={}, ambient={})",
            show(self.sets.effective),
            show(self.sets.permitted),
            show(self.sets.inheritable),
            show(self.sets.bounding),
            show(self.sets.ambient)
        )
    }
}

/// The capability sets of a process (capget(2), /proc/<pid>/status).
///
/// Args:
///     pid: a process id; None (default) means the calling thread.
///
/// Returns:
///     Capabilities with effective, permitted, inheritable, bounding and ambient frozensets
///     of names, covering every capability the kernel knows (/proc/sys/kernel/cap_last_cap).
///
/// Raises:
///     ProcessLookupError: no such process.
#[pyfunction]
#[pyo3(signature = (pid=None))]
pub fn capabilities(pid: Option<&Bound<'_, PyAny>>) -> PyResult<Capabilities> {
    let pid = pid.map(|p| check_pid("pid", p)).transpose()?;
    Ok(Capabilities {
        sets: caps::Sets::of(pid)?,
        last: caps::last_cap()?,
    })
}
