//! Shared harness for the `berth oci` integration tests.
//!
//! Every test loops over [`runtimes()`] (selected by `BERTH_TEST_RUNTIMES`,
//! a comma list of `berth` and/or `runc`, default `berth`) and asserts the
//! same behaviour for each, so any divergence between berth and runc shows up
//! as a failure naming the runtime.
//!
//! Cleanup: a [`Runtime`] owns its state dir, every bundle created through it
//! and the list of container ids it started. When it is dropped (also while
//! unwinding from a failed assertion) it runs `delete --force` for each id,
//! removes the bundles' cgroup directories and then the temp dirs.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const RUNC: &str = "/usr/sbin/runc";
pub const BUSYBOX: &str = "/bin/busybox";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique across parallel tests and concurrent test binaries.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Berth,
    Runc,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Berth => "berth",
            Kind::Runc => "runc",
        })
    }
}

/// The runtimes selected by `BERTH_TEST_RUNTIMES`. Missing binaries are
/// skipped with a message on stderr.
pub fn runtimes() -> Vec<Runtime> {
    let sel = std::env::var("BERTH_TEST_RUNTIMES").unwrap_or_else(|_| "berth".into());
    let mut out = Vec::new();
    for name in sel.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "berth" => out.push(Runtime::new(
                Kind::Berth,
                PathBuf::from(env!("CARGO_BIN_EXE_berth")),
            )),
            "runc" => {
                if Path::new(RUNC).exists() {
                    out.push(Runtime::new(Kind::Runc, PathBuf::from(RUNC)));
                } else {
                    eprintln!("SKIP runc: {RUNC} not installed");
                }
            }
            other => {
                panic!("BERTH_TEST_RUNTIMES: unknown runtime {other:?} (expected berth or runc)")
            }
        }
    }
    out
}

/// Only the berth runtimes (for behaviour runc 1.1.5 does not implement).
pub fn berth_only() -> Vec<Runtime> {
    runtimes()
        .into_iter()
        .filter(|rt| {
            if rt.kind != Kind::Berth {
                eprintln!("SKIP {}: test is berth-only", rt.kind);
            }
            rt.kind == Kind::Berth
        })
        .collect()
}

pub fn skip(reason: &str) {
    eprintln!("SKIP: {reason}");
}

/// Render an `Output` for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "status={:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status
            .code()
            .map_or_else(|| format!("{:?}", o.status), |c| c.to_string()),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Host command helper: run and capture.
pub fn host(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd}: {e}"))
}

pub fn cgroup_controllers() -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Poll `f` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn sha256(path: &Path) -> String {
    let o = host("sha256sum", &[path.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "sha256sum {}: {}",
        path.display(),
        show(&o)
    );
    stdout(&o).split_whitespace().next().unwrap().to_string()
}

fn applets() -> &'static Vec<String> {
    static A: OnceLock<Vec<String>> = OnceLock::new();
    A.get_or_init(|| {
        let o = host(BUSYBOX, &["--list"]);
        assert!(o.status.success(), "busybox --list: {}", show(&o));
        stdout(&o)
            .lines()
            .map(str::to_string)
            .filter(|s| !s.is_empty() && !s.contains('/'))
            .collect()
    })
}

struct Inner {
    created: Vec<String>,
    cgroups: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
}

pub struct Runtime {
    pub kind: Kind,
    pub bin: PathBuf,
    /// The `--root` state directory (unique per Runtime).
    pub root: PathBuf,
    inner: RefCell<Inner>,
}

impl Runtime {
    fn new(kind: Kind, bin: PathBuf) -> Runtime {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-state-")
            .tempdir()
            .expect("state tempdir");
        let root = dir.path().to_path_buf();
        Runtime {
            kind,
            bin,
            root,
            inner: RefCell::new(Inner {
                created: vec![],
                cgroups: vec![],
                dirs: vec![dir],
            }),
        }
    }

    pub fn is_berth(&self) -> bool {
        self.kind == Kind::Berth
    }

