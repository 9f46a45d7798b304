//! End-to-end scenarios of the client verbs against a real `berth daemon`. Ignored until the
//! daemon lands; run them with `cargo test -p berth --test cli_e2e -- --ignored` as root.
//!
//! Each test gets its own installation through `BERTH_ROOT` (a temp dir), so the first verb
//! auto-starts a private daemon; [`Env`]'s drop stops it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

struct Env {
    root: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            root: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(args)
            .env("BERTH_ROOT", self.root.path())
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Imports a busybox root filesystem (a tar of /bin/busybox and its applet links) as
    /// `busybox:latest`.
    fn import_busybox(&self) {
        let tar = self.root.path().join("busybox.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&tar).unwrap());
        b.append_path_with_name("/bin/busybox", "bin/busybox")
            .unwrap();
        for applet in ["sh", "cat", "echo", "true", "false", "sleep", "ls", "env"] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, format!("bin/{applet}"), "busybox")
                .unwrap();
        }
        b.finish().unwrap();
        drop(b);
        let out = self.ok(&[
            "import",
            "-c",
            "ENV PATH=/bin",
            "-c",
            "CMD [\"sh\"]",
            tar.to_str().unwrap(),
            "busybox:latest",
        ]);
        assert!(out.starts_with("sha256:"), "{out}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Stop the private daemon this installation auto-started: the process whose command
        // line is `berth daemon ... --data-root <root>/lib ...`.
        let data_root = self.root.path().join("lib").display().to_string();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            if args.contains(&&b"daemon"[..]) && args.contains(&data_root.as_bytes()) {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
#[ignore = "needs the daemon"]
fn autostart_under_berth_root() {
    let e = Env::new();
    let out = e.ok(&["version", "--format", "{{.Server.ApiVersion}}"]);
    assert!(!out.trim().is_empty());
    assert!(Path::new(&e.root.path().join("run/berth.sock")).exists());
    assert!(e.root.path().join("run/berth-daemon.log").exists());
    assert!(e.root.path().join("lib").is_dir());
}

#[test]
#[ignore = "needs the daemon"]
fn run_output_and_exit_codes() {
    let e = Env::new();
    e.import_busybox();
    assert_eq!(
        e.ok(&["run", "--rm", "busybox", "echo", "hello"]),
        "hello\n"
    );
    let o = e.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(s(&o.stdout), "out\n");
    assert_eq!(s(&o.stderr), "err\n");
    let o = e.run(&["run", "--rm", "busybox", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(127));
    let o = e.run(&["run", "--rm", "busybox", "/"]);
    assert_eq!(o.status.code(), Some(126));
    let o = e.run(&["run", "--rm", "nosuchimage"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(s(&o.stderr).contains("Error response from daemon: No such image"));
    assert_eq!(e.ok(&["ps", "-aq"]), "", "--rm left containers behind");
}

#[test]
#[ignore = "needs the daemon"]
fn run_interactive_stdin() {
    let e = Env::new();
    e.import_busybox();
    let o = e.run_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"x\n");
    assert_eq!(s(&o.stdout), "x\n");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
#[ignore = "needs the daemon"]
fn detached_lifecycle() {
    let e = Env::new();
    e.import_busybox();
    let id = e.ok(&[
        "run",
        "-d",
        "--name",
        "loop",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let ps = e.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert!(
        ps.contains(&id[..12]) && ps.contains("loop") && ps.contains("Up "),
        "{ps}"
    );
    assert_eq!(e.ok(&["ps", "-q", "--no-trunc"]).trim(), id);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(e.ok(&["logs", "loop"]), "started\n");
    assert_eq!(e.ok(&["stop", "-t", "1", "loop"]), "loop\n");
    let ps = e.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("loop Exited ("), "{ps}");
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.Running}}", "loop"]),
        "false\n"
    );
    assert_eq!(e.ok(&["rm", "loop"]), "loop\n");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
#[ignore = "needs the daemon"]
fn inspect_and_images() {
    let e = Env::new();
    e.import_busybox();
    e.ok(&["create", "--name", "c", "-e", "A=1", "busybox", "true"]);
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.Config.Env}}", "c"]),
        "[PATH=/bin A=1]\n"
    );
    assert_eq!(
        e.ok(&["inspect", "-f", "{{json .Config.Cmd}}", "c"]),
        "[\"true\"]\n"
    );
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["inspect", "busybox"])).unwrap();
    assert_eq!(v[0]["RepoTags"][0], "busybox:latest");
    e.ok(&["tag", "busybox", "bb:v1"]);
    let imgs = e.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        imgs.contains("busybox:latest") && imgs.contains("bb:v1"),
        "{imgs}"
    );
    assert!(e.ok(&["rmi", "bb:v1"]).contains("Untagged: bb:v1"));
    e.ok(&["rm", "c"]);
}
