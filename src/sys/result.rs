//! The caller's end of a function that `pyns.run` forked: the child's pickled outcome comes
//! through a pipe, framed by its length (a native-endian u64 ahead of it, written by
//! `pyns.call._child_main`), and the child is watched and reaped through its pidfd.
//!
//! The reader stops at the frame's end, so a copy of the pipe's write end in a process the
//! function started cannot stall it; the child's exit (its pidfd readable) with the frame
//! incomplete ends the wait too.

use std::os::fd::RawFd;
use std::time::Instant;

use super::error::{Error, Result};

/// The frame's header: the payload's length.
const HEADER: usize = std::mem::size_of::<u64>();
/// The most read at once.
const CHUNK: usize = 1 << 20;
/// What is read at first, before the frame's length is known (most results fit).
const FIRST: usize = 1 << 16;

/// What one wait for the result gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    /// The payload; empty if the child exited (or the pipe reached EOF) before all of it came.
    Done(Vec<u8>),
    /// A signal came (EINTR): the caller handles it and waits again.
    Interrupted,
    /// The deadline passed.
    TimedOut,
}

/// The read end of a result pipe and the child's pidfd (both owned by the caller), with what
/// has been read so far.
pub struct ResultReader {
    fd: RawFd,
    pidfd: RawFd,
    buf: Vec<u8>,
    exited: bool,
}

impl ResultReader {
    pub fn new(fd: RawFd, pidfd: RawFd) -> Self {
        ResultReader {
            fd,
            pidfd,
            buf: Vec::new(),
            exited: false,
        }
    }

    /// The frame's total length once its header is there.
    fn frame_len(&self) -> Option<usize> {
        let header: [u8; HEADER] = self.buf.get(..HEADER)?.try_into().ok()?;
        usize::try_from(u64::from_ne_bytes(header))
            .ok()?
            .checked_add(HEADER)
    }

    /// Waits (poll(2)) until the whole frame has been read or the child has exited, at most
    /// until `deadline` (None: for ever). Call again after `Interrupted`.
    pub fn wait(&mut self, deadline: Option<Instant>) -> Result<Wait> {
        loop {
            let want = self.frame_len();
            if let Some(end) = want.filter(|&end| self.buf.len() >= end) {
                self.buf.truncate(end);
                return Ok(Wait::Done(self.buf.split_off(HEADER)));
            }
            let mut fds = [
                libc::pollfd {
                    fd: self.fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.pidfd,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // Once the child has exited, all it wrote is in the pipe: read what is there,
            // never wait (a process it started may hold the write end open).
            let (n, timeout) = if self.exited {
                (1, 0)
            } else {
                (2, remaining_ms(deadline))
            };
            // SAFETY: `fds` holds `n` valid pollfd entries.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), n, timeout) };
            if r < 0 {
                return match Error::last("poll the result pipe") {
                    e if e.errno == libc::EINTR => Ok(Wait::Interrupted),
                    e => Err(e),
                };
            }
            if r == 0 {
                if self.exited {
                    return Ok(Wait::Done(Vec::new()));
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(Wait::TimedOut);
                }
                continue; // a wait longer than poll(2) takes at once (about 24 days)
            }
            self.exited |= fds[1].revents != 0;
            if fds[0].revents != 0 {
                let missing = want.map_or(FIRST, |end| end - self.buf.len());
                match self.read(missing.min(CHUNK))? {
                    Some(0) => return Ok(Wait::Done(Vec::new())), // EOF
                    Some(_) => {}
                    None => return Ok(Wait::Interrupted),
                }
            }
        }
    }

    /// One read(2) of at most `max` bytes; None on EINTR.
    fn read(&mut self, max: usize) -> Result<Option<usize>> {
        self.buf.reserve(max);
        let spare = self.buf.spare_capacity_mut();
        // SAFETY: `spare` is writable memory of at least `max` bytes owned by `buf`.
        let n = unsafe { libc::read(self.fd, spare.as_mut_ptr().cast(), max) };
        if n < 0 {
            return match Error::last("read the result pipe") {
                e if e.errno == libc::EINTR => Ok(None),
                e => Err(e),
            };
        }
        let n = n as usize;
        // SAFETY: read(2) initialised the first `n` bytes of the spare capacity.
        unsafe { self.buf.set_len(self.buf.len() + n) };
        Ok(Some(n))
    }
}

/// poll(2)'s timeout in ms until `deadline` (rounded up; -1: none).
fn remaining_ms(deadline: Option<Instant>) -> i32 {
    match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
        }
    }
}

