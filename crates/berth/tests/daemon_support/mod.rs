//! Shared harness for the engine tests: a real `berth daemon` on a socket of its own, with
//! data and exec roots in a temp dir, driven through the real docker CLI, docker-py, raw HTTP
//! (curl) or the `berth` CLI.
//!
//! Cleanup ([`Daemon`]'s Drop, also when a test fails): every container removed through the
//! API, the daemon stopped, the monitor zygote and any monitor left killed, mounts under the
//! temp dir detached, cgroups of the containers removed, the temp dir deleted.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const DOCKER: &str = "/usr/local/bin/docker";
pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A busybox root filesystem as a tar: built once, shared by every test binary and run
/// (made under a unique name, then renamed into place).
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let tar = std::env::temp_dir().join("berth-test-busybox.tar");
        if tar.exists() {
            return tar;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        for d in ["bin", "etc", "tmp", "root", "home/www"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
            }
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/home/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\nwww:x:33:\nstaff:x:50:www\n",
        )
        .unwrap();
        let partial = dir.path().join("busybox.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&partial)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        // Same filesystem (/tmp): the rename is atomic.
        std::fs::rename(&partial, &tar).unwrap();
        tar
    })
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    child: Option<Child>,
    /// More `berth daemon` flags, given at every launch.
    extra_args: Vec<String>,
}

impl Daemon {
    /// A daemon on fresh roots.
    pub fn start() -> Daemon {
        Daemon::start_with_args(&[])
    }

    /// A daemon on fresh roots, with more flags.
    pub fn start_with_args(args: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("bt")
            .tempdir_in("/tmp")
            .unwrap();
        let socket = dir.path().join("d.sock");
        let mut d = Daemon {
            dir,
            socket,
            child: None,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
        };
        d.launch();
        d
    }

    /// The daemon the berth CLI auto-starts under `BERTH_ROOT=<temp dir>` (its socket is
    /// `<root>/run/berth.sock`, its roots `<root>/lib` and `<root>/run`), adopted for clean-up.
    pub fn autostarted(verb: &[&str]) -> (Daemon, Output) {
        let dir = tempfile::Builder::new()
            .prefix("bt")
            .tempdir_in("/tmp")
            .unwrap();
        let socket = dir.path().join("run/berth.sock");
        let out = Command::new(BERTH)
            .args(verb)
            .env("BERTH_ROOT", dir.path())
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            Daemon {
                dir,
                socket,
                child: None,
                extra_args: Vec::new(),
            },
            out,
        )
    }

    /// A daemon with the busybox image imported as `busybox:latest`.
    pub fn with_busybox() -> Daemon {
        let d = Daemon::start();
        d.import_busybox("busybox:latest");
        d
    }

    pub fn import_busybox(&self, reference: &str) -> String {
        let out = self.docker(&["import", busybox_tar().to_str().unwrap(), reference]);
        assert!(out.status.success(), "import: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("lib")
    }

    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// This daemon's default bridge (and nft table): unique per temp dir.
    pub fn bridge_name(&self) -> String {
        test_bridge_name(self.dir.path())
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Starts the daemon process (again) on the same roots and waits for it to answer.
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .unwrap();
        let child = Command::new(BERTH)
            .arg("daemon")
            .arg("-H")
            .arg(self.host())
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("--pidfile")
            .arg(self.dir.path().join("d.pid"))
            .arg("--bridge-name")
            .arg(self.bridge_name())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the daemon did not answer; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILLs the daemon (its containers and monitors live on).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    /// SIGTERM and wait.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn env_cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_CONTEXT");
        c
    }

    /// The real docker CLI against this daemon.
    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env_cmd(DOCKER);
        c.args(args);
        c
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    /// docker with `input` on stdin.
    pub fn docker_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run_with_input(self.docker_cmd(args), input)
    }

    /// Asserts success; returns stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        self.stdout_of_success("docker", args, self.docker(args))
    }

    /// `out` of `cli args`'s stdout, asserting it succeeded (the daemon's log shown if not).
    fn stdout_of_success(&self, cli: &str, args: &[&str], out: Output) -> String {
        assert!(
            out.status.success(),
            "{cli} {args:?} failed ({:?}): {}\ndaemon log:\n{}",
            out.status.code(),
            text(&out.stderr),
            self.log()
        );
        text(&out.stdout)
    }

    /// The berth CLI against this daemon (`-H`).
    pub fn berth_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env_cmd(BERTH);
        c.env("BERTH_HOST", self.host()).args(args);
        c
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Asserts success of a berth CLI call; returns stdout.
    pub fn berth_ok(&self, args: &[&str]) -> String {
        self.stdout_of_success("berth", args, self.berth(args))
    }

    pub fn berth_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run_with_input(self.berth_cmd(args), input)
    }

    /// The same verb through the real docker CLI (`cli == "docker"`) or the berth CLI.
    pub fn cli(&self, cli: &str, args: &[&str]) -> Output {
        if cli == "docker" {
            self.docker(args)
        } else {
            self.berth(args)
        }
    }

    /// Python with docker-py's `docker.DockerClient(base_url=...)` bound as `client`.
    pub fn python(&self, script: &str) -> Output {
        let prelude = format!(
            "import docker, sys\nclient = docker.DockerClient(base_url={:?}, timeout=60)\n",
            self.host()
        );
        run_with_input(
            {
                let mut c = self.env_cmd("python3");
                c.arg("-");
                c
            },
            format!("{prelude}{script}").as_bytes(),
        )
    }

    /// A raw HTTP request through curl: (status, body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut c = Command::new("curl");
        c.args([
            "-s",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
            "--unix-socket",
        ])
        .arg(&self.socket)
        .arg(format!("http://localhost{path}"));
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        let out = c.output().unwrap();
        let s = text(&out.stdout);
        let (body, code) = s.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// Polls `f` until it is true (or panics after `secs`).
    pub fn eventually(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_none() && !self.socket.exists() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.launch()));
        }
        let ids = self.docker(&["ps", "-aq", "--no-trunc"]);
        for id in text(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        self.terminate();
        let marker = self.dir.path().to_string_lossy().into_owned();
        kill_processes_mentioning(&marker);
        unmount_under(self.dir.path());
        // A daemon that could not stop gracefully leaves its bridge and table: remove them.
        remove_test_bridge(&self.bridge_name());
    }
}

