//! Safe, exact layer unpacking. A layer tar is hostile input: every entry is placed relative to a
//! directory fd of the destination, parents are opened with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` so nothing is ever written through a symlink or outside the root, and
//! `..` that would climb out is refused. Metadata is reproduced exactly (owner, mode incl.
//! setuid, mtime, xattrs, device numbers), and OCI whiteouts become overlayfs whiteouts.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tar::EntryType;

use crate::error::{Error, Result};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const XATTR_PAX_PREFIX: &str = "SCHILY.xattr.";
/// overlayfs marks a directory opaque (hiding lower layers' contents) with this xattr.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What unpacking produced, for logging.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries applied (including whiteouts).
    pub entries: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
}

/// Unpacks the layer tar read from `reader` into `dest` (an existing directory), refusing any
/// entry that would escape it. Whiteouts are turned into overlayfs whiteouts (`.wh.NAME` → a
/// 0:0 character device `NAME`; `.wh..wh..opq` → `trusted.overlay.opaque=y` on its directory).
pub fn unpack_layer(reader: impl Read, dest: &Path) -> Result<UnpackStats> {
    let root = open_dir_at(libc::AT_FDCWD, dest.as_os_str().as_bytes(), false)
        .map_err(Error::io("open", dest))?;
    let mut archive = tar::Archive::new(reader);
    let mut stats = UnpackStats::default();
    let mut dir_times: Vec<(Vec<Vec<u8>>, Time)> = Vec::new();
    let mut buf = vec![0u8; COPY_CHUNK];
    for entry in archive.entries().map_err(Error::Layer)? {
        let mut entry = entry.map_err(Error::Layer)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let comps = normalize(&raw).map_err(|reason| Error::entry(&name, reason))?;
        apply_entry(
            &root,
            &mut entry,
            &comps,
            &mut dir_times,
            &mut stats,
            &mut buf,
        )
        .map_err(|e| match e {
            EntryError::Reason(r) => Error::entry(&name, r),
            EntryError::Io(op, err) => Error::entry(&name, format!("{op}: {err}")),
        })?;
        stats.entries += 1;
    }
    // Directory mtimes last: creating their contents changed them.
    for (comps, mtime) in dir_times.iter().rev() {
        let name = String::from_utf8_lossy(&comps.join(&b'/')).into_owned();
        let fd = if comps.is_empty() {
            dup(&root)
        } else {
            open_beneath(
                &root,
                &comps.join(&b'/'),
                libc::O_RDONLY | libc::O_DIRECTORY,
            )
        };
        let fd = match fd {
            Ok(fd) => fd,
            // A later entry replaced the directory: nothing to date.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOTDIR | libc::ELOOP | libc::ENOENT)
                ) =>
            {
                continue;
            }
            Err(e) => return Err(Error::entry(&name, format!("reopen directory: {e}"))),
        };
        set_times(fd.as_raw_fd(), b"", *mtime, libc::AT_EMPTY_PATH)
            .map_err(|e| Error::entry(&name, format!("set mtime: {e}")))?;
    }
    Ok(stats)
}

enum EntryError {
    Reason(String),
    Io(&'static str, io::Error),
}

/// File contents are copied in chunks this large.
const COPY_CHUNK: usize = 128 * 1024;

/// Copies an entry's content in chunks as large as `buf`, so a small file is one `write`
/// (`io::copy`'s 8 KiB buffer made three of a 16 KiB file; layers hold thousands of them).
fn copy_content(src: &mut impl Read, dst: &mut File, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match src.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        dst.write_all(&buf[..filled])?;
        total += filled as u64;
        if filled < buf.len() {
            return Ok(total);
        }
    }
}

fn ctx(op: &'static str) -> impl FnOnce(io::Error) -> EntryError {
    move |e| EntryError::Io(op, e)
}