    /// A Command pre-filled with the binary, `oci` (berth) and `--root`.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        if self.kind == Kind::Berth {
            c.arg("oci");
        }
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    /// Run `self.cmd() ARGS`, capturing output.
    pub fn out(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        c.output()
            .unwrap_or_else(|e| panic!("{}: spawn {:?}: {e}", self.kind, args))
    }

    /// Register a container id for cleanup (done automatically by create/run).
    pub fn track(&self, id: &str) {
        let mut i = self.inner.borrow_mut();
        if !i.created.iter().any(|x| x == id) {
            i.created.push(id.to_string());
        }
    }

    /// A fresh unique container id.
    pub fn id(&self, prefix: &str) -> String {
        unique(&format!("bt-{prefix}"))
    }

    /// A temp dir removed when the runtime is dropped (after containers are deleted).
    pub fn tempdir(&self) -> PathBuf {
        let d = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .expect("tempdir");
        let p = d.path().to_path_buf();
        set_mode(&p, 0o755);
        self.inner.borrow_mut().dirs.push(d);
        p
    }

    /// A new bundle (rootfs with busybox + base config) with a unique cgroupsPath.
    pub fn bundle(&self) -> Bundle {
        let dir = self.tempdir();
        let cg = unique("berth-test");
        self.inner.borrow_mut().cgroups.push(cg.clone());
        Bundle::create(dir, cg)
    }

    /// `run --bundle B ID` with stdin null; stdout/stderr captured.
    pub fn run(&self, b: &Bundle, id: &str) -> Output {
        self.run_args(b, id, &[])
    }

    pub fn run_args(&self, b: &Bundle, id: &str, extra: &[&str]) -> Output {
        b.save();
        self.track(id);
        let mut args = vec!["run", "--bundle", b.path_str()];
        args.extend_from_slice(extra);
        args.push(id);
        self.out(&args)
    }

    pub fn create(&self, b: &Bundle, id: &str) -> Output {
        self.create_args(b, id, &[])
    }

    pub fn create_args(&self, b: &Bundle, id: &str, extra: &[&str]) -> Output {
        b.save();
        self.track(id);
        let mut args = vec!["create", "--bundle", b.path_str()];
        args.extend_from_slice(extra);
        args.push(id);
        // The container's stdio is inherited by `create`; detach it from our
        // pipes (otherwise `output()` would wait for the container to exit).
        self.out_detached(&args, &b.dir.join(format!("create-{id}.log")))
    }

    /// Like `out`, but stdout+stderr go to the file `log` (which the
    /// container's processes may inherit and keep open) and the call returns
    /// as soon as the runtime exits. The log content at that moment is in
    /// `Output::stderr`.
    pub fn out_detached(&self, args: &[&str], log: &Path) -> Output {
        let mut c = self.cmd();
        c.args(args);
        let f = std::fs::File::create(log).unwrap();
        let f2 = f.try_clone().unwrap();
        let st = c
            .stdout(f)
            .stderr(f2)
            .status()
            .unwrap_or_else(|e| panic!("{}: spawn {args:?}: {e}", self.kind));
        let text = std::fs::read(log).unwrap_or_default();
        fake_output(st, Vec::new(), text)
    }

    /// create + start, asserting both succeed; returns the init pid.
    pub fn create_start(&self, b: &Bundle, id: &str) -> i32 {
        let o = self.create(b, id);
        assert!(
            o.status.success(),
            "{}: create {id} failed: {}",
            self.kind,
            show(&o)
        );
        let o = self.start(id);
        assert!(
            o.status.success(),
            "{}: start {id} failed: {}",
            self.kind,
            show(&o)
        );
        self.pid(id)
    }

    pub fn start(&self, id: &str) -> Output {
        self.out(&["start", id])
    }

    /// `state ID` parsed as JSON; panics (with output) on failure.
    pub fn state(&self, id: &str) -> Value {
        let o = self.out(&["state", id]);
        assert!(
            o.status.success(),
            "{}: state {id} failed: {}",
            self.kind,
            show(&o)
        );
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{}: state {id} is not JSON ({e}): {}", self.kind, show(&o)))
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    pub fn pid(&self, id: &str) -> i32 {
        let s = self.state(id);
        s["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("{}: state {id} has no pid: {s}", self.kind)) as i32
    }

    /// Wait for `status` (up to `secs`).
    pub fn wait_status(&self, id: &str, want: &str, secs: u64) -> bool {
        wait_until(Duration::from_secs(secs), || {
            let o = self.out(&["state", id]);
            o.status.success()
                && serde_json::from_slice::<Value>(&o.stdout)
                    .map(|v| v["status"] == want)
                    .unwrap_or(false)
        })
    }

    pub fn kill(&self, id: &str, sig: &str) -> Output {
        self.out(&["kill", id, sig])
    }

    pub fn delete(&self, id: &str, force: bool) -> Output {
        if force {
            self.out(&["delete", "--force", id])
        } else {
            self.out(&["delete", id])
        }
    }

    /// `exec ID ARGS...` with stdin null, output captured.
    pub fn exec(&self, id: &str, args: &[&str]) -> Output {
        let mut a = vec!["exec", id];
        a.extend_from_slice(args);
        self.out(&a)
    }

    /// `exec [OPTS] ID ARGS...`
    pub fn exec_opts(&self, opts: &[&str], id: &str, args: &[&str]) -> Output {
        let mut a = vec!["exec"];
        a.extend_from_slice(opts);
        a.push(id);
        a.extend_from_slice(args);
        self.out(&a)
    }

    /// Ids present in `list --format json`.
    pub fn list_ids(&self) -> Vec<String> {
        let o = self.out(&["list", "--format", "json"]);
        assert!(
            o.status.success(),
            "{}: list failed: {}",
            self.kind,
            show(&o)
        );
        let t = stdout(&o);
        if t.trim().is_empty() || t.trim() == "null" {
            return vec![];
        }
        let v: Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("list json: {e}: {t}"));
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Assert the container `id` left no state entry and `b`'s cgroup is gone.
    pub fn assert_nothing_left(&self, b: &Bundle, id: &str) {
        let st = self.out(&["state", id]);
        assert!(
            !st.status.success(),
            "{}: state of {id} still succeeds after failure: {}",
            self.kind,
            show(&st)
        );
        assert!(
            !self.list_ids().iter().any(|x| x == id),
            "{}: {id} still listed",
            self.kind
        );
        assert!(
            !self.root.join(id).exists(),
            "{}: state dir {}/{id} left behind",
            self.kind,
            self.root.display()
        );
        let left: Vec<_> = b.cgroup_dirs().into_iter().filter(|p| p.exists()).collect();
        assert!(
            left.is_empty(),
            "{}: cgroup dirs left behind for {id}: {left:?}",
            self.kind
        );
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        for id in inner.created.iter().rev() {
            let mut c = Command::new(&self.bin);
            if self.kind == Kind::Berth {
                c.arg("oci");
            }
            let _ = c
                .arg("--root")
                .arg(&self.root)
                .args(["delete", "--force", id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for cg in &inner.cgroups {
            for ctrl in cgroup_controllers() {
                let p = ctrl.join(cg);
                if p.exists() {
                    // A frozen/killed cgroup may need a moment to empty.
                    wait_until(Duration::from_secs(3), || {
                        std::fs::remove_dir(&p).is_ok() || !p.exists()
                    });
                }
            }
        }
        // Unmount anything a test may have left mounted below our dirs
        // (nothing should be, this is a safety net), then remove the dirs.
        for d in inner.dirs.drain(..).rev() {
            let _ = Command::new("umount")
                .arg("-R")
                .arg("-l")
                .arg(d.path())
                .stderr(Stdio::null())
                .status();
            drop(d);
        }
    }
}

fn fake_output(status: std::process::ExitStatus, out: Vec<u8>, err: Vec<u8>) -> Output {
    Output {
        status,
        stdout: out,
        stderr: err,
    }
}

pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    /// The unique cgroupsPath (without the leading slash).
    pub cgroup: String,
    pub config: Value,
}

impl Bundle {
    fn create(dir: PathBuf, cgroup: String) -> Bundle {
        let rootfs = dir.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "mnt", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
            set_mode(&rootfs.join(d), 0o755);
        }
        set_mode(&rootfs, 0o755);
        set_mode(&rootfs.join("tmp"), 0o1777);
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copy busybox");
        set_mode(&rootfs.join("bin/busybox"), 0o755);
        for a in applets() {
            if a != "busybox" {
                let _ = std::os::unix::fs::symlink("/bin/busybox", rootfs.join("bin").join(a));
            }
        }
        for d in ["usr/bin", "sbin", "usr/sbin"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").unwrap();
        let config = base_config(&cgroup);
        Bundle {
            dir,
            rootfs,
            cgroup,
            config,
        }
    }

    pub fn path_str(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// Set a JSON pointer (e.g. "/process/args"), creating objects on the way.
    pub fn set(&mut self, pointer: &str, value: Value) -> &mut Self {
        let parts: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|p| p.replace("~1", "/").replace("~0", "~"))
            .collect();
        set_path(&mut self.config, &parts, value);
        self
    }

    pub fn get(&self, pointer: &str) -> &Value {
        self.config.pointer(pointer).unwrap_or(&Value::Null)
    }

    /// Mutate the config with a closure.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.set("/process/args", json!(args))
    }

    /// `sh -c SCRIPT`
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }

    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.config["mounts"].as_array_mut().unwrap().push(m);
        self
    }

    /// Bind-mount a host dir at `dest` with extra options.
    pub fn bind(&mut self, src: &Path, dest: &str, opts: &[&str]) -> &mut Self {
        let mut o = vec!["rbind"];
        o.extend_from_slice(opts);
        self.add_mount(json!({"destination": dest, "type": "bind", "source": src, "options": o}))
    }

    pub fn set_namespaces(&mut self, ns: Value) -> &mut Self {
        self.set("/linux/namespaces", ns)
    }

    /// Remove a namespace type from linux.namespaces.
    pub fn remove_namespace(&mut self, t: &str) -> &mut Self {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != t);
        self
    }

    pub fn add_namespace(&mut self, ns: Value) -> &mut Self {
        let t = ns["type"].clone();
        let a = self.config["linux"]["namespaces"].as_array_mut().unwrap();
        a.retain(|n| n["type"] != t);
        a.push(ns);
        self
    }

    /// Write config.json.
    pub fn save(&self) {
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// The per-controller cgroup v1 directories of this bundle.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        cgroup_controllers()
            .into_iter()
            .map(|c| c.join(&self.cgroup))
            .collect()
    }

    /// /sys/fs/cgroup/<ctrl>/<cgroupsPath>/<file>
    pub fn cgroup_file(&self, ctrl: &str, file: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(&self.cgroup)
            .join(file)
    }
}

