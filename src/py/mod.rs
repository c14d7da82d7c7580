//! The Python bindings: one file per Python-facing concept; no syscalls here.

pub mod capture;
pub mod errors;
pub mod hostfs;
pub mod idmap;
pub mod isolate;
pub mod lowlevel;
pub mod memfd;
pub mod mount;
pub mod namespace;
pub mod net;
pub mod netinfo;
pub mod node;
pub mod qdisc;
pub mod result;
pub mod rule;
pub mod socket;
pub mod spawn;
pub mod target;
pub mod tempdir;
pub mod vlan;

/// The `_repr_html_` of a pyclass: `pyns.display.<function>(obj)` (all HTML is made there).
pub fn html<T: pyo3::PyClass>(obj: &pyo3::Bound<'_, T>, function: &str) -> pyo3::PyResult<String> {
    use pyo3::types::PyAnyMethods;
    obj.py()
        .import("pyns.display")?
        .call_method1(function, (obj,))?
        .extract()
}

/// A str as Python's `repr` shows it: `'box'`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quote_like_python_repr() {
        assert_eq!(super::quote("box"), "'box'");
        assert_eq!(super::quote("it's"), "'it\\'s'");
        assert_eq!(super::quote("a\nb\0"), "'a\\nb\\x00'");
    }
}
