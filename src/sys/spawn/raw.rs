//! Raw system calls for children that share the parent's memory: no libc wrapper, so nothing
//! writes `errno` or any other state of the parent; failures come back as `-errno`.

use std::ffi::{c_char, c_void, CStr};

/// syscall(2) without libc: the return value, or `-errno` on failure.
///
/// # Safety
/// The arguments must be valid for system call `nr` (pointers to live memory of the sizes the
/// kernel reads or writes).
#[inline(always)]
pub unsafe fn syscall(nr: libc::c_long, a: [usize; 6]) -> isize {
    let ret: isize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller guarantees the arguments; `syscall` clobbers only rcx and r11.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack)
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller guarantees the arguments; `svc 0` returns in x0 only.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack)
        );
    }
    ret
}

/// clone3(2)'s argument block (`struct clone_args`, linux/sched.h).
#[repr(C, align(8))]
#[derive(Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

/// The function a clone child runs on its new stack; it must never return.
pub type ChildFn = unsafe extern "C" fn(*const c_void) -> !;

/// clone3(2) that runs `f(arg)` in the child on the stack given in `args`: the child's pid
/// in the parent, `-errno` on failure.
///
/// # Safety
/// `args` must describe a stack that stays mapped (and unused by anyone else) until the child
/// exits or execs; `f` must not return and, with `CLONE_VM`, must write nothing but that stack.
pub unsafe fn clone3(args: &CloneArgs, f: ChildFn, arg: *const c_void) -> isize {
    let ret: isize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller guarantees the stack; the child never comes back into this frame.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 as isize => ret,
            in("rdi") args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") arg,
            in("r13") f,
            lateout("rcx") _, lateout("r11") _,
            options(nostack)
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    unsafe {
        std::arch::asm!(
            "svc 0",
            "cbnz x0, 2f",
            "mov x29, xzr",
            "mov x30, xzr",
            "mov x0, x20",
            "blr x21",
            "brk #0",
            "2:",
            in("x8") libc::SYS_clone3,
            inlateout("x0") args as *const CloneArgs as isize => ret,
            in("x1") std::mem::size_of::<CloneArgs>(),
            in("x20") arg,
            in("x21") f,
            options(nostack)
        );
    }
    ret
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("pyns' clone trampoline supports x86_64 and aarch64");

// Thin typed wrappers. Each returns the kernel's result or `-errno`.

fn p<T>(ptr: *const T) -> usize {
    ptr as usize
}

/// write(2).
pub fn write(fd: i32, buf: &[u8]) -> isize {
    // SAFETY: the buffer is valid for its length.
    unsafe {
        syscall(
            libc::SYS_write,
            [fd as usize, p(buf.as_ptr()), buf.len(), 0, 0, 0],
        )
    }
}

/// sendto(2) with MSG_NOSIGNAL: no SIGPIPE when the other end is gone.
pub fn send(fd: i32, buf: &[u8]) -> isize {
    let flags = libc::MSG_NOSIGNAL as usize;
    // SAFETY: the buffer is valid for its length; no address is given.
    unsafe {
        syscall(
            libc::SYS_sendto,
            [fd as usize, p(buf.as_ptr()), buf.len(), flags, 0, 0],
        )
    }
}

/// read(2).
pub fn read(fd: i32, buf: &mut [u8]) -> isize {
    // SAFETY: the buffer is valid and writable for its length.
    unsafe {
        syscall(
            libc::SYS_read,
            [fd as usize, p(buf.as_mut_ptr()), buf.len(), 0, 0, 0],
        )
    }
}

/// openat(2) relative to the cwd.
pub fn open(path: &CStr, flags: i32) -> isize {
    let at = libc::AT_FDCWD as isize as usize;
    // SAFETY: `path` is a NUL-terminated string.
    unsafe {
        syscall(
            libc::SYS_openat,
            [at, p(path.as_ptr()), flags as usize, 0, 0, 0],
        )
    }
}

/// close(2).
pub fn close(fd: i32) -> isize {
    // SAFETY: closing an fd touches no memory.
    unsafe { syscall(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]) }
}

/// close_range(2).
pub fn close_range(first: u32, last: u32) -> isize {
    // SAFETY: touches no memory.
    unsafe {
        syscall(
            libc::SYS_close_range,
            [first as usize, last as usize, 0, 0, 0, 0],
        )
    }
}