pub const DEFAULT_CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// A config close to `runc spec` output (terminal false, rootfs writable,
/// unique cgroupsPath).
pub fn base_config(cgroup: &str) -> Value {
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "berth-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "cgroupsPath": format!("/{cgroup}"),
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// Assert helper: the output succeeded.
#[track_caller]
pub fn assert_ok(kind: Kind, what: &str, o: &Output) {
    assert!(o.status.success(), "{kind}: {what} failed: {}", show(o));
}

/// Assert helper: the output failed (non-zero exit).
#[track_caller]
pub fn assert_fail(kind: Kind, what: &str, o: &Output) {
    assert!(
        !o.status.success(),
        "{kind}: {what} unexpectedly succeeded: {}",
        show(o)
    );
}

/// Read /proc/<pid>/status field (e.g. "Uid").
pub fn proc_status_field(pid: i32, field: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .map(|l| l[field.len() + 1..].trim().to_string())
}

pub fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

pub fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && proc_status_field(pid, "State")
            .map(|s| !s.starts_with('Z'))
            .unwrap_or(false)
}

fn set_path(cur: &mut Value, parts: &[String], value: Value) {
    let Some((part, rest)) = parts.split_first() else {
        *cur = value;
        return;
    };
    if let Value::Array(arr) = cur {
        let idx: usize = part
            .parse()
            .unwrap_or_else(|_| panic!("bad array index {part}"));
        if idx == arr.len() {
            arr.push(Value::Null);
        }
        return set_path(&mut arr[idx], rest, value);
    }
    if !cur.is_object() {
        *cur = json!({});
    }
    let next = cur
        .as_object_mut()
        .unwrap()
        .entry(part.clone())
        .or_insert(Value::Null);
    set_path(next, rest, value)
}
