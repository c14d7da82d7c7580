//! Capabilities of a process (capabilities(7)): capget(2) for the effective, permitted and
//! inheritable sets, /proc/<pid>/status for the bounding and ambient sets.

use super::error::{Error, Result};

pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_SYS_ADMIN: u32 = 21;

/// Capability names by number, as in capabilities(7) and linux/capability.h.
const NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// The name of capability `n` ("cap_sys_admin"); numbers newer than this table: "cap_<n>".
pub fn name(n: u32) -> String {
    NAMES
        .get(n as usize)
        .map_or_else(|| format!("cap_{n}"), |s| (*s).to_owned())
}

/// The highest capability number the running kernel knows (/proc/sys/kernel/cap_last_cap).
pub fn last_cap() -> Result<u32> {
    let path = "/proc/sys/kernel/cap_last_cap";
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::new("read", e.raw_os_error().unwrap_or(libc::EIO)).at(path))?;
    text.trim()
        .parse()
        .map_err(|_| Error::condition(format!("cannot parse {path}: {text:?}")))
}

/// The names of the capabilities set in `mask`, up to `last`.
pub fn names(mask: u64, last: u32) -> Vec<String> {
    (0..=last.min(63))
        .filter(|n| mask & (1u64 << n) != 0)
        .map(name)
        .collect()
}

/// The five capability sets of a process, as bit masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub bounding: u64,
    pub ambient: u64,
}

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const VERSION_3: u32 = 0x2008_0522;

/// capget(2) of process `pid` (None: the calling thread): its effective, permitted and
/// inheritable sets.
fn capget(pid: Option<libc::pid_t>) -> Result<[Data; 2]> {
    let mut hdr = Header {
        version: VERSION_3,
        pid: pid.unwrap_or(0),
    };
    let mut data = [Data::default(); 2];
    // SAFETY: a version-3 header and room for the two data structs it fills in.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    if r < 0 {
        let e = Error::last("capget");
        return Err(match pid {
            Some(p) => e.at(format!("/proc/{p}")),
            None => e,
        });
    }
    Ok(data)
}

/// Whether the calling thread has `cap` in its effective set (capget(2) alone, without the
/// /proc read of `Sets::of`).
pub fn effective(cap: u32) -> Result<bool> {
    let data = capget(None)?;
    let word = data[(cap / 32) as usize].effective;
    Ok(word & (1 << (cap % 32)) != 0)
}

impl Sets {
    /// The sets of process `pid` (None: the calling thread), by capget(2) and
    /// /proc/<pid>/status (CapBnd, CapAmb).
    pub fn of(pid: Option<libc::pid_t>) -> Result<Sets> {
        let data = capget(pid)?;
        let join = |lo: u32, hi: u32| (lo as u64) | ((hi as u64) << 32);
        let status_path = match pid {
            Some(p) => format!("/proc/{p}/status"),
            None => "/proc/thread-self/status".to_owned(),
        };
        let status = std::fs::read_to_string(&status_path).map_err(|e| {
            Error::new("read", e.raw_os_error().unwrap_or(libc::EIO)).at(&status_path)
        })?;
        Ok(Sets {
            effective: join(data[0].effective, data[1].effective),
            permitted: join(data[0].permitted, data[1].permitted),
            inheritable: join(data[0].inheritable, data[1].inheritable),
            bounding: status_field(&status, "CapBnd")?,
            ambient: status_field(&status, "CapAmb")?,
        })
    }
}

/// A hex mask line of /proc/<pid>/status, such as `CapBnd:\t000001ffffffffff`.
fn status_field(status: &str, field: &str) -> Result<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| Error::condition(format!("no {field} line in /proc/<pid>/status")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_agrees_with_the_sets() {
        let sets = Sets::of(None).unwrap();
        for cap in 0..=last_cap().unwrap().min(63) {
            assert_eq!(
                effective(cap).unwrap(),
                sets.effective & (1 << cap) != 0,
                "{cap}"
            );
        }
    }

    #[test]
    fn names_by_number() {
        assert_eq!(name(21), "cap_sys_admin");
        assert_eq!(name(40), "cap_checkpoint_restore");
        assert_eq!(name(41), "cap_41");
        assert_eq!(names(0b101, 40), vec!["cap_chown", "cap_dac_read_search"]);
        assert_eq!(names(u64::MAX, 2).len(), 3);
    }

    #[test]
    fn parses_status_lines() {
        let s = "Name:\tx\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n";
        assert_eq!(status_field(s, "CapBnd").unwrap(), 0x1ff_ffff_ffff);
        assert_eq!(status_field(s, "CapAmb").unwrap(), 0);
        assert!(status_field(s, "CapEff").is_err());
    }

    #[test]
    fn own_sets_are_consistent() {
        let s = Sets::of(None).unwrap();
        assert_eq!(s.effective & !s.permitted, 0);
        assert!(last_cap().unwrap() >= 37);
    }
}
