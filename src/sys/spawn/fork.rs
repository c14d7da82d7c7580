//! The Python path (`pyns.run`): glibc fork(2) between the interpreter's own fork hooks, as
//! `os.fork` does, then the same set-up as a spawned child; the worker returns to Python.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::channel::{self, Channel};
use super::child::{self, Forker};
use super::init_fork;
use super::raw;
use super::spec::{Plan, Spec};
use super::start_lock::StartLock;
use super::trampoline::Stack;
use super::{Child, Failed, Starting};
use crate::sys::error::Error;
use crate::sys::ns::Kind;
use crate::sys::{caps, isolate, pidfd};

/// The interpreter's fork hooks (PyOS_BeforeFork, PyOS_AfterFork_Parent,
/// PyOS_AfterFork_Child), passed in so that this module needs no Python.
pub struct ForkHooks {
    pub before: unsafe extern "C" fn(),
    pub after_parent: unsafe extern "C" fn(),
    pub after_child: unsafe extern "C" fn(),
}

/// What `fork` returns in each process.
pub enum Forked {
    /// In the caller: the child, in its set-up, and the read end of its result pipe.
    Parent(Starting, OwnedFd),
    /// In the child that runs the function, after the set-up: the result pipe's write end.
    Child(OwnedFd),
}

/// pipe2(2) with O_CLOEXEC for the function's result: (read end, write end).
fn result_pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    let (r, w) = raw::pipe().map_err(|e| Error::new("pipe2 for the result", (-e) as i32))?;
    // SAFETY: pipe2 just returned these fds; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(r), OwnedFd::from_raw_fd(w)) })
}

struct HookForker<'a> {
    hooks: &'a ForkHooks,
    /// The signal mask the worker gets back.
    mask: u64,
}

impl HookForker<'_> {
    /// fork(2) between the hooks; 0 in the child (its signal mask `child_mask`), the pid in
    /// the parent, which keeps every signal blocked (it becomes a relay or the init).
    fn fork(&self, child_mask: u64) -> isize {
        raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, None);
        // SAFETY: the hooks are the interpreter's; this process is single-threaded here and
        // holds the GIL (it is a forked child of the caller).
        unsafe { (self.hooks.before)() };
        // SAFETY: glibc's fork resets its own locks in the child.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe { (self.hooks.after_child)() };
            raw::sigprocmask(libc::SIG_SETMASK, child_mask, None);
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
    /// A fork: the worker gets a copy of the memory, not a share, and the caller's signal
    /// mask back.
    unsafe fn start_worker(&self, _plan: &Plan) -> isize {
        self.fork(self.mask)
    }

    /// The relay's init, a clone that shares the relay's memory on the plan's init stack
    /// and forks the worker (`init_fork`): 0 in the worker, which gets the caller's signal
    /// mask back.
    unsafe fn start_init(&self, plan: &Plan) -> isize {
        raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, None);
        // SAFETY: the hooks are the interpreter's; this process is single-threaded here and
        // holds the GIL (it is a forked child of the caller).
        unsafe { (self.hooks.before)() };
        // SAFETY: every signal is blocked and the hooks are taken; the relay never returns
        // nor frees its memory, where the plan and the init's stack live.
        let pid = unsafe { init_fork::start(plan, plan.init_stack, true) };
        if pid == 0 {
            // SAFETY: as above, in the worker.
            unsafe { (self.hooks.after_child)() };
            raw::sigprocmask(libc::SIG_SETMASK, self.mask, None);
        } else {
            // SAFETY: as above, in the relay.
            unsafe { (self.hooks.after_parent)() };
        }
        pid
    }
}

/// Whether the calling thread can make the namespaces itself, so that the function's process
/// is the only copy of the caller (pid without user, time, mnt or joins, with CAP_SYS_ADMIN):
/// otherwise a first child makes them and relays, and the worker is a second copy.
fn in_place(spec: &Spec) -> bool {
    let allowed = [Kind::Uts, Kind::Ipc, Kind::Net, Kind::Pid, Kind::Cgroup];
    spec.new.contains(&Kind::Pid)
        && spec.join.is_empty()
        && spec.new.iter().all(|k| allowed.contains(k))
        && caps::effective(caps::CAP_SYS_ADMIN).unwrap_or(false)
}

/// Forks the calling Python process into the namespaces of `spec` (fork(2) with the
/// interpreter's hooks, like os.fork). The caller must hold the GIL, and `lock`, which it must
/// take with the GIL released: the thread that holds the lock runs Python's fork callbacks,
/// which may hand the GIL to another thread. In the parent, `poll`
/// the result until the child is ready; in the child, run the function and write its result
/// to the pipe.
pub fn fork(spec: &Spec, hooks: &ForkHooks, lock: StartLock) -> Result<Forked, Failed> {
    super::init_stack::sweep();
    let mut plan = Box::new(Plan::new(spec, None, true)?);
    let (channel, child_end) = Channel::pair()?;
    let result = result_pipe()?;
    plan.set_channel(child_end.as_raw_fd());
    let mut mask = 0;
    raw::sigprocmask(libc::SIG_BLOCK, 0, Some(&mut mask));
    let forker = HookForker { hooks, mask };
    if in_place(spec) {
        return fork_in_place(spec, &forker, lock, (channel, child_end), result, plan);
    }
    // The relay's init runs on a stack in the relay's copy of this mapping (the relay never
    // returns from the set-up, so its copy is never unmapped).
    let _stack = if plan.stage && plan.init {
        let stack = Stack::new()?;
        plan.set_stacks(stack.worker(), stack.init());
        Some(stack)
    } else {
        None
    };
    // SAFETY: the caller holds the GIL, as the hooks require.
    unsafe { (hooks.before)() };
    // SAFETY: glibc's fork resets its own locks in the child.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above, in the child.
        unsafe { (hooks.after_child)() };
        drop((lock, channel, result.0));
        return in_child(child::setup(&plan, &forker), child_end, result.1);
    }
    let fork_err = Error::last("fork");
    // SAFETY: as above, in the parent.
    unsafe { (hooks.after_parent)() };
    drop((child_end, result.1, lock));
    if pid < 0 {
        return Err(Failed::Os(fork_err));
    }
    starting(spec, pid, channel, plan).map(|s| Forked::Parent(s, result.0))
}

