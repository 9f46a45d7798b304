//! Volumes and mounts through the real docker CLI and docker-py: named volumes outliving
//! their containers, copy-up, anonymous volumes (`VOLUME`, `-v /path`) and `rm -v`, binds
//! (`:ro`), `--mount`, `--tmpfs`, `--volumes-from`, driver options, and the errors.

mod daemon_support;

use daemon_support::{Daemon, text};

#[test]
fn named_volume_outlives_its_containers() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["volume", "create", "--label", "team=a", "keep"]);
    d.docker_ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "keep:/data",
        "busybox",
        "sh",
        "-c",
        "echo persisted > /data/f",
    ]);
    d.docker_ok(&["rm", "-v", "writer"]);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "keep:/data:ro",
        "busybox",
        "cat",
        "/data/f",
    ]);
    assert_eq!(out.trim(), "persisted");
    assert_eq!(
        d.docker_ok(&["volume", "ls", "-q", "-f", "dangling=true"])
            .trim(),
        "keep"
    );
    assert_eq!(
        d.docker_ok(&["volume", "ls", "-q", "-f", "dangling=false"])
            .trim(),
        ""
    );
    let ls = d.docker_ok(&["volume", "ls", "-q", "--filter", "label=team=a"]);
    assert_eq!(ls.trim(), "keep");
    let mp = d.docker_ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Mountpoint}} {{.Driver}}",
        "keep",
    ]);
    let (path, driver) = mp.trim().split_once(' ').unwrap();
    assert_eq!(driver, "local");
    assert!(path.starts_with(d.data_root().to_str().unwrap()), "{path}");
    assert_eq!(
        std::fs::read_to_string(format!("{path}/f")).unwrap(),
        "persisted\n"
    );
    d.docker_ok(&["volume", "rm", "keep"]);
    assert!(!std::path::Path::new(path).exists());
}

#[test]
fn empty_volume_is_filled_from_the_image() {
    let d = Daemon::with_busybox();
    // A named volume over /etc starts with the image's /etc; a non-empty one is left alone.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "etc:/etc",
        "busybox",
        "cat",
        "/etc/group",
    ]);
    assert!(out.contains("staff:x:50:www"), "{out}");
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "etc:/etc",
        "busybox",
        "sh",
        "-c",
        "rm /etc/group; ls /etc",
    ]);
    assert_eq!(out.trim(), "passwd");
    let out = d.docker_ok(&["run", "--rm", "-v", "etc:/etc", "busybox", "ls", "/etc"]);
    assert_eq!(
        out.trim(),
        "passwd",
        "copy-up happens into an empty volume only"
    );
    // nocopy keeps a new volume empty.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "bare:/etc:nocopy",
        "busybox",
        "ls",
        "-A",
        "/etc",
    ]);
    assert_eq!(out.trim(), "");
}

#[test]
fn anonymous_volumes_from_the_image_and_rm_v() {
    let d = Daemon::start();
    let tar = daemon_support::busybox_tar().to_str().unwrap().to_string();
    d.docker_ok(&["import", "-c", "VOLUME /etc /cache", &tar, "vol-image"]);
    d.docker_ok(&[
        "create",
        "--name",
        "anon",
        "-v",
        "/scratch",
        "vol-image",
        "cat",
        "/etc/passwd",
    ]);
    let mounts = d.docker_ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}}:{{.Destination}}:{{.RW}} {{end}}",
        "anon",
    ]);
    for m in [
        "volume:/etc:true",
        "volume:/cache:true",
        "volume:/scratch:true",
    ] {
        assert!(mounts.contains(m), "{mounts}");
    }
    let out = d.docker_ok(&["start", "-a", "anon"]);
    assert!(
        out.contains("root:x:0:0"),
        "copy-up into the anonymous volume: {out}"
    );
    let vols = d.docker_ok(&["volume", "ls", "-q"]);
    assert_eq!(vols.lines().count(), 3, "{vols}");
    // In use: no removal, 409 through the API.
    let first = vols.lines().next().unwrap();
    let (code, body) = d.http("DELETE", &format!("/volumes/{first}"), None);
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("volume is in use"), "{body}");
    d.docker_ok(&["rm", "-v", "anon"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]).trim(), "");
    // --rm removes them too; a named volume stays.
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "named:/data",
        "-v",
        "/other",
        "vol-image",
        "true",
    ]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]).trim(), "named");
}

