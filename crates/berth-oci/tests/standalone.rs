//! `berth-oci`, the runtime's own binary: its command line names itself, and a container goes
//! through its whole life with it. The verbs' behaviour is tested at length through `berth oci`
//! (crates/berth/tests/oci_*.rs), which is the same code; this checks the binary around it.
//! With `BERTH_OCI_RELEASE` set (scripts/test.sh sets it when the release build exists), the
//! release binary (musl, static) is checked the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn binaries() -> Vec<PathBuf> {
    let mut bins = vec![PathBuf::from(env!("CARGO_BIN_EXE_berth-oci"))];
    if let Some(release) = std::env::var_os("BERTH_OCI_RELEASE") {
        bins.push(PathBuf::from(release));
    }
    bins
}

fn run(bin: &Path, root: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run berth-oci")
}

fn ok(bin: &Path, root: &Path, args: &[&str]) -> String {
    let out = run(bin, root, args);
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn help_and_errors_name_the_binary() {
    for bin in binaries() {
        let out = Command::new(&bin).arg("--help").output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("Usage: berth-oci [OPTIONS] <COMMAND>"),
            "{help}"
        );
        let out = Command::new(&bin).arg("bogus").output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unrecognized subcommand 'bogus'"), "{err}");
        let out = Command::new(&bin).arg("--version").output().unwrap();
        let version = String::from_utf8_lossy(&out.stdout);
        assert!(
            version.starts_with("berth-oci ") && version.contains("spec: "),
            "{version}"
        );
    }
}

#[test]
fn a_container_is_created_started_and_deleted() {
    for bin in binaries() {
        let dir = tempfile::tempdir().unwrap();
        let (root, bundle) = (dir.path().join("state"), dir.path().join("bundle"));
        let bin_dir = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::fs::copy("/bin/busybox", bin_dir.join("busybox")).expect("busybox-static");
        std::os::unix::fs::symlink("busybox", bin_dir.join("sh")).unwrap();
        let bundle_arg = bundle.to_str().unwrap();
        ok(&bin, &root, &["spec", "--bundle", bundle_arg]);
        let config_path = bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(["sh", "-c", "exit 0"]);
        std::fs::write(&config_path, config.to_string()).unwrap();

        let id = format!("standalone-{}", std::process::id());
        let pid_file = dir.path().join("pid");
        // The created init keeps the stdio it is given: hand it nothing the test waits on.
        let created = Command::new(&bin)
            .arg("--root")
            .arg(&root)
            .args(["create", "--bundle", bundle_arg, "--pid-file"])
            .arg(&pid_file)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(created.success(), "{} create", bin.display());
        let state: serde_json::Value =
            serde_json::from_str(&ok(&bin, &root, &["state", &id])).expect("state is JSON");
        assert_eq!(state["status"], "created");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(state["pid"], pid);
        ok(&bin, &root, &["start", &id]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the init did not exit"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let state: serde_json::Value =
            serde_json::from_str(&ok(&bin, &root, &["state", &id])).unwrap();
        assert_eq!(state["status"], "stopped");
        ok(&bin, &root, &["delete", &id]);
        let out = run(&bin, &root, &["state", &id]);
        assert_eq!(out.status.code(), Some(1), "state after delete");
        assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    }
}
