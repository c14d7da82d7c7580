//! In-process isolation of the calling thread: unshare, then set the new namespaces up.

use super::error::Result;
use super::mount::{self, Propagation};
use super::ns::Kind;
use super::thread::{self, ThreadGuard};
use super::{net, uts};

/// What `pyns.isolate` asks for, validated by the caller.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub kinds: Vec<Kind>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub loopback: bool,
    pub propagation: Option<Propagation>,
}

/// unshare(2) the spec's kinds on the calling thread, then name the new UTS namespace, bring
/// `lo` up in the new network namespace and set `/`'s propagation in the new mount namespace.
/// On any failure the thread is back where it was before the error is returned.
pub fn isolate(spec: &Spec) -> Result<ThreadGuard> {
    if spec.kinds.contains(&Kind::Time) {
        thread::require_single_thread("isolate(time=True)")?;
    }
    let mut guard = ThreadGuard::unshare(&spec.kinds)?;
    let setup = || -> Result<()> {
        if spec.kinds.contains(&Kind::Mnt) {
            if let Some(p) = spec.propagation {
                mount::set_propagation(std::path::Path::new("/"), p, true)?;
            }
        }
        if let Some(h) = &spec.hostname {
            uts::set_hostname(h)?;
        }
        if let Some(d) = &spec.domainname {
            uts::set_domainname(d)?;
        }
        if spec.loopback && spec.kinds.contains(&Kind::Net) {
            net::loopback_up()?;
        }
        Ok(())
    };
    if let Err(e) = setup() {
        let _ = guard.restore();
        return Err(e);
    }
    Ok(guard)
}
