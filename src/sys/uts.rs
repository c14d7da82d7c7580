//! Host and domain names of the calling thread's UTS namespace.

use super::error::{Context, Error, Result};

/// The longest host or domain name the kernel accepts (HOST_NAME_MAX, 64 bytes).
pub const NAME_MAX: usize = 64;

/// Checks a host or domain name before any syscall: at most 64 bytes, no NUL.
pub fn validate(what: &str, name: &str) -> std::result::Result<(), String> {
    if name.len() > NAME_MAX {
        return Err(format!(
            "{what} is {} bytes long; the kernel allows at most {NAME_MAX}",
            name.len()
        ));
    }
    if name.contains('\0') {
        return Err(format!("{what} must not contain a NUL character"));
    }
    Ok(())
}

/// sethostname(2).
pub fn set_hostname(name: &str) -> Result<()> {
    nix::unistd::sethostname(name).op("sethostname")
}

/// setdomainname(2).
pub fn set_domainname(name: &str) -> Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, valid for the call.
    let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if r < 0 {
        return Err(Error::last("setdomainname"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_length_and_nul() {
        assert!(validate("hostname", "box").is_ok());
        assert!(validate("hostname", &"x".repeat(64)).is_ok());
        let e = validate("hostname", &"x".repeat(65)).unwrap_err();
        assert!(e.contains("at most 64"), "{e}");
        assert!(validate("hostname", "a\0b").is_err());
    }
}
