//! Builds berth-dmz (dmz/dmz.c), the tiny static program the runtime execs the container's
//! program through; it is embedded in the runtime and run from a sealed memfd.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=dmz/dmz.c");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("berth-dmz");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args([
            "-Os",
            "-static",
            "-nostdlib",
            "-nostartfiles",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-fno-pie",
            "-no-pie",
            "-Wl,--build-id=none",
            "-s",
            "-o",
        ])
        .arg(&out)
        .arg("dmz/dmz.c")
        .status()
        .unwrap_or_else(|e| panic!("run {cc} to build berth-dmz: {e}"));
    assert!(status.success(), "{cc} failed to build berth-dmz");
}
