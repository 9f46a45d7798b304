//! Defence against CVE-2019-5736: a container process that reaches the runtime's binary through
//! `/proc/PID/exe` (for instance by making the runtime exec `#!/proc/self/exe`) must not be able
//! to overwrite it. Before touching a container, the runtime re-executes itself from a sealed
//! in-memory copy: writes to that copy fail, and the file on disk is never reachable.

use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStringExt;

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};

use crate::error::{Error, IoContext, Result, SysContext};

const SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

/// Whether the running binary is already a sealed copy.
pub fn is_sealed() -> bool {
    File::open("/proc/self/exe").is_ok_and(|exe| {
        fcntl(&exe, FcntlArg::F_GET_SEALS)
            .is_ok_and(|seals| SealFlag::from_bits_truncate(seals).contains(SEALS))
    })
}

/// Re-executes the current command line from a sealed copy unless already running from one.
/// Returns only when no re-exec was needed.
pub fn ensure_sealed() -> Result<()> {
    if is_sealed() {
        return Ok(());
    }
    let mut exe = File::open("/proc/self/exe").io(|| "open /proc/self/exe".into())?;
    let memfd = memfd_create(
        "berth-runtime",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .sys(|| "memfd_create for the sealed runtime copy".into())?;
    let mut copy = File::from(memfd);
    std::io::copy(&mut exe, &mut copy).io(|| "copy the runtime into memory".into())?;
    fcntl(&copy, FcntlArg::F_ADD_SEALS(SEALS)).sys(|| "seal the runtime copy".into())?;
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_vec()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::InvalidSpec("an argument contains a NUL byte".into()))?;
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv)
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::InvalidSpec("an environment variable contains a NUL byte".into()))?;
    let err = nix::unistd::fexecve(&copy, &argv, &envp).unwrap_err();
    Err(err).sys(|| "re-execute the runtime from its sealed copy".into())
}
