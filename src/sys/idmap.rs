//! User-namespace id maps (user_namespaces(7)): parse and validate, then write
//! `setgroups` -> `uid_map` -> `gid_map`, directly or through newuidmap(1)/newgidmap(1).

use std::fmt;
use std::io::Write;
use std::path::PathBuf;

use super::caps;
use super::error::{Error, Result};

/// The most lines a map may have (UID_GID_MAP_MAX_EXTENTS).
pub const MAX_LINES: usize = 340;
/// A map file is written in one write(2) shorter than a page.
const MAX_TEXT: usize = 4095;
/// `(uid_t)-1`, which is never a valid id.
const INVALID: i64 = u32::MAX as i64;

/// One line of a map: `count` ids from `inside` map to ids from `outside`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Range {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

impl Range {
    fn overlaps(self, other: Range, by: impl Fn(Range) -> u32) -> bool {
        let (a, b) = (by(self) as u64, by(other) as u64);
        a < b + other.count as u64 && b < a + self.count as u64
    }
}

/// A validated uid or gid map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct IdMap {
    ranges: Vec<Range>,
}

/// What `/proc/<pid>/setgroups` is set to before the gid map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Setgroups {
    #[default]
    Deny,
    Allow,
}

/// Which map file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Uid,
    Gid,
}

impl Which {
    /// The file under /proc/<pid>/: "uid_map" or "gid_map".
    pub fn file(self) -> &'static str {
        match self {
            Which::Uid => "uid_map",
            Which::Gid => "gid_map",
        }
    }

    /// The helper that writes multi-range maps for unprivileged users.
    pub fn helper(self) -> &'static str {
        match self {
            Which::Uid => "newuidmap",
            Which::Gid => "newgidmap",
        }
    }

    /// The capability that writing any map needs.
    pub fn capability(self) -> &'static str {
        match self {
            Which::Uid => "CAP_SETUID",
            Which::Gid => "CAP_SETGID",
        }
    }
}

impl IdMap {
    /// A map from `(inside, outside, count)` lines; ValueError-style message when invalid:
    /// negative or out-of-range ids, zero counts, ranges that overflow or overlap (inside or
    /// outside), no lines, or more than 340 lines.
    pub fn new(lines: &[(i64, i64, i64)]) -> std::result::Result<IdMap, String> {
        if lines.is_empty() {
            return Err("an id map needs at least one (inside, outside, count) line".into());
        }
        if lines.len() > MAX_LINES {
            return Err(format!(
                "an id map has at most {MAX_LINES} lines, not {}",
                lines.len()
            ));
        }
        let mut ranges: Vec<Range> = Vec::with_capacity(lines.len());
        for &(inside, outside, count) in lines {
            let line = format!("({inside}, {outside}, {count})");
            if inside < 0 || outside < 0 || count < 0 {
                return Err(format!(
                    "id map line {line}: ids and counts must not be negative"
                ));
            }
            if count == 0 {
                return Err(format!("id map line {line}: the count must be at least 1"));
            }
            if inside >= INVALID || outside >= INVALID {
                return Err(format!(
                    "id map line {line}: ids must be below {INVALID} ((uid_t)-1)"
                ));
            }
            if inside + count > INVALID || outside + count > INVALID {
                return Err(format!(
                    "id map line {line}: the range runs past {}",
                    INVALID - 1
                ));
            }
            let r = Range {
                inside: inside as u32,
                outside: outside as u32,
                count: count as u32,
            };
            for prev in &ranges {
                if r.overlaps(*prev, |x| x.inside) {
                    return Err(format!(
                        "id map line {line}: its inside ids overlap another line"
                    ));
                }
                if r.overlaps(*prev, |x| x.outside) {
                    return Err(format!(
                        "id map line {line}: its outside ids overlap another line"
                    ));
                }
            }
            ranges.push(r);
        }
        let map = IdMap { ranges };
        if map.to_string().len() > MAX_TEXT {
            return Err(format!(
                "the id map's text is longer than the kernel's limit of {MAX_TEXT} bytes"
            ));
        }
        Ok(map)
    }

