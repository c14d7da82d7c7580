//! Mounts: propagation types (mount_namespaces(7)).

use std::path::Path;

use nix::mount::{mount, MsFlags};

use super::error::{Context, Result};

/// A mount's propagation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Shared,
    Private,
    Slave,
    Unbindable,
}

impl Propagation {
    pub const NAMES: [&'static str; 4] = ["private", "shared", "slave", "unbindable"];

    /// The type named `name` (`"private"`), if any.
    pub fn from_name(name: &str) -> Option<Propagation> {
        match name {
            "shared" => Some(Propagation::Shared),
            "private" => Some(Propagation::Private),
            "slave" => Some(Propagation::Slave),
            "unbindable" => Some(Propagation::Unbindable),
            _ => None,
        }
    }

    fn flag(self) -> MsFlags {
        match self {
            Propagation::Shared => MsFlags::MS_SHARED,
            Propagation::Private => MsFlags::MS_PRIVATE,
            Propagation::Slave => MsFlags::MS_SLAVE,
            Propagation::Unbindable => MsFlags::MS_UNBINDABLE,
        }
    }
}

/// Changes the propagation type of the mount at `path` (mount(2) with MS_SHARED etc.,
/// MS_REC when `recursive`).
pub fn set_propagation(path: &Path, p: Propagation, recursive: bool) -> Result<()> {
    let flags = if recursive {
        p.flag() | MsFlags::MS_REC
    } else {
        p.flag()
    };
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .op("change mount propagation (mount MS_PRIVATE/MS_SHARED/...)")
        .map_err(|e| e.at(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        for n in Propagation::NAMES {
            assert!(Propagation::from_name(n).is_some());
        }
        assert_eq!(Propagation::from_name("rprivate"), None);
    }
}