/// Brings the loopback device `lo` up (socket(2), ioctl(2) SIOCGIFFLAGS and SIOCSIFFLAGS):
/// 0, or `-errno`.
pub fn loopback_up() -> isize {
    // struct ifreq: the name, then the flags (a short) in the union.
    let mut ifr = [0u8; 40];
    ifr[..2].copy_from_slice(b"lo");
    let ptr = ifr.as_mut_ptr() as usize;
    let family = libc::AF_INET as usize;
    let kind = (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as usize;
    // SAFETY: makes a new fd; touches no memory.
    let fd = unsafe { syscall(libc::SYS_socket, [family, kind, 0, 0, 0, 0]) };
    if fd < 0 {
        return fd;
    }
    let ioctl = |req: libc::c_ulong| {
        // SAFETY: both requests read and write a struct ifreq, which `ifr` is big enough for.
        unsafe { syscall(libc::SYS_ioctl, [fd as usize, req as usize, ptr, 0, 0, 0]) }
    };
    let mut r = ioctl(libc::SIOCGIFFLAGS);
    if r == 0 {
        let flags = i16::from_ne_bytes([ifr[16], ifr[17]]) | libc::IFF_UP as i16;
        ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
        r = ioctl(libc::SIOCSIFFLAGS);
    }
    close(fd as i32);
    r
}

/// dup3(2).
pub fn dup3(old: i32, new: i32, flags: i32) -> isize {
    // SAFETY: touches no memory.
    unsafe {
        syscall(
            libc::SYS_dup3,
            [old as usize, new as usize, flags as usize, 0, 0, 0],
        )
    }
}

/// fcntl(2) with an integer argument.
pub fn fcntl(fd: i32, cmd: i32, arg: i32) -> isize {
    // SAFETY: the commands used take an integer, not a pointer.
    unsafe {
        syscall(
            libc::SYS_fcntl,
            [fd as usize, cmd as usize, arg as usize, 0, 0, 0],
        )
    }
}

/// setns(2).
pub fn setns(fd: i32, nstype: i32) -> isize {
    // SAFETY: touches no memory.
    unsafe { syscall(libc::SYS_setns, [fd as usize, nstype as usize, 0, 0, 0, 0]) }
}

/// unshare(2).
pub fn unshare(flags: i32) -> isize {
    // SAFETY: touches no memory.
    unsafe { syscall(libc::SYS_unshare, [flags as usize, 0, 0, 0, 0, 0]) }
}

/// prctl(2) with integer arguments.
pub fn prctl(option: i32, arg: usize) -> isize {
    // SAFETY: the options used take integers, or (PR_SET_NAME, PR_GET_NAME) the address of
    // 16 bytes that the caller owns.
    unsafe { syscall(libc::SYS_prctl, [option as usize, arg, 0, 0, 0, 0]) }
}

/// getpid(2).
pub fn getpid() -> isize {
    // SAFETY: no arguments.
    unsafe { syscall(libc::SYS_getpid, [0; 6]) }
}

/// getppid(2).
pub fn getppid() -> isize {
    // SAFETY: no arguments.
    unsafe { syscall(libc::SYS_getppid, [0; 6]) }
}

/// setresuid(2) to one id for all three.
pub fn setresuid(id: u32) -> isize {
    let id = id as usize;
    // SAFETY: touches no memory.
    unsafe { syscall(libc::SYS_setresuid, [id, id, id, 0, 0, 0]) }
}

/// setresgid(2) to one id for all three.
pub fn setresgid(id: u32) -> isize {
    let id = id as usize;
    // SAFETY: touches no memory.
    unsafe { syscall(libc::SYS_setresgid, [id, id, id, 0, 0, 0]) }
}

/// sethostname(2) or setdomainname(2) (`nr` says which).
pub fn set_name(nr: libc::c_long, name: &[u8]) -> isize {
    // SAFETY: the buffer is valid for its length.
    unsafe { syscall(nr, [p(name.as_ptr()), name.len(), 0, 0, 0, 0]) }
}

/// mount(2).
pub fn mount(src: &CStr, target: &CStr, fstype: Option<&CStr>, flags: u64) -> isize {
    let fstype = fstype.map_or(0, |f| p(f.as_ptr()));
    let a = [
        p(src.as_ptr()),
        p(target.as_ptr()),
        fstype,
        flags as usize,
        0,
        0,
    ];
    // SAFETY: the strings are NUL-terminated; no data argument.
    unsafe { syscall(libc::SYS_mount, a) }
}

/// chdir(2).
pub fn chdir(path: &CStr) -> isize {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall(libc::SYS_chdir, [p(path.as_ptr()), 0, 0, 0, 0, 0]) }
}

