//! The natives behind `pyns.net.shape`, `unshape` and `blackhole`: tc qdiscs by netlink.

use std::collections::HashMap;
use std::os::fd::AsRawFd;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

use super::net::{f64_arg, no_link, valid_name, Netns};
use crate::sys::bpf;
use crate::sys::error::{Error, ErrorKind, Result};
use crate::sys::net::distribution;
use crate::sys::net::link;
use crate::sys::net::qdisc::{self, handle, Netem, Qdisc, Tbf};
use crate::sys::net::rtnl::Rtnl;

/// Packets netem queues at most: a bandwidth-delay product of 10 Gbit/s × 10 ms.
const NETEM_LIMIT: u32 = 10_000;

fn non_negative(what: &str, v: Option<f64>) -> PyResult<Option<f64>> {
    match v {
        Some(x) if !(x.is_finite() && x >= 0.0) => Err(PyValueError::new_err(format!(
            "{what} must be a finite number >= 0, not {x}"
        ))),
        _ => Ok(v),
    }
}

/// A time in milliseconds that the kernel takes in nanoseconds as an s64.
fn duration(what: &str, v: Option<f64>) -> PyResult<Option<f64>> {
    const MAX_MS: f64 = i64::MAX as f64 / 1e6;
    match non_negative(what, v)? {
        Some(x) if x > MAX_MS => Err(PyValueError::new_err(format!(
            "{what} must be at most {MAX_MS:.0} (2**63 ns), not {x}"
        ))),
        v => Ok(v),
    }
}

/// A shape as asked for: every setting optional (`pyns.net.shape`'s keywords).
#[derive(Debug, Default)]
struct Wanted {
    delay_ms: Option<f64>,
    jitter_ms: Option<f64>,
    distribution: Option<String>,
    loss_pct: Option<f64>,
    loss_correlation_pct: Option<f64>,
    duplicate_pct: Option<f64>,
    reorder_pct: Option<f64>,
    corrupt_pct: Option<f64>,
    limit: Option<u32>,
    rate_mbit: Option<f64>,
}

/// A percentage from 0 to 100, as a probability.
fn percent(what: &str, v: Option<f64>) -> PyResult<Option<f64>> {
    match non_negative(what, v)? {
        Some(x) if x > 100.0 => Err(PyValueError::new_err(format!(
            "{what} is a percentage from 0 to 100, not {x}"
        ))),
        v => Ok(v.map(|x| x / 100.0)),
    }
}

/// The qdiscs for the wanted shape: netem at the root for everything but the rate, tbf for a
/// rate (under netem when both are asked for). Reads the distribution table, if any.
fn plan(w: &Wanted) -> PyResult<(Option<Netem>, Option<Tbf>)> {
    let delay = duration("delay_ms", w.delay_ms)?;
    let jitter = duration("jitter_ms", w.jitter_ms)?;
    let loss = percent("loss_pct", w.loss_pct)?;
    let loss_corr = percent("loss_correlation_pct", w.loss_correlation_pct)?;
    let duplicate = percent("duplicate_pct", w.duplicate_pct)?;
    let reorder = percent("reorder_pct", w.reorder_pct)?;
    let corrupt = percent("corrupt_pct", w.corrupt_pct)?;
    let rate = match non_negative("rate_mbit", w.rate_mbit)? {
        Some(r) if r * 1e6 / 8.0 < 1.0 => {
            return Err(PyValueError::new_err(format!(
                "rate_mbit must be positive (at least 8e-6), not {r}"
            )))
        }
        r => r,
    };
    if w.limit == Some(0) {
        return Err(PyValueError::new_err(
            "limit must be at least 1 packet, not 0",
        ));
    }
    if loss_corr.is_some() && loss.is_none() {
        return Err(PyValueError::new_err(
            "loss_correlation_pct needs loss_pct (the loss it correlates)",
        ));
    }
    if reorder.is_some() && delay.unwrap_or(0.0) <= 0.0 {
        return Err(PyValueError::new_err(
            "reorder_pct needs delay_ms > 0: netem reorders by sending some packets at once,              ahead of the delayed ones",
        ));
    }
    let dist = match w.distribution.as_deref() {
        None | Some("uniform") => Vec::new(),
        Some(d) if distribution::NAMES.contains(&d) => {
            if jitter.unwrap_or(0.0) <= 0.0 {
                return Err(PyValueError::new_err(
                    "distribution needs jitter_ms > 0 (it shapes how the delay varies)",
                ));
            }
            distribution::load(d)?
        }
        Some(d) => {
            return Err(PyValueError::new_err(format!(
                "distribution must be 'uniform', 'normal', 'pareto' or 'paretonormal', not {d:?}"
            )))
        }
    };
    let netem_keys = [delay, jitter, loss, loss_corr, duplicate, reorder, corrupt];
    let any_netem =
        netem_keys.iter().any(Option::is_some) || w.limit.is_some() || w.distribution.is_some();
    if !any_netem && rate.is_none() {
        return Err(PyValueError::new_err(
            "give at least one of delay_ms, jitter_ms, loss_pct, duplicate_pct, reorder_pct, \
             corrupt_pct, limit and rate_mbit (unshape() removes a shape)",
        ));
    }
    let ns = |ms: Option<f64>| (ms.unwrap_or(0.0) * 1e6).round() as u64;
    let netem = any_netem.then(|| Netem {
        delay_ns: ns(delay),
        jitter_ns: ns(jitter),
        loss: loss.unwrap_or(0.0),
        limit: w.limit.unwrap_or(NETEM_LIMIT),
        loss_corr: loss_corr.unwrap_or(0.0),
        duplicate: duplicate.unwrap_or(0.0),
        reorder: reorder.unwrap_or(0.0),
        corrupt: corrupt.unwrap_or(0.0),
        dist,
    });
    let tbf = rate.map(|r| {
        let bytes = (r * 1e6 / 8.0).round() as u64;
        // 10 ms of tokens, at least two full-size frames; 100 ms of queue.
        let burst = u32::try_from(bytes / 100).unwrap_or(u32::MAX).max(3200);
        let limit = u32::try_from(bytes / 10)
            .unwrap_or(u32::MAX)
            .saturating_add(burst);
        Tbf {
            rate: bytes,
            burst,
            limit,
        }
    });
    Ok((netem, tbf))
}

