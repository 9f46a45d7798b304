//! Pushing through the daemon to a real registry (Debian's `docker-registry` on 127.0.0.1)
//! with the real docker CLI and the berth CLI; checked with skopeo and by pulling back into a
//! fresh daemon. Login against an htpasswd registry, credentials in `DOCKER_CONFIG`.

mod daemon_support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use daemon_support::{Daemon, Registry, text};

fn repo_digests(d: &Daemon, image: &str) -> Vec<String> {
    let out = d.docker_ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", image]);
    serde_json::from_str(out.trim()).unwrap()
}

/// The manifest digest the registry serves, as skopeo sees it.
fn skopeo_digest(reference: &str) -> String {
    skopeo_digest_as(reference, None)
}

/// [`skopeo_digest`] with `user:password`.
fn skopeo_digest_as(reference: &str, creds: Option<&str>) -> String {
    let mut cmd = Command::new("/usr/bin/skopeo");
    cmd.args(["inspect", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let out = cmd.arg(format!("docker://{reference}")).output().unwrap();
    assert!(out.status.success(), "skopeo: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn digest_line(out: &str, tag: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{tag}: digest: sha256:")))
        .unwrap_or_else(|| panic!("no digest line in {out}"));
    line.split_whitespace().nth(2).unwrap().to_string()
}

#[test]
fn docker_push_again_mount_and_pull_back() {
    let reg = Registry::start();
    let d = Daemon::with_busybox();
    let image = format!("{}/tools/bb:1", reg.addr());
    d.docker_ok(&["tag", "busybox", &image]);
    let out = d.docker_ok(&["push", &image]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/tools/bb]",
            reg.addr()
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let digest = digest_line(&out, "1");
    assert_eq!(skopeo_digest(&image), digest);
    // The layer, kept uncompressed here, went up gzip-compressed (as Docker pushes), and
    // uncompresses to the image's DiffID.
    let get = |path: &str| {
        let out = Command::new("curl")
            .args([
                "-sf",
                "-H",
                "Accept: application/vnd.oci.image.manifest.v1+json",
            ])
            .arg(format!("http://{}/v2/tools/bb/{path}", reg.addr()))
            .output()
            .unwrap();
        assert!(out.status.success(), "GET {path}: {}", text(&out.stderr));
        out.stdout
    };
    let manifest: serde_json::Value = serde_json::from_slice(&get("manifests/1")).unwrap();
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
        "{manifest}"
    );
    let blob = get(&format!("blobs/{}", layer["digest"].as_str().unwrap()));
    assert_eq!(blob[..2], [0x1f, 0x8b], "the layer went up uncompressed");
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&blob[..]), &mut tar).unwrap();
    let diff_id = format!("sha256:{}", sha256_hex(&tar));
    let layers = d.docker_ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &image]);
    assert_eq!(layers.trim(), format!("[\"{diff_id}\"]"));
    assert_eq!(
        repo_digests(&d, &image),
        vec![format!("{}/tools/bb@{digest}", reg.addr())]
    );

    // Again: the registry has every blob.
    let out = d.docker_ok(&["push", &image]);
    assert!(out.contains(": Layer already exists"), "{out}");
    assert!(!out.contains(": Pushed"), "{out}");
    assert_eq!(digest_line(&out, "1"), digest);

    // Another repository of the same registry: mounted from the first.
    let other = format!("{}/tools/other:2", reg.addr());
    d.docker_ok(&["tag", "busybox", &other]);
    let out = d.docker_ok(&["push", &other]);
    assert!(out.contains(": Mounted from tools/bb"), "{out}");
    assert_eq!(skopeo_digest(&other), digest);
    let mut digests = repo_digests(&d, "busybox");
    digests.sort();
    assert_eq!(
        digests,
        vec![
            format!("{}/tools/bb@{digest}", reg.addr()),
            format!("{}/tools/other@{digest}", reg.addr())
        ]
    );
    let listed = text(
        &d.berth(&[
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Digest}}",
        ])
        .stdout,
    );
    assert!(
        listed.contains(&format!("{}/tools/bb {digest}", reg.addr())),
        "{listed}"
    );

    // Pulled into a fresh daemon: same image, same repo digest, runnable.
    let fresh = Daemon::start();
    let out = fresh.berth(&["pull", &image]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        repo_digests(&fresh, &image),
        vec![format!("{}/tools/bb@{digest}", reg.addr())]
    );
    let id = |d: &Daemon, name: &str| d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", name]);
    assert_eq!(id(&fresh, &image), id(&d, "busybox"));
    assert_eq!(
        fresh.docker_ok(&["run", "--rm", &image, "echo", "round trip"]),
        "round trip\n"
    );
    // The repo digest names the image and goes with its last tag.
    let by_digest = format!("{}/tools/bb@{digest}", reg.addr());
    assert_eq!(id(&fresh, &by_digest), id(&d, "busybox"));
    fresh.docker_ok(&["rmi", &image]);
    assert!(
        !fresh
            .docker(&["image", "inspect", &by_digest])
            .status
            .success()
    );
}

