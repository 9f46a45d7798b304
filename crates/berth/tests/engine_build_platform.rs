//! Builds for a platform through the real docker CLI (`DOCKER_BUILDKIT=0`): Docker's
//! automatic platform ARGs (global for `FROM --platform=$BUILDPLATFORM`, `ARG TARGETARCH`
//! in a stage), the build's `--platform`, and a foreign base picked from a manifest list in
//! the test registry: COPY and config steps make an arm64 image, RUN is refused by name.

mod build_support;
mod daemon_support;

use std::path::Path;
use std::process::Command;

use build_support::{build, build_ok, context};
use daemon_support::{Daemon, Registry, text};

fn platform_of(d: &Daemon, image: &str) -> String {
    d.docker_ok(&["image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", image])
        .trim()
        .to_string()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no test platform for {other}"),
    }
}

#[test]
fn automatic_platform_args_reach_from_and_stages() {
    let d = Daemon::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "ARG BASE=busybox\n\
         FROM --platform=$BUILDPLATFORM ${BASE} AS tools\n\
         ARG TARGETARCH\n\
         ARG BUILDPLATFORM\n\
         RUN echo \"$TARGETARCH on $BUILDPLATFORM\" > /arch\n\
         FROM busybox\n\
         ARG TARGETPLATFORM\n\
         ARG TARGETVARIANT\n\
         ARG UNDECLARED_ELSEWHERE\n\
         COPY --from=tools /arch /arch\n\
         RUN echo \"$TARGETPLATFORM [$TARGETVARIANT] [$BUILDOS]\" >> /arch\n\
         CMD [\"cat\", \"/arch\"]\n",
    )]);
    let host = host_arch();
    // `x86_64`/`aarch64` are normalised to the OCI names.
    let asked = if host == "amd64" {
        "linux/x86_64"
    } else {
        "linux/aarch64"
    };
    let out = build_ok(&d, ctx.path(), &["--platform", asked, "-t", "plat-args:1"]);
    assert!(!out.contains("[Warning]"), "{out}");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "plat-args:1"]),
        format!("{host} on linux/{host}\nlinux/{host} [] []\n")
    );
    assert_eq!(platform_of(&d, "plat-args:1"), format!("linux/{host}"));

    // Without --platform the target is the host.
    build_ok(&d, ctx.path(), &["-t", "plat-args:2"]);
    assert_eq!(
        d.docker_ok(&["run", "--rm", "plat-args:2"]),
        format!("{host} on linux/{host}\nlinux/{host} [] []\n")
    );

    let bad = build(
        &d,
        ctx.path(),
        &["--platform", "linux/", "-t", "plat-args:3"],
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("invalid platform \"linux/\""),
        "{}",
        text(&bad.stderr)
    );
}

/// The manifest's media type, digest and size as the registry has them.
fn manifest_of(reg: &Registry, repo: &str, tag: &str) -> (String, String, usize) {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    let out = Command::new("curl")
        .args([
            "-sf",
            "-D",
            "-",
            "-o",
            body.to_str().unwrap(),
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        ])
        .arg(format!("http://{}/v2/{repo}/manifests/{tag}", reg.addr()))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl: {}", text(&out.stderr));
    let headers = text(&out.stdout);
    let header = |name: &str| {
        headers
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no {name} in {headers}"))
    };
    let size = std::fs::read(&body).unwrap().len();
    (
        header("Content-Type"),
        header("Docker-Content-Digest"),
        size,
    )
}

/// Pushes busybox as an amd64 and an arm64 image and a manifest list of both as
/// `<reg>/multi:latest`.
fn push_manifest_list(d: &Daemon, reg: &Registry) -> String {
    let out = d.docker(&[
        "import",
        "--platform",
        "linux/arm64",
        daemon_support::busybox_tar().to_str().unwrap(),
        "bb-arm64:1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    reg.push_from(d, "docker.io/library/busybox:latest", "multi:amd64");
    reg.push_from(d, "docker.io/library/bb-arm64:1", "multi:arm64");
    let entries: Vec<String> = ["amd64", "arm64"]
        .iter()
        .map(|arch| {
            let (media_type, digest, size) = manifest_of(reg, "multi", arch);
            format!(
                r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#
            )
        })
        .collect();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        entries.join(",")
    );
    let out = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.index.v1+json",
            "--data-binary",
            &index,
        ])
        .arg(format!("http://{}/v2/multi/manifests/latest", reg.addr()))
        .output()
        .unwrap();
    assert!(out.status.success(), "PUT index: {}", text(&out.stderr));
    format!("{}/multi:latest", reg.addr())
}

