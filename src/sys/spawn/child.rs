//! The child's side: the set-up steps, in order, with raw system calls only (no allocation,
//! no locks, no libc wrappers), so that it is safe in a clone that shares the parent's memory.

use std::sync::atomic::Ordering;

use super::channel::{self, Failure, Step};
use super::creds::{self, Creds};
use super::init;
use super::raw;
use super::spec::{ExecPlan, Plan};

/// How the set-up starts the processes it does not become: the worker, and the init that a
/// relay starts in a new pid namespace.
pub trait Forker {
    /// Starts the worker: its pid here; 0 in the worker if it is to continue in this code
    /// (the Python path), `-errno` on failure.
    ///
    /// # Safety
    /// The worker may share the calling process's memory until it execs (a clone with
    /// CLONE_VM|CLONE_VFORK) and run on `plan.worker_stack`: the plan and that stack must be
    /// unused by anything else and stay alive until the worker has exec'd or exited, and every
    /// signal of the calling thread must be blocked.
    unsafe fn start_worker(&self, plan: &Plan) -> isize;

    /// Starts the init of the new pid namespace that a relay made or joined for its children
    /// (it goes on in `inside`, or forks the worker itself): its pid here; 0 in the worker
    /// that the init forked if that is to continue in this code (the Python path), `-errno`
    /// on failure.
    ///
    /// # Safety
    /// The init may share the calling process's memory (a clone with CLONE_VM) and run on
    /// `plan.init_stack`: the caller must never return nor free its memory, and have every
    /// signal blocked.
    unsafe fn start_init(&self, plan: &Plan) -> isize;
}

fn check(r: isize, step: Step, arg: i32) -> Result<isize, Failure> {
    if r < 0 {
        Err(Failure {
            step,
            arg,
            errno: (-r) as i32,
        })
    } else {
        Ok(r)
    }
}

/// Runs the set-up in a new child. Returns in the process that is to become the worker; a
/// process that becomes a relay or the init never returns.
pub fn setup(p: &Plan, forker: &dyn Forker) -> Result<(), Failure> {
    adopt(p)?;
    join(p)?;
    if p.route == super::spec::Route::Unshare && p.ns_flags != 0 {
        check(raw::unshare(p.ns_flags), Step::Unshare, p.ns_flags)?;
    }
    if p.user_new {
        if !channel::child_ready_wait(p.channel) {
            return Err(Failure {
                step: Step::WaitMaps,
                arg: 0,
                errno: libc::EPIPE,
            });
        }
        if p.become_root_gid {
            check(raw::setresgid(0), Step::Setresgid, 0)?;
        }
        if p.become_root_uid {
            check(raw::setresuid(0), Step::Setresuid, 0)?;
        }
    }
    if p.time_new {
        check(
            raw::unshare(crate::sys::ns::CLONE_NEWTIME),
            Step::Unshare,
            crate::sys::ns::CLONE_NEWTIME,
        )?;
        if !p.offsets.is_empty() {
            write_offsets(p)?;
        }
        enter_new_time()?;
    }
    if p.mnt_new {
        let flags = libc::MS_REC | libc::MS_PRIVATE;
        check(
            raw::mount(c"none", c"/", None, flags),
            Step::MountPrivate,
            0,
        )?;
    }
    if p.loopback {
        check(raw::loopback_up(), Step::Loopback, 0)?;
    }
    if let Some(h) = &p.hostname {
        check(raw::set_name(libc::SYS_sethostname, h), Step::Hostname, 0)?;
    }
    if let Some(d) = &p.domainname {
        check(
            raw::set_name(libc::SYS_setdomainname, d),
            Step::Domainname,
            0,
        )?;
    }
    launch(p, forker)
}

/// The first step of a child: its parent-death signal (prctl PR_SET_PDEATHSIG). All the
/// worker of namespaces that the caller made on its own thread has to do.
pub fn adopt(p: &Plan) -> Result<(), Failure> {
    if p.pdeathsig != 0 {
        check(
            raw::prctl(libc::PR_SET_PDEATHSIG, p.pdeathsig as usize),
            Step::Pdeathsig,
            p.pdeathsig,
        )?;
        // The parent may have died before the prctl; in a new pid namespace it is invisible
        // (0), and the channel's EOF tells instead.
        let ppid = raw::getppid();
        if ppid != p.parent_pid as isize && ppid != 0 {
            raw::exit(1);
        }
    }
    Ok(())
}