    /// A map from the kernel's text form: one `inside outside count` line per range.
    pub fn parse(text: &str) -> std::result::Result<IdMap, String> {
        let mut lines = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let nums: Vec<&str> = line.split_whitespace().collect();
            let parsed: Vec<i64> = nums.iter().filter_map(|s| s.parse().ok()).collect();
            match parsed[..] {
                [a, b, c] if nums.len() == 3 => lines.push((a, b, c)),
                _ => {
                    return Err(format!(
                        "id map line {} is {line:?}; expected three numbers: inside outside count",
                        n + 1
                    ))
                }
            }
        }
        IdMap::new(&lines)
    }

    /// The lines, in order.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// Whether id `id` inside the namespace is mapped.
    pub fn maps_inside(&self, id: u32) -> bool {
        self.ranges
            .iter()
            .any(|r| (r.inside as u64..r.inside as u64 + r.count as u64).contains(&(id as u64)))
    }

    /// Whether id `id` outside the namespace is mapped.
    pub fn maps_outside(&self, id: u32) -> bool {
        self.ranges
            .iter()
            .any(|r| (r.outside as u64..r.outside as u64 + r.count as u64).contains(&(id as u64)))
    }

    /// Whether the kernel lets an unprivileged process write this map itself: one line that
    /// maps only its own id.
    pub fn maps_only(&self, own: u32) -> bool {
        matches!(self.ranges[..], [r] if r.outside == own && r.count == 1)
    }

    /// Writes the map to `/proc/<pid>/uid_map` or `gid_map` (one write(2), as the kernel
    /// requires). A second write is refused by the kernel; the error says so.
    pub fn write(&self, pid: libc::pid_t, which: Which) -> Result<()> {
        let path = PathBuf::from(format!("/proc/{pid}/{}", which.file()));
        let op = format!("write {}", path.display());
        let text = self.to_string();
        let r = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        let Err(e) = r else { return Ok(()) };
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        let written = std::fs::read_to_string(&path).is_ok_and(|s| !s.trim().is_empty());
        if errno == libc::EPERM && written {
            return Err(Error::new(
                format!(
                    "{op}: the {} of process {pid} was already written, and the kernel allows \
                     only one write",
                    which.file()
                ),
                errno,
            )
            .needs(which.capability()));
        }
        Err(Error::new(op, errno).needs(which.capability()))
    }

    /// Runs newuidmap(1)/newgidmap(1) for `pid` with this map (setuid helpers that check
    /// /etc/subuid and /etc/subgid).
    pub fn write_with_helper(&self, pid: libc::pid_t, which: Which) -> Result<()> {
        let mut cmd = std::process::Command::new(which.helper());
        cmd.arg(pid.to_string());
        for r in &self.ranges {
            cmd.args([
                r.inside.to_string(),
                r.outside.to_string(),
                r.count.to_string(),
            ]);
        }
        let op = format!(
            "{} {pid} {}",
            which.helper(),
            self.to_string().replace('\n', " ")
        );
        let out = cmd
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                let hint = if errno == libc::ENOENT {
                    format!(
                        "run {} (Debian package uidmap), needed for multi-range maps without \
                         privilege",
                        which.helper()
                    )
                } else {
                    format!("run {}", which.helper())
                };
                Error::new(hint, errno)
            })?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(Error::new(
            format!(
                "{op}: {} (are the outside ranges in /etc/sub{}id for this user?)",
                stderr.trim(),
                if which == Which::Uid { "u" } else { "g" }
            ),
            libc::EPERM,
        )
        .needs(which.capability()))
    }
}

