//! `run`'s init without a copy of the caller: the calling thread clones an init that shares
//! its memory (CLONE_VM) on a stack of its own, while the thread waits, parked in the clone's
//! assembly without touching its stack; the init forks (glibc fork(2)) the worker, PID 2, its
//! child, which comes back on its copy of the thread's stack as if the thread had forked:
//! the only copy of the caller. Then the init lets the thread go on and becomes pyns' init
//! (raw system calls only, on its own stack, which `init_stack` keeps until it exits).
//!
//! The init acts for the parked thread in between: it runs on the thread's TLS (fs/tpidr is
//! inherited), so glibc's fork in it sees that thread as its own, and the worker gets glibc's
//! own child-side reset (its tid, its locks) for that thread, as with a fork of the thread.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, Ordering};

use super::channel::{self, Failure, Step};
use super::child;
use super::init;
use super::raw;
use super::spec::Plan;

/// What the init reads, at the top of its stack: the plan, and the word the parked thread
/// waits on (1 while it waits; the init clears it, and so does the kernel when the init exits:
/// CLONE_CHILD_CLEARTID, so no exit of the init leaves the thread parked).
#[repr(C, align(16))]
struct Args {
    plan: *const Plan,
    /// The init of a relay (tied to it), not of the caller.
    relayed: bool,
    parked: AtomicU32,
}

/// The function the init runs on its stack: 0 in the worker; never returns in the init.
type InitFn = unsafe extern "C" fn(*const c_void) -> isize;

/// Clones this thread into an init that runs `plan` on the stack `(lowest address, size)`
/// and forks the worker: in the caller, the init's pid (once it has forked the worker or
/// failed: then it has reported on the plan's channel) or `-errno`; 0 in the worker, a fork
/// of the init that is back in the caller's code on its copy of this thread's stack.
/// `relayed`: the caller is a relay, whose death must take the init along.
///
/// # Safety
/// Every signal of the calling thread must be blocked, and the interpreter's fork hooks taken
/// (`PyOS_BeforeFork`) as for fork(2); `plan` must stay alive until the worker is set up, and
/// the stack until the init has exited (`init_stack::keep`, or a relay that never frees it).
pub unsafe fn start(plan: &Plan, (lo, size): (u64, u64), relayed: bool) -> isize {
    let top = (lo + size) as usize;
    let at = (top - std::mem::size_of::<Args>()) & !63;
    let args = at as *mut Args;
    // SAFETY: `at` lies at the top of the stack mapping, aligned; nothing runs on it yet.
    unsafe {
        args.write(Args {
            plan,
            relayed,
            parked: AtomicU32::new(1),
        })
    };
    // SAFETY: guaranteed by the caller; the init keeps to the stack below `args`.
    unsafe { clone_parked(at as u64, &(*args).parked, init_main, args as *const c_void) }
}

/// The init's entry, on its own stack: its first steps, the worker's fork, then the init's
/// loop.
///
/// # Safety
/// `arg` points to the `Args` that `start` wrote.
unsafe extern "C" fn init_main(arg: *const c_void) -> isize {
    // SAFETY: guaranteed by the caller; the plan outlives the worker's set-up.
    let (args, p) = unsafe {
        let args = &*(arg as *const Args);
        (args, &*args.plan)
    };
    let first = if args.relayed {
        child::tie_to_relay(p)
    } else {
        child::adopt(p)
    };
    // Named before the fork, so that the worker never sees a PID 1 without its name; the
    // worker takes the caller's name back.
    let mut caller = [0u8; 16];
    raw::prctl(libc::PR_GET_NAME, caller.as_mut_ptr() as usize);
    raw::prctl(libc::PR_SET_NAME, init::NAME.as_ptr() as usize);
    let worker = first.and_then(|()| {
        // SAFETY: this process acts for the parked thread (its TLS, its blocked signals),
        // whose fork hooks were taken: glibc's fork as that thread's own.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let errno = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            return Err(Failure {
                step: Step::Fork,
                arg: 0,
                errno,
            });
        }
        Ok(pid)
    });
    match worker {
        Ok(0) => {
            raw::prctl(libc::PR_SET_NAME, caller.as_ptr() as usize);
            0
        }
        Ok(pid) => {
            release(args);
            // The worker holds what it needs: the init keeps no fds.
            raw::close_range(0, u32::MAX);
            init::supervise(pid)
        }
        Err(f) => {
            channel::child_fail(p.channel, f);
            release(args);
            raw::exit(127)
        }
    }
}

/// Lets the parked thread go on (FUTEX_WAKE on the word it waits on).
fn release(args: &Args) {
    args.parked.store(0, Ordering::Release);
    let word = &args.parked as *const AtomicU32 as usize;
    // SAFETY: the word lives on this process's own stack mapping.
    unsafe {
        raw::syscall(
            libc::SYS_futex,
            [word, libc::FUTEX_WAKE as usize, 1, 0, 0, 0],
        )
    };
}

