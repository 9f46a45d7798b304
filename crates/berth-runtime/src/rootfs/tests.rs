//! Tests that mount for real: each runs in a forked child inside its own mount namespace (so the
//! host's mount table is never touched), which reports back through its exit code and a pipe.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, symlink};
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe};
use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use super::*;

/// A failed check in the child: its exit code and what went wrong.
type Check = std::result::Result<(), (i32, String)>;

/// Runs `body` in a forked child in a new mount (and UTS) namespace; the child always exits.
fn in_child(body: impl FnOnce() -> Check) -> Check {
    let (read, write) = pipe().unwrap();
    // SAFETY: the child only runs `body` and exits; it never returns into the test harness.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(read);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)
                    .map_err(|e| (90, format!("unshare: {e}")))?;
                body()
            }));
            let (code, message) = match outcome {
                Ok(Ok(())) => (0, String::new()),
                Ok(Err(failure)) => failure,
                Err(_) => (91, "panicked".to_string()),
            };
            let _ = nix::unistd::write(&write, message.as_bytes());
            // SAFETY: _exit skips the harness' atexit/destructors, which belong to the parent.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(write);
            let mut message = String::new();
            fs::File::from(read).read_to_string(&mut message).unwrap();
            match waitpid(child, None).unwrap() {
                WaitStatus::Exited(_, 0) => Ok(()),
                WaitStatus::Exited(_, code) => Err((code, message)),
                other => Err((-1, format!("child ended with {other:?}"))),
            }
        }
    }
}

/// Turns a runtime result into a check failing with `code`.
fn check<T>(code: i32, result: crate::Result<T>) -> std::result::Result<T, (i32, String)> {
    result.map_err(|e| (code, e.to_string()))
}

fn ensure(code: i32, ok: bool, what: &str) -> Check {
    if ok {
        Ok(())
    } else {
        Err((code, what.to_string()))
    }
}

/// A bundle with a busybox rootfs; returns (tempdir, bundle, canonical rootfs).
fn bundle() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().canonicalize().unwrap();
    let rootfs = bundle.join("rootfs");
    for dir in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    (tmp, bundle, rootfs)
}

fn spec(value: Value) -> Spec {
    let mut base = json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"}});
    base.as_object_mut()
        .unwrap()
        .extend(value.as_object().unwrap().clone());
    serde_json::from_value(base).unwrap()
}

fn opts<'a>(bundle: &'a Path, rootfs: &'a Path) -> RootfsOptions<'a> {
    RootfsOptions {
        rootfs,
        bundle,
        no_pivot: false,
        in_user_namespace: false,
    }
}

fn write_errno(path: &str) -> Option<i32> {
    fs::write(path, "x").err().and_then(|e| e.raw_os_error())
}

