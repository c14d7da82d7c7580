//! The clone trampoline of `spawn`: a child stack, clone3(2) (clone(2) on ENOSYS) with the
//! namespace flags and CLONE_PIDFD, and the entry points of the clones (the child, the worker
//! its init or relay starts, a relay's init). It drives `child`, which knows nothing of it.

use std::ffi::c_void;
use std::os::fd::{FromRawFd, OwnedFd};

use super::channel::{self, Failure, Step};
use super::child::{self, Forker};
use super::raw::{self, CloneArgs};
use super::spec::Plan;
use crate::sys::error::{Error, Result};

/// Bytes of each of the three stacks (the child's, the init's a relay starts, the worker's).
const STACK: usize = 128 * 1024;
const PAGE: usize = 4096;

/// Memory for the child's stacks: [guard][init][guard][worker][guard][child].
#[derive(Debug)]
pub struct Stack {
    base: *mut c_void,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; any thread may unmap it.
unsafe impl Send for Stack {}
// SAFETY: a shared reference only reads the mapping's address; nothing is read through it.
unsafe impl Sync for Stack {}

impl Stack {
    /// mmap(2) the stacks, with PROT_NONE guard pages below each (mprotect(2)).
    pub fn new() -> Result<Stack> {
        let len = 3 * (STACK + PAGE);
        // SAFETY: a new anonymous private mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::last("mmap the child's stack"));
        }
        let stack = Stack { base, len };
        for guard in [0, STACK + PAGE, 2 * (STACK + PAGE)] {
            // SAFETY: the guard page lies inside the mapping just made.
            let r = unsafe {
                libc::mprotect(base.cast::<u8>().add(guard).cast(), PAGE, libc::PROT_NONE)
            };
            if r < 0 {
                return Err(Error::last("mprotect the child's stack guard"));
            }
        }
        Ok(stack)
    }

    /// Region `i` (0: init, 1: worker, 2: child): (lowest address, size).
    fn region(&self, i: usize) -> (u64, u64) {
        let lo = self.base as usize + i * (STACK + PAGE) + PAGE;
        (lo as u64, STACK as u64)
    }

    /// The child's stack.
    pub fn child(&self) -> (u64, u64) {
        self.region(2)
    }

    /// The stack of the worker that an init or relay starts.
    pub fn worker(&self) -> (u64, u64) {
        self.region(1)
    }