/// clone(2) with CLONE_VM of the calling thread onto the stack whose top is `sp`, where the
/// child calls `f(arg)`; the caller waits on `parked` (FUTEX_WAIT, registers only, so that
/// its stack stays as it was) until the child clears it, or exits (CLONE_CHILD_CLEARTID).
/// `f` returns only in a fork of the child, which then comes back from here with 0 on the
/// caller's stack (its copy).
///
/// # Safety
/// As `start`; `f` must clear `parked` once it has forked, and never return in the child.
unsafe fn clone_parked(sp: u64, parked: &AtomicU32, f: InitFn, arg: *const c_void) -> isize {
    let ret: isize;
    let flags = (libc::CLONE_VM | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as usize;
    let word = parked as *const AtomicU32;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: guaranteed by the caller. The child runs on `sp` and never returns into this
    // frame; its fork comes back with r12 (callee-saved, kept by `f`) holding this frame's
    // stack pointer, and rbx and rbp as they were.
    unsafe {
        std::arch::asm!(
            "mov r12, rsp",
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r13",
            "call r14",
            "mov rsp, r12",
            "xor eax, eax",
            "jmp 4f",
            "2:",
            "test rax, rax",
            "js 4f",
            "mov r12, rax",
            "3:",
            "mov eax, dword ptr [r15]",
            "test eax, eax",
            "jz 5f",
            "mov eax, {futex}",
            "mov rdi, r15",
            "xor esi, esi",
            "mov edx, 1",
            "xor r10d, r10d",
            "syscall",
            "jmp 3b",
            "5:",
            "mov rax, r12",
            "4:",
            futex = const libc::SYS_futex,
            inlateout("rax") libc::SYS_clone as isize => ret,
            inlateout("rdi") flags => _,
            inlateout("rsi") sp => _,
            inlateout("rdx") 0usize => _,
            inlateout("r10") word => _,
            in("r8") 0usize,
            out("r12") _,
            in("r13") arg,
            in("r14") f,
            in("r15") word,
            clobber_abi("C"),
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above, with x22 for r12 (clone's arguments: flags, stack, ptid, tls, ctid).
    unsafe {
        std::arch::asm!(
            "mov x22, sp",
            "svc 0",
            "cbnz x0, 2f",
            "mov x0, x20",
            "blr x21",
            "mov sp, x22",
            "mov x0, xzr",
            "b 4f",
            "2:",
            "cmp x0, #0",
            "b.lt 4f",
            "mov x22, x0",
            "3:",
            "ldr w9, [x23]",
            "cbz w9, 5f",
            "mov x8, #{futex}",
            "mov x0, x23",
            "mov x1, xzr",
            "mov x2, #1",
            "mov x3, xzr",
            "svc 0",
            "b 3b",
            "5:",
            "mov x0, x22",
            "4:",
            futex = const libc::SYS_futex,
            inlateout("x8") libc::SYS_clone => _,
            inlateout("x0") flags as isize => ret,
            inlateout("x1") sp => _,
            inlateout("x2") 0usize => _,
            inlateout("x3") 0usize => _,
            in("x4") word,
            in("x20") arg,
            in("x21") f,
            out("x22") _,
            in("x23") word,
            clobber_abi("C"),
        );
    }
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::spawn::spec::Spec;
    use crate::sys::spawn::trampoline::Stack;

    #[test]
    fn the_worker_is_the_inits_child_and_its_status_the_inits() {
        let mut plan = Plan::new(&Spec::default(), None, true).unwrap();
        plan.channel = -1;
        let stack = Stack::new().unwrap();
        let mut old = 0;
        raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, Some(&mut old));
        // SAFETY: every signal is blocked; the plan and stack outlive the init (reaped below).
        let pid = unsafe { start(&plan, stack.child(), false) };
        if pid == 0 {
            // The worker, on its copy of this thread's stack: its parent is the init.
            let parent = raw::getppid() as i32;
            let own = raw::getpid() as i32;
            raw::exit(if parent != own && parent > 0 { 7 } else { 1 });
        }
        raw::sigprocmask(libc::SIG_SETMASK, old, None);
        assert!(pid > 0, "clone failed: {}", -pid);
        let mut status = 0;
        // SAFETY: waitpid writes the status.
        let r = unsafe { libc::waitpid(pid as i32, &mut status, libc::__WALL) };
        assert_eq!(r, pid as i32);
        assert!(libc::WIFEXITED(status));
        assert_eq!(libc::WEXITSTATUS(status), 7);
    }
}