impl fmt::Display for IdMap {
    /// The kernel's text form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.ranges {
            writeln!(f, "{} {} {}", r.inside, r.outside, r.count)?;
        }
        Ok(())
    }
}

/// Writes `/proc/<pid>/setgroups` ("deny" or "allow").
pub fn write_setgroups(pid: libc::pid_t, value: Setgroups) -> Result<()> {
    let path = format!("/proc/{pid}/setgroups");
    let text = match value {
        Setgroups::Deny => "deny",
        Setgroups::Allow => "allow",
    };
    std::fs::write(&path, text).map_err(|e| {
        Error::new(
            format!("write {text:?} to {path}"),
            e.raw_os_error().unwrap_or(libc::EIO),
        )
    })
}

/// Sets up the id maps of the new user namespace of `pid`, in the order the kernel needs:
/// setgroups, uid_map, gid_map. A map the caller may not write itself (several lines, or
/// other ids than its own, without CAP_SETUID/CAP_SETGID) goes through newuidmap/newgidmap,
/// which also decide setgroups then.
pub fn write_maps(
    pid: libc::pid_t,
    uid_map: Option<&IdMap>,
    gid_map: Option<&IdMap>,
    setgroups: Setgroups,
) -> Result<()> {
    let eff = caps::Sets::of(None).map(|s| s.effective).unwrap_or(0);
    // SAFETY: geteuid/getegid cannot fail.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let direct = |m: &IdMap, cap: u32, own: u32| eff & (1 << cap) != 0 || m.maps_only(own);
    let gid_direct = gid_map.map(|m| direct(m, caps::CAP_SETGID, egid));
    if gid_direct != Some(false) && setgroups == Setgroups::Deny {
        write_setgroups(pid, setgroups)?;
    }
    if let Some(m) = uid_map {
        if direct(m, caps::CAP_SETUID, euid) {
            m.write(pid, Which::Uid)?;
        } else {
            m.write_with_helper(pid, Which::Uid)?;
        }
    }
    if let (Some(m), Some(direct)) = (gid_map, gid_direct) {
        if direct {
            m.write(pid, Which::Gid)?;
        } else {
            m.write_with_helper(pid, Which::Gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_kernel_text() {
        let m = IdMap::parse("0 1000 1\n  1 100000 65536 \n\n").unwrap();
        assert_eq!(m.ranges().len(), 2);
        assert_eq!(m.to_string(), "0 1000 1\n1 100000 65536\n");
        assert!(m.maps_inside(0) && m.maps_inside(65536) && !m.maps_inside(65537));
        assert!(m.maps_outside(1000) && !m.maps_outside(999));
        assert!(!m.maps_only(1000));
        assert!(IdMap::parse("0 1000 1").unwrap().maps_only(1000));
    }

    #[test]
    fn rejects_bad_lines() {
        for (text, why) in [
            ("0 1000", "three numbers"),
            ("0 x 1", "three numbers"),
            ("0 1000 1 5", "three numbers"),
            ("", "at least one"),
            ("0 1000 0", "at least 1"),
            ("-1 1000 1", "negative"),
            ("0 1000 10\n5 2000 1", "inside ids overlap"),
            ("0 1000 10\n50 1005 1", "outside ids overlap"),
            ("4294967295 0 1", "below"),
            ("4294967290 0 10", "runs past"),
        ] {
            let e = IdMap::parse(text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn limits_lines() {
        let ok: Vec<(i64, i64, i64)> = (0..340).map(|i| (i, i, 1)).collect();
        assert!(IdMap::new(&ok).is_ok());
        let too_many: Vec<(i64, i64, i64)> = (0..341).map(|i| (i, i, 1)).collect();
        assert!(IdMap::new(&too_many).unwrap_err().contains("at most 340"));
    }

    #[test]
    fn adjacent_ranges_do_not_overlap() {
        assert!(IdMap::new(&[(0, 0, 10), (10, 10, 10)]).is_ok());
    }
}
