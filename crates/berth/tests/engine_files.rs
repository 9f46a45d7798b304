//! A container's files through the real docker CLI: `cp` both ways (files, directories, tar
//! streams, running and stopped containers), symlinks that point out of the container,
//! `diff` and `export`.

mod daemon_support;

use std::path::Path;

use daemon_support::{Daemon, text};

fn list_tar(bytes: &[u8]) -> Vec<String> {
    tar::Archive::new(bytes)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn cp_files_and_directories_both_ways() {
    let d = Daemon::with_busybox();
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    std::fs::write(h.join("note.txt"), "hello\n").unwrap();
    std::fs::create_dir_all(h.join("tree/sub")).unwrap();
    std::fs::write(h.join("tree/sub/deep"), "deep\n").unwrap();
    std::os::unix::fs::symlink("sub/deep", h.join("tree/link")).unwrap();
    // Into a stopped container, then read by the container itself.
    d.docker_ok(&[
        "create",
        "--name",
        "stopped",
        "busybox",
        "sh",
        "-c",
        "cat /tmp/note.txt /tmp/tree/sub/deep; readlink /tmp/tree/link",
    ]);
    d.docker_ok(&["cp", h.join("note.txt").to_str().unwrap(), "stopped:/tmp/"]);
    d.docker_ok(&["cp", h.join("tree").to_str().unwrap(), "stopped:/tmp/tree"]);
    let out = d.docker_ok(&["start", "-a", "stopped"]);
    assert_eq!(out, "hello\ndeep\nsub/deep\n");
    // Out of a running container.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /srv/d && echo made > /srv/d/f && echo top > /srv/top && sleep 60",
    ]);
    d.eventually(10, "the files", || {
        d.docker(&["cp", "live:/srv/top", "-"]).status.success()
    });
    let out_dir = h.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    d.docker_ok(&["cp", "live:/srv/top", out_dir.to_str().unwrap()]);
    d.docker_ok(&[
        "cp",
        "live:/srv/d",
        out_dir.join("copied").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("top")).unwrap(),
        "top\n"
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("copied/f")).unwrap(),
        "made\n"
    );
    // Tar streams both ways.
    let out = d.docker(&["cp", "live:/srv/d", "-"]);
    assert_eq!(list_tar(&out.stdout), ["d", "d/f"]);
    let mut t = tar::Builder::new(Vec::new());
    let mut hdr = tar::Header::new_gnu();
    hdr.set_size(6);
    hdr.set_mode(0o640);
    hdr.set_uid(0);
    hdr.set_gid(0);
    hdr.set_mtime(0);
    t.append_data(&mut hdr, "streamed", &b"piped\n"[..])
        .unwrap();
    let bytes = t.into_inner().unwrap();
    let out = d.docker_stdin(&["cp", "-", "live:/srv"], &bytes);
    assert!(out.status.success(), "{}", text(&out.stderr));
    d.docker_ok(&["cp", "live:/srv/streamed", out_dir.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("streamed")).unwrap(),
        "piped\n"
    );
    // Errors: a missing path (404), a file where a directory is (no overwrite).
    let out = d.docker(&["cp", "live:/nope", "-"]);
    assert!(
        text(&out.stderr).contains("Could not find the file /nope in container"),
        "{}",
        text(&out.stderr)
    );
    std::fs::create_dir(h.join("top")).unwrap();
    let out = d.docker(&["cp", h.join("top").to_str().unwrap(), "live:/srv/"]);
    assert!(
        text(&out.stderr).contains("cannot overwrite non-directory"),
        "{}",
        text(&out.stderr)
    );
    d.docker_ok(&["rm", "-f", "live"]);
}