/// Reaps the exited or exiting child behind `pidfd` (waitid(2) P_PIDFD, blocking): its
/// returncode as subprocess gives it (the exit status, or `-signal`); 255 if someone else
/// reaped it (the status is lost); None on EINTR (the caller handles the signal, calls again).
pub fn reap(pidfd: RawFd) -> Result<Option<i32>> {
    // SAFETY: a zeroed siginfo is valid; waitid writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is writable; P_PIDFD takes the fd as the id.
    let r = unsafe { libc::waitid(libc::P_PIDFD, pidfd as libc::id_t, &mut info, libc::WEXITED) };
    if r < 0 {
        return match Error::last("waitid(P_PIDFD) for the child") {
            e if e.errno == libc::EINTR => Ok(None),
            e if e.errno == libc::ECHILD => Ok(Some(255)),
            e => Err(e),
        };
    }
    // SAFETY: waitid filled `info` for an exited child.
    let status = unsafe { info.si_status() };
    Ok(Some(if info.si_code == libc::CLD_EXITED {
        status
    } else {
        -status
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut p = [0; 2];
        // SAFETY: a new pipe into a valid array.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: pipe2 just made these fds.
        unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) }
    }

    fn write(fd: &OwnedFd, data: &[u8]) {
        // SAFETY: `data` is readable for its length.
        let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        assert_eq!(n, data.len() as isize);
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u64).to_ne_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn a_frame_is_read_to_its_end_and_no_further() {
        let (r, w) = pipe();
        let (never, _keep) = pipe(); // a pidfd stand-in that never becomes readable
        write(&w, &frame(b"hello"));
        write(&w, b"trailing bytes of somebody else");
        let mut reader = ResultReader::new(r.as_raw_fd(), never.as_raw_fd());
        assert_eq!(reader.wait(None).unwrap(), Wait::Done(b"hello".to_vec()));
    }

    #[test]
    fn eof_or_an_exit_before_the_frame_is_complete_gives_nothing() {
        let (r, w) = pipe();
        let (never, _keep) = pipe();
        write(&w, &frame(b"hello")[..7]);
        drop(w);
        let mut reader = ResultReader::new(r.as_raw_fd(), never.as_raw_fd());
        assert_eq!(reader.wait(None).unwrap(), Wait::Done(Vec::new()));

        // The write end held elsewhere, the "child" gone (its pidfd stand-in readable).
        let (r, w) = pipe();
        let (exited, signal) = pipe();
        write(&w, &frame(b"hello")[..10]);
        write(&signal, b"x");
        let mut reader = ResultReader::new(r.as_raw_fd(), exited.as_raw_fd());
        assert_eq!(reader.wait(None).unwrap(), Wait::Done(Vec::new()));
    }

    #[test]
    fn a_deadline_ends_the_wait() {
        let (r, _w) = pipe();
        let (never, _keep) = pipe();
        let mut reader = ResultReader::new(r.as_raw_fd(), never.as_raw_fd());
        let deadline = Instant::now() + Duration::from_millis(20);
        assert_eq!(reader.wait(Some(deadline)).unwrap(), Wait::TimedOut);
    }

    #[test]
    fn a_big_frame_comes_in_many_reads() {
        let (r, w) = pipe();
        let (never, _keep) = pipe();
        let payload: Vec<u8> = (0..3 * CHUNK).map(|i| i as u8).collect();
        let writer = std::thread::spawn(move || write(&w, &frame(&payload)));
        let mut reader = ResultReader::new(r.as_raw_fd(), never.as_raw_fd());
        let got = reader.wait(None).unwrap();
        writer.join().unwrap();
        let expected: Vec<u8> = (0..3 * CHUNK).map(|i| i as u8).collect();
        assert_eq!(got, Wait::Done(expected));
    }
}
