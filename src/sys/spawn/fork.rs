//! The Python path (`pyns.run`): glibc fork(2) between the interpreter's own fork hooks, as
//! `os.fork` does, then the same set-up as a spawned child; the worker returns to Python.

use std::os::fd::AsRawFd;

use super::channel::{self, Channel};
use super::child::{self, Forker};
use super::raw;
use super::spec::{Plan, Spec};
use super::trampoline::Stack;
use super::{Child, Failed, Starting};
use crate::sys::error::Error;
use crate::sys::pidfd;

/// The interpreter's fork hooks (PyOS_BeforeFork, PyOS_AfterFork_Parent,
/// PyOS_AfterFork_Child), passed in so that this module needs no Python.
pub struct ForkHooks {
    pub before: unsafe extern "C" fn(),
    pub after_parent: unsafe extern "C" fn(),
    pub after_child: unsafe extern "C" fn(),
}

/// What `fork` returns in each process.
pub enum Forked {
    /// In the caller: the child, in its set-up.
    Parent(Starting),
    /// In the child that runs the function, after the set-up.
    Child,
}

struct HookForker<'a> {
    hooks: &'a ForkHooks,
    /// The signal mask the worker gets back.
    mask: u64,
}

impl HookForker<'_> {
    /// fork(2) between the hooks; 0 in the child (its signal mask restored), the pid in the
    /// parent, which keeps every signal blocked (it becomes a relay or the init).
    fn fork(&self) -> isize {
        raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, None);
        // SAFETY: the hooks are the interpreter's; this process is single-threaded here and
        // holds the GIL (it is a forked child of the caller).
        unsafe { (self.hooks.before)() };
        // SAFETY: glibc's fork resets its own locks in the child.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe { (self.hooks.after_child)() };
            raw::sigprocmask(libc::SIG_SETMASK, self.mask, None);
            return 0;
        }
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        // SAFETY: as above.
        unsafe { (self.hooks.after_parent)() };
        if pid < 0 {
            -(errno as isize)
        } else {
            pid as isize
        }
    }
}

impl Forker for HookForker<'_> {
    fn start_worker(&self, _plan: &Plan) -> isize {
        self.fork()
    }
}

/// Forks the calling Python process into the namespaces of `spec` (fork(2) with the
/// interpreter's hooks, like os.fork). The caller must hold the GIL. In the parent, `poll`
/// the result until the child is ready; in the child, run the function.
pub fn fork(spec: &Spec, hooks: &ForkHooks) -> Result<Forked, Failed> {
    let (channel, child_end) = Channel::pair()?;
    let mut plan = Box::new(Plan::new(spec, None, child_end.as_raw_fd(), true)?);
    let stack = Stack::new()?;
    plan.set_stacks(&stack);
    let mut mask = 0;
    raw::sigprocmask(libc::SIG_BLOCK, 0, Some(&mut mask));
    // SAFETY: the caller holds the GIL, as the hooks require.
    unsafe { (hooks.before)() };
    // SAFETY: glibc's fork resets its own locks in the child.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above, in the child.
        unsafe { (hooks.after_child)() };
        drop(channel);
        let forker = HookForker { hooks, mask };
        return match child::setup(&plan, &forker) {
            Ok(()) => {
                channel::child_done(child_end.as_raw_fd());
                Ok(Forked::Child)
            }
            Err(f) => {
                channel::child_fail(child_end.as_raw_fd(), f);
                raw::exit(127)
            }
        };
    }
    let fork_err = Error::last("fork");
    // SAFETY: as above, in the parent.
    unsafe { (hooks.after_parent)() };
    drop(child_end);
    if pid < 0 {
        return Err(Failed::Os(fork_err));
    }
    let pidfd = match pidfd::pidfd_open(pid, 0) {
        Ok(fd) => fd,
        Err(e) => {
            // SAFETY: our unreaped child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            return Err(Failed::Os(e));
        }
    };
    Ok(Forked::Parent(Starting {
        child: Some(Child { pid, pidfd }),
        channel,
        uid_map: spec.uid_map.clone(),
        gid_map: spec.gid_map.clone(),
        setgroups: spec.setgroups,
        exec: false,
        argv0: Vec::new(),
        cwd: None,
        _plan: plan,
        _stack: Some(stack),
    }))
}
