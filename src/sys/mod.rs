//! The syscall core: pure Rust, no Python. Each module wraps one concept of the kernel.

pub mod bpf;
pub mod caps;
pub mod capture;
pub mod error;
pub mod hostfs;
pub mod idmap;
pub mod isolate;
pub mod kind;
pub mod memfd;
pub mod mount;
pub mod mountinfo;
pub mod net;
pub mod ns;
pub mod pcapng;
pub mod pidfd;
pub mod result;
pub mod spawn;
pub mod task;
pub mod tempdir;
pub mod thread;
pub mod uts;