/// After the namespaces are made: becomes the worker (returns), or starts it and becomes its
/// init or relay (never returns).
fn launch(p: &Plan, forker: &dyn Forker) -> Result<(), Failure> {
    if p.stage {
        // This process stays outside the pid (or time) namespace it made or joined for its
        // children and relays the status of its one child there: the init (PID 1, which
        // starts the worker as PID 2, its child) or else the worker.
        raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, None);
        // Its child cannot see it (getppid is 0 across pid namespaces): it checks this
        // pidfd after its PR_SET_PDEATHSIG instead.
        let me = raw::pidfd_open(raw::getpid() as i32);
        p.relay_pidfd.store(me as i32, Ordering::Relaxed);
        // SAFETY: this process never returns from here nor frees its memory, where the plan
        // and its stacks live; all its signals are blocked.
        let first = unsafe {
            if p.init {
                forker.start_init(p)
            } else {
                forker.start_worker(p)
            }
        };
        if check(first, Step::Fork, 0)? == 0 {
            // The Python path, in the worker (with an init: its child, see `init_fork`).
            return if p.init {
                finish(p)
            } else {
                inside(p, forker, true)
            };
        }
        raw::close_range(3, u32::MAX);
        init::supervise(first as i32);
    }
    inside(p, forker, false)
}

/// In the namespaces, as the first process of a new pid namespace with an init: becomes the
/// init (PID 1, named `init::NAME`), starts the worker (PID 2, its child) and never returns;
/// else (or in the worker) the worker's last steps. `relayed`: this process was started by a
/// relay, whose death must take it along.
pub fn inside(p: &Plan, forker: &dyn Forker, relayed: bool) -> Result<(), Failure> {
    if relayed {
        tie_to_relay(p)?;
    }
    if !p.init {
        return finish(p);
    }
    raw::prctl(libc::PR_SET_NAME, init::NAME.as_ptr() as usize);
    // SAFETY: this process (spawn's clone child, which shares the caller's memory but runs on
    // its own stack that `init_stack` keeps until it exits; a relay's init; or the init
    // forked on run's in-place route) never returns from here; its signals are blocked.
    let worker = check(unsafe { forker.start_worker(p) }, Step::Fork, 0)?;
    if worker == 0 {
        return finish(p);
    }
    // The worker has exec'd (or reported its failure, or returned to Python): the init keeps
    // no fds.
    raw::close_range(0, u32::MAX);
    init::supervise(worker as i32)
}

/// A relay's child: the relay's death kills it (PR_SET_PDEATHSIG), also if the relay died
/// before the prctl (its pidfd polls readable).
pub fn tie_to_relay(p: &Plan) -> Result<(), Failure> {
    check(
        raw::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as usize),
        Step::Pdeathsig,
        libc::SIGKILL,
    )?;
    let relay = p.relay_pidfd.load(Ordering::Relaxed);
    if relay >= 0 {
        let mut fds = [libc::pollfd {
            fd: relay,
            events: libc::POLLIN,
            revents: 0,
        }];
        let gone = raw::poll(&mut fds, false) != 0;
        raw::close(relay);
        if gone {
            raw::exit(1);
        }
    }
    Ok(())
}

/// The worker's last steps: /proc is mounted from inside the pid namespace; the function's
/// process (run) takes subprocess's attributes (a program's takes them in `exec`).
pub fn finish(p: &Plan) -> Result<(), Failure> {
    if p.mount_proc {
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        check(
            raw::mount(c"proc", c"/proc", Some(c"proc"), flags),
            Step::MountProc,
            0,
        )?;
    }
    if p.exec.is_none() {
        creds::apply(&p.creds)?;
    }
    Ok(())
}

/// Joins the namespaces in nsenter's order: every kind but user first (works for root), then
/// user and whatever failed before (works for a caller that needs the target user
/// namespace's privileges to join the others).
fn join(p: &Plan) -> Result<(), Failure> {
    let user = libc::CLONE_NEWUSER;
    let mut done = [false; 8];
    for ((fd, nstype), d) in p.joins.iter().zip(done.iter_mut()) {
        *d = *nstype != user && raw::setns(*fd, *nstype) == 0;
    }
    for user_pass in [true, false] {
        for ((fd, nstype), d) in p.joins.iter().zip(done.iter()) {
            if !*d && (*nstype == user) == user_pass {
                check(raw::setns(*fd, *nstype), Step::Setns, *nstype)?;
            }
        }
    }
    Ok(())
}

fn write_offsets(p: &Plan) -> Result<(), Failure> {
    let fd = check(
        raw::open(
            c"/proc/self/timens_offsets",
            libc::O_WRONLY | libc::O_CLOEXEC,
        ),
        Step::TimeOffsets,
        0,
    )? as i32;
    let text = p.offsets.as_bytes();
    let r = raw::write(fd, text);
    raw::close(fd);
    check(r, Step::TimeOffsets, 0).map(drop)
}