#[test]
fn a_foreign_base_from_a_manifest_list() {
    if host_arch() != "amd64" {
        eprintln!("the foreign platform of this test is arm64: skipped on an arm64 host");
        return;
    }
    let d = Daemon::with_busybox();
    let reg = Registry::start();
    let multi = push_manifest_list(&d, &reg);

    // COPY and config steps work on an arm64 base; the image is arm64.
    let ctx = context(&[
        (
            "Dockerfile",
            &format!(
                "ARG ARCH=arm64\nFROM --platform=linux/${{ARCH}} {multi}\nCOPY marker /marker\nENV STAGE=arm\n"
            ),
        ),
        ("marker", "copied onto arm64\n"),
    ]);
    build_ok(&d, ctx.path(), &["-t", "plat-arm:1"]);
    assert_eq!(platform_of(&d, "plat-arm:1"), "linux/arm64");
    assert_eq!(platform_of(&d, &multi), "linux/arm64");
    // Its files, read by a host stage.
    let reader = context(&[(
        "Dockerfile",
        "FROM busybox\nCOPY --from=plat-arm:1 /marker /m\nCMD [\"cat\", \"/m\"]\n",
    )]);
    build_ok(&d, reader.path(), &["-t", "plat-reader:1"]);
    assert_eq!(
        d.docker_ok(&["run", "--rm", "plat-reader:1"]),
        "copied onto arm64\n"
    );

    // RUN on it is refused by name (unless the kernel has a handler for arm64 binaries).
    let run = context(&[(
        "Dockerfile",
        &format!("FROM --platform=linux/arm64 {multi}\nRUN true\n"),
    )]);
    let out = build(&d, run.path(), &["-t", "plat-run:1"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    if !Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists() {
        assert!(
            text(&out.stderr)
                .contains("RUN cannot execute linux/arm64 binaries on this linux/amd64 host"),
            "{}",
            text(&out.stderr)
        );
    }

    // The build's --platform picks from the list too: the local arm64 image is pulled
    // again for amd64, on which RUN works.
    let host = context(&[(
        "Dockerfile",
        &format!("FROM {multi}\nRUN echo ran > /ran\nCMD [\"cat\", \"/ran\"]\n"),
    )]);
    build_ok(
        &d,
        host.path(),
        &["--platform", "linux/amd64", "-t", "plat-host:1"],
    );
    assert_eq!(platform_of(&d, "plat-host:1"), "linux/amd64");
    assert_eq!(d.docker_ok(&["run", "--rm", "plat-host:1"]), "ran\n");

    // A local image named by id cannot be pulled for another platform.
    let id = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    let by_id = context(&[(
        "Dockerfile",
        &format!("FROM --platform=linux/arm64 {}\n", id.trim()),
    )]);
    let out = build(&d, by_id.path(), &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is linux/amd64, not the requested linux/arm64"),
        "{}",
        text(&out.stderr)
    );

    // A local name of another platform is pulled for the one asked for; when that fails,
    // the error says why it was tried.
    d.docker_ok(&["tag", "busybox", "127.0.0.1:9/local/bb:1"]);
    let local = context(&[(
        "Dockerfile",
        "FROM --platform=linux/arm64 127.0.0.1:9/local/bb:1\n",
    )]);
    let out = build(&d, local.path(), &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(
            "the local image 127.0.0.1:9/local/bb:1 is linux/amd64, not the requested linux/arm64, and pulling it for linux/arm64 failed"
        ),
        "{}",
        text(&out.stderr)
    );

    // FROM scratch for arm64 makes an arm64 image.
    let scratch = context(&[
        (
            "Dockerfile",
            "FROM --platform=linux/arm64 scratch\nCOPY marker /marker\n",
        ),
        ("marker", "x\n"),
    ]);
    build_ok(&d, scratch.path(), &["-t", "plat-scratch:1"]);
    assert_eq!(platform_of(&d, "plat-scratch:1"), "linux/arm64");
}