#[test]
fn cp_through_symlinks_stays_inside() {
    let d = Daemon::with_busybox();
    let marker = format!("/berth-escape-{}", std::process::id());
    d.docker_ok(&[
        "run",
        "--name",
        "trap",
        "busybox",
        "sh",
        "-c",
        "ln -s / /tmp/root && ln -s ../../../../../.. /tmp/up && ln -s /etc /tmp/etc",
    ]);
    // Reading through a link to / gives the container's files, not the host's.
    for via in [
        "/tmp/root/etc/passwd",
        "/tmp/up/etc/passwd",
        "/tmp/etc/passwd",
    ] {
        let out = d.docker(&["cp", &format!("trap:{via}"), "-"]);
        assert!(out.status.success(), "{via}: {}", text(&out.stderr));
        let mut a = tar::Archive::new(&out.stdout[..]);
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut e, &mut s).unwrap();
        assert_eq!(
            s, "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/home/www:/bin/sh\n",
            "{via}"
        );
    }
    // Writing through them lands inside the container.
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join(marker.trim_start_matches('/'));
    std::fs::write(&src, "inside\n").unwrap();
    d.docker_ok(&["cp", src.to_str().unwrap(), "trap:/tmp/root/"]);
    d.docker_ok(&["cp", src.to_str().unwrap(), "trap:/tmp/up/tmp/"]);
    assert!(!Path::new(&marker).exists(), "a copy escaped to the host");
    assert!(
        !Path::new("/tmp")
            .join(marker.trim_start_matches('/'))
            .exists(),
        "a copy escaped to the host"
    );
    let out = d.docker(&["cp", &format!("trap:{marker}"), "-"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = d.docker(&["cp", &format!("trap:/tmp{marker}"), "-"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn diff_and_export() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "--name",
        "changed",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/new; rm /etc/group; echo x >> /etc/passwd; mkdir -p /data/a",
    ]);
    let diff = d.docker_ok(&["diff", "changed"]);
    for line in [
        "C /etc",
        "D /etc/group",
        "C /etc/passwd",
        "C /tmp",
        "A /tmp/new",
        "A /data",
        "A /data/a",
    ] {
        assert!(
            diff.lines().any(|l| l == line),
            "{line} missing in:\n{diff}"
        );
    }
    let (code, body) = d.http("GET", "/containers/changed/changes", None);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#"{"Path":"/etc/group","Kind":2}"#), "{body}");
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("root.tar");
    d.docker_ok(&["export", "-o", file.to_str().unwrap(), "changed"]);
    let names = list_tar(&std::fs::read(&file).unwrap());
    for want in ["bin/busybox", "etc/passwd", "tmp/new", "data/a"] {
        assert!(
            names.iter().any(|n| n.trim_end_matches('/') == want),
            "{want} missing"
        );
    }
    assert!(
        !names.iter().any(|n| n == "etc/group"),
        "deleted file exported"
    );
    let out = d.docker(&["export", "nosuch"]);
    assert!(
        text(&out.stderr).contains("No such container: nosuch"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn berth_cli_cp_diff_export() {
    let d = Daemon::with_busybox();
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    std::fs::write(h.join("in.txt"), "berth-in\n").unwrap();
    std::fs::create_dir_all(h.join("dir/sub")).unwrap();
    std::fs::write(h.join("dir/sub/f"), "nested\n").unwrap();
    let ok = |args: &[&str]| {
        let out = d.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            text(&out.stderr)
        );
        out
    };
    ok(&[
        "create",
        "--name",
        "bc",
        "busybox",
        "sh",
        "-c",
        "cat /tmp/renamed.txt /tmp/dir/sub/f /tmp/copy/sub/f",
    ]);
    ok(&[
        "cp",
        h.join("in.txt").to_str().unwrap(),
        "bc:/tmp/renamed.txt",
    ]);
    ok(&["cp", h.join("dir").to_str().unwrap(), "bc:/tmp/"]);
    ok(&["cp", h.join("dir").to_str().unwrap(), "bc:/tmp/copy"]);
    let out = ok(&["start", "-a", "bc"]);
    assert_eq!(text(&out.stdout), "berth-in\nnested\nnested\n");
    // Out: into a new name, into an existing directory, a directory's contents, a tar stream.
    let out_dir = h.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    ok(&[
        "cp",
        "bc:/tmp/renamed.txt",
        out_dir.join("back.txt").to_str().unwrap(),
    ]);
    ok(&["cp", "bc:/tmp/dir", out_dir.to_str().unwrap()]);
    ok(&[
        "cp",
        "bc:/tmp/dir/.",
        out_dir.join("contents").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("back.txt")).unwrap(),
        "berth-in\n"
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("dir/sub/f")).unwrap(),
        "nested\n"
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("contents/sub/f")).unwrap(),
        "nested\n"
    );
    let out = ok(&["cp", "bc:/tmp/dir", "-"]);
    assert_eq!(list_tar(&out.stdout), ["dir", "dir/sub", "dir/sub/f"]);
    let out = d.berth(&["cp", "bc:/missing", "-"]);
    assert!(
        text(&out.stderr).contains("Could not find the file /missing"),
        "{}",
        text(&out.stderr)
    );
    let out = ok(&["diff", "bc"]);
    assert!(
        text(&out.stdout).lines().any(|l| l == "A /tmp/renamed.txt"),
        "{}",
        text(&out.stdout)
    );
    let file = h.join("bc.tar");
    ok(&["export", "-o", file.to_str().unwrap(), "bc"]);
    let names = list_tar(&std::fs::read(&file).unwrap());
    assert!(names.iter().any(|n| n == "tmp/copy/sub/f"), "{names:?}");
    let out = ok(&["export", "bc"]);
    assert_eq!(list_tar(&out.stdout), names);
}

#[test]
fn docker_py_archives_and_limits() {
    let d = Daemon::with_busybox();
    let out = d.python(
        r#"
import io, tarfile
c = client.containers.create("busybox", "cat /tmp/hello", mem_limit="32m", pids_limit=10)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"from python\n"
    info = tarfile.TarInfo("hello")
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
assert c.put_archive("/tmp", buf.getvalue()) is True
stream, stat = c.get_archive("/tmp/hello")
assert stat["name"] == "hello" and stat["size"] == 12, stat
tar = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
assert tar.extractfile("hello").read() == b"from python\n"
c.start()
assert c.wait()["StatusCode"] == 0
assert c.logs() == b"from python\n"
c.update(mem_limit="64m", memswap_limit="128m")
c.reload()
assert c.attrs["HostConfig"]["Memory"] == 64 << 20, c.attrs["HostConfig"]
assert [x["Path"] for x in c.diff()] == ["/tmp", "/tmp/hello"], c.diff()
try:
    c.get_archive("/nope")
    sys.exit("no error for a missing path")
except docker.errors.NotFound:
    pass
print("ok")
"#,
    );
    assert_eq!(text(&out.stdout).trim(), "ok", "{}", text(&out.stderr));
}

#[test]
fn cp_reaches_the_volumes_of_a_stopped_container() {
    let d = Daemon::with_busybox();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), "into-volume\n").unwrap();
    let bind = tempfile::tempdir().unwrap();
    d.docker_ok(&[
        "create",
        "--name",
        "sv",
        "-v",
        "cpvol:/data",
        "-v",
        &format!("{}:/bound:ro", bind.path().display()),
        "busybox",
        "cat",
        "/data/in",
    ]);
    d.docker_ok(&[
        "cp",
        host.path().join("in").to_str().unwrap(),
        "sv:/data/in",
    ]);
    let mp = d.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "cpvol"]);
    assert_eq!(
        std::fs::read_to_string(format!("{}/in", mp.trim())).unwrap(),
        "into-volume\n"
    );
    assert_eq!(d.docker_ok(&["start", "-a", "sv"]), "into-volume\n");
    // A read-only bind stays read-only for cp too.
    let out = d.docker(&[
        "cp",
        host.path().join("in").to_str().unwrap(),
        "sv:/bound/in",
    ]);
    assert!(!out.status.success());
    assert!(!bind.path().join("in").exists());
    // And the copy's mounts are gone again: the container starts normally.
    assert_eq!(d.docker_ok(&["start", "-a", "sv"]), "into-volume\n");
}