    /// The stack of the init a relay starts.
    pub fn init(&self) -> (u64, u64) {
        self.region(0)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by Stack::new and nothing uses it any more.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// What a clone runs: the spawned child, the worker its init or relay starts, or a relay's
/// init.
#[derive(Clone, Copy)]
enum Entry {
    Child,
    Worker,
    Init,
}

extern "C" fn child_callback(arg: *mut c_void) -> libc::c_int {
    // SAFETY: clone(2) passes the plan pointer given to `clone_on` below.
    unsafe { spawn_entry(arg) }
}

extern "C" fn worker_callback(arg: *mut c_void) -> libc::c_int {
    // SAFETY: as above.
    unsafe { worker_entry(arg) }
}

extern "C" fn init_callback(arg: *mut c_void) -> libc::c_int {
    // SAFETY: as above.
    unsafe { init_entry(arg) }
}

/// Reports a failure of the set-up on the channel and exits.
fn fail(p: &Plan, failure: Failure) -> ! {
    channel::child_fail(p.channel, failure);
    raw::exit(127)
}

/// The program's process: exec it (returns only the failure).
fn exec(p: &Plan) -> Failure {
    match &p.exec {
        Some(e) => child::exec(e, &p.creds),
        None => Failure {
            step: Step::Execve,
            arg: 0,
            errno: libc::EINVAL,
        },
    }
}

/// The entry of a spawned child (clone3 or clone): set up, then exec; report and exit on
/// failure.
///
/// # Safety
/// `arg` must point to a `Plan` with a program that outlives the child's exec or exit.
unsafe extern "C" fn spawn_entry(arg: *const c_void) -> ! {
    // SAFETY: guaranteed by the caller.
    let p = unsafe { &*(arg as *const Plan) };
    let failure = match child::setup(p, &RawForker) {
        Ok(()) => exec(p),
        Err(f) => f,
    };
    fail(p, failure)
}

/// The entry of the worker an init or relay starts (clone CLONE_VM|CLONE_VFORK): its last
/// steps, then exec the program.
///
/// # Safety
/// As `spawn_entry`.
unsafe extern "C" fn worker_entry(arg: *const c_void) -> ! {
    // SAFETY: guaranteed by the caller.
    let p = unsafe { &*(arg as *const Plan) };
    let failure = match child::finish(p) {
        Ok(()) => exec(p),
        Err(f) => f,
    };
    fail(p, failure)
}

/// The entry of the init that a relay starts (clone CLONE_VM of the relay, a private copy of
/// the caller): PID 1 of the pid namespace; it starts the worker and supervises it.
///
/// # Safety
/// As `spawn_entry`; the relay never returns nor frees its memory.
unsafe extern "C" fn init_entry(arg: *const c_void) -> ! {
    // SAFETY: guaranteed by the caller.
    let p = unsafe { &*(arg as *const Plan) };
    let failure = match child::inside(p, &RawForker, true) {
        Ok(()) => exec(p), // not reached: a raw worker never comes back here
        Err(f) => f,
    };
    fail(p, failure)
}

/// clone3(2) (clone(2) on ENOSYS) running `entry(arg)` on the stack `(lowest address,
/// size)`; with CLONE_PIDFD in `flags` the pidfd goes to `*pidfd`. The pid, or `-errno`.
///
/// # Safety
/// What `arg` points to and the stack must stay alive and unused by others until the child
/// has exec'd or exited; with CLONE_VM, every signal of the calling thread must be blocked.
unsafe fn clone_on(
    flags: i32,
    stack: (u64, u64),
    entry: Entry,
    arg: *const c_void,
    pidfd: *mut i32,
) -> isize {
    let (lo, size) = stack;
    let args = CloneArgs {
        flags: flags as u32 as u64,
        pidfd: pidfd as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: lo,
        stack_size: size,
        ..CloneArgs::default()
    };
    let (f, cb): (raw::ChildFn, extern "C" fn(*mut c_void) -> libc::c_int) = match entry {
        Entry::Child => (spawn_entry, child_callback),
        Entry::Worker => (worker_entry, worker_callback),
        Entry::Init => (init_entry, init_callback),
    };
    // SAFETY: guaranteed by the caller; the entry never returns.
    let pid = unsafe { raw::clone3(&args, f, arg) };
    if pid != -(libc::ENOSYS as isize) {
        return pid;
    }
    // SAFETY: as above; clone(2) takes the top of the stack and stores the pidfd.
    let pid = unsafe {
        libc::clone(
            cb,
            (lo + size) as *mut c_void,
            flags | libc::SIGCHLD,
            arg as *mut c_void,
            pidfd,
        )
    };
    if pid < 0 {
        -(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO) as isize)
    } else {
        pid as isize
    }
}

/// Starts a child that runs `plan` on `stack` with clone `flags` (namespace flags, CLONE_VM,
/// CLONE_VFORK); returns its pid and pidfd, or the errno.
///
/// # Safety
/// `plan` and `stack` must stay alive, unmodified, until the child has exec'd or exited; with
/// CLONE_VM the calling thread must have every signal blocked.
pub unsafe fn start(
    plan: &Plan,
    stack: &Stack,
    flags: i32,
) -> std::result::Result<(i32, OwnedFd), i32> {
    let mut pidfd: i32 = -1;
    // SAFETY: guaranteed by the caller.
    let pid = unsafe {
        clone_on(
            flags | libc::CLONE_PIDFD,
            stack.child(),
            Entry::Child,
            plan as *const Plan as *const c_void,
            &mut pidfd,
        )
    };
    if pid < 0 {
        return Err((-pid) as i32);
    }
    // SAFETY: CLONE_PIDFD stored a new fd that nothing else owns.
    Ok((pid as i32, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// Starts the worker of a spawned child's init or relay (a clone with CLONE_VM|CLONE_VFORK
/// that runs `worker_entry`), and a relay's init (a clone with CLONE_VM that runs
/// `init_entry`): clones of that child (a private copy of the caller for a relay, which
/// `spawn` makes without CLONE_VM; for an init, a clone that shares the caller's memory and
/// keeps to its own stack).
pub struct RawForker;

impl Forker for RawForker {
    unsafe fn start_worker(&self, plan: &Plan) -> isize {
        let flags = libc::CLONE_VM | libc::CLONE_VFORK;
        let arg = plan as *const Plan as *const c_void;
        // SAFETY: the caller guarantees the stack, the plan and the blocked signals; with
        // CLONE_VFORK this process is suspended until the worker has exec'd or exited.
        unsafe {
            clone_on(
                flags,
                plan.worker_stack,
                Entry::Worker,
                arg,
                std::ptr::null_mut(),
            )
        }
    }

    unsafe fn start_init(&self, plan: &Plan) -> isize {
        let arg = plan as *const Plan as *const c_void;
        // SAFETY: the caller guarantees the plan, the init stack and the blocked signals; the
        // relay never returns nor frees its memory, so the init may share it.
        unsafe {
            clone_on(
                libc::CLONE_VM,
                plan.init_stack,
                Entry::Init,
                arg,
                std::ptr::null_mut(),
            )
        }
    }
}