#[test]
fn full_lifecycle() {
    let (_tmp, bundle, rootfs) = bundle();
    fs::create_dir(bundle.join("data")).unwrap();
    fs::write(rootfs.join("etc/secret"), "secret").unwrap();
    fs::create_dir_all(rootfs.join("masked_dir/sub")).unwrap();
    fs::create_dir(rootfs.join("ro_dir")).unwrap();
    let spec = spec(json!({
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro", "nosuid"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["ro", "nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
            {"destination": "/data", "type": "bind", "source": "data", "options": ["rbind", "ro"]}
        ],
        "linux": {
            "sysctl": {"kernel.domainname": "berth-test"},
            "maskedPaths": ["/etc/secret", "/masked_dir", "/does/not/exist"],
            "readonlyPaths": ["/ro_dir", "/nope"]
        }
    }));
    let opts = opts(&bundle, &rootfs);
    validate(&spec, &opts).unwrap();
    let result = in_child(|| {
        check(1, prepare(&spec, &opts))?;
        check(2, enter(&opts))?;
        check(3, finalize(&spec))?;
        let mountinfo =
            fs::read_to_string("/proc/self/mountinfo").map_err(|e| (4, e.to_string()))?;
        for (point, fs_type) in [
            ("/proc", "proc"),
            ("/sys", "sysfs"),
            ("/dev", "tmpfs"),
            ("/dev/pts", "devpts"),
            ("/tmp", "tmpfs"),
        ] {
            let found = mountinfo.lines().any(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                f[4] == point
                    && l.split(" - ")
                        .nth(1)
                        .is_some_and(|r| r.starts_with(fs_type))
            });
            ensure(
                5,
                found,
                &format!("{point} ({fs_type}) missing from mountinfo:\n{mountinfo}"),
            )?;
        }
        // v2 host: a cgroup2 mount; v1 host: a tmpfs holding one cgroup mount per hierarchy.
        let cgroup = mountinfo.lines().any(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|p| p.starts_with("/sys/fs/cgroup"))
                && l.split(" - ")
                    .nth(1)
                    .is_some_and(|r| r.starts_with("cgroup"))
        });
        ensure(5, cgroup, "no cgroup mount under /sys/fs/cgroup")?;
        let null = fs::metadata("/dev/null").map_err(|e| (6, e.to_string()))?;
        ensure(
            6,
            null.file_type().is_char_device() && null.rdev() == libc::makedev(1, 3),
            "/dev/null",
        )?;
        ensure(
            7,
            fs::read_to_string("/etc/secret").ok().as_deref() == Some(""),
            "/etc/secret not masked",
        )?;
        ensure(
            8,
            fs::read_dir("/masked_dir").map(|d| d.count()).ok() == Some(0),
            "/masked_dir not masked",
        )?;
        ensure(
            9,
            write_errno("/ro_dir/x") == Some(libc::EROFS),
            "/ro_dir writable",
        )?;
        ensure(10, write_errno("/x") == Some(libc::EROFS), "root writable")?;
        ensure(
            11,
            write_errno("/data/x") == Some(libc::EROFS),
            "ro bind writable",
        )?;
        ensure(12, write_errno("/tmp/x").is_none(), "/tmp not writable")?;
        let tmp = nix::sys::statvfs::statvfs("/tmp").map_err(|e| (13, e.to_string()))?;
        let size = tmp.blocks() as u64 * tmp.fragment_size() as u64;
        ensure(13, size == 1 << 20, &format!("/tmp size {size}"))?;
        ensure(
            14,
            fs::read_link("/dev/ptmx").ok() == Some("pts/ptmx".into()),
            "/dev/ptmx",
        )?;
        ensure(
            14,
            fs::read_link("/dev/fd").ok() == Some("/proc/self/fd".into()),
            "/dev/fd",
        )?;
        ensure(
            15,
            nix::sys::utsname::uname()
                .map(|u| u.domainname() == "berth-test")
                .unwrap_or(false),
            "sysctl",
        )?;
        ensure(
            16,
            Path::new("/bin/busybox").exists(),
            "not inside the rootfs",
        )
    });
    assert_eq!(result, Ok(()));
}

#[test]
fn user_namespace_devices_are_binds_and_console_is_bound() {
    let (_tmp, bundle, rootfs) = bundle();
    let console = bundle.join("pty");
    fs::write(&console, "pty slave").unwrap();
    let spec = spec(json!({}));
    let mut opts = opts(&bundle, &rootfs);
    opts.in_user_namespace = true;
    let result = in_child(|| {
        check(1, prepare(&spec, &opts))?;
        let root_fd = super::open_dir(&rootfs).map_err(|e| (1, e.to_string()))?;
        check(1, super::devices::bind_console(root_fd.as_fd(), &console))?;
        let mountinfo =
            fs::read_to_string("/proc/self/mountinfo").map_err(|e| (2, e.to_string()))?;
        let null = rootfs.join("dev/null");
        let bound = mountinfo
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(null.to_str().unwrap()));
        ensure(3, bound, "/dev/null is not a bind mount")?;
        let meta = fs::metadata(&null).map_err(|e| (4, e.to_string()))?;
        ensure(
            4,
            meta.rdev() == libc::makedev(1, 3),
            "/dev/null is not 1:3",
        )?;
        let text =
            fs::read_to_string(rootfs.join("dev/console")).map_err(|e| (5, e.to_string()))?;
        ensure(5, text == "pty slave", "/dev/console is not the console")
    });
    assert_eq!(result, Ok(()));
}

#[test]
fn no_pivot_enters_rootfs() {
    let (_tmp, bundle, rootfs) = bundle();
    let spec = spec(json!({}));
    let mut opts = opts(&bundle, &rootfs);
    opts.no_pivot = true;
    let result = in_child(|| {
        check(1, prepare(&spec, &opts))?;
        check(2, enter(&opts))?;
        ensure(
            3,
            Path::new("/bin/busybox").exists(),
            "not inside the rootfs",
        )?;
        ensure(4, !rootfs.exists(), "host paths still visible")?;
        let null = fs::metadata("/dev/null").map_err(|e| (5, e.to_string()))?;
        ensure(
            5,
            null.file_type().is_char_device(),
            "/dev/null not created",
        )
    });
    assert_eq!(result, Ok(()));
}

