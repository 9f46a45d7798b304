//! Mounting a container's overlay root. `mount(2)` takes all options in one page-sized string,
//! which caps an image at about 45 layers with our snapshot paths; the new mount API
//! (`fsopen`/`fsconfig`/`fsmount`/`move_mount`) takes one `lowerdir+` per layer (Linux 6.8+)
//! and has no such limit. It is tried first; the legacy string is the fallback on kernels
//! without it, when the string fits.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use berth_image::MountSpec;
use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, fsconfig_create,
    fsconfig_set_string, fsmount, fsopen, move_mount,
};

use crate::error::{Error, Result};

/// What `mount(2)` accepts as its data argument: one page, NUL included.
const LEGACY_DATA_MAX: usize = 4095;

/// Mounts the overlay `spec` describes on `target`.
pub fn mount(spec: &MountSpec, target: &Path) -> Result<()> {
    let context = || format!("mount the container's root at {}", target.display());
    match mount_new_api(spec, target) {
        Ok(()) => Ok(()),
        // No new mount API, or an overlayfs without `lowerdir+` (before 6.8).
        Err((e, _)) if matches!(e, Errno::NOSYS | Errno::INVAL | Errno::PERM) && fits(spec) => {
            tracing::debug!("new mount API unavailable ({e}); mounting with the option string");
            mount_legacy(spec, target).map_err(|e| Error::internal(context(), e))
        }
        Err((Errno::NOSYS | Errno::INVAL, _)) => Err(Error::Internal(format!(
            "{}: the image has {} layers, too many for one mount option string ({} bytes, the limit is {LEGACY_DATA_MAX}), and this kernel's overlayfs cannot take them one by one (fsconfig lowerdir+ needs Linux 6.8)",
            context(),
            spec.lowerdirs.len(),
            spec.data.len()
        ))),
        Err((e, detail)) => Err(Error::internal(context(), format!("{e}{detail}"))),
    }
}

/// Whether the legacy option string fits in a page.
fn fits(spec: &MountSpec) -> bool {
    spec.data.len() <= LEGACY_DATA_MAX
}

fn mount_legacy(spec: &MountSpec, target: &Path) -> nix::Result<()> {
    nix::mount::mount(
        Some(spec.source.as_str()),
        target,
        Some(spec.fstype.as_str()),
        nix::mount::MsFlags::empty(),
        Some(spec.data.as_str()),
    )
}

/// The error and what the kernel logged about it on the context fd (overlayfs says which
/// directory it could not use).
type Failure = (Errno, String);

fn mount_new_api(spec: &MountSpec, target: &Path) -> std::result::Result<(), Failure> {
    let fs = fsopen(spec.fstype.as_str(), FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| (e, String::new()))?;
    let set = |key: &str, value: &Path| {
        fsconfig_set_string(fs.as_fd(), key, value).map_err(|e| (e, kernel_log(&fs)))
    };
    // Appended in `lowerdir=`'s order: topmost first.
    for dir in &spec.lowerdirs {
        set("lowerdir+", dir)?;
    }
    set("upperdir", &spec.upperdir)?;
    set("workdir", &spec.workdir)?;
    fsconfig_create(fs.as_fd()).map_err(|e| (e, kernel_log(&fs)))?;
    let mnt = fsmount(
        fs.as_fd(),
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::empty(),
    )
    .map_err(|e| (e, kernel_log(&fs)))?;
    move_mount(
        mnt.as_fd(),
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| (e, String::new()))
}

/// Messages the kernel queued on a filesystem context (`e overlayfs: ...`), as ": msg; msg".
fn kernel_log(fs: &OwnedFd) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 1024];
    let Ok(fd) = fs.try_clone() else {
        return out;
    };
    let mut file = std::fs::File::from(fd);
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.push_str(if out.is_empty() { ": " } else { "; " });
        out.push_str(String::from_utf8_lossy(&buf[..n]).trim_start_matches("e "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Detaches the mount when dropped, also when the test fails.
    struct Unmount(PathBuf);

    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }

    /// `n` lower dirs, each with a file `f<i>`, and `f` in all of them naming its layer.
    fn spec(root: &Path, n: usize) -> MountSpec {
        let lowerdirs: Vec<PathBuf> = (0..n)
            .map(|i| {
                let d = root.join(format!("lower-with-a-long-name-to-fill-the-page-{i:04}"));
                std::fs::create_dir(&d).unwrap();
                std::fs::write(d.join(format!("f{i}")), i.to_string()).unwrap();
                std::fs::write(d.join("f"), i.to_string()).unwrap();
                d
            })
            .collect();
        let (upperdir, workdir) = (root.join("upper"), root.join("work"));
        std::fs::create_dir(&upperdir).unwrap();
        std::fs::create_dir(&workdir).unwrap();
        let lower: Vec<String> = lowerdirs.iter().map(|p| p.display().to_string()).collect();
        MountSpec {
            fstype: "overlay".into(),
            source: "overlay".into(),
            data: format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.join(":"),
                upperdir.display(),
                workdir.display()
            ),
            lowerdirs,
            upperdir,
            workdir,
        }
    }

    #[test]
    fn both_ways_agree_and_only_the_new_api_takes_many_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let few = tmp.path().join("few");
        std::fs::create_dir(&few).unwrap();
        let s = spec(&few, 3);
        assert!(fits(&s));
        for (how, target) in [("legacy", "m1"), ("new", "m2")] {
            let target = few.join(target);
            std::fs::create_dir(&target).unwrap();
            if how == "legacy" {
                mount_legacy(&s, &target).unwrap();
            } else {
                mount_new_api(&s, &target).unwrap();
            }
            let _guard = Unmount(target.clone());
            // The first lower dir is the top one.
            assert_eq!(
                std::fs::read_to_string(target.join("f")).unwrap(),
                "0",
                "{how}"
            );
            assert_eq!(
                std::fs::read_to_string(target.join("f2")).unwrap(),
                "2",
                "{how}"
            );
        }

        let many = tmp.path().join("many");
        std::fs::create_dir(&many).unwrap();
        let s = spec(&many, 200);
        assert!(!fits(&s));
        let target = many.join("m");
        std::fs::create_dir(&target).unwrap();
        assert!(mount_legacy(&s, &target).is_err());
        mount(&s, &target).unwrap();
        let _guard = Unmount(target.clone());
        assert_eq!(std::fs::read_to_string(target.join("f")).unwrap(), "0");
        assert_eq!(std::fs::read_to_string(target.join("f199")).unwrap(), "199");
    }
}