#[test]
fn bind_mounts_read_write_and_read_only() {
    let d = Daemon::with_busybox();
    let host = tempfile::tempdir().unwrap();
    let h = host.path().to_str().unwrap();
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/host:z"),
        "busybox",
        "sh",
        "-c",
        "echo from-inside > /host/out",
    ]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap(),
        "from-inside\n"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/host:ro"),
        "busybox",
        "sh",
        "-c",
        "echo x > /host/out",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        text(&out.stderr)
    );
    // Propagation: Docker's check that the source mount can propagate at all (this host's
    // mounts are private) ...
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/host:rshared"),
        "busybox",
        "true",
    ]);
    assert!(
        text(&out.stderr).contains("is not a shared mount"),
        "{}",
        text(&out.stderr)
    );
    // ... and from a shared source, an rslave bind receives mounts made there later.
    let shared = d.dir.path().join("shared-src");
    std::fs::create_dir(&shared).unwrap();
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    mount(
        Some("tmpfs"),
        &shared,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=1m"),
    )
    .unwrap();
    mount(
        None::<&str>,
        &shared,
        None::<&str>,
        MsFlags::MS_SHARED,
        None::<&str>,
    )
    .unwrap();
    std::fs::create_dir(shared.join("later")).unwrap();
    let spec = format!("{}:/host:rslave", shared.display());
    d.docker_ok(&[
        "run", "-d", "--name", "prop", "-v", &spec, "busybox", "sleep", "60",
    ]);
    let prop = d.docker_ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Propagation}}{{end}}",
        "prop",
    ]);
    assert_eq!(prop.trim(), "rslave");
    mount(
        Some("tmpfs"),
        &shared.join("later"),
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=1m"),
    )
    .unwrap();
    let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "prop"]);
    let seen = std::fs::read_to_string(format!("/proc/{}/mountinfo", pid.trim())).unwrap();
    d.docker_ok(&["rm", "-f", "prop"]);
    umount2(&shared, MntFlags::MNT_DETACH).unwrap();
    assert!(seen.contains(" /host/later "), "{seen}");
    // As Docker, -v makes a missing host directory.
    let made = host.path().join("made/here");
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/made", made.display()),
        "busybox",
        "true",
    ]);
    assert!(made.is_dir());
    // --mount type=bind,readonly and inspect's view of it.
    d.docker_ok(&[
        "create",
        "--name",
        "bm",
        "--mount",
        &format!("type=bind,src={h},dst=/m,readonly"),
        "busybox",
        "true",
    ]);
    let m = d.docker_ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}} {{.Propagation}}{{end}}",
        "bm",
    ]);
    assert_eq!(m.trim(), format!("bind {h} /m false rprivate"));
}