#[test]
fn symlinked_destination_stays_inside_rootfs() {
    let (_tmp, bundle, rootfs) = bundle();
    symlink("/../../etc", rootfs.join("evil")).unwrap();
    let spec = spec(json!({"mounts": [
        {"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}
    ]}));
    let opts = opts(&bundle, &rootfs);
    let host_etc = fs::metadata("/etc").unwrap().dev();
    let result = in_child(|| {
        check(1, prepare(&spec, &opts))?;
        let etc = |p: &Path| {
            fs::metadata(p)
                .map(|m| m.dev())
                .map_err(|e| (2, e.to_string()))
        };
        ensure(
            3,
            etc(Path::new("/etc"))? == host_etc,
            "host /etc was mounted over",
        )?;
        ensure(
            4,
            etc(&rootfs.join("etc"))? != etc(&rootfs)?,
            "rootfs/etc is not the tmpfs",
        )
    });
    assert_eq!(result, Ok(()));
}

#[test]
fn proc_destination_refused() {
    let (_tmp, bundle, rootfs) = bundle();
    symlink("/proc/sys", rootfs.join("sneaky")).unwrap();
    let spec = spec(json!({"mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/sneaky", "type": "tmpfs", "source": "tmpfs"}
    ]}));
    let opts = opts(&bundle, &rootfs);
    let result = in_child(|| match prepare(&spec, &opts) {
        Err(e) if e.to_string().contains("/sneaky") && e.to_string().contains("/proc/sys") => {
            Ok(())
        }
        other => Err((1, format!("{other:?}"))),
    });
    assert_eq!(result, Ok(()));
}

#[test]
fn masking_refuses_a_swapped_dev_null() {
    let (_tmp, bundle, rootfs) = bundle();
    fs::write(rootfs.join("etc/hostfile"), "precious").unwrap();
    let spec = spec(json!({"linux": {"maskedPaths": ["/etc/hostfile"]}}));
    let opts = opts(&bundle, &rootfs);
    let result = in_child(|| {
        check(1, prepare(&spec, &opts))?;
        check(2, enter(&opts))?;
        fs::remove_file("/dev/null").map_err(|e| (3, e.to_string()))?;
        symlink("/etc/hostfile", "/dev/null").map_err(|e| (3, e.to_string()))?;
        match finalize(&spec) {
            Err(e) if e.to_string().contains("/dev/null is not the null device") => Ok(()),
            other => Err((4, format!("{other:?}"))),
        }
    });
    assert_eq!(result, Ok(()));
}

#[test]
fn unknown_tmpfs_option_names_the_mount() {
    let (_tmp, bundle, rootfs) = bundle();
    let spec = spec(json!({"mounts": [
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["bogus=1"]}
    ]}));
    let opts = opts(&bundle, &rootfs);
    let result = in_child(|| match prepare(&spec, &opts) {
        Err(e) if e.to_string().contains("mount tmpfs on /tmp") => Ok(()),
        other => Err((1, format!("{other:?}"))),
    });
    assert_eq!(result, Ok(()));
}

#[test]
fn validate_rejects_bad_config() {
    let (_tmp, bundle, rootfs) = bundle();
    let opts = opts(&bundle, &rootfs);
    let cases = [
        (
            json!({"mounts": [{"destination": "tmp", "type": "tmpfs"}]}),
            "absolute",
        ),
        (
            json!({"mounts": [{"destination": "/d", "type": "bind", "source": "/", "options": ["bind", "foo"]}]}),
            "\"foo\"",
        ),
        (
            json!({"mounts": [{"destination": "/d", "type": "bind", "source": "missing"}]}),
            "missing",
        ),
        (
            json!({"mounts": [{"destination": "/d", "type": "none", "source": "/", "options": ["ridmap"]}]}),
            "ridmap",
        ),
        (
            json!({"linux": {"sysctl": {"kernel/../x": "1"}}}),
            "kernel/../x",
        ),
        (
            json!({"linux": {"rootfsPropagation": "sideways"}}),
            "sideways",
        ),
    ];
    for (config, needle) in cases {
        let err = validate(&spec(config), &opts).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let key = "net..x";
    assert!(
        sysctl::write_sysctl(key, "1")
            .unwrap_err()
            .to_string()
            .contains(key)
    );
}
