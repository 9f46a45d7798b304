//! What the build tests share: `docker build` with the classic builder (`DOCKER_BUILDKIT=0`)
//! against a test daemon, and contexts made of a few files.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::daemon_support::{Daemon, text};

/// `docker build ARGS DIR`, not yet run.
pub fn build_cmd(d: &Daemon, dir: &Path, args: &[&str]) -> Command {
    let mut full = vec!["build"];
    full.extend_from_slice(args);
    full.push(dir.to_str().unwrap());
    let mut cmd = d.docker_cmd(&full);
    cmd.env("DOCKER_BUILDKIT", "0").stdin(Stdio::null());
    cmd
}

pub fn build(d: &Daemon, dir: &Path, args: &[&str]) -> Output {
    build_cmd(d, dir, args).output().unwrap()
}

/// The build's stdout; a failure panics with the build's and the daemon's output.
pub fn build_ok(d: &Daemon, dir: &Path, args: &[&str]) -> String {
    let out = build(d, dir, args);
    assert!(
        out.status.success(),
        "build failed: {}\n{}\ndaemon log:\n{}",
        text(&out.stdout),
        text(&out.stderr),
        d.log()
    );
    text(&out.stdout)
}

/// A context directory holding `files` (name, content; names may have directories).
pub fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    dir
}
