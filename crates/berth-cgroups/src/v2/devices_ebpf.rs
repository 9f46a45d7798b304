//! cgroup v2 has no devices.allow file: device access is decided by a
//! BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup. This module compiles OCI device
//! rules into such a program, loads it and swaps it in for any previously attached one.
//!
//! Semantics match v1: default deny, and a later rule overrides an earlier one. Rules are
//! emitted in reverse so the first matching block decides. An allow rule matches when the
//! requested access is a subset of its access; a deny rule when they overlap at all.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::fs::io_err;
use crate::resources::{ACC_ALL, DeviceRule};
use crate::{Error, Result};

/// One eBPF instruction (struct bpf_insn).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    pub(crate) code: u8,
    /// dst register in the low nibble, src in the high one.
    pub(crate) regs: u8,
    pub(crate) off: i16,
    pub(crate) imm: i32,
}

// Opcodes (class | op | source) and registers used by the emitter.
const LDX_MEM_W: u8 = 0x61;
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JMP_JEQ_K: u8 = 0x15;
const JMP_JNE_K: u8 = 0x55;
const JMP_JNE_X: u8 = 0x5d;
const JMP_EXIT: u8 = 0x95;
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

/// BPF_DEVCG_DEV_BLOCK / BPF_DEVCG_DEV_CHAR.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// Loads struct bpf_cgroup_dev_ctx into registers: R2 = device type, R3 = requested access,
/// R4 = major, R5 = minor (R1 holds the context pointer and is reused as scratch afterwards).
const PROLOGUE: [Insn; 6] = [
    insn(LDX_MEM_W, R2, R1, 0, 0),
    insn(ALU32_AND_K, R2, 0, 0, 0xffff),
    insn(LDX_MEM_W, R3, R1, 0, 0),
    insn(ALU32_RSH_K, R3, 0, 0, 16),
    insn(LDX_MEM_W, R4, R1, 4, 0),
    insn(LDX_MEM_W, R5, R1, 8, 0),
];

/// `r0 = verdict; exit`.
fn verdict(allow: bool) -> [Insn; 2] {
    [
        insn(ALU64_MOV_K, R0, 0, 0, i32::from(allow)),
        insn(JMP_EXIT, 0, 0, 0, 0),
    ]
}

/// Compiles `rules` (OCI order, last match wins) into a device program.
pub(crate) fn compile(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = PROLOGUE.to_vec();
    for rule in rules.iter().rev() {
        // Conditions jump to the end of the block (the next rule) with a placeholder offset.
        let mut block = Vec::new();
        match rule.kind {
            'b' => block.push(insn(JMP_JNE_K, R2, 0, 0, DEV_BLOCK)),
            'c' => block.push(insn(JMP_JNE_K, R2, 0, 0, DEV_CHAR)),
            _ => {}
        }
        if rule.access != ACC_ALL {
            block.push(insn(ALU32_MOV_X, R1, R3, 0, 0));
            block.push(insn(ALU32_AND_K, R1, 0, 0, rule.access as i32));
            block.push(if rule.allow {
                insn(JMP_JNE_X, R1, R3, 0, 0) // requested ⊄ allowed
            } else {
                insn(JMP_JEQ_K, R1, 0, 0, 0) // no overlap with denied
            });
        }
        for (reg, n) in [(R4, rule.major), (R5, rule.minor)] {
            if let Some(n) = n {
                block.push(insn(JMP_JNE_K, reg, 0, 0, n as i32));
            }
        }
        let unconditional = block.is_empty();
        block.extend(verdict(rule.allow));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code & 0x07 == 0x05 && ins.code != JMP_EXIT {
                ins.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
        if unconditional {
            // Everything after would be unreachable, which the verifier rejects.
            return prog;
        }
    }
    prog.extend(verdict(false));
    prog
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
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

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(2) with `attr` as the attribute union member.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<RawFd> {
    // SAFETY: `attr` is a live, #[repr(C)] prefix of union bpf_attr and the size passed is its
    // size; the kernel zero-checks nothing beyond it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret as RawFd)
    }
}

/// Wraps a descriptor the kernel just returned.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by bpf(2) and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Loads `prog`; on failure retries with the verifier log so the error explains itself.
pub(crate) fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = c"Apache";
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    attr.prog_name[..6].copy_from_slice(b"berth\0");
    if let Ok(fd) = bpf(BPF_PROG_LOAD, &mut attr) {
        return Ok(owned(fd));
    }
    let mut log = vec![0u8; 1 << 16];
    attr.log_level = 1;
    attr.log_size = log.len() as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]);
            Err(Error::Other(format!(
                "loading device cgroup program: {e}: {log}"
            )))
        }
    }
}

/// Ids of device programs attached directly to the cgroup behind `cg`.
fn attached(cg: &File) -> std::io::Result<Vec<u32>> {
    let mut ids = [0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    Ok(ids[..attr.prog_cnt as usize].to_vec())
}

/// Attaches `prog` to the cgroup `dir`, then detaches the programs that were there before, so
/// re-applying rules replaces them (with BPF_F_ALLOW_MULTI every attached program must allow,
/// so leaving old ones would only ever tighten access).
pub(crate) fn attach(dir: &Path, prog: &OwnedFd) -> Result<()> {
    let cg = File::open(dir).map_err(|e| io_err(dir, e))?;
    let old = attached(&cg).map_err(|e| io_err(dir, e))?;
    let mut attr = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| io_err(dir, e))?;
    for id in old {
        let mut get = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let old_fd = owned(bpf(BPF_PROG_GET_FD_BY_ID, &mut get).map_err(|e| io_err(dir, e))?);
        attr.attach_bpf_fd = old_fd.as_raw_fd() as u32;
        attr.attach_flags = 0;
        bpf(BPF_PROG_DETACH, &mut attr).map_err(|e| io_err(dir, e))?;
    }
    Ok(())
}

/// Compiles, loads and attaches `rules` to the cgroup `dir`.
pub(crate) fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    attach(dir, &load(&compile(rules))?)
}
