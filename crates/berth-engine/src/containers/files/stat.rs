//! `X-Docker-Container-Path-Stat`: a path's lstat in Go's `os.FileMode` bits, as Docker sends
//! it (base64 of JSON).

use std::os::fd::AsFd;

use nix::fcntl::AtFlags;
use nix::sys::stat::{SFlag, fstatat};
use serde::Serialize;

/// What `HEAD/GET /containers/{id}/archive` reports about the path.
#[derive(Debug, Clone, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

// Go's os.FileMode type bits.
const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHARDEV: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;

/// A `st_mode` in Go's encoding.
pub fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    let fmt = SFlag::from_bits_truncate(st_mode & libc::S_IFMT);
    m |= match fmt {
        SFlag::S_IFDIR => GO_DIR,
        SFlag::S_IFLNK => GO_SYMLINK,
        SFlag::S_IFBLK => GO_DEVICE,
        SFlag::S_IFCHR => GO_DEVICE | GO_CHARDEV,
        SFlag::S_IFIFO => GO_PIPE,
        SFlag::S_IFSOCK => GO_SOCKET,
        _ => 0,
    };
    if st_mode & libc::S_ISUID != 0 {
        m |= GO_SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= GO_SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= GO_STICKY;
    }
    m
}

/// Stats `name` in `dir` without following it.
pub fn stat_at(dir: impl AsFd, name: &str, shown_as: &str) -> nix::Result<PathStat> {
    let st = fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let link_target = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        nix::fcntl::readlinkat(dir.as_fd(), name)?
            .to_string_lossy()
            .into_owned()
    } else {
        String::new()
    };
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(st.st_mtime.max(0) as u64, st.st_mtime_nsec as u32);
    Ok(PathStat {
        name: shown_as.to_string(),
        size: st.st_size,
        mode: go_mode(st.st_mode),
        mtime: crate::logs::format_timestamp(mtime),
        link_target,
    })
}

impl PathStat {
    /// The `X-Docker-Container-Path-Stat` header value: base64 of the JSON.
    pub fn header_value(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(self).expect("stats serialize"))
    }
}
