//! The clone trampoline of `spawn`: a child stack, clone3(2) (clone(2) on ENOSYS) with the
//! namespace flags and CLONE_PIDFD, and the child's entry point.

use std::ffi::c_void;
use std::os::fd::{FromRawFd, OwnedFd};

use super::child::{self, Forker};
use super::raw::{self, CloneArgs};
use super::spec::Plan;
use crate::sys::error::{Error, Result};

/// Bytes of each of the two stacks (the child's, and the worker's that its init starts).
const STACK: usize = 128 * 1024;
const PAGE: usize = 4096;

/// Memory for the child's stacks: [guard][watcher][guard][worker][guard][child].
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

    /// Region `i` (0: watcher, 1: worker, 2: child): (lowest address, size).
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

    /// The stack of the light init a relay starts.
    pub fn watcher(&self) -> (u64, u64) {
        self.region(0)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by Stack::new and nothing uses it any more.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// What a clone runs: the spawned child, the worker its init starts, or a light init.
#[derive(Clone, Copy)]
enum Entry {
    Child,
    Worker,
    Watcher,
}

extern "C" fn child_callback(arg: *mut c_void) -> libc::c_int {
    // SAFETY: clone(2) passes the plan pointer given to `clone_on` below.
    unsafe { child::spawn_entry(arg) }
}

extern "C" fn worker_callback(arg: *mut c_void) -> libc::c_int {
    // SAFETY: as above.
    unsafe { child::worker_entry(arg) }
}

extern "C" fn watcher_callback(arg: *mut c_void) -> libc::c_int {
    // SAFETY: as above.
    unsafe { child::watcher_entry(arg) }
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
        Entry::Child => (child::spawn_entry, child_callback),
        Entry::Worker => (child::worker_entry, worker_callback),
        Entry::Watcher => (child::watcher_entry, watcher_callback),
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

/// Starts the light init of a pid namespace entered by a fork (`child::watcher_entry`): a
/// clone with CLONE_VM of the calling process, which must be a private copy of the caller,
/// never the Python process itself. Returns its pid and the write end of its control pipe.
pub fn start_watcher(plan: &Plan) -> std::result::Result<(i32, i32), i32> {
    let (ctl_r, ctl_w) = raw::pipe().map_err(|e| (-e) as i32)?;
    let arg = ctl_r as usize as *const c_void;
    // SAFETY: the watcher stack is unused and lives as long as this process's memory, which
    // the watcher shares; the watcher runs raw system calls only.
    let pid = unsafe {
        clone_on(
            libc::CLONE_VM,
            plan.watcher_stack,
            Entry::Watcher,
            arg,
            std::ptr::null_mut(),
        )
    };
    raw::close(ctl_r);
    if pid < 0 {
        raw::close(ctl_w);
        return Err((-pid) as i32);
    }
    Ok((pid as i32, ctl_w))
}

/// Starts the worker of a spawned child's init or relay: a clone with CLONE_VM|CLONE_VFORK
/// (the child is a private copy, or never gets here) that runs `child::worker_entry`.
pub struct RawForker;

impl Forker for RawForker {
    fn start_worker(&self, plan: &Plan) -> isize {
        let flags = libc::CLONE_VM | libc::CLONE_VFORK;
        let arg = plan as *const Plan as *const c_void;
        // SAFETY: the worker stack is unused; with CLONE_VFORK this process waits until the
        // worker has exec'd or exited, and all its signals are blocked.
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
}