/// A bridge (and nft table) name for a test daemon whose files are under `dir` (`bt` and
/// the end of the temp dir's name: unique while the dir exists, at most 12 characters).
pub fn test_bridge_name(dir: &Path) -> String {
    let tail = dir.file_name().unwrap().to_string_lossy();
    let tail: String = tail.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("bt{}", &tail[tail.len().saturating_sub(10)..])
}

/// Deletes a test daemon's bridge and nft table; absent is fine.
pub fn remove_test_bridge(name: &str) {
    let _ = Command::new("ip")
        .args(["link", "del", name])
        .stderr(Stdio::null())
        .status();
    let _ = Command::new("nft")
        .args(["delete", "table", "ip", name])
        .stderr(Stdio::null())
        .status();
}

/// SIGKILLs every process whose command line mentions `marker` (the daemon, the zygote and
/// monitors), again until none is left: a zygote being double-forked at the first pass only
/// shows up at a later one.
pub fn kill_processes_mentioning(marker: &str) {
    let me = std::process::id();
    for _ in 0..50 {
        let mut found = false;
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if pid == me {
                continue;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(marker) {
                found = true;
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        if !found {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn run_with_input(mut c: Command, input: &[u8]) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Debian's `docker-registry` on a free 127.0.0.1 port, its storage in a temp dir.
pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
    _auth: Option<tempfile::TempDir>,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with("")
    }

    /// A registry with htpasswd (Basic) authentication accepting only `user`/`password`.
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd (apache2-utils, scripts/install-deps.sh)");
        assert!(out.status.success());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("htpasswd");
        std::fs::write(&file, &out.stdout).unwrap();
        let mut reg = Registry::start_with(&format!(
            "auth:\n  htpasswd:\n    realm: basic\n    path: {}\n",
            file.display()
        ));
        reg._auth = Some(dir);
        reg
    }

    /// A registry with `extra` appended to its configuration.
    pub fn start_with(extra: &str) -> Registry {
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let cfg = dir.path().join("config.yml");
            std::fs::write(
                &cfg,
                format!(
                    "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}",
                    dir.path().join("data").display()
                ),
            )
            .unwrap();
            let mut child = Command::new("/usr/bin/docker-registry")
                .arg("serve")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start docker-registry (apt-get install docker-registry)");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken meanwhile: another one
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Registry {
                        child,
                        port,
                        _dir: dir,
                        _auth: None,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pushes an image from a daemon's content store (an OCI layout) with skopeo.
    pub fn push_from(&self, d: &Daemon, reference: &str, dest: &str) {
        let out = Command::new("/usr/bin/skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
            ])
            .arg(format!(
                "oci:{}:{reference}",
                d.data_root().join("content").display()
            ))
            .arg(format!("docker://{}/{dest}", self.addr()))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo: {}", text(&out.stderr));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
