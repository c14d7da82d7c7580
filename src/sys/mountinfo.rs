//! The mount table of a mount namespace: `/proc/<pid>/mountinfo` parsed (proc_pid_mountinfo(5)).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use super::error::{Error, Result};

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

    /// The type's name, as `from_name` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Propagation::Shared => "shared",
            Propagation::Private => "private",
            Propagation::Slave => "slave",
            Propagation::Unbindable => "unbindable",
        }
    }
}

/// One line of `/proc/<pid>/mountinfo`, with the kernel's octal escapes (`\040`) decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_id: u64,
    pub parent_id: u64,
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem that forms the root of this mount.
    pub root: OsString,
    pub mount_point: OsString,
    /// Per-mount options (`rw`, `nosuid`, `relatime`, ...).
    pub options: Vec<OsString>,
    /// `shared:N`: the peer group this mount propagates to and from.
    pub peer_group: Option<u64>,
    /// `master:N`: the peer group this mount receives propagation from (a slave).
    pub master: Option<u64>,
    /// `propagate_from:N`: the nearest dominant peer group visible here (slaves only).
    pub propagate_from: Option<u64>,
    pub unbindable: bool,
    pub fstype: OsString,
    pub source: OsString,
    /// Per-superblock options (`size=1024k`, `mode=755`, ...).
    pub super_options: Vec<OsString>,
}

impl MountInfo {
    /// The propagation type as `findmnt -o PROPAGATION` would say it, reduced to one word:
    /// a mount that is both a slave and shared is a `Slave` (both groups are on the struct).
    pub fn propagation(&self) -> Propagation {
        if self.unbindable {
            Propagation::Unbindable
        } else if self.master.is_some() {
            Propagation::Slave
        } else if self.peer_group.is_some() {
            Propagation::Shared
        } else {
            Propagation::Private
        }
    }
}

/// Parses a whole mountinfo text; a malformed line is an error naming its number.
pub fn parse(text: &[u8]) -> Result<Vec<MountInfo>> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(i, line)| {
            parse_line(line).map_err(|why| {
                Error::condition(format!(
                    "mountinfo line {}: {why}: {:?}",
                    i + 1,
                    String::from_utf8_lossy(line)
                ))
            })
        })
        .collect()
}

/// Parses one line (without its newline); `Err` says what is wrong with it.
pub fn parse_line(line: &[u8]) -> std::result::Result<MountInfo, String> {
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let sep = fields
        .iter()
        .skip(6)
        .position(|f| *f == b"-")
        .map(|p| p + 6)
        .ok_or("no ' - ' separator after the 6 leading fields")?;
    let tail = &fields[sep + 1..];
    if tail.len() < 3 {
        return Err("fewer than 3 fields after the ' - ' separator".into());
    }
    let (major, minor) = {
        let dev = text(fields[2], "major:minor")?;
        let (a, b) = dev.split_once(':').ok_or("major:minor without ':'")?;
        (number(a, "major")?, number(b, "minor")?)
    };
    let mut info = MountInfo {
        mount_id: number(text(fields[0], "mount ID")?, "mount ID")?,
        parent_id: number(text(fields[1], "parent ID")?, "parent ID")?,
        major,
        minor,
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        options: options(fields[5]),
        peer_group: None,
        master: None,
        propagate_from: None,
        unbindable: false,
        fstype: unescape(tail[0]),
        source: unescape(tail[1]),
        // Super options never contain a raw space; join defensively rather than fail.
        super_options: options(&tail[2..].join(&b' ')),
    };
    for field in &fields[6..sep] {
        let field = text(field, "optional field")?;
        let (tag, value) = match field.split_once(':') {
            Some((t, v)) => (t, Some(v)),
            None => (field, None),
        };
        let group = |v: Option<&str>| -> std::result::Result<Option<u64>, String> {
            let v = v.ok_or(format!("optional field {tag:?} without a group number"))?;
            Ok(Some(number(v, tag)?))
        };
        match tag {
            "shared" => info.peer_group = group(value)?,
            "master" => info.master = group(value)?,
            "propagate_from" => info.propagate_from = group(value)?,
            "unbindable" => info.unbindable = true,
            _ => {} // a tag from a newer kernel: ignore it, as mount_namespaces(7) asks
        }
    }
    Ok(info)
}

fn text<'a>(field: &'a [u8], what: &str) -> std::result::Result<&'a str, String> {
    std::str::from_utf8(field).map_err(|_| format!("{what} is not text"))
}

fn number<T: std::str::FromStr>(s: &str, what: &str) -> std::result::Result<T, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {s:?} is not a number"));
    }
    s.parse()
        .map_err(|_| format!("{what} {s:?} is out of range"))
}

fn options(field: &[u8]) -> Vec<OsString> {
    if field.is_empty() {
        return Vec::new();
    }
    field.split(|&b| b == b',').map(unescape).collect()
}