/// The child's end of `fork`: reports the set-up's outcome; returns only to run the function.
fn in_child(
    setup: Result<(), channel::Failure>,
    child_end: OwnedFd,
    result: OwnedFd,
) -> Result<Forked, Failed> {
    match setup {
        Ok(()) => {
            channel::child_done(child_end.as_raw_fd());
            Ok(Forked::Child(result))
        }
        Err(f) => {
            channel::child_fail(child_end.as_raw_fd(), f);
            raw::exit(127)
        }
    }
}

/// `fork` when the calling thread can make the namespaces: unshare them on this thread (as
/// `isolate` does), start the child, which is PID 1 of the new pid namespace, and go back.
/// With `init`, the child is pyns' init, which shares this process's memory and forks the
/// worker (PID 2, its child, the one copy of the caller: see `init_fork`); else the child is
/// the worker, forked here.
fn fork_in_place(
    spec: &Spec,
    forker: &HookForker<'_>,
    lock: StartLock,
    (channel, child_end): (Channel, OwnedFd),
    result: (OwnedFd, OwnedFd),
    plan: Box<Plan>,
) -> Result<Forked, Failed> {
    let iso = isolate::Spec {
        kinds: spec.new.clone(),
        hostname: spec.hostname.clone(),
        domainname: spec.domainname.clone(),
        loopback: spec.loopback,
        propagation: None,
    };
    let stack = if plan.init { Some(Stack::new()?) } else { None };
    let mut guard = isolate::isolate(&iso)?;
    let hooks = forker.hooks;
    let mut old = 0;
    raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, Some(&mut old));
    // SAFETY: the caller holds the GIL, as the hooks require.
    unsafe { (hooks.before)() };
    let pid = match &stack {
        // SAFETY: every signal of this thread is blocked and the fork hooks are taken; the
        // plan and the stack move into `Starting` (the stack then to `init_stack`).
        Some(stack) => unsafe { init_fork::start(&plan, stack.child(), false) },
        // SAFETY: glibc's fork resets its own locks in the child.
        None => match unsafe { libc::fork() } {
            -1 => -(Error::last("fork").errno as isize),
            pid => pid as isize,
        },
    };
    if pid == 0 {
        // SAFETY: as above, in the worker (a fork of this thread, or of the init on its
        // behalf).
        unsafe { (hooks.after_child)() };
        raw::sigprocmask(libc::SIG_SETMASK, old, None);
        // The guard is the parent's to restore: dropped here (a later fork generation), it
        // only closes its fds, even where this child's tid equals the parent thread's (nested
        // pid namespaces).
        drop(guard);
        drop((lock, channel, result.0));
        let setup = if plan.init {
            child::finish(&plan)
        } else {
            child::adopt(&plan).and_then(|()| child::finish(&plan))
        };
        return in_child(setup, child_end, result.1);
    }
    // Back in the caller's namespaces before Python's after-fork callbacks run.
    let restored = guard.restore();
    // SAFETY: as above, in the parent.
    unsafe { (hooks.after_parent)() };
    raw::sigprocmask(libc::SIG_SETMASK, old, None);
    drop((child_end, result.1, lock));
    if pid < 0 {
        let op = if plan.init { "clone the init" } else { "fork" };
        return Err(Failed::Os(Error::new(op, (-pid) as i32)));
    }
    let mut starting = starting(spec, pid as libc::pid_t, channel, plan)?;
    if stack.is_some() {
        starting.stack = stack;
        starting.init_on_stack = true;
    }
    restored?;
    Ok(Forked::Parent(starting, result.0))
}

/// The parent's side of a forked child in its set-up.
fn starting(
    spec: &Spec,
    pid: libc::pid_t,
    channel: Channel,
    plan: Box<Plan>,
) -> Result<Starting, Failed> {
    let pidfd = match pidfd::pidfd_open(pid, 0) {
        Ok(fd) => fd,
        Err(e) => {
            super::kill_and_reap(pid);
            return Err(Failed::Os(e));
        }
    };
    Ok(Starting {
        child: Some(Child { pid, pidfd }),
        channel,
        uid_map: spec.uid_map.clone(),
        gid_map: spec.gid_map.clone(),
        setgroups: spec.setgroups,
        exec: false,
        argv0: Vec::new(),
        cwd: None,
        _plan: plan,
        stack: None,
        init_on_stack: false,
    })
}