/// Installs the shape in place of the link's old one: the new root first, in one request that
/// leaves the old shape as it was if the kernel refuses it (no netem), then tbf under netem.
fn install(r: &mut Rtnl, name: &str, netem: Option<Netem>, tbf: Option<Tbf>) -> Result<()> {
    let index = link::index(r, name)?;
    let under_netem = netem.is_some();
    let root = match (netem, tbf) {
        (Some(n), _) => Qdisc::Netem(n),
        (None, Some(t)) => Qdisc::Tbf(t),
        (None, None) => return Ok(()),
    };
    let major = qdisc::replace_root(r, index, &root, name)?;
    if let (true, Some(t)) = (under_netem, tbf) {
        let under = qdisc::add(
            r,
            index,
            handle(major, 1),
            handle(major + 1, 0),
            &Qdisc::Tbf(t),
            name,
        );
        if under.is_err() {
            let _ = qdisc::delete_root(r, index, name);
        }
        under?;
    }
    Ok(())
}

fn missing_kind(py: Python<'_>, e: Error, name: &str) -> PyErr {
    if e.kind == ErrorKind::Unsupported {
        let op = format!("{e}: every setting but rate_mbit needs netem; rate_mbit alone uses tbf");
        return Error { op: op.into(), ..e }.into();
    }
    no_link(py, e, name)
}

/// The wanted shape from `pyns.net.shape`'s keywords (numbers checked for type only).
#[allow(clippy::too_many_arguments)]
fn wanted(
    delay_ms: Option<&Bound<'_, PyAny>>,
    jitter_ms: Option<&Bound<'_, PyAny>>,
    loss_pct: Option<&Bound<'_, PyAny>>,
    rate_mbit: Option<&Bound<'_, PyAny>>,
    distribution: Option<&Bound<'_, PyAny>>,
    loss_correlation_pct: Option<&Bound<'_, PyAny>>,
    duplicate_pct: Option<&Bound<'_, PyAny>>,
    reorder_pct: Option<&Bound<'_, PyAny>>,
    corrupt_pct: Option<&Bound<'_, PyAny>>,
    limit: Option<&Bound<'_, PyAny>>,
) -> PyResult<Wanted> {
    let num = |what, v: Option<&Bound<'_, PyAny>>| v.map(|x| f64_arg(what, x)).transpose();
    let distribution = distribution
        .map(|d| {
            d.extract::<String>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "distribution must be a str, not {}",
                    d.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })
        })
        .transpose()?;
    let limit = limit
        .map(|l| {
            if l.is_instance_of::<PyBool>() || !l.is_instance_of::<PyInt>() {
                return Err(PyTypeError::new_err(format!(
                    "limit must be an int (packets), not {}",
                    l.get_type().name()?
                )));
            }
            l.extract::<u32>().map_err(|_| {
                PyValueError::new_err(format!(
                    "limit must be from 1 to 2**32 - 1 packets, not {l}"
                ))
            })
        })
        .transpose()?;
    Ok(Wanted {
        delay_ms: num("delay_ms", delay_ms)?,
        jitter_ms: num("jitter_ms", jitter_ms)?,
        distribution,
        loss_pct: num("loss_pct", loss_pct)?,
        loss_correlation_pct: num("loss_correlation_pct", loss_correlation_pct)?,
        duplicate_pct: num("duplicate_pct", duplicate_pct)?,
        reorder_pct: num("reorder_pct", reorder_pct)?,
        corrupt_pct: num("corrupt_pct", corrupt_pct)?,
        limit,
        rate_mbit: num("rate_mbit", rate_mbit)?,
    })
}

