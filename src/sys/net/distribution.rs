//! netem's delay distribution tables, read as iproute2's `tc` reads them: the files
//! `<name>.dist` that ship with iproute2 (`normal`, `pareto`, `paretonormal`), in its library
//! directory (`$TC_LIB_DIR`, else `/usr/lib/<multiarch>/tc` on Debian and Ubuntu, `/usr/lib/tc`
//! or `/usr/lib64/tc` elsewhere): whitespace-separated integers (s16), lines starting with `#`
//! are comments. The table goes to the kernel as `TCA_NETEM_DELAY_DIST`.

use std::path::PathBuf;

use crate::sys::error::{Error, Result};

/// The most values the kernel takes (`NETEM_DIST_MAX`).
pub const MAX: usize = 16384;

/// The distributions iproute2 ships a table for.
pub const NAMES: [&str; 3] = ["normal", "pareto", "paretonormal"];

/// Where iproute2's library directory may be, in the order `tc` would find it.
fn directories() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(d) = std::env::var_os("TC_LIB_DIR") {
        out.push(PathBuf::from(d));
    }
    let arch = format!("/usr/lib/{}-linux-gnu/tc", std::env::consts::ARCH);
    for d in [arch.as_str(), "/usr/lib/tc", "/usr/lib64/tc", "/lib/tc"] {
        out.push(PathBuf::from(d));
    }
    out
}

/// Parses the text of a `.dist` file as `tc` does (`strtol` base 0 per token).
pub fn parse(text: &str) -> std::result::Result<Vec<i16>, String> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        for token in line.split_whitespace() {
            let v: i64 = token
                .parse()
                .map_err(|_| format!("{token:?} is not a number"))?;
            let v = i16::try_from(v).map_err(|_| format!("{v} does not fit 16 bits"))?;
            if out.len() == MAX {
                return Err(format!("more than {MAX} values"));
            }
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err("no values".into());
    }
    Ok(out)
}

/// The table of the distribution `name` (one of `NAMES`).
///
/// # Errors
/// Unsupported when iproute2's table is in none of its directories (naming the package);
/// a condition error for a file that is not a table.
pub fn load(name: &str) -> Result<Vec<i16>> {
    for dir in directories() {
        let path = dir.join(format!("{name}.dist"));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return parse(&text).map_err(|e| {
                    Error::condition(format!("{}: not a netem table: {e}", path.display()))
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                return Err(Error::new(format!("read {}", path.display()), errno).at(&path));
            }
        }
    }
    let tried: Vec<String> = directories()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    Err(Error::unsupported(format!(
        "netem's {name} distribution table ({name}.dist) is in none of {}: it ships with \
         iproute2 (Debian/Ubuntu: apt-get install iproute2; or set TC_LIB_DIR)",
        tried.join(", ")
    ))
    .hint("apt-get install iproute2"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_tc() {
        assert_eq!(
            parse("# a table\n1 -2\n\n 3\t4\n").unwrap(),
            vec![1, -2, 3, 4]
        );
        assert!(parse("1 x").is_err());
        assert!(parse("40000").is_err());
        assert!(parse("# nothing\n").is_err());
    }
}
