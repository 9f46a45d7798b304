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