/// Shapes a link's egress: netem (delay, jitter, loss, duplicates, reordering, corruption)
/// and/or tbf (rate).
#[pyfunction]
#[pyo3(signature = (name, netns=None, delay_ms=None, jitter_ms=None, loss_pct=None,
                    rate_mbit=None, distribution=None, loss_correlation_pct=None,
                    duplicate_pct=None, reorder_pct=None, corrupt_pct=None, limit=None))]
#[allow(clippy::too_many_arguments)]
pub fn net_shape(
    py: Python<'_>,
    name: &str,
    netns: Option<&Bound<'_, PyAny>>,
    delay_ms: Option<&Bound<'_, PyAny>>,
    jitter_ms: Option<&Bound<'_, PyAny>>,
    loss_pct: Option<&Bound<'_, PyAny>>,
    rate_mbit: Option<&Bound<'_, PyAny>>,
    distribution: Option<&Bound<'_, PyAny>>,
    loss_correlation_pct: Option<&Bound<'_, PyAny>>,
    duplicate_pct: Option<&Bound<'_, PyAny>>,
    reorder_pct: Option<&Bound<'_, PyAny>>,
    corrupt_pct: Option<&Bound<'_, PyAny>>,
    limit: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    valid_name("name", name)?;
    let w = wanted(
        delay_ms,
        jitter_ms,
        loss_pct,
        rate_mbit,
        distribution,
        loss_correlation_pct,
        duplicate_pct,
        reorder_pct,
        corrupt_pct,
        limit,
    )?;
    let (netem, tbf) = plan(&w)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    py.detach(|| t.rtnl(|r| install(r, name, netem, tbf)))
        .map_err(|e| missing_kind(py, e, name))
}

/// Checks a shape as `net_shape` would (types, ranges, combinations, the distribution table)
/// without touching any link: for callers that must refuse it before changing anything.
#[pyfunction]
#[pyo3(signature = (delay_ms=None, jitter_ms=None, loss_pct=None, rate_mbit=None,
                    distribution=None, loss_correlation_pct=None, duplicate_pct=None,
                    reorder_pct=None, corrupt_pct=None, limit=None))]
#[allow(clippy::too_many_arguments)]
pub fn net_shape_check(
    delay_ms: Option<&Bound<'_, PyAny>>,
    jitter_ms: Option<&Bound<'_, PyAny>>,
    loss_pct: Option<&Bound<'_, PyAny>>,
    rate_mbit: Option<&Bound<'_, PyAny>>,
    distribution: Option<&Bound<'_, PyAny>>,
    loss_correlation_pct: Option<&Bound<'_, PyAny>>,
    duplicate_pct: Option<&Bound<'_, PyAny>>,
    reorder_pct: Option<&Bound<'_, PyAny>>,
    corrupt_pct: Option<&Bound<'_, PyAny>>,
    limit: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let w = wanted(
        delay_ms,
        jitter_ms,
        loss_pct,
        rate_mbit,
        distribution,
        loss_correlation_pct,
        duplicate_pct,
        reorder_pct,
        corrupt_pct,
        limit,
    )?;
    plan(&w).map(drop)
}

/// Removes a link's own root qdisc (back to the default).
#[pyfunction]
#[pyo3(signature = (name, netns=None))]
pub fn net_unshape(py: Python<'_>, name: &str, netns: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    valid_name("name", name)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    py.detach(|| {
        t.rtnl(|r| {
            let index = link::index(r, name)?;
            qdisc::delete_root(r, index, name)
        })
    })
    .map_err(|e| no_link(py, e, name))
}

