//! Pulling through the daemon from a real registry (Debian's `docker-registry` on 127.0.0.1),
//! fed by skopeo from another daemon's content store: the docker CLI, docker-py, and the
//! images it leaves runnable.

mod daemon_support;

use daemon_support::{Daemon, Registry, text};

#[test]
fn docker_pull_and_run() {
    let reg = Registry::start();
    let source = Daemon::with_busybox();
    reg.push_from(&source, "docker.io/library/busybox:latest", "tools/bb:1");
    let d = Daemon::start();
    let image = format!("{}/tools/bb:1", reg.addr());
    let out = d.docker_ok(&["pull", &image]);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {image}")),
        "{out}"
    );
    assert!(out.contains("Digest: sha256:"), "{out}");
    let out = d.docker_ok(&["pull", &image]);
    assert!(out.contains("Image is up to date"), "{out}");
    assert_eq!(
        d.docker_ok(&["run", "--rm", &image, "echo", "pulled"]),
        "pulled\n"
    );
    // The same layer as the source's: content addressing holds across the registry.
    let layers = |d: &Daemon, name: &str| {
        d.docker_ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", name])
    };
    assert_eq!(layers(&d, &image), layers(&source, "busybox"));
    // `docker run` pulls what is missing.
    d.docker_ok(&["rmi", &image]);
    let out = d.docker(&["run", "--rm", &image, "true"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Unable to find image"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn missing_images_and_tags_are_not_found() {
    let reg = Registry::start();
    let source = Daemon::with_busybox();
    reg.push_from(&source, "docker.io/library/busybox:latest", "tools/bb:1");
    let d = Daemon::start();
    let (code, body) = d.http(
        "POST",
        &format!("/images/create?fromImage={}/tools/bb&tag=nope", reg.addr()),
        None,
    );
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("not found"), "{body}");
    let out = d.docker(&["pull", &format!("{}/nothing/here:1", reg.addr())]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );
    let (code, body) = d.http("POST", "/images/create?fromImage=Bad%20Name", None);
    assert_eq!(code, 400, "{body}");
    assert_eq!(d.docker_ok(&["images", "-q"]), "");
}

#[test]
fn docker_py_pull() {
    let reg = Registry::start();
    let source = Daemon::with_busybox();
    reg.push_from(&source, "docker.io/library/busybox:latest", "py/bb:2");
    let d = Daemon::start();
    let out = d.python(&format!(
        r#"
img = client.images.pull("{}/py/bb", tag="2")
print(img.tags)
print(client.containers.run(img.id, ["echo", "hi"], remove=True))
"#,
        reg.addr()
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("['{}/py/bb:2']\nb'hi\\n'\n", reg.addr())
    );
}

#[test]
fn berth_pull_and_run_pulling() {
    let reg = Registry::start();
    let source = Daemon::with_busybox();
    reg.push_from(&source, "docker.io/library/busybox:latest", "cli/bb:3");
    let d = Daemon::start();
    let image = format!("{}/cli/bb:3", reg.addr());
    let out = d.berth(&["pull", &image]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains(": Pull complete") && s.contains("Status: Downloaded newer image"),
        "{s}"
    );
    d.docker_ok(&["rmi", &image]);
    let out = d.berth(&["run", "--rm", &image, "echo", "auto"]);
    assert_eq!(text(&out.stdout), "auto\n", "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("Unable to find image '{image}' locally")));
    let out = d.berth(&["pull", "-q", &format!("{}/cli/bb:nope", reg.addr())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );
}

/// Files under `dir` (one level), by name.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn daemon_killed_mid_pull_resumes_and_leaves_no_debris() {
    // An image with a 48 MiB incompressible layer, so the pull takes long enough to be cut.
    let src_dir = tempfile::tempdir().unwrap();
    let rootfs = src_dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    let noise: Vec<u8> = {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..48 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    std::fs::write(rootfs.join("noise"), &noise).unwrap();
    let tarball = src_dir.path().join("big.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let source = Daemon::start();
    let out = source.berth(&["import", tarball.to_str().unwrap(), "big:1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reg = Registry::start();
    reg.push_from(&source, "docker.io/library/big:1", "heavy/big:1");
    drop(source);

    let mut d = Daemon::start();
    let image = format!("{}/heavy/big:1", reg.addr());
    let ingest = d.data_root().join("content/ingest");
    let mut pull = d.docker_cmd(&["pull", &image]);
    let mut child = pull
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill the daemon as soon as the layer's download has started.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let partial = loop {
        let started = std::fs::read_dir(&ingest).unwrap().find_map(|e| {
            let e = e.unwrap();
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            (e.file_name().to_string_lossy().ends_with(".partial") && len > 0).then(|| e.path())
        });
        if let Some(p) = started {
            d.kill9();
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pull never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let _ = child.wait();
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(kept > 0 && kept < noise.len() as u64, "kept {kept}");

    d.launch();
    assert_eq!(d.docker_ok(&["images", "-q"]), "", "nothing looks pulled");
    let out = d.docker_ok(&["pull", &image]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    // The container sees exactly the bytes of the source image.
    let want = std::process::Command::new("sha256sum")
        .arg(rootfs.join("noise"))
        .output()
        .unwrap();
    let want = text(&want.stdout)[..64].to_string();
    let got = d.docker_ok(&["run", "--rm", &image, "busybox", "sha256sum", "/noise"]);
    assert!(got.starts_with(&want), "{got} vs {want}");
    assert!(names_in(&ingest).is_empty(), "{:?}", names_in(&ingest));
    // Every stored blob belongs to the image: manifest, config, one layer.
    assert_eq!(
        names_in(&d.data_root().join("content/blobs/sha256")).len(),
        3,
        "{:?}",
        names_in(&d.data_root().join("content/blobs/sha256"))
    );
    d.docker_ok(&["rmi", &image]);
    assert!(names_in(&d.data_root().join("content/blobs/sha256")).is_empty());
    assert!(names_in(&d.data_root().join("overlay/snapshots")).is_empty());
}