/// Moves this process into the time namespace it has just made (setns(2) to its own
/// `time_for_children`), with the offsets written, instead of leaving that to execve or a fork:
/// Linux 6.1 (Debian 12) switches only forked children, not execve, and refuses a CLONE_VM
/// clone (EINVAL) while a process's time namespace and its children's differ. The process is
/// single-threaded here (it never shares the caller's memory with a new time namespace).
fn enter_new_time() -> Result<(), Failure> {
    let newtime = crate::sys::ns::CLONE_NEWTIME;
    let fd = check(
        raw::open(
            c"/proc/self/ns/time_for_children",
            libc::O_RDONLY | libc::O_CLOEXEC,
        ),
        Step::Setns,
        newtime,
    )? as i32;
    let r = raw::setns(fd, newtime);
    raw::close(fd);
    check(r, Step::Setns, newtime).map(drop)
}

/// The program's process, after the set-up: signals, fds, cwd, subprocess's attributes
/// (`creds`, after the chdir as subprocess), execve. Returns the failure.
pub fn exec(e: &ExecPlan, creds: &Creds) -> Failure {
    match exec_steps(e, creds) {
        Ok(()) => Failure {
            step: Step::Execve,
            arg: 0,
            errno: libc::ENOEXEC,
        },
        Err(f) => f,
    }
}

fn exec_steps(e: &ExecPlan, creds: &Creds) -> Result<(), Failure> {
    reset_signals()?;
    stdio(e)?;
    for fd in &e.pass_fds {
        check(raw::fcntl(*fd, libc::F_SETFD, 0), Step::PassFds, *fd)?;
    }
    if e.close_fds {
        let mut next: i32 = 3;
        for fd in &e.keep_fds {
            if *fd > next {
                check(
                    raw::close_range(next as u32, (*fd - 1) as u32),
                    Step::CloseFds,
                    0,
                )?;
            }
            next = fd.saturating_add(1);
        }
        check(raw::close_range(next as u32, u32::MAX), Step::CloseFds, 0)?;
    }
    if let Some(cwd) = &e.cwd {
        check(raw::chdir(cwd), Step::Chdir, 0)?;
    }
    creds::apply(creds)?;
    raw::sigprocmask(libc::SIG_SETMASK, 0, None);
    // As execvpe: try each path; report the first error that is not ENOENT/ENOTDIR.
    let mut first_err = 0;
    let mut last_err = libc::ENOENT;
    for path in &e.executables {
        // SAFETY: the pointer arrays are NULL-terminated and point into the plan's CStrings.
        let r = unsafe { raw::execve(path.as_ptr(), e.argv_ptrs.as_ptr(), e.envp_ptrs.as_ptr()) };
        let err = (-r) as i32;
        last_err = err;
        if err != libc::ENOENT && err != libc::ENOTDIR && first_err == 0 {
            first_err = err;
        }
    }
    Err(Failure {
        step: Step::Execve,
        arg: 0,
        errno: if first_err != 0 { first_err } else { last_err },
    })
}

/// Handlers installed by the parent (Python's) must not run in the child: back to SIG_DFL;
/// SIGPIPE and SIGXFSZ, which Python ignores, too (as subprocess does).
fn reset_signals() -> Result<(), Failure> {
    let dfl = raw::KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let mut old = raw::KernelSigaction {
            handler: 0,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        if raw::sigaction(sig, None, Some(&mut old)) < 0 {
            continue;
        }
        let ignored_by_python =
            old.handler == libc::SIG_IGN && (sig == libc::SIGPIPE || sig == libc::SIGXFSZ);
        if old.handler > libc::SIG_IGN || ignored_by_python {
            check(raw::sigaction(sig, Some(&dfl), None), Step::Signals, sig)?;
        }
    }
    Ok(())
}

/// dup3 the given fds onto 0, 1, 2; sources below 3 are first moved out of the way.
fn stdio(e: &ExecPlan) -> Result<(), Failure> {
    let mut src = e.stdio;
    for (i, s) in src.iter_mut().enumerate() {
        if *s >= 0 && *s < 3 && *s != i as i32 {
            *s = check(
                raw::fcntl(*s, libc::F_DUPFD_CLOEXEC, 3),
                Step::Stdio,
                i as i32,
            )? as i32;
        }
    }
    for (i, s) in src.iter().enumerate() {
        let target = i as i32;
        if *s == target {
            check(raw::fcntl(target, libc::F_SETFD, 0), Step::Stdio, target)?;
        } else if *s >= 0 {
            check(raw::dup3(*s, target, 0), Step::Stdio, target)?;
        }
    }
    Ok(())
}