#[test]
fn berth_push_and_missing_images() {
    let reg = Registry::start();
    let d = Daemon::with_busybox();
    let image = format!("{}/cli/bb:3", reg.addr());
    d.docker_ok(&["tag", "busybox", &image]);
    let out = d.berth(&["push", &image]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains(": Pushed"), "{s}");
    assert_eq!(skopeo_digest(&image), digest_line(&s, "3"));
    // All tags of the repository (docker's --all-tags sends no tag).
    d.docker_ok(&["tag", "busybox", &format!("{}/cli/bb:4", reg.addr())]);
    let out = d.berth(&["push", "--all-tags", &format!("{}/cli/bb", reg.addr())]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert_eq!(digest_line(&s, "3"), digest_line(&s, "4"));
    assert_eq!(
        skopeo_digest(&format!("{}/cli/bb:4", reg.addr())),
        digest_line(&s, "4")
    );

    // Docker's wording for an image that is not here, from docker, berth and the API.
    let missing = format!("{}/nothing/here", reg.addr());
    let want = format!("An image does not exist locally with the tag: {missing}");
    let out = d.docker(&["push", &format!("{missing}:1")]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(&want), "{}", text(&out.stderr));
    let out = d.berth(&["push", &format!("{missing}:1")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&want), "{}", text(&out.stderr));
    let (code, body) = d.http("POST", &format!("/images/{missing}/push?tag=1"), None);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains(&want), "{body}");
    // An unreachable registry is an error in the stream, and docker exits non-zero.
    d.docker_ok(&["tag", "busybox", "127.0.0.1:9/x:1"]);
    let out = d.docker(&["push", "127.0.0.1:9/x:1"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("127.0.0.1:9"),
        "{}",
        text(&out.stderr)
    );
    // However quickly it fails, the answer is the stream: what was said, then errorDetail.
    for _ in 0..5 {
        let (code, body) = d.http("POST", "/images/127.0.0.1:9/x/push?tag=1", None);
        assert_eq!(code, 200, "{body}");
        let lines: Vec<&str> = body.lines().collect();
        assert!(
            lines[0].contains("The push refers to repository [127.0.0.1:9/x]"),
            "{body}"
        );
        assert!(lines.last().unwrap().contains("errorDetail"), "{body}");
    }
}

#[test]
fn login_and_push_with_credentials() {
    let reg = Registry::start_with_htpasswd("user", "secret");
    let d = Daemon::with_busybox();
    let image = format!("{}/private/bb:1", reg.addr());
    d.docker_ok(&["tag", "busybox", &image]);
    let config = d.dir.path().join("docker-config/config.json");

    // Without credentials the registry refuses the push.
    let out = d.docker(&["push", &image]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("authentication required") || err.contains("credentials"),
        "{err}"
    );

    // Bad credentials: 401 from the API, a failed docker login, nothing stored.
    let bad =
        serde_json::json!({"username": "user", "password": "nope", "serveraddress": reg.addr()});
    let (code, body) = d.http("POST", "/auth", Some(&bad.to_string()));
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("unauthorized"), "{body}");
    let out = d.docker_stdin(
        &["login", "-u", "user", "--password-stdin", &reg.addr()],
        b"nope\n",
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("401") || text(&out.stderr).contains("unauthorized"));
    assert!(
        !config.exists()
            || !std::fs::read_to_string(&config)
                .unwrap()
                .contains(&reg.addr())
    );

    // docker login stores them; docker push sends them.
    let out = d.docker_stdin(
        &["login", "-u", "user", "--password-stdin", &reg.addr()],
        b"secret\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Login Succeeded"));
    let out = d.docker_ok(&["push", &image]);
    let digest = digest_line(&out, "1");

    // The berth CLI: logout, login (its own config file write), push, pull.
    let out = d.berth(&["logout", &reg.addr()]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("Removing login credentials"));
    let out = d.berth(&["push", &image]);
    assert!(!out.status.success(), "pushed without credentials");
    let out = d.berth_stdin(
        &["login", "-u", "user", "--password-stdin", &reg.addr()],
        b"nope\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unauthorized"),
        "{}",
        text(&out.stderr)
    );
    let out = d.berth_stdin(
        &["login", "-u", "user", "--password-stdin", &reg.addr()],
        b"secret\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Login Succeeded\n");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(cfg["auths"][reg.addr()]["auth"], "dXNlcjpzZWNyZXQ="); // user:secret
    let out = d.berth(&["push", &image]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(digest_line(&text(&out.stdout), "1"), digest);
    let fresh = Daemon::start();
    std::fs::create_dir_all(fresh.dir.path().join("docker-config")).unwrap();
    std::fs::copy(&config, fresh.dir.path().join("docker-config/config.json")).unwrap();
    let out = fresh.berth(&["pull", &image]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        repo_digests(&fresh, &image),
        vec![format!("{}/private/bb@{digest}", reg.addr())]
    );
}

#[test]
fn docker_py_login_and_push() {
    let reg = Registry::start_with_htpasswd("py", "pw");
    let d = Daemon::with_busybox();
    let repo = format!("{}/py/bb", reg.addr());
    d.docker_ok(&["tag", "busybox", &format!("{repo}:7")]);
    let out = d.python(&format!(
        r#"
try:
    client.login(username="py", password="wrong", registry="{reg}")
    print("bad login accepted")
except docker.errors.APIError as e:
    print("refused", e.status_code)
print(client.login(username="py", password="pw", registry="{reg}")["Status"])
auth = {{"username": "py", "password": "pw"}}
lines = list(client.images.push("{repo}", tag="7", stream=True, decode=True, auth_config=auth))
print([l["aux"]["Digest"] for l in lines if "aux" in l][0])
print(client.images.get("{repo}:7").attrs["RepoDigests"][0])
"#,
        reg = reg.addr()
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(&lines[..2], &["refused 401", "Login Succeeded"], "{s}");
    let digest = skopeo_digest_as(&format!("{repo}:7"), Some("py:pw"));
    assert_eq!(lines[2], digest);
    assert_eq!(lines[3], format!("{repo}@{digest}"));
}
