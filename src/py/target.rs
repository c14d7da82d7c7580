//! The one resolver of "a namespace target": what `pyns.enter`, `join=`, `netns=`, the testing
//! `Host` and the CLI accept wherever a namespace is asked for.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use pyo3::exceptions::{PyAttributeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyMapping};

use super::errors::{check_pid, parse_kind};
use super::namespace::PyNamespace;
use crate::sys::net::netns;
use crate::sys::ns::{Kind, Namespace};

/// A target resolved to one namespace.
pub enum Resolved<'py> {
    /// A handle the caller gave (directly, or one a `Process` or `Host` keeps): not ours to
    /// close.
    Given(Bound<'py, PyNamespace>),
    /// A namespace opened for this use (from a pid or a path).
    Opened(Namespace),
}

/// Resolves `target` to its namespace of `kind` (`None`: the one namespace a handle, a path
/// or a name means). A target is:
/// - a `pyns.Namespace` (its kind must be `kind`);
/// - a pid: `/proc/<pid>/ns/<kind>`, where the process lives;
/// - an nsfs path (str, bytes or path-like with a `/`), or the name of a named network
///   namespace (no `/`, net only);
/// - an object with a `namespaces` mapping of kinds to handles (`pyns.Process`, a testing
///   `Host`): its handle of `kind`; else, with an int `pid`, that pid.
///
/// `what` names the argument in errors (`"netns"`, `"join['net']"`).
pub fn resolve<'py>(
    target: &Bound<'py, PyAny>,
    kind: Option<Kind>,
    what: &str,
) -> PyResult<Resolved<'py>> {
    if let Ok(h) = target.cast::<PyNamespace>() {
        let has = h.get().kind_of();
        if kind.is_some_and(|k| k != has) {
            return Err(mismatch(what, has, kind));
        }
        h.get().get()?;
        return Ok(Resolved::Given(h.clone()));
    }
    if target.is_instance_of::<PyBool>() {
        return Err(bad_type(what, target));
    }
    if target.is_instance_of::<PyInt>() {
        let pid = check_pid(&format!("{what}: pid"), target)?;
        let kind = kind.ok_or_else(|| needs_kind(what))?;
        return Ok(Resolved::Opened(Namespace::of(pid, kind)?));
    }
    let os = target.py().import("os")?;
    if let Ok(path) = os.call_method1("fspath", (target,)) {
        let path: PathBuf = os.call_method1("fsdecode", (path,))?.extract()?;
        let file = if path.as_os_str().as_bytes().contains(&b'/') {
            path
        } else {
            let name = path.to_string_lossy();
            if kind.is_some_and(|k| k != Kind::Net) {
                return Err(PyValueError::new_err(format!(
                    "{what} = {}: a name without '/' means a named network namespace, and \
                     names exist for network namespaces only",
                    super::quote(&name)
                )));
            }
            netns::validate_name(&name).map_err(PyValueError::new_err)?;
            netns::path(&name)
        };
        return Ok(Resolved::Opened(Namespace::open(&file, kind)?));
    }
    // A process that has exited raises here: its pid may be another process's by now.
    if let Some(held) = attribute(target, "namespaces")? {
        if let Ok(held) = held.cast_into::<PyMapping>() {
            let kind = kind.ok_or_else(|| needs_kind(what))?;
            if let Ok(h) = held.get_item(kind.name()) {
                let h = h.cast_into::<PyNamespace>().map_err(PyErr::from)?;
                return resolve(h.as_any(), Some(kind), what);
            }
            if target.getattr("pid").is_err() {
                return Err(PyValueError::new_err(format!(
                    "{what} has no {} namespace of its own",
                    kind.name()
                )));
            }
        }
    }
    if let Ok(pid) = target.getattr("pid") {
        if pid.is_instance_of::<PyInt>() {
            let pid = check_pid(&format!("{what}.pid"), &pid)?;
            let kind = kind.ok_or_else(|| needs_kind(what))?;
            return Ok(Resolved::Opened(Namespace::of(pid, kind)?));
        }
    }
    Err(bad_type(what, target))
}

/// `obj.name`, None if it has no such attribute; other errors of a property pass through.
fn attribute<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    match obj.getattr(name) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<PyAttributeError>(obj.py()) => Ok(None),
        Err(e) => Err(e),
    }
}

fn mismatch(what: &str, has: Kind, want: Option<Kind>) -> PyErr {
    PyValueError::new_err(format!(
        "{what} must be a {} namespace, not a {} namespace",
        want.map_or("", Kind::name),
        has.name()
    ))
}

fn needs_kind(what: &str) -> PyErr {
    PyValueError::new_err(format!(
        "{what} is a process, which has a namespace of every kind: say which kind"
    ))
}

fn bad_type(what: &str, target: &Bound<'_, PyAny>) -> PyErr {
    let name = target
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    PyTypeError::new_err(format!(
        "{what} must be a pyns.Namespace, a pid, a pyns.Process, an nsfs path or a network \
         namespace name, not {name}"
    ))
}

/// `pyns.target.resolve`: `target`'s namespace of `kind` (None: the one a handle, path or name
/// means), and whether it was opened here (the caller closes it) rather than given.
#[pyfunction]
#[pyo3(signature = (target, kind=None, what="target"))]
pub fn resolve_namespace(
    py: Python<'_>,
    target: &Bound<'_, PyAny>,
    kind: Option<&str>,
    what: &str,
) -> PyResult<(Py<PyNamespace>, bool)> {
    let kind = kind.map(parse_kind).transpose()?;
    Ok(match resolve(target, kind, what)? {
        Resolved::Given(h) => (h.unbind(), false),
        Resolved::Opened(ns) => (Py::new(py, PyNamespace::wrap(ns))?, true),
    })
}
