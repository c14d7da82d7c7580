//! eBPF by bpf(2): the one program pyns loads, a tc classifier (cls_bpf, direct action) that
//! drops a share of the packets at random, for loss on kernels without netem.

use std::os::fd::{FromRawFd, OwnedFd};

use super::error::{Error, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
/// `BPF_FUNC_get_prandom_u32`.
const GET_PRANDOM_U32: i32 = 7;
const TC_ACT_OK: i32 = 0;
const TC_ACT_SHOT: i32 = 2;

/// `union bpf_attr` as BPF_PROG_LOAD reads it, up to `expected_attach_type` (bpf(2)).
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// One eBPF instruction (`struct bpf_insn`): opcode, registers (dst low nibble, src high),
/// offset, immediate.
fn insn(code: u8, dst: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | (u64::from(dst & 0xf) << 8)
        | (u64::from(off as u16) << 16)
        | (u64::from(imm as u32) << 32)
}

/// The classifier for a loss of `loss` (0.0 to 1.0): draw a random u32, drop the packet
/// (TC_ACT_SHOT) if it is below `loss` × 2³², else let it pass (TC_ACT_OK).
pub fn loss_program(loss: f64) -> Vec<u64> {
    const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
    const JGE32: u8 = 0x36; // BPF_JMP32 | BPF_JGE | BPF_K: unsigned 32-bit compare
    const MOV64: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
    let threshold = (loss.clamp(0.0, 1.0) * 4_294_967_296.0).round();
    if threshold >= 4_294_967_296.0 {
        return vec![insn(MOV64, 0, 0, TC_ACT_SHOT), insn(EXIT, 0, 0, 0)];
    }
    vec![
        insn(CALL, 0, 0, GET_PRANDOM_U32),
        insn(JGE32, 0, 2, threshold as u32 as i32),
        insn(MOV64, 0, 0, TC_ACT_SHOT),
        insn(EXIT, 0, 0, 0),
        insn(MOV64, 0, 0, TC_ACT_OK),
        insn(EXIT, 0, 0, 0),
    ]
}

/// Loads `loss_program(loss)` (BPF_PROG_LOAD, type BPF_PROG_TYPE_SCHED_CLS) and returns its fd.
pub fn load_loss(loss: f64) -> Result<OwnedFd> {
    let insns = loss_program(loss);
    let license = b"GPL\0";
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_SCHED_CLS,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..ProgLoad::default()
    };
    attr.prog_name[..9].copy_from_slice(b"pyns_loss");
    let size = std::mem::size_of::<ProgLoad>();
    // SAFETY: `attr` is a valid bpf_attr prefix of `size` bytes whose pointers (instructions,
    // license) stay alive across the call; the kernel reads no further than `size`.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &mut attr, size) };
    if fd < 0 {
        return Err(Error::last("bpf(BPF_PROG_LOAD) of the loss classifier")
            .needs("CAP_BPF (or CAP_SYS_ADMIN) in the initial user namespace"));
    }
    // SAFETY: bpf(2) just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_loss_classifier() {
        let p = loss_program(0.25);
        assert_eq!(p.len(), 6);
        assert_eq!(p[0], 0x85 | (7u64 << 32));
        assert_eq!(p[1], 0x36 | (2u64 << 16) | (0x4000_0000u64 << 32));
        assert_eq!(p[2], 0xb7 | (2u64 << 32));
        assert_eq!(loss_program(1.0), vec![0xb7 | (2u64 << 32), 0x95]);
        assert_eq!(std::mem::size_of::<ProgLoad>(), 72);
    }
}