/// Splits an entry path into components below the root: a leading `/` is stripped (as Docker
/// does), `.` and empty components are dropped, and `..` may only cancel a previous component.
fn normalize(raw: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("escapes the layer root".into());
                }
            }
            c if c.contains(&0) => return Err("contains a NUL byte".into()),
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn apply_entry<R: Read>(
    root: &OwnedFd,
    entry: &mut tar::Entry<'_, R>,
    comps: &[Vec<u8>],
    dir_times: &mut Vec<(Vec<Vec<u8>>, Time)>,
    stats: &mut UnpackStats,
    buf: &mut [u8],
) -> std::result::Result<(), EntryError> {
    let header = entry.header().clone();
    let kind = header.entry_type();
    let mut mtime: Time = (header.mtime().unwrap_or(0) as i64, 0);
    let mode = header.mode().map_err(ctx("read mode"))? & 0o7777;
    let (mut uid, mut gid) = (
        header.uid().map_err(ctx("read uid"))?,
        header.gid().map_err(ctx("read gid"))?,
    );
    let mut xattrs: Vec<(CString, Vec<u8>)> = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(ctx("read PAX header"))? {
        for ext in exts {
            let ext = ext.map_err(ctx("read PAX header"))?;
            let key = ext
                .key()
                .map_err(|_| EntryError::Reason("non-UTF-8 PAX key".into()))?;
            if let Some(x) = key.strip_prefix(XATTR_PAX_PREFIX) {
                if x.starts_with("trusted.overlay.") {
                    // Overlay metadata in a layer could redirect lookups; only whiteouts set it.
                    tracing::warn!(xattr = x, "ignoring overlay xattr in layer entry");
                    continue;
                }
                let name = CString::new(x)
                    .map_err(|_| EntryError::Reason("xattr name has a NUL".into()))?;
                xattrs.push((name, ext.value_bytes().to_vec()));
            } else if key == "mtime" {
                mtime = ext
                    .value()
                    .ok()
                    .and_then(parse_pax_time)
                    .ok_or_else(|| EntryError::Reason("bad PAX mtime".into()))?;
            } else if key == "uid" || key == "gid" {
                let v = ext.value().ok().and_then(|v| v.parse::<u64>().ok());
                let v = v.ok_or_else(|| EntryError::Reason(format!("bad PAX {key}")))?;
                if key == "uid" { uid = v } else { gid = v }
            }
        }
    }
    let (uid, gid) = (
        u32::try_from(uid).map_err(|_| EntryError::Reason("uid out of range".into()))?,
        u32::try_from(gid).map_err(|_| EntryError::Reason("gid out of range".into()))?,
    );

    let Some((base, parents)) = comps.split_last() else {
        // The root itself ("./"): take its metadata.
        if kind.is_dir() {
            set_owner_mode(root.as_raw_fd(), b"", uid, gid, mode, libc::AT_EMPTY_PATH)?;
            set_xattrs(root.as_raw_fd(), None, &xattrs)?;
            dir_times.push((Vec::new(), mtime));
        }
        return Ok(());
    };
    let parent = open_parent(root, parents)?;
    let pfd = parent.as_raw_fd();

    // OCI whiteouts.
    if base.as_slice() == OPAQUE_MARKER {
        set_xattrs(
            pfd,
            None,
            &[(CString::new(OPAQUE_XATTR).unwrap(), b"y".to_vec())],
        )?;
        return Ok(());
    }
    if let Some(hidden) = base.strip_prefix(WHITEOUT_PREFIX) {
        if hidden.is_empty() || hidden.starts_with(WHITEOUT_PREFIX) {
            return Err(EntryError::Reason("malformed whiteout".into()));
        }
        let hidden = cstr(hidden);
        remove_existing(pfd, &hidden, false)?;
        mknod(pfd, &hidden, libc::S_IFCHR, 0)?;
        set_owner_mode(
            pfd,
            hidden.as_bytes(),
            uid,
            gid,
            0,
            libc::AT_SYMLINK_NOFOLLOW,
        )?;
        return Ok(());
    }

    let name = cstr(base);
    match kind {
        EntryType::Directory => {
            if !remove_existing(pfd, &name, true)? {
                let r = unsafe { libc::mkdirat(pfd, name.as_ptr(), 0o700) };
                check(r).map_err(ctx("mkdir"))?;
            }
            let dir = open_dir_at(pfd, name.as_bytes(), true).map_err(ctx("open directory"))?;
            set_owner_mode(dir.as_raw_fd(), b"", uid, gid, mode, libc::AT_EMPTY_PATH)?;
            set_xattrs(dir.as_raw_fd(), None, &xattrs)?;
            dir_times.push((comps.to_vec(), mtime));
        }
        EntryType::Regular | EntryType::Continuous => {
            remove_existing(pfd, &name, false)?;
            let fd = unsafe {
                libc::openat(
                    pfd,
                    name.as_ptr(),
                    libc::O_WRONLY
                        | libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o600,
                )
            };
            let mut file = unsafe { File::from_raw_fd(check(fd).map_err(ctx("create"))?) };
            let n = copy_content(entry, &mut file, buf).map_err(ctx("write content"))?;
            if n != header.entry_size().unwrap_or(0) {
                return Err(EntryError::Reason(format!(
                    "content truncated after {n} bytes"
                )));
            }
            stats.bytes += n;
            let fd = file.as_raw_fd();
            set_owner_mode(fd, b"", uid, gid, mode, libc::AT_EMPTY_PATH)?;
            set_xattrs(fd, None, &xattrs)?;
            set_times(fd, b"", mtime, libc::AT_EMPTY_PATH).map_err(ctx("set mtime"))?;
        }
        EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| EntryError::Reason("symlink without target".into()))?;
            if target.is_empty() || target.contains(&0) {
                return Err(EntryError::Reason("bad symlink target".into()));
            }
            remove_existing(pfd, &name, false)?;
            let t = cstr(&target);
            check(unsafe { libc::symlinkat(t.as_ptr(), pfd, name.as_ptr()) })
                .map_err(ctx("symlink"))?;
            let r =
                unsafe { libc::fchownat(pfd, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) };
            check(r).map_err(ctx("lchown"))?;
            set_xattrs(pfd, Some(&name), &xattrs)?;
            set_times(pfd, name.as_bytes(), mtime, libc::AT_SYMLINK_NOFOLLOW)
                .map_err(ctx("set mtime"))?;
        }
        EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| EntryError::Reason("hard link without target".into()))?;
            let tcomps = normalize(&target).map_err(|r| {
                EntryError::Reason(format!(
                    "hard link target {:?} {r}",
                    String::from_utf8_lossy(&target)
                ))
            })?;
            let Some((tbase, tparents)) = tcomps.split_last() else {
                return Err(EntryError::Reason("hard link to the layer root".into()));
            };
            let tparent = open_parent_existing(root, tparents).map_err(|e| {
                EntryError::Reason(format!(
                    "hard link target {:?}: {e}",
                    String::from_utf8_lossy(&target)
                ))
            })?;
            let tname = cstr(tbase);
            if tparent_same(&tparent, &parent) && tname == name {
                return Err(EntryError::Reason("hard link to itself".into()));
            }
            remove_existing(pfd, &name, false)?;
            let r =
                unsafe { libc::linkat(tparent.as_raw_fd(), tname.as_ptr(), pfd, name.as_ptr(), 0) };
            check(r).map_err(|e| {
                EntryError::Reason(format!(
                    "hard link to {:?}: {e}",
                    String::from_utf8_lossy(&target)
                ))
            })?;
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let (ftype, dev) = match kind {
                EntryType::Fifo => (libc::S_IFIFO, 0),
                _ => {
                    let major = header
                        .device_major()
                        .map_err(ctx("read device"))?
                        .unwrap_or(0);
                    let minor = header
                        .device_minor()
                        .map_err(ctx("read device"))?
                        .unwrap_or(0);
                    let t = if kind == EntryType::Char {
                        libc::S_IFCHR
                    } else {
                        libc::S_IFBLK
                    };
                    (t, libc::makedev(major, minor))
                }
            };
            remove_existing(pfd, &name, false)?;
            mknod(pfd, &name, ftype, dev)?;
            set_owner_mode(
                pfd,
                name.as_bytes(),
                uid,
                gid,
                mode,
                libc::AT_SYMLINK_NOFOLLOW,
            )?;
            set_xattrs(pfd, Some(&name), &xattrs)?;
            set_times(pfd, name.as_bytes(), mtime, libc::AT_SYMLINK_NOFOLLOW)
                .map_err(ctx("set mtime"))?;
        }
        EntryType::XGlobalHeader => {}
        other => {
            return Err(EntryError::Reason(format!(
                "unsupported entry type {other:?}"
            )));
        }
    }
    Ok(())
}