/// Decodes the kernel's escapes: `\` followed by three octal digits (at most `\377`) is that
/// byte; anything else is kept as it is.
pub fn unescape(field: &[u8]) -> OsString {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' {
            if let Some(&[a, b, c]) = field.get(i + 1..i + 4) {
                let octal = |d: u8| (b'0'..=b'7').contains(&d);
                if a <= b'3' && octal(a) && octal(b) && octal(c) {
                    out.push((a - b'0') * 64 + (b - b'0') * 8 + (c - b'0'));
                    i += 4;
                    continue;
                }
            }
        }
        out.push(field[i]);
        i += 1;
    }
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> MountInfo {
        parse_line(line.as_bytes()).unwrap()
    }

    #[test]
    fn man_page_example() {
        let m =
            one("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue");
        assert_eq!((m.mount_id, m.parent_id, m.major, m.minor), (36, 35, 98, 0));
        assert_eq!(m.root, "/mnt1");
        assert_eq!(m.mount_point, "/mnt2");
        assert_eq!(m.options, ["rw", "noatime"]);
        assert_eq!((m.peer_group, m.master), (None, Some(1)));
        assert_eq!(m.propagation(), Propagation::Slave);
        assert_eq!(
            (m.fstype.to_str(), m.source.to_str()),
            (Some("ext3"), Some("/dev/root"))
        );
        assert_eq!(m.super_options, ["rw", "errors=continue"]);
    }

    #[test]
    fn no_optional_fields_is_private() {
        let m = one("25 1 0:22 / /tmp rw,nosuid - tmpfs tmpfs rw,size=1024k");
        assert_eq!(m.propagation(), Propagation::Private);
        assert_eq!(
            (m.peer_group, m.master, m.propagate_from),
            (None, None, None)
        );
        assert!(!m.unbindable);
    }

    #[test]
    fn several_optional_fields() {
        let m = one("40 25 0:50 / /a rw shared:7 master:3 propagate_from:2 - tmpfs x rw");
        assert_eq!(
            (m.peer_group, m.master, m.propagate_from),
            (Some(7), Some(3), Some(2))
        );
        assert_eq!(
            m.propagation(),
            Propagation::Slave,
            "slave wins over shared"
        );
        let m = one("41 25 0:51 / /b rw unbindable - tmpfs x rw");
        assert_eq!(m.propagation(), Propagation::Unbindable);
        let m = one("42 25 0:52 / /c rw shared:9 future:tag - tmpfs x rw");
        assert_eq!(m.propagation(), Propagation::Shared);
    }

    #[test]
    fn escaped_spaces_tabs_newlines_and_backslashes() {
        let m = one(r"50 25 0:60 /r\134oot /mnt/a\040b\011c\012d\134 rw - tmpfs my\040src rw");
        assert_eq!(m.root, "/r\\oot");
        assert_eq!(m.mount_point, "/mnt/a b\tc\nd\\");
        assert_eq!(m.source, "my src");
    }

    #[test]
    fn a_dash_inside_paths_or_after_the_separator_is_not_the_separator() {
        let m = one("60 25 0:70 / /x\\040-\\040y rw - fuse.a - rw,a=-");
        assert_eq!(m.mount_point, "/x - y");
        assert_eq!(m.fstype, "fuse.a");
        assert_eq!(m.source, "-");
        assert_eq!(m.super_options, ["rw", "a=-"]);
        // A mount point that is literally "-" comes before the options, so it is field 5.
        let m = one("61 25 0:71 / - rw shared:1 - tmpfs none rw");
        assert_eq!(m.mount_point, "-");
        assert_eq!(m.peer_group, Some(1));
    }

    #[test]
    fn empty_source_and_non_utf8_bytes() {
        let m = parse_line(b"70 25 0:80 / /\xff\xfe rw - tmpfs  rw").unwrap();
        assert_eq!(m.source, "");
        assert_eq!(m.mount_point.as_encoded_bytes(), b"/\xff\xfe");
    }

    #[test]
    fn bad_escapes_are_kept() {
        assert_eq!(unescape(br"a\\b"), "a\\\\b");
        assert_eq!(unescape(br"\400\12\x41\"), "\\400\\12\\x41\\");
        assert_eq!(unescape(br"\101\060"), "A0");
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        for bad in [
            "",
            "1 2 3",
            "1 2 0:1 / /a rw",
            "1 2 0:1 / /a rw -",
            "1 2 0:1 / /a rw - tmpfs",
            "x 2 0:1 / /a rw - tmpfs t rw",
            "1 2 01 / /a rw - tmpfs t rw",
            "1 2 0:1 / /a rw shared - tmpfs t rw",
            "1 2 0:1 / /a rw shared:x - tmpfs t rw",
            "1 2 0:99999999999 / /a rw - tmpfs t rw",
            "-1 2 0:1 / /a rw - tmpfs t rw",
        ] {
            assert!(parse_line(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let e = parse(b"1 2 0:1 / /a rw - t s rw\nbroken\n").unwrap_err();
        assert!(e.to_string().starts_with("mountinfo line 2:"), "{e}");
    }

    #[test]
    fn whole_text_skips_blank_lines() {
        let all = parse(b"1 0 0:1 / / rw - a b rw\n\n2 1 0:2 / /p rw - c d rw\n").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].parent_id, 1);
    }

    #[test]
    fn this_process_table_parses() {
        let text = std::fs::read("/proc/self/mountinfo").unwrap();
        let all = parse(&text).unwrap();
        assert!(all.iter().any(|m| m.mount_point == "/"));
    }
}