/// Makes a link drop everything it sends (the blackhole qdisc).
#[pyfunction]
#[pyo3(signature = (name, netns=None))]
pub fn net_blackhole(py: Python<'_>, name: &str, netns: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    valid_name("name", name)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    py.detach(|| {
        t.rtnl(|r| {
            let index = link::index(r, name)?;
            qdisc::replace_root(r, index, &Qdisc::Blackhole, name).map(drop)
        })
    })
    .map_err(|e| no_link(py, e, name))
}

/// A qdisc as `net_qdiscs` reports it: (link name, kind, handle, parent, packets, drops).
type QdiscRow = (String, String, u32, u32, u32, u32);

/// Every qdisc of every link (tc(8) `-s qdisc show`), with its link's name.
#[pyfunction]
#[pyo3(signature = (netns=None))]
pub fn net_qdiscs(py: Python<'_>, netns: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<QdiscRow>> {
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    let (links, qdiscs) = py.detach(|| t.rtnl(|r| Ok((link::dump(r)?, qdisc::dump(r)?))))?;
    let names: HashMap<u32, String> = links.into_iter().map(|l| (l.index, l.name)).collect();
    Ok(qdiscs
        .into_iter()
        .filter_map(|q| {
            let dev = names.get(&q.index)?.clone();
            Some((dev, q.kind, q.handle, q.parent, q.packets, q.drops))
        })
        .collect())
}

/// Drops `loss_pct` percent of a link's egress packets at random by a cls_bpf program
/// (bpf(2), direct action, under clsact), for kernels without netem; None removes it.
#[pyfunction]
#[pyo3(signature = (name, loss_pct, netns=None))]
pub fn net_bpf_loss(
    py: Python<'_>,
    name: &str,
    loss_pct: Option<&Bound<'_, PyAny>>,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    valid_name("name", name)?;
    let loss = match loss_pct {
        None => None,
        Some(v) => match f64_arg("loss_pct", v)? {
            x if x > 0.0 && x <= 100.0 => Some(x / 100.0),
            x => {
                return Err(PyValueError::new_err(format!(
                    "loss_pct must be > 0 and <= 100, not {x}"
                )))
            }
        },
    };
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    py.detach(|| {
        let prog = loss.map(bpf::load_loss).transpose()?;
        t.rtnl(|r| {
            let index = link::index(r, name)?;
            match &prog {
                Some(fd) => qdisc::attach_egress_bpf(r, index, fd.as_raw_fd() as u32, name),
                None => qdisc::delete_clsact(r, index, name),
            }
        })
    })
    .map_err(|e| no_link(py, e, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_netem_and_tbf() {
        let w = |d, j, l, r| Wanted {
            delay_ms: d,
            jitter_ms: j,
            loss_pct: l,
            rate_mbit: r,
            ..Wanted::default()
        };
        let (n, t) = plan(&w(Some(10.0), None, Some(1.0), None)).unwrap();
        let n = n.unwrap();
        assert_eq!(n.delay_ns, 10_000_000);
        assert!((n.loss - 0.01).abs() < 1e-12);
        assert!(t.is_none());
        let (n, t) = plan(&w(None, None, None, Some(8.0))).unwrap();
        assert!(n.is_none());
        let t = t.unwrap();
        assert_eq!(t.rate, 1_000_000);
        assert_eq!(t.burst, 10_000);
        assert_eq!(t.limit, 110_000);
    }

    #[test]
    fn refuses_bad_shapes() {
        Python::initialize();
        let w = |d, j, l, r| Wanted {
            delay_ms: d,
            jitter_ms: j,
            loss_pct: l,
            rate_mbit: r,
            ..Wanted::default()
        };
        assert!(plan(&w(None, None, None, None)).is_err());
        assert!(plan(&w(Some(-1.0), None, None, None)).is_err());
        assert!(plan(&w(None, None, Some(101.0), None)).is_err());
        assert!(plan(&w(None, None, None, Some(0.0))).is_err());
        assert!(plan(&w(Some(f64::NAN), None, None, None)).is_err());
        assert!(plan(&w(None, Some(1e300), None, None)).is_err());
        let reorder = Wanted {
            reorder_pct: Some(10.0),
            ..Wanted::default()
        };
        assert!(plan(&reorder).is_err()); // no delay
        let dist = Wanted {
            delay_ms: Some(10.0),
            distribution: Some("normal".into()),
            ..Wanted::default()
        };
        assert!(plan(&dist).is_err()); // no jitter
        let corr = Wanted {
            loss_correlation_pct: Some(10.0),
            ..Wanted::default()
        };
        assert!(plan(&corr).is_err()); // no loss
    }
}
