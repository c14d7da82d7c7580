//! Children in new namespaces: `spawn` (clone trampoline, then execve) and `fork` (the Python
//! path of `pyns.run`), the parent's side of the set-up, and the PID 1 init.
//!
//! The modules depend one way: `trampoline` (clones and their entry points) drives `child`
//! (the set-up steps), which follows a `spec::Plan`; `spec` knows neither.

pub mod channel;
mod child;
mod creds;
pub mod fork;
mod init;
mod init_fork;
mod init_stack;
mod raw;
pub mod spec;
mod start_lock;
mod trampoline;

use std::os::fd::{AsRawFd, OwnedFd};

use channel::{Channel, Event, Step};
pub use creds::Creds;
use spec::{Plan, Route};
pub use spec::{Program, Spec};
pub use start_lock::StartLock;
use trampoline::Stack;

use super::error::Error;
use super::idmap::{self, IdMap, Setgroups};
use super::ns::describe_flags;

/// A child whose set-up is complete: it runs its program (or returned to Python).
#[derive(Debug)]
pub struct Child {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
}

/// waitpid(2) for our unreaped child `pid` until it is reaped (again on EINTR).
fn reap(pid: libc::pid_t) {
    loop {
        // SAFETY: waitpid writes nothing through a null status pointer.
        let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL) };
        if r >= 0 || Error::last("waitpid").errno != libc::EINTR {
            return;
        }
    }
}

/// Kills our unreaped child `pid` (SIGKILL, kill(2)) and reaps it: only then may the memory
/// it may run on (its stack, its plan) be freed.
fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: kill touches no memory; the pid is our unreaped child, so it is not reused.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    reap(pid);
}

/// Why a child could not be started.
#[derive(Debug)]
pub enum Failed {
    /// A system call of the parent, or the program's execve/chdir (an OSError in Python).
    Os(Error),
    /// A step of the child's set-up (pyns.ChildError in Python; PermissionError when the
    /// kernel refused it for want of a privilege).
    Setup(Error),
    /// Writing the child's id maps (PermissionError when refused, else pyns.ChildError).
    IdMap(Error),
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
    stack: Option<Stack>,
    /// The child is an init that shares the caller's memory: it runs on `stack` until it
    /// exits, so the stack goes to `init_stack` when the child is handed over.
    init_on_stack: bool,
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
                .map_err(Failed::IdMap)?;
                self.channel.send_go()?;
                Ok(None)
            }
            Event::Done => Ok(self.hand_over()),
            Event::Eof if self.exec => Ok(self.hand_over()),
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

impl Starting {
    /// The child, set up; an init's stack is kept until it exits.
    fn hand_over(&mut self) -> Option<Child> {
        let child = self.child.take()?;
        if self.init_on_stack {
            if let Some(stack) = self.stack.take() {
                init_stack::keep(child.pid, stack);
            }
        }
        Some(child)
    }
}

fn os_path(b: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b).into()
}

impl Drop for Starting {
    fn drop(&mut self) {
        // Before the fields: the child may still run on the stack and read the plan.
        if let Some(c) = self.child.take() {
            kill_and_reap(c.pid);
        }
    }
}

/// Starts `program` in a child in the namespaces of `spec`, by the clone trampoline
/// (clone3(2) with the namespace flags, CLONE_PIDFD; CLONE_VM, and CLONE_VFORK when the
/// parent need not act before the exec and the child is no init). `poll` the result until
/// the program runs.
pub fn spawn(spec: &Spec, program: &Program) -> Result<Starting, Failed> {
    init_stack::sweep();
    let mut plan = Box::new(Plan::new(spec, Some(program), false)?);
    let lock = StartLock::acquire();
    let (channel, child_end) = Channel::pair()?;
    plan.set_channel(child_end.as_raw_fd());
    let stack = Stack::new()?;
    plan.set_stacks(stack.worker(), stack.init());
    let vm = plan.can_share_memory();
    let mut flags = if plan.route == Route::Clone {
        plan.ns_flags
    } else {
        0
    };
    if vm {
        flags |= libc::CLONE_VM;
        if !plan.user_new && !plan.init {
            flags |= libc::CLONE_VFORK;
        }
    }
    let mut old = 0;
    raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, Some(&mut old));
    // SAFETY: the plan and stack move into `Starting`, which keeps them until the child is
    // reaped or has exec'd (an init's stack then goes to `init_stack` until the init exits);
    // every signal of this thread is blocked.
    let started = unsafe { trampoline::start(&plan, &stack, flags) };
    raw::sigprocmask(libc::SIG_SETMASK, old, None);
    drop((child_end, lock));
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
        child: Some(Child { pid, pidfd }),
        channel,
        uid_map: spec.uid_map.clone(),
        gid_map: spec.gid_map.clone(),
        setgroups: spec.setgroups,
        exec: true,
        argv0: program.argv.first().cloned().unwrap_or_default(),
        cwd: program.cwd.clone(),
        init_on_stack: vm && plan.init,
        _plan: plan,
        stack: Some(stack),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn ignore(_: libc::c_int) {}

    #[test]
    fn reap_goes_on_after_eintr() {
        // SAFETY: a handler without SA_RESTART, so that waitpid fails with EINTR.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = ignore as *const () as usize;
            libc::sigaction(libc::SIGURG, &sa, std::ptr::null_mut());
        }
        // SAFETY: the child only sleeps and exits (async-signal-safe calls).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                libc::usleep(300_000);
                libc::_exit(0);
            }
        }
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as usize;
        let poke = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            // SAFETY: the test thread is alive: it is in reap() below.
            unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGURG) };
        });
        reap(pid);
        poke.join().unwrap();
        // SAFETY: a zeroed siginfo is valid; waitid writes into it.
        let r = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as u32,
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            )
        };
        assert_eq!(r, -1, "the child was left a zombie");
    }
}