fn tparent_same(a: &OwnedFd, b: &OwnedFd) -> bool {
    let (sa, sb) = (nix::sys::stat::fstat(a), nix::sys::stat::fstat(b));
    matches!((sa, sb), (Ok(x), Ok(y)) if x.st_dev == y.st_dev && x.st_ino == y.st_ino)
}

fn cstr(b: &[u8]) -> CString {
    CString::new(b).expect("NUL bytes were refused by normalize")
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn dup(fd: &OwnedFd) -> io::Result<OwnedFd> {
    fd.try_clone()
}

/// `openat(dirfd, name, O_DIRECTORY [| O_NOFOLLOW])`.
fn open_dir_at(dirfd: RawFd, name: &[u8], nofollow: bool) -> io::Result<OwnedFd> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    if nofollow {
        flags |= libc::O_NOFOLLOW;
    }
    let fd = check(unsafe { libc::openat(dirfd, c.as_ptr(), flags) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens `path` below `root` without following any symlink and without leaving `root`.
fn open_beneath(root: &OwnedFd, path: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain data; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    match check(fd as libc::c_int) {
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => walk_nofollow(root, path, flags),
        Err(e) => Err(e),
    }
}

/// `open_beneath` for kernels without openat2 (< 5.6): one component at a time, never
/// following a symlink; `..` never reaches here (entry paths are normalised first).
fn walk_nofollow(root: &OwnedFd, path: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let comps: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    let mut cur = dup(root)?;
    for (i, c) in comps.iter().enumerate() {
        if *c == b".." {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        let last = i + 1 == comps.len();
        let f = if last {
            flags
        } else {
            libc::O_RDONLY | libc::O_DIRECTORY
        };
        let name = CString::new(*c).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let fd = check(unsafe {
            libc::openat(
                cur.as_raw_fd(),
                name.as_ptr(),
                f | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        })?;
        cur = unsafe { OwnedFd::from_raw_fd(fd) };
    }
    Ok(cur)
}

fn parent_error(e: io::Error) -> EntryError {
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) | Some(libc::EXDEV) => EntryError::Reason(
            "a parent is a symlink or not a directory: refusing to write through it".into(),
        ),
        _ => EntryError::Io("open parent", e),
    }
}

/// Opens the parent directory of an entry, creating missing directories (mode 0755, as tar
/// does) one component at a time, never through a symlink.
fn open_parent(root: &OwnedFd, parents: &[Vec<u8>]) -> std::result::Result<OwnedFd, EntryError> {
    if parents.is_empty() {
        return dup(root).map_err(ctx("dup"));
    }
    match open_beneath(
        root,
        &parents.join(&b'/'),
        libc::O_RDONLY | libc::O_DIRECTORY,
    ) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(parent_error(e)),
    }
    let mut cur = dup(root).map_err(ctx("dup"))?;
    for c in parents {
        let name = cstr(c);
        let r = unsafe { libc::mkdirat(cur.as_raw_fd(), name.as_ptr(), 0o755) };
        if let Err(e) = check(r)
            && e.raw_os_error() != Some(libc::EEXIST)
        {
            return Err(EntryError::Io("mkdir parent", e));
        }
        cur = open_dir_at(cur.as_raw_fd(), c, true).map_err(parent_error)?;
    }
    Ok(cur)
}

fn open_parent_existing(root: &OwnedFd, parents: &[Vec<u8>]) -> io::Result<OwnedFd> {
    if parents.is_empty() {
        dup(root)
    } else {
        open_beneath(
            root,
            &parents.join(&b'/'),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )
    }
}

/// Makes room for a new entry called `name`. An existing directory is kept when `keep_dir` (a
/// directory entry over a directory only updates metadata); returns whether it was kept.
fn remove_existing(
    pfd: RawFd,
    name: &CString,
    keep_dir: bool,
) -> std::result::Result<bool, EntryError> {
    let st = match nix::sys::stat::fstatat(
        unsafe { std::os::fd::BorrowedFd::borrow_raw(pfd) },
        name.as_c_str(),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) => st,
        Err(nix::errno::Errno::ENOENT) => return Ok(false),
        Err(e) => return Err(EntryError::Io("stat", e.into())),
    };
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if is_dir && keep_dir {
        return Ok(true);
    }
    if is_dir {
        // std's remove_dir_all does not follow symlinks; the fd path pins the parent.
        let p = format!(
            "/proc/self/fd/{pfd}/{}",
            String::from_utf8_lossy(name.as_bytes())
        );
        let p = Path::new(OsStr::from_bytes(p.as_bytes()));
        std::fs::remove_dir_all(p).map_err(ctx("remove existing directory"))?;
    } else {
        check(unsafe { libc::unlinkat(pfd, name.as_ptr(), 0) }).map_err(ctx("remove existing"))?;
    }
    Ok(false)
}

fn mknod(
    pfd: RawFd,
    name: &CString,
    ftype: libc::mode_t,
    dev: libc::dev_t,
) -> std::result::Result<(), EntryError> {
    check(unsafe { libc::mknodat(pfd, name.as_ptr(), ftype | 0o600, dev) })
        .map_err(ctx("mknod"))?;
    Ok(())
}

/// chown then chmod: chown clears setuid/setgid bits, so the mode goes on last.
fn set_owner_mode(
    fd: RawFd,
    name: &[u8],
    uid: u32,
    gid: u32,
    mode: u32,
    flags: libc::c_int,
) -> std::result::Result<(), EntryError> {
    let c = cstr(name);
    check(unsafe { libc::fchownat(fd, c.as_ptr(), uid, gid, flags) }).map_err(ctx("chown"))?;
    let r = if flags & libc::AT_EMPTY_PATH != 0 {
        unsafe { libc::fchmod(fd, mode) }
    } else {
        // Not a symlink (those are never chmod-ed); fchmodat follows nothing else.
        unsafe { libc::fchmodat(fd, c.as_ptr(), mode, 0) }
    };
    check(r).map_err(ctx("chmod"))?;
    Ok(())
}

/// Sets xattrs on `fd` itself, or on `name` under directory `fd` without following it.
fn set_xattrs(
    fd: RawFd,
    name: Option<&CString>,
    xattrs: &[(CString, Vec<u8>)],
) -> std::result::Result<(), EntryError> {
    for (k, v) in xattrs {
        let r = match name {
            None => unsafe { libc::fsetxattr(fd, k.as_ptr(), v.as_ptr().cast(), v.len(), 0) },
            Some(n) => {
                let p = CString::new(format!("/proc/self/fd/{fd}/")).unwrap();
                let mut full = p.into_bytes();
                full.extend_from_slice(n.as_bytes());
                let full = CString::new(full).unwrap();
                unsafe { libc::lsetxattr(full.as_ptr(), k.as_ptr(), v.as_ptr().cast(), v.len(), 0) }
            }
        };
        check(r).map_err(|e| {
            EntryError::Io(
                "set xattr",
                io::Error::new(e.kind(), format!("{}: {e}", k.to_string_lossy())),
            )
        })?;
    }
    Ok(())
}

/// Seconds and nanoseconds since the epoch.
type Time = (i64, i64);

/// A PAX time: `[-]seconds[.fraction]`.
fn parse_pax_time(v: &str) -> Option<Time> {
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nsec: i64 = digits.parse().ok()?;
    // -1.5 means 1.5 seconds before the epoch.
    Some(if v.starts_with('-') && nsec > 0 {
        (secs - 1, 1_000_000_000 - nsec)
    } else {
        (secs, nsec)
    })
}

fn set_times(fd: RawFd, name: &[u8], mtime: Time, flags: libc::c_int) -> io::Result<()> {
    let c = cstr(name);
    let t = libc::timespec {
        tv_sec: mtime.0 as _,
        tv_nsec: mtime.1 as _,
    };
    let times = [t, t];
    check(unsafe { libc::utimensat(fd, c.as_ptr(), times.as_ptr(), flags) })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{E, TarBuf};
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn lgetxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
        let pc = CString::new(p.as_os_str().as_bytes()).unwrap();
        let nc = CString::new(name).unwrap();
        let mut buf = vec![0u8; 256];
        let n = unsafe {
            libc::lgetxattr(pc.as_ptr(), nc.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        (n >= 0).then(|| buf[..n as usize].to_vec())
    }

    #[test]
    fn exact_metadata() {
        let mut t = TarBuf::new();
        t.dir("./", 0o755)
            .add(E {
                path: "usr/",
                kind: EntryType::Directory,
                mode: 0o750,
                uid: 7,
                gid: 8,
                mtime: 1_000_000,
                ..E::default()
            })
            .add(E {
                path: "usr/bin/su",
                mode: 0o4755,
                uid: 0,
                gid: 0,
                data: b"#!su",
                mtime: 1_234_567,
                ..E::default()
            })
            .add(E {
                path: "usr/data",
                mode: 0o2640,
                uid: 1000,
                gid: 1001,
                data: b"x",
                xattrs: &[("user.note", &b"hi"[..])],
                ..E::default()
            })
            .symlink("usr/link", "/usr/bin/su")
            .hardlink("usr/hard", "usr/bin/su")
            .add(E {
                path: "dev/null",
                kind: EntryType::Char,
                mode: 0o666,
                dev: (1, 3),
                ..E::default()
            })
            .add(E {
                path: "dev/sda",
                kind: EntryType::Block,
                mode: 0o660,
                dev: (8, 0),
                gid: 6,
                ..E::default()
            })
            .add(E {
                path: "run/fifo",
                kind: EntryType::Fifo,
                mode: 0o620,
                ..E::default()
            })
            .file("/abs/file", b"abs");
        let tar = t.finish();
        let tmp = tempfile::tempdir().unwrap();
        let stats = unpack_layer(&tar[..], tmp.path()).unwrap();
        assert_eq!(stats.entries, 10);
        let md = |p: &str| std::fs::symlink_metadata(tmp.path().join(p)).unwrap();
        let su = md("usr/bin/su");
        assert_eq!(
            (su.mode() & 0o7777, su.uid(), su.mtime(), su.nlink()),
            (0o4755, 0, 1_234_567, 2)
        );
        assert_eq!(
            std::fs::read(tmp.path().join("usr/bin/su")).unwrap(),
            b"#!su"
        );
        assert_eq!(md("usr/hard").ino(), su.ino());
        let data = md("usr/data");
        assert_eq!(
            (data.mode() & 0o7777, data.uid(), data.gid()),
            (0o2640, 1000, 1001)
        );
        assert_eq!(
            lgetxattr(&tmp.path().join("usr/data"), "user.note").as_deref(),
            Some(&b"hi"[..])
        );
        let usr = md("usr");
        assert_eq!(
            (usr.mode() & 0o7777, usr.uid(), usr.gid(), usr.mtime()),
            (0o750, 7, 8, 1_000_000)
        );
        let link = md("usr/link");
        assert!(link.file_type().is_symlink());
        assert_eq!(
            std::fs::read_link(tmp.path().join("usr/link")).unwrap(),
            Path::new("/usr/bin/su")
        );
        assert_eq!(link.mtime(), 1_600_000_000);
        let null = md("dev/null");
        assert!(null.file_type().is_char_device());
        assert_eq!(
            (null.rdev(), null.mode() & 0o7777),
            (libc::makedev(1, 3), 0o666)
        );
        let sda = md("dev/sda");
        assert!(sda.file_type().is_block_device());
        assert_eq!((sda.rdev(), sda.gid()), (libc::makedev(8, 0), 6));
        assert!(md("run/fifo").file_type().is_fifo());
        assert_eq!(md("run/fifo").mode() & 0o7777, 0o620);
        assert_eq!(std::fs::read(tmp.path().join("abs/file")).unwrap(), b"abs");
        // Implicit parents get 0755.
        assert_eq!(md("run").mode() & 0o7777, 0o755);
    }

    #[test]
    fn hostile_entries_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("target");
        std::fs::create_dir(&target).unwrap();
        let t_str = target.to_str().unwrap().to_string();
        let cases: Vec<(Vec<u8>, &str, &str)> = vec![
            (
                {
                    let mut t = TarBuf::new();
                    t.file("../evil", b"x");
                    t.finish()
                },
                "../evil",
                "escapes the layer root",
            ),
            (
                {
                    let mut t = TarBuf::new();
                    t.file("a/../../evil", b"x");
                    t.finish()
                },
                "a/../../evil",
                "escapes",
            ),
            (
                {
                    let mut t = TarBuf::new();
                    t.symlink("lnk", "/etc").file("lnk/passwd", b"x");
                    t.finish()
                },
                "lnk/passwd",
                "symlink",
            ),
            (
                {
                    let mut t = TarBuf::new();
                    t.hardlink("h", "../../etc/passwd");
                    t.finish()
                },
                "h",
                "escapes",
            ),
            (
                {
                    let mut t = TarBuf::new();
                    t.symlink("out", &t_str).file("out/pwned", b"x");
                    t.finish()
                },
                "out/pwned",
                "symlink",
            ),
            (
                {
                    let mut t = TarBuf::new();
                    t.symlink("rel", "../../..").file("rel/x/y", b"x");
                    t.finish()
                },
                "rel/x/y",
                "symlink",
            ),
            (
                {
                    let mut t = TarBuf::new();
                    t.symlink("s", "/etc/passwd").hardlink("h", "s/x");
                    t.finish()
                },
                "h",
                "hard link target",
            ),
            (
                {
                    let mut t = TarBuf::new();
                    t.hardlink("shadow", "/etc/shadow");
                    t.finish()
                },
                "shadow",
                "hard link target",
            ),
        ];
        for (tar, entry, want) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let err = unpack_layer(&tar[..], tmp.path()).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(&err, Error::LayerEntry { path, .. } if path == entry),
                "{msg}"
            );
            assert!(
                msg.starts_with(&format!("layer entry {entry:?}: ")) && msg.contains(want),
                "{msg}"
            );
            assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0, "{entry}");
        }
        assert!(!outside.path().join("evil").exists());
    }

    #[test]
    fn walk_without_openat2_refuses_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", tmp.path().join("s")).unwrap();
        let root = open_dir_at(libc::AT_FDCWD, tmp.path().as_os_str().as_bytes(), false).unwrap();
        let dir = libc::O_RDONLY | libc::O_DIRECTORY;
        assert!(walk_nofollow(&root, b"a/b", dir).is_ok());
        let e = walk_nofollow(&root, b"s", dir).unwrap_err().raw_os_error();
        assert!(matches!(e, Some(libc::ELOOP | libc::ENOTDIR)), "{e:?}");
        assert!(walk_nofollow(&root, b"a/../..", dir).is_err());
    }

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(
            parse_pax_time("1700000000.25"),
            Some((1_700_000_000, 250_000_000))
        );
        assert_eq!(parse_pax_time("1.1234567891"), Some((1, 123_456_789)));
        assert_eq!(parse_pax_time("-1.5"), Some((-2, 500_000_000)));
        assert_eq!(parse_pax_time("-0.5"), Some((-1, 500_000_000)));
        assert_eq!(parse_pax_time("x"), None);
        assert_eq!(parse_pax_time("1.x"), None);
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let mut t = TarBuf::new();
        t.dir("a/", 0o755)
            .file("a/f", b"1")
            .file("a", b"now a file")
            .file("b", b"1")
            .dir("b/", 0o700)
            .file("b/x", b"2");
        let tar = t.finish();
        let tmp = tempfile::tempdir().unwrap();
        unpack_layer(&tar[..], tmp.path()).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("a")).unwrap(), b"now a file");
        assert_eq!(std::fs::read(tmp.path().join("b/x")).unwrap(), b"2");
    }

    #[test]
    fn corrupt_header_is_an_error() {
        let mut t = TarBuf::new();
        t.file("a", b"hello").file("b", b"world");
        let mut tar = t.finish();
        tar[512 + 512 + 10] ^= 0xff; // second header's name; checksum no longer matches
        let tmp = tempfile::tempdir().unwrap();
        let err = unpack_layer(&tar[..], tmp.path()).unwrap_err();
        assert!(matches!(err, Error::Layer(_)), "{err}");
        // Truncated data inside an entry names it.
        let mut t = TarBuf::new();
        t.file("big", &[7u8; 4000]);
        let tar = t.finish();
        let err = unpack_layer(&tar[..1500], tempfile::tempdir().unwrap().path()).unwrap_err();
        assert!(err.to_string().contains("\"big\""), "{err}");
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        let mut t = TarBuf::new();
        t.file("etc/.wh.gone", b"")
            .file("opq/.wh..wh..opq", b"")
            .file("opq/new", b"n");
        let tar = t.finish();
        let tmp = tempfile::tempdir().unwrap();
        unpack_layer(&tar[..], tmp.path()).unwrap();
        let wh = std::fs::symlink_metadata(tmp.path().join("etc/gone")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert_eq!(wh.rdev(), 0);
        assert_eq!(
            lgetxattr(&tmp.path().join("opq"), OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..])
        );
        assert!(!tmp.path().join("opq/.wh..wh..opq").exists());
    }
}
