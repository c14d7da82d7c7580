//! Namespace kinds: their names, `CLONE_NEW*` flags and `/proc/thread-self/ns` entries. A
//! leaf module: it knows nothing of handles, threads or pidfds.

use std::ffi::CStr;

/// The namespace kinds, named as in `/proc/<pid>/ns/` (namespaces(7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Cgroup,
    Ipc,
    Mnt,
    Net,
    Pid,
    Time,
    User,
    Uts,
}

/// `CLONE_NEWTIME` (clone(2)); older libc crates lack it.
pub const CLONE_NEWTIME: libc::c_int = 0x80;

impl Kind {
    /// Every kind, in the order of `pyns.KINDS`.
    pub const ALL: [Kind; 8] = [
        Kind::Cgroup,
        Kind::Ipc,
        Kind::Mnt,
        Kind::Net,
        Kind::Pid,
        Kind::Time,
        Kind::User,
        Kind::Uts,
    ];

    /// The name used in `/proc/<pid>/ns/` and by `lsns`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Cgroup => "cgroup",
            Kind::Ipc => "ipc",
            Kind::Mnt => "mnt",
            Kind::Net => "net",
            Kind::Pid => "pid",
            Kind::Time => "time",
            Kind::User => "user",
            Kind::Uts => "uts",
        }
    }

    /// The `CLONE_NEW*` flag of clone(2), unshare(2) and setns(2).
    pub fn flag(self) -> libc::c_int {
        match self {
            Kind::Cgroup => libc::CLONE_NEWCGROUP,
            Kind::Ipc => libc::CLONE_NEWIPC,
            Kind::Mnt => libc::CLONE_NEWNS,
            Kind::Net => libc::CLONE_NEWNET,
            Kind::Pid => libc::CLONE_NEWPID,
            Kind::Time => CLONE_NEWTIME,
            Kind::User => libc::CLONE_NEWUSER,
            Kind::Uts => libc::CLONE_NEWUTS,
        }
    }

    /// The constant's name, for messages: `CLONE_NEWUTS`.
    pub fn flag_name(self) -> &'static str {
        match self {
            Kind::Cgroup => "CLONE_NEWCGROUP",
            Kind::Ipc => "CLONE_NEWIPC",
            Kind::Mnt => "CLONE_NEWNS",
            Kind::Net => "CLONE_NEWNET",
            Kind::Pid => "CLONE_NEWPID",
            Kind::Time => "CLONE_NEWTIME",
            Kind::User => "CLONE_NEWUSER",
            Kind::Uts => "CLONE_NEWUTS",
        }
    }

    /// The kind named `name` (`"net"`), if any.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind whose `CLONE_NEW*` flag is exactly `flag`, if any.
    pub fn from_flag(flag: libc::c_int) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.flag() == flag)
    }

    /// The kinds whose flags are set in `flags`, or the first unknown bit as an error.
    pub fn from_flags(flags: libc::c_int) -> std::result::Result<Vec<Kind>, libc::c_int> {
        let known = Kind::ALL.iter().fold(0, |acc, k| acc | k.flag());
        if flags & !known != 0 {
            return Err(flags & !known);
        }
        Ok(Kind::ALL
            .into_iter()
            .filter(|k| flags & k.flag() != 0)
            .collect())
    }

    /// The OR of the kinds' flags.
    pub fn flags(kinds: &[Kind]) -> libc::c_int {
        kinds.iter().fold(0, |acc, k| acc | k.flag())
    }

    /// Whether the kind changes the namespace of the caller's children only (pid, time).
    pub fn for_children(self) -> bool {
        matches!(self, Kind::Pid | Kind::Time)
    }

    /// The `/proc/thread-self/ns/` entry that names where the calling thread is for this kind;
    /// for pid and time, where its next children will be (`pid_for_children`).
    pub fn thread_path(self) -> &'static CStr {
        match self {
            Kind::Cgroup => c"/proc/thread-self/ns/cgroup",
            Kind::Ipc => c"/proc/thread-self/ns/ipc",
            Kind::Mnt => c"/proc/thread-self/ns/mnt",
            Kind::Net => c"/proc/thread-self/ns/net",
            Kind::Pid => c"/proc/thread-self/ns/pid_for_children",
            Kind::Time => c"/proc/thread-self/ns/time_for_children",
            Kind::User => c"/proc/thread-self/ns/user",
            Kind::Uts => c"/proc/thread-self/ns/uts",
        }
    }
}

/// `CLONE_NEWUTS|CLONE_NEWNET` for messages; the hex value for none.
pub fn describe_flags(flags: libc::c_int) -> String {
    let names: Vec<&str> = Kind::ALL
        .iter()
        .filter(|k| flags & k.flag() != 0)
        .map(|k| k.flag_name())
        .collect();
    if names.is_empty() {
        format!("{flags:#x}")
    } else {
        names.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_flags_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.name()), Some(k));
            assert_eq!(Kind::from_flag(k.flag()), Some(k));
        }
        assert_eq!(Kind::from_name("network"), None);
    }

    #[test]
    fn from_flags_rejects_unknown_bits() {
        assert_eq!(
            Kind::from_flags(libc::CLONE_NEWUTS | libc::CLONE_NEWNET),
            Ok(vec![Kind::Net, Kind::Uts])
        );
        assert_eq!(Kind::from_flags(libc::CLONE_VM), Err(libc::CLONE_VM));
    }

    #[test]
    fn describes_flags() {
        assert_eq!(
            describe_flags(libc::CLONE_NEWNS | libc::CLONE_NEWPID),
            "CLONE_NEWNS|CLONE_NEWPID"
        );
        assert_eq!(describe_flags(0), "0x0");
    }

    #[test]
    fn thread_paths() {
        assert_eq!(
            Kind::Pid.thread_path(),
            c"/proc/thread-self/ns/pid_for_children"
        );
        for k in Kind::ALL {
            assert!(k.thread_path().to_str().unwrap().contains(k.name()));
        }
    }
}