#[test]
fn tmpfs_mount_and_volumes_from() {
    let d = Daemon::with_busybox();
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=1m",
        "--mount",
        "type=tmpfs,dst=/u,tmpfs-size=2m",
        "busybox",
        "sh",
        "-c",
        "grep -E ' /(t|u) ' /proc/mounts",
    ]);
    assert!(
        out.contains("/t tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
    assert!(
        out.contains("/u tmpfs") && out.contains("size=2048k"),
        "{out}"
    );
    d.docker_ok(&[
        "create",
        "--name",
        "src",
        "-v",
        "shared:/shared",
        "-v",
        "/anon",
        "busybox",
        "true",
    ]);
    d.docker_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo hi > /shared/x && touch /anon/y",
    ]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox",
        "sh",
        "-c",
        "cat /shared/x; touch /shared/z",
    ]);
    assert_eq!(text(&out.stdout).trim(), "hi");
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn driver_options_tmpfs_and_bind() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "volume",
        "create",
        "-d",
        "local",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=3m",
        "ram",
    ]);
    let out = d.docker_ok(&["run", "--rm", "-v", "ram:/r", "busybox", "df", "-k", "/r"]);
    assert!(out.contains("3072"), "{out}");
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("seed"), "seeded").unwrap();
    let dev = format!("device={}", host.path().display());
    d.docker_ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        &dev,
        "-o",
        "o=bind",
        "hostdir",
    ]);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "hostdir:/h",
        "busybox",
        "cat",
        "/h/seed",
    ]);
    assert_eq!(out, "seeded");
    let opts = d.docker_ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Options.type}} {{.Options.o}}",
        "hostdir",
    ]);
    assert_eq!(opts.trim(), "none bind");
    d.docker_ok(&["volume", "rm", "ram", "hostdir"]);
    assert!(
        host.path().join("seed").exists(),
        "removing a bind volume keeps the host's files"
    );
}

#[test]
fn bad_volume_input_is_refused() {
    let d = Daemon::with_busybox();
    for bad in ["a/b", "..", "../etc"] {
        let out = d.docker(&["volume", "create", bad]);
        assert!(!out.status.success(), "{bad}");
        assert!(
            text(&out.stderr).contains("includes invalid characters for a local volume name"),
            "{}",
            text(&out.stderr)
        );
    }
    let (code, body) = d.http(
        "POST",
        "/volumes/create",
        Some(r#"{"Name":"x","DriverOpts":{"colour":"blue"}}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("invalid option"), "{body}");
    let (code, body) = d.http("GET", "/volumes/nope", None);
    assert_eq!(code, 404, "{body}");
    // Malformed mounts through the API and the CLI.
    let (code, body) = d.http(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Mounts":[{"Type":"bind","Target":"/x"}]}}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("field Source must not be empty"), "{body}");
    let out = d.docker(&[
        "create",
        "--mount",
        "type=bind,src=/nonexistent-berth-src,dst=/x",
        "busybox",
        "true",
    ]);
    assert!(
        text(&out.stderr).contains("bind source path does not exist"),
        "{}",
        text(&out.stderr)
    );
    let out = d.docker(&["create", "-v", "/tmp:/x:bogus", "busybox", "true"]);
    assert!(
        text(&out.stderr).contains("invalid mode: bogus"),
        "{}",
        text(&out.stderr)
    );
    // Nothing was left half-made.
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]).trim(), "");
}

#[test]
fn docker_py_volumes() {
    let d = Daemon::with_busybox();
    let out = d.python(
        r#"
v = client.volumes.create(name="pyvol", labels={"k": "v"})
assert v.attrs["Labels"] == {"k": "v"}, v.attrs
c = client.containers.run("busybox", "true", volumes={"pyvol": {"bind": "/d", "mode": "rw"}}, detach=True)
c.wait()
try:
    v.remove()
    sys.exit("removed while in use")
except docker.errors.APIError as e:
    assert e.status_code == 409, e
c.remove()
client.volumes.create(name="pyanon", labels={"com.docker.volume.anonymous": ""})
pruned = client.volumes.prune()
assert pruned["VolumesDeleted"] == ["pyanon"], pruned
v.remove()
assert client.volumes.list() == []
print("ok")
"#,
    );
    assert_eq!(text(&out.stdout).trim(), "ok", "{}", text(&out.stderr));
}

