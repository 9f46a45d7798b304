//! The build context: the client's tar unpacked (safely, by berth-image's layer unpacker)
//! into a directory of the data root, `.dockerignore` applied, and COPY/ADD sources resolved
//! inside it — `../x` and symlinks that lead out of the context are refused.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use berth_build::IgnoreRules;

use crate::error::{Error, Result};

/// The prefix of a build's scratch directory: its kind and the daemon's pid, so that what a
/// dead daemon left can be told from what another build is using.
pub fn scratch_prefix(kind: &str) -> String {
    format!("{kind}-{}-", std::process::id())
}

/// Removes the scratch directories of daemons that are gone (a crash mid-build).
fn remove_debris(tmp_root: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp_root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            tracing::info!(path = %e.path().display(), "removing a dead build's scratch directory");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A tree COPY reads from: the unpacked build context (removed on drop), or the root of
/// another stage's or image's filesystem for `COPY --from`.
pub struct Context {
    root: PathBuf,
    _dir: Option<tempfile::TempDir>,
    ignore: IgnoreRules,
    /// A directory that lives on between builds (the client's own): its files' digests may
    /// be remembered.
    lasting: bool,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

/// The `.dockerignore` of the context at `dir` (none: nothing ignored).
fn ignore_rules(dir: &Path) -> Result<IgnoreRules> {
    match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(text) => IgnoreRules::parse(&text).map_err(bad),
        Err(_) => Ok(IgnoreRules::default()),
    }
}

impl Context {
    /// Unpacks the context tar (plain or compressed) under `tmp_root`.
    pub fn unpack(body: &mut dyn Read, tmp_root: &Path) -> Result<Context> {
        std::fs::create_dir_all(tmp_root).map_err(|e| Error::internal(tmp_root.display(), e))?;
        remove_debris(tmp_root);
        let dir = tempfile::Builder::new()
            .prefix(&scratch_prefix("context"))
            .tempdir_in(tmp_root)
            .map_err(|e| Error::internal("build context directory", e))?;
        let tar = berth_image::layer::decompressed(body, "")
            .map_err(|e| bad(format!("reading the build context: {e}")))?;
        berth_image::unpack_layer(tar, dir.path())
            .map_err(|e| bad(format!("unpacking the build context: {e}")))?;
        Ok(Context {
            root: dir.path().to_path_buf(),
            ignore: ignore_rules(dir.path())?,
            _dir: Some(dir),
            lasting: false,
        })
    }

    /// A directory of this host read in place (a local client's context; nothing copied).
    pub fn local(dir: &Path) -> Result<Context> {
        Ok(Context {
            root: dir.to_path_buf(),
            _dir: None,
            ignore: ignore_rules(dir)?,
            lasting: true,
        })
    }

    /// Whether the context's files live on between builds (see [`Context::local`]).
    pub fn lasting(&self) -> bool {
        self.lasting
    }

    /// The files in `dir` (nothing ignored), removed with this: `ADD`'s downloads.
    pub fn owning(dir: tempfile::TempDir) -> Context {
        Context {
            root: dir.path().to_path_buf(),
            _dir: Some(dir),
            ignore: IgnoreRules::default(),
            lasting: false,
        }
    }

    /// The filesystem at `root` (nothing ignored), for `COPY --from`.
    pub fn at(root: PathBuf) -> Context {
        Context {
            root,
            _dir: None,
            ignore: IgnoreRules::default(),
            lasting: false,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A file of the context (the Dockerfile), as text.
    pub fn read_text(&self, rel: &str) -> Result<String> {
        let path = self.inside(rel)?;
        std::fs::read_to_string(&path)
            .map_err(|_| bad(format!("Cannot locate specified Dockerfile: {rel}")))
    }

    /// `rel` as a path inside the context, lexically: `..` may not climb out.
    fn inside(&self, rel: &str) -> Result<PathBuf> {
        let mut out = PathBuf::new();
        for c in Path::new(rel).components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::ParentDir if !out.pop() => {
                    return Err(bad(format!(
                        "forbidden path outside the build context: {rel}"
                    )));
                }
                _ => {}
            }
        }
        Ok(self.root().join(out))
    }

    /// The context paths (relative) a COPY/ADD source names: globs expanded, `.dockerignore`d
    /// paths left out, symlinks followed only inside the context.
    pub fn sources(&self, src: &str) -> Result<Vec<PathBuf>> {
        let full = self.inside(src)?;
        let rel = full
            .strip_prefix(self.root())
            .unwrap_or(Path::new(""))
            .to_path_buf();
        let found: Vec<PathBuf> = if berth_build::is_glob(src) {
            let mut hits = Vec::new();
            self.walk(Path::new(""), &mut |p| {
                if berth_build::glob_match(&rel.to_string_lossy(), &p.to_string_lossy()) {
                    hits.push(p.to_path_buf());
                }
            })?;
            hits
        } else {
            vec![rel]
        };
        let mut out = Vec::new();
        for p in found {
            if !p.as_os_str().is_empty() && self.ignore.is_excluded(&p.to_string_lossy()) {
                continue;
            }
            let abs = self.root().join(&p);
            if std::fs::symlink_metadata(&abs).is_err() {
                continue;
            }
            let real = abs
                .canonicalize()
                .map_err(|_| bad(format!("{src}: a symlink whose target is missing")))?;
            let root = self
                .root()
                .canonicalize()
                .map_err(|e| Error::internal("context", e))?;
            if !real.starts_with(&root) {
                return Err(bad(format!(
                    "forbidden path outside the build context: {src} ({} leads out of it)",
                    p.display()
                )));
            }
            out.push(
                real.strip_prefix(&root)
                    .unwrap_or(Path::new(""))
                    .to_path_buf(),
            );
        }
        if out.is_empty() {
            return Err(bad(format!(
                "COPY failed: file not found in build context or excluded by .dockerignore: stat {src}: file does not exist"
            )));
        }
        Ok(out)
    }

    /// Whether `rel` (inside the context) is left out by `.dockerignore`.
    pub fn is_excluded(&self, rel: &Path) -> bool {
        self.ignore.is_excluded(&rel.to_string_lossy())
    }

    /// Calls `f` on every path under `rel` (relative), parents before children.
    pub fn walk(&self, rel: &Path, f: &mut dyn FnMut(&Path)) -> Result<()> {
        let abs = self.root().join(rel);
        let mut names: Vec<_> = std::fs::read_dir(&abs)
            .map_err(|e| Error::internal(abs.display(), e))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names {
            let p = rel.join(&n);
            f(&p);
            if std::fs::symlink_metadata(self.root().join(&p)).is_ok_and(|m| m.is_dir()) {
                self.walk(&p, f)?;
            }
        }
        Ok(())
    }
}

impl Drop for Context {
    /// An unpacked context is removed by a thread of its own: deleting its files (10 000 of
    /// them in the build bench, a third of a cached build's time) no longer holds back the
    /// answer to a build that is done. If the daemon dies meanwhile, the next build's
    /// `remove_debris` finishes the job.
    fn drop(&mut self) {
        if let Some(dir) = self._dir.take() {
            // Should the thread not start, the closure (and the directory with it) is dropped
            // here: removed inline.
            let _ = std::thread::Builder::new()
                .name("build-context-cleanup".into())
                .spawn(move || drop(dir));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_daemons_scratch_goes_and_live_ones_stay() {
        let tmp = tempfile::tempdir().unwrap();
        // A pid above the kernel's maximum never runs; pid 1 always does.
        let dead = tmp.path().join("context-999999999-x");
        let live = tmp.path().join("context-1-y");
        let mine = tmp.path().join(format!("{}z", scratch_prefix("add")));
        for d in [&dead, &live, &mine] {
            std::fs::create_dir(d).unwrap();
        }
        remove_debris(tmp.path());
        assert!(!dead.exists() && live.exists() && mine.exists());
    }

    /// A tar holding `path` with the content `hi`.
    fn one_file_tar(path: &str) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        tar.append_data(&mut h, path, &b"hi"[..]).unwrap();
        tar.into_inner().unwrap()
    }

    #[test]
    fn a_dropped_context_is_removed() {
        let bytes = one_file_tar("d/file");
        let tmp = tempfile::tempdir().unwrap();
        let ctx = Context::unpack(&mut &bytes[..], tmp.path()).unwrap();
        let root = ctx.root().to_path_buf();
        assert!(root.join("d/file").exists());
        drop(ctx);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while root.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!root.exists(), "{} is still there", root.display());
    }

    #[test]
    fn paths_may_not_climb_out() {
        let bytes = one_file_tar("sub/file");
        let tmp = tempfile::tempdir().unwrap();
        let ctx = Context::unpack(&mut &bytes[..], tmp.path()).unwrap();
        assert_eq!(
            ctx.sources("sub/../sub/file").unwrap(),
            [PathBuf::from("sub/file")]
        );
        assert_eq!(ctx.sources("s*/f?le").unwrap(), [PathBuf::from("sub/file")]);
        let e = ctx.sources("../x").unwrap_err().to_string();
        assert!(
            e.contains("forbidden path outside the build context"),
            "{e}"
        );
        assert!(ctx.sources("missing").is_err());
    }
}
