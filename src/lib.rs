//! pyns._native: the Rust core of pyns. `sys` makes the syscalls; `py` exposes them.

mod py;
pub mod sys;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use sys::ns::Kind;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    m.add("KINDS", PyTuple::new(m.py(), names)?)?;
    m.add("NETNS_DIR", sys::net::netns::RUN_DIR)?;
    for k in Kind::ALL {
        m.add(k.flag_name(), k.flag())?;
    }
    m.add_class::<py::namespace::PyNamespace>()?;
    m.add_class::<py::namespace::Switch>()?;
    m.add_class::<py::isolate::Isolation>()?;
    m.add_class::<py::node::ProcfsLease>()?;
    m.add_function(wrap_pyfunction!(py::lowlevel::unshare, m)?)?;
    m.add_function(wrap_pyfunction!(py::lowlevel::setns, m)?)?;
    m.add_class::<py::idmap::PyIdMap>()?;
    m.add_class::<py::idmap::Capabilities>()?;
    m.add_class::<py::memfd::Memfd>()?;
    m.add_class::<py::tempdir::TempDir>()?;
    m.add_function(wrap_pyfunction!(py::tempdir::remove_tree, m)?)?;
    m.add_function(wrap_pyfunction!(py::idmap::capabilities, m)?)?;
    m.add_class::<py::spawn::ChildSpec>()?;
    m.add_function(wrap_pyfunction!(py::spawn::spawn, m)?)?;
    m.add_function(wrap_pyfunction!(py::spawn::fork, m)?)?;
    py::result::register(m)?;
    m.add_class::<py::mount::PyMountInfo>()?;
    m.add_function(wrap_pyfunction!(py::mount::mount_set_propagation, m)?)?;
    m.add_function(wrap_pyfunction!(py::mount::mount_propagation, m)?)?;
    m.add_function(wrap_pyfunction!(py::mount::mount_proc, m)?)?;
    m.add_function(wrap_pyfunction!(py::mount::mount_bind, m)?)?;
    m.add_function(wrap_pyfunction!(py::mount::mount_tmpfs, m)?)?;
    m.add_function(wrap_pyfunction!(py::mount::mount_umount, m)?)?;
    m.add_function(wrap_pyfunction!(py::mount::mount_table, m)?)?;
    m.add_function(wrap_pyfunction!(py::mount::mount_parse, m)?)?;
    m.add_class::<py::netinfo::Link>()?;
    m.add_class::<py::netinfo::Addr>()?;
    m.add_class::<py::netinfo::Route>()?;
    py::capture::register(m)?;
    for f in [
        wrap_pyfunction!(py::net::net_link, m)?,
        wrap_pyfunction!(py::net::net_links, m)?,
        wrap_pyfunction!(py::net::net_veth, m)?,
        wrap_pyfunction!(py::net::net_bridge, m)?,
        wrap_pyfunction!(py::vlan::net_vlan, m)?,
        wrap_pyfunction!(py::net::net_set_link, m)?,
        wrap_pyfunction!(py::net::net_delete_link, m)?,
        wrap_pyfunction!(py::net::net_add_addr, m)?,
        wrap_pyfunction!(py::net::net_del_addr, m)?,
        wrap_pyfunction!(py::net::net_addrs, m)?,
        wrap_pyfunction!(py::net::net_add_route, m)?,
        wrap_pyfunction!(py::net::net_del_route, m)?,
        wrap_pyfunction!(py::net::net_routes, m)?,
        wrap_pyfunction!(py::net::net_loopback_up, m)?,
        wrap_pyfunction!(py::net::netns_add, m)?,
        wrap_pyfunction!(py::net::netns_remove, m)?,
        wrap_pyfunction!(py::net::netns_path, m)?,
        wrap_pyfunction!(py::target::resolve_namespace, m)?,
        wrap_pyfunction!(py::qdisc::net_shape, m)?,
        wrap_pyfunction!(py::qdisc::net_shape_check, m)?,
        wrap_pyfunction!(py::qdisc::net_qdiscs, m)?,
        wrap_pyfunction!(py::qdisc::net_unshape, m)?,
        wrap_pyfunction!(py::qdisc::net_blackhole, m)?,
        wrap_pyfunction!(py::qdisc::net_bpf_loss, m)?,
        wrap_pyfunction!(py::rule::net_rule, m)?,
        wrap_pyfunction!(py::rule::net_move_local_rule, m)?,
        wrap_pyfunction!(py::socket::net_socket, m)?,
        wrap_pyfunction!(py::node::net_node, m)?,
        wrap_pyfunction!(py::node::net_node_uts, m)?,
        wrap_pyfunction!(py::node::netns_persist, m)?,
        wrap_pyfunction!(py::node::net_wire, m)?,
        wrap_pyfunction!(py::hostfs::netns_exec_mnt, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
