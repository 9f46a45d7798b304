//! A daemon under test (berth's or Docker's), started with roots and a socket of its own in a
//! temp dir and spoken to through a docker-compatible CLI; stopped, with everything it started,
//! when dropped, so an error half-way through a bench leaves nothing running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

/// The programs of the daemon benches: berth, and dockerd with the docker CLI.
#[derive(Args)]
pub struct Programs {
    /// The berth binary to measure: the static release build (scripts/build-release.sh).
    #[arg(long, default_value = "target/release-static/berth")]
    pub berth: PathBuf,
    /// The docker client (used against dockerd, and in the engine bench against berth too).
    #[arg(long, default_value = "/usr/local/bin/docker")]
    pub docker: PathBuf,
    /// dockerd to compare with (skipped when absent: apt-get install docker.io).
    #[arg(long, default_value = "/usr/sbin/dockerd")]
    pub dockerd: PathBuf,
}

/// A running daemon: its process, socket, the CLI that speaks to it and the directory (a marker
/// in its children's command lines).
pub struct Daemon {
    pub name: &'static str,
    child: Child,
    socket: PathBuf,
    client: PathBuf,
    pub dir: PathBuf,
}

impl Daemon {
    /// Starts the command `command(root, socket)` builds, its log in `root/daemon.log`, and waits
    /// until `client version` answers through the socket.
    pub fn start(
        name: &'static str,
        root: PathBuf,
        client: &Path,
        command: impl FnOnce(&Path, &Path) -> Command,
    ) -> Result<Daemon> {
        std::fs::create_dir_all(&root)?;
        let socket = root.join("d.sock");
        let child = command(&root, &socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.join("daemon.log"))?)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        let mut d = Daemon {
            name,
            child,
            socket,
            client: client.to_path_buf(),
            dir: root,
        };
        d.wait_ready()?;
        Ok(d)
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Where `--data-root` points.
    pub fn data_root(&self) -> PathBuf {
        self.dir.join("lib")
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The daemon's docker-compatible CLI (docker, or berth's own) pointed at it, with a config
    /// dir of its own.
    pub fn docker(&self) -> Command {
        let mut c = Command::new(&self.client);
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.join("docker-config"));
        c
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait()? {
                bail!(
                    "{} exited at start-up: {st} (log: {})",
                    self.name,
                    self.dir.join("daemon.log").display()
                );
            }
            let ok = self
                .docker()
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if ok.is_ok_and(|s| s.success()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("{} did not answer within 60 s", self.name)
    }
}

impl Drop for Daemon {
    /// Removes every container, then stops the daemon and whatever it left running.
    fn drop(&mut self) {
        let ids = self.docker().args(["ps", "-aq"]).output();
        if let Ok(out) = ids {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(String::from)
                .collect();
            if !ids.is_empty() {
                let _ = self.docker().args(["rm", "-f"]).args(&ids).output();
            }
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in processes_mentioning(&self.dir.to_string_lossy()) {
            // SAFETY: plain kill of a process we started (its command line names our dir).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The flags dockerd and berth daemon share: roots and pidfile under `root`.
fn common_flags(c: &mut Command, root: &Path) {
    c.arg("--data-root")
        .arg(root.join("lib"))
        .arg("--exec-root")
        .arg(root.join("run"))
        .arg("--pidfile")
        .arg(root.join("d.pid"));
}

pub fn cmdline(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw).replace('\0', " ")
}

pub fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .collect()
}

/// Processes (other than this one) whose command line contains `marker`.
pub fn processes_mentioning(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|&p| p != me && cmdline(p).contains(marker))
        .collect()
}

/// Lazily unmounts everything mounted under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .map(String::from)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").arg("-l").arg(&p).status();
    }
}

impl Daemon {
    /// `berth daemon` with its roots and socket under `root`.
    pub fn berth(binary: &Path, root: PathBuf, client: &Path) -> Result<Daemon> {
        Daemon::start("berth daemon", root, client, |root, socket| {
            let mut c = Command::new(binary);
            c.arg("daemon")
                .arg("-H")
                .arg(format!("unix://{}", socket.display()));
            common_flags(&mut c, root);
            c
        })
    }

    /// dockerd with its roots and socket under `root`, leaving the host's bridge and firewall
    /// alone (no bench needs container networking).
    pub fn dockerd(binary: &Path, root: PathBuf, client: &Path) -> Result<Daemon> {
        Daemon::start("dockerd", root, client, |root, socket| {
            let mut c = Command::new(binary);
            c.arg("-H").arg(format!("unix://{}", socket.display()));
            common_flags(&mut c, root);
            c.args(["--bridge", "none", "--iptables=false", "--ip6tables=false"]);
            c
        })
    }
}

/// A temp dir for a bench's daemons and data: on drop, whatever is still mounted under it is
/// unmounted before it is removed. Create it before the daemons, so they stop first.
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    /// A short prefix keeps socket paths under the 108-byte limit.
    pub fn new(prefix: &str) -> Result<Scratch> {
        Ok(Scratch(
            tempfile::Builder::new().prefix(prefix).tempdir_in("/tmp")?,
        ))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        unmount_under(self.0.path());
    }
}