/// execve(2); returns only on failure.
///
/// # Safety
/// `argv` and `envp` must be NULL-terminated arrays of NUL-terminated strings.
pub unsafe fn execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> isize {
    // SAFETY: guaranteed by the caller.
    unsafe { syscall(libc::SYS_execve, [p(path), p(argv), p(envp), 0, 0, 0]) }
}

/// exit_group(2).
pub fn exit(code: i32) -> ! {
    // SAFETY: ends the process; touches no memory.
    unsafe { syscall(libc::SYS_exit_group, [code as usize, 0, 0, 0, 0, 0]) };
    #[allow(clippy::empty_loop)]
    loop {}
}

/// pipe2(2) with O_CLOEXEC: (read end, write end), or `-errno`.
pub fn pipe() -> Result<(i32, i32), isize> {
    let mut fds = [-1i32; 2];
    let a = [
        fds.as_mut_ptr() as usize,
        libc::O_CLOEXEC as usize,
        0,
        0,
        0,
        0,
    ];
    // SAFETY: `fds` has room for the two fds.
    let r = unsafe { syscall(libc::SYS_pipe2, a) };
    if r < 0 {
        Err(r)
    } else {
        Ok((fds[0], fds[1]))
    }
}

/// pidfd_open(2).
pub fn pidfd_open(pid: i32) -> isize {
    // SAFETY: touches no memory.
    unsafe { syscall(libc::SYS_pidfd_open, [pid as usize, 0, 0, 0, 0, 0]) }
}

/// ppoll(2) without a signal mask; `wait` false returns at once (a zero timeout), true
/// waits without a timeout.
pub fn poll(fds: &mut [libc::pollfd], wait: bool) -> isize {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let timeout = if wait { 0 } else { p(&zero) };
    let a = [fds.as_mut_ptr() as usize, fds.len(), timeout, 0, 0, 0];
    // SAFETY: the pollfd array is valid and writable for its length; `zero` outlives the call.
    unsafe { syscall(libc::SYS_ppoll, a) }
}

/// The kernel's `struct sigaction` (rt_sigaction(2)).
#[repr(C)]
pub struct KernelSigaction {
    pub handler: usize,
    pub flags: u64,
    pub restorer: usize,
    pub mask: u64,
}

/// rt_sigaction(2).
pub fn sigaction(
    sig: i32,
    new: Option<&KernelSigaction>,
    old: Option<&mut KernelSigaction>,
) -> isize {
    let new = new.map_or(0, |n| p(n));
    let old = old.map_or(0, |o| o as *mut KernelSigaction as usize);
    // SAFETY: both pointers are null or point to live sigaction structs; 8 is sizeof(sigset).
    unsafe { syscall(libc::SYS_rt_sigaction, [sig as usize, new, old, 8, 0, 0]) }
}

/// rt_sigprocmask(2) with the kernel's 64-bit mask.
pub fn sigprocmask(how: i32, set: u64, old: Option<&mut u64>) -> isize {
    let old = old.map_or(0, |o| o as *mut u64 as usize);
    // SAFETY: `set` lives for the call; `old` is null or writable.
    unsafe {
        syscall(
            libc::SYS_rt_sigprocmask,
            [how as usize, p(&set), old, 8, 0, 0],
        )
    }
}

/// rt_sigtimedwait(2) without a timeout: the signal number.
pub fn sigwait(set: u64, info: &mut libc::siginfo_t) -> isize {
    let info = info as *mut libc::siginfo_t as usize;
    // SAFETY: `set` lives for the call and `info` is writable.
    unsafe { syscall(libc::SYS_rt_sigtimedwait, [p(&set), info, 0, 8, 0, 0]) }
}

/// wait4(2).
pub fn wait4(pid: i32, status: &mut i32, options: i32) -> isize {
    let st = status as *mut i32 as usize;
    // SAFETY: `status` is writable; no rusage.
    unsafe {
        syscall(
            libc::SYS_wait4,
            [pid as isize as usize, st, options as usize, 0, 0, 0],
        )
    }
}

/// kill(2).
pub fn kill(pid: i32, sig: i32) -> isize {
    // SAFETY: touches no memory.
    unsafe {
        syscall(
            libc::SYS_kill,
            [pid as isize as usize, sig as usize, 0, 0, 0, 0],
        )
    }
}

/// The bit of signal `sig` in a kernel signal mask.
pub const fn sigbit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Every signal.
pub const ALL_SIGNALS: u64 = !0;