#[test]
fn berth_cli_volumes_and_mount_flags() {
    let d = Daemon::with_busybox();
    let backing = tempfile::tempdir().unwrap();
    let device = format!("device={}", backing.path().display());
    assert_eq!(
        d.berth_ok(&[
            "volume",
            "create",
            "--label",
            "k=v",
            "-o",
            "type=none",
            "-o",
            &device,
            "-o",
            "o=bind",
            "bv"
        ])
        .trim(),
        "bv"
    );
    let ls = d.berth_ok(&["volume", "ls"]);
    assert_eq!(ls, "DRIVER    VOLUME NAME\nlocal     bv\n");
    let labels = d.berth_ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Labels.k}} {{.Options.type}}",
        "bv",
    ]);
    assert_eq!(labels.trim(), "v none");
    let host = tempfile::tempdir().unwrap();
    let out = d.berth_ok(&[
        "run",
        "--rm",
        "--name",
        "cli-writer",
        "-v",
        "bv:/v",
        "-v",
        "/anon",
        "--mount",
        &format!("type=bind,src={},dst=/h", host.path().display()),
        "--tmpfs",
        "/t:size=1m",
        "busybox",
        "sh",
        "-c",
        "echo a > /v/a; echo b > /h/b; grep -c ' /t tmpfs' /proc/mounts",
    ]);
    assert_eq!(out.trim(), "1");
    assert_eq!(
        std::fs::read_to_string(host.path().join("b")).unwrap(),
        "b\n"
    );
    // --rm took the anonymous volume; the named one stays.
    assert_eq!(d.berth_ok(&["volume", "ls", "-q"]).trim(), "bv");
    d.berth_ok(&[
        "create", "--name", "holder", "-v", "bv:/v", "busybox", "true",
    ]);
    let out = d.berth_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "holder:ro",
        "busybox",
        "cat",
        "/v/a",
    ]);
    assert_eq!(out.trim(), "a");
    let out = d.berth(&["volume", "rm", "bv"]);
    assert!(
        text(&out.stderr).contains("volume is in use"),
        "{}",
        text(&out.stderr)
    );
    let out = d.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,dst=/x,colour=red",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("unexpected key 'colour'"),
        "{}",
        text(&out.stderr)
    );
    let out = d.berth(&["volume", "create", "a/b"]);
    assert!(
        text(&out.stderr).contains("includes invalid characters"),
        "{}",
        text(&out.stderr)
    );
    d.berth_ok(&["rm", "holder"]);
    d.berth_ok(&["volume", "rm", "bv"]);
    d.berth_ok(&[
        "volume",
        "create",
        "--label",
        "com.docker.volume.anonymous=",
        "stray",
    ]);
    let out = d.berth_ok(&["volume", "prune", "-f"]);
    assert!(out.starts_with("Deleted Volumes:\nstray\n"), "{out}");
}

#[test]
fn volumes_and_mounts_survive_a_daemon_restart() {
    let mut d = Daemon::with_busybox();
    d.docker_ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "kept-ram",
    ]);
    d.docker_ok(&[
        "run",
        "--name",
        "user",
        "-v",
        "kept:/k",
        "-v",
        "kept-ram:/r",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /k/f; echo 2 > /r/f",
    ]);
    d.terminate();
    d.launch();
    let mounts = d.docker_ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}",
        "user",
    ]);
    assert_eq!(mounts.trim(), "kept:/k kept-ram:/r");
    let out = d.docker(&["volume", "rm", "kept"]);
    assert!(
        text(&out.stderr).contains("volume is in use"),
        "{}",
        text(&out.stderr)
    );
    let out = d.docker_ok(&["start", "-a", "user"]);
    assert_eq!(out, "");
    // The tmpfs volume was unmounted when its last container stopped (as Docker's local
    // driver does): its data went with it; the plain volume's is kept.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "kept:/k",
        "-v",
        "kept-ram:/r",
        "busybox",
        "sh",
        "-c",
        "cat /k/f; ls /r | wc -l; grep -c ' /r tmpfs' /proc/mounts",
    ]);
    assert_eq!(out, "1\n0\n1\n");
    let mp = d.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "kept-ram"]);
    let mounted = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounted.contains(mp.trim()),
        "still mounted after its last container"
    );
}
