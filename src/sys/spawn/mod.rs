//! Children in new namespaces: `spawn` (clone trampoline, then execve) and `fork` (the Python
//! path of `pyns.run`), the parent's side of the set-up, and the PID 1 init.

pub mod channel;
mod child;
pub mod fork;
mod init;
mod raw;
pub mod spec;
mod trampoline;

use std::os::fd::{AsRawFd, OwnedFd};

use channel::{Channel, Event, Step};
use spec::{Plan, Route};
pub use spec::{Program, Spec};
use trampoline::Stack;

use super::error::Error;
use super::idmap::{self, IdMap, Setgroups};
use super::ns::describe_flags;

/// A child whose set-up is complete: it runs its program (or returned to Python).
#[derive(Debug)]
pub struct Child {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    /// The light PID 1 of its pid namespace when that is a sibling, not its parent.
    pub init: Option<Init>,
}

/// The light PID 1 of a pid namespace that `fork` made on the calling thread: a clone that
/// shares this process's memory and runs on `stack`, so the stack stays mapped until it is
/// reaped. It exits once the worker has; dropping it unreaped kills and reaps it.
#[derive(Debug)]
pub struct Init {
    pid: libc::pid_t,
    reaped: bool,
    _stack: Stack,
}

impl Init {
    fn new(pid: libc::pid_t, stack: Stack) -> Init {
        Init {
            pid,
            reaped: false,
            _stack: stack,
        }
    }

    /// Waits for it to exit (waitpid(2)); it does right after the worker.
    pub fn wait(&mut self) {
        while !self.reaped {
            // SAFETY: our unreaped child.
            let r = unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), libc::__WALL) };
            let interrupted = r < 0 && Error::last("waitpid").errno == libc::EINTR;
            self.reaped = !interrupted;
        }
    }
}

impl Drop for Init {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: our unreaped child.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            self.wait();
        }
    }
}

/// Why a child could not be started.
#[derive(Debug)]
pub enum Failed {
    /// A system call of the parent, or the program's execve/chdir (an OSError in Python).
    Os(Error),
    /// A step of the child's set-up (pyns.ChildError in Python).
    Setup(Error),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Failed {
        Failed::Os(e)
    }
}

/// A child in its set-up: `poll` it until it is done. Dropping it kills and reaps the child.
pub struct Starting {
    child: Option<Child>,
    channel: Channel,
    uid_map: Option<IdMap>,
    gid_map: Option<IdMap>,
    setgroups: Setgroups,
    /// spawn: EOF after execve means success; run: the child says DONE.
    exec: bool,
    argv0: Vec<u8>,
    cwd: Option<Vec<u8>>,
    // The child may read these until it has exec'd or exited; dropped after it is reaped.
    _plan: Box<Plan>,
    _stack: Option<Stack>,
}

impl Starting {
    /// The child's pid.
    pub fn pid(&self) -> libc::pid_t {
        self.child.as_ref().map_or(0, |c| c.pid)
    }

    /// Waits up to `timeout_ms` for the set-up to progress, writing the id maps when the
    /// child asks: the child once it runs its program (spawn) or Python (run), else None.
    pub fn poll(&mut self, timeout_ms: i32) -> Result<Option<Child>, Failed> {
        let Some(event) = self.channel.recv(timeout_ms)? else {
            return Ok(None);
        };
        match event {
            Event::Ready => {
                idmap::write_maps(
                    self.pid(),
                    self.uid_map.as_ref(),
                    self.gid_map.as_ref(),
                    self.setgroups,
                )
                .map_err(Failed::Setup)?;
                self.channel.send_go()?;
                Ok(None)
            }
            Event::Done => Ok(self.child.take()),
            Event::Eof if self.exec => Ok(self.child.take()),
            Event::Eof => Err(Failed::Setup(Error::condition(
                "the child exited during its set-up, before running the function",
            ))),
            Event::Failed(f) => {
                let e = f.error();
                Err(match f.step {
                    Step::Execve => {
                        Failed::Os(Error::new("execve", f.errno).at(os_path(&self.argv0)))
                    }
                    Step::Chdir => Failed::Os(
                        Error::new("chdir", f.errno)
                            .at(os_path(self.cwd.as_deref().unwrap_or(b""))),
                    ),
                    _ => Failed::Setup(e),
                })
            }
        }
    }
}

fn os_path(b: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b).into()
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            // SAFETY: the pidfd is ours; the child is not reaped yet, so its pid is valid.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    c.pidfd.as_raw_fd(),
                    libc::SIGKILL,
                    0,
                    0,
                );
                libc::waitpid(c.pid, std::ptr::null_mut(), libc::__WALL);
            }
        }
    }
}

/// Starts `program` in a child in the namespaces of `spec`, by the clone trampoline
/// (clone3(2) with the namespace flags, CLONE_PIDFD; CLONE_VM, and CLONE_VFORK when the
/// parent need not act before the exec). `poll` the result until the program runs.
pub fn spawn(spec: &Spec, program: &Program) -> Result<Starting, Failed> {
    let (channel, child_end) = Channel::pair()?;
    let mut plan = Box::new(Plan::new(
        spec,
        Some(program),
        child_end.as_raw_fd(),
        false,
    )?);
    let stack = Stack::new()?;
    plan.set_stacks(&stack);
    let vm = plan.can_share_memory();
    let mut flags = if plan.route == Route::Clone {
        plan.ns_flags
    } else {
        0
    };
    if vm {
        flags |= libc::CLONE_VM;
        if !plan.user_new {
            flags |= libc::CLONE_VFORK;
        }
    }
    let mut old = 0;
    raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, Some(&mut old));
    // SAFETY: the plan and stack move into `Starting`, which keeps them until the child is
    // reaped or has exec'd; every signal of this thread is blocked.
    let started = unsafe { trampoline::start(&plan, &stack, flags) };
    raw::sigprocmask(libc::SIG_SETMASK, old, None);
    drop(child_end);
    let (pid, pidfd) = started.map_err(|errno| {
        Error::new(
            format!(
                "clone3({})",
                describe_flags(flags & !(libc::CLONE_VM | libc::CLONE_VFORK))
            ),
            errno,
        )
    })?;
    Ok(Starting {
        child: Some(Child {
            pid,
            pidfd,
            init: None,
        }),
        channel,
        uid_map: spec.uid_map.clone(),
        gid_map: spec.gid_map.clone(),
        setgroups: spec.setgroups,
        exec: true,
        argv0: program.argv.first().cloned().unwrap_or_default(),
        cwd: program.cwd.clone(),
        _plan: plan,
        _stack: Some(stack),
    })
}
