//! Pulls from a real registry (Debian's `docker-registry`) on 127.0.0.1, fed with images that
//! berth-image built and skopeo pushed. Each test runs its own registry, so they run in
//! parallel without sharing state.

mod support;

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_image::{Digest, Image, ImageStore, Reference, Snapshots};
use berth_registry::{Error, Platform, Progress, ProgressKind, PullOptions, pull, pull_image};
use support::{BlobFault, Front, Registry, Source, busybox};

/// A fresh destination store.
struct Dest {
    _dir: tempfile::TempDir,
    store: ImageStore,
    snaps: Snapshots,
    root: PathBuf,
}

fn dest() -> Dest {
    let dir = tempfile::tempdir().unwrap();
    Dest {
        store: ImageStore::open(dir.path()).unwrap(),
        snaps: Snapshots::open(dir.path()).unwrap(),
        root: dir.path().to_path_buf(),
        _dir: dir,
    }
}

fn pull_recording(
    d: &Dest,
    reference: &str,
    options: &PullOptions,
) -> (Result<berth_registry::Pulled, Error>, Vec<Progress>) {
    let events = Mutex::new(Vec::new());
    let r = pull_image(
        &d.store,
        &d.snaps,
        &Reference::parse(reference).unwrap(),
        options,
        &|p| events.lock().unwrap().push(p),
    );
    (r, events.into_inner().unwrap())
}

fn kinds_for<'a>(events: &'a [Progress], layer: &Digest) -> Vec<&'a ProgressKind> {
    events
        .iter()
        .filter(|e| &e.layer == layer)
        .map(|e| &e.kind)
        .collect()
}

#[test]
fn pull_by_tag_again_and_by_digest() {
    let reg = Registry::start();
    let src = Source::new();
    let img = src.import(
        "localhost/bb:v1",
        &[
            ("bin/busybox", busybox()),
            ("etc/hello", b"hello from berth\n".to_vec()),
        ],
        None,
    );
    let name = format!("{}/tools/busybox", reg.addr());
    src.push(
        &src.content_dir(),
        "localhost/bb:v1",
        format!("{name}:1.0"),
        false,
    );
    let registry_digest = reg.manifest_digest("tools/busybox", "1.0");

    let d = dest();
    let (r, events) = pull_recording(&d, &format!("{name}:1.0"), &PullOptions::default());
    let pulled = r.unwrap();
    let got = &pulled.image;
    assert_eq!(got.id, img.id);
    assert_eq!(got.diff_ids().unwrap(), img.diff_ids().unwrap());
    assert_eq!(got.manifest, registry_digest);
    assert_eq!(pulled.repo_digest, registry_digest);
    assert_eq!(pulled.index, None);
    assert_eq!(
        got.references,
        vec![Reference::parse(&format!("{name}:1.0")).unwrap()]
    );
    let chain = got.chain_ids().unwrap();
    let top = d.snaps.fs_path(chain.last().unwrap());
    assert_eq!(fs::read(top.join("bin/busybox")).unwrap(), busybox());
    assert_eq!(
        fs::read(top.join("etc/hello")).unwrap(),
        b"hello from berth\n"
    );
    let layer: Digest = got.layers[0].digest().to_string().parse().unwrap();
    let kinds = kinds_for(&events, &layer);
    assert_eq!(kinds.first(), Some(&&ProgressKind::Waiting), "{events:?}");
    assert_eq!(kinds.last(), Some(&&ProgressKind::Done), "{events:?}");
    // Unpacked while downloading: no separate extraction step.
    assert!(!kinds.contains(&&ProgressKind::Extracting), "{events:?}");
    assert!(kinds.contains(&&ProgressKind::Verifying));
    let total = got.layers[0].size();
    assert!(
        kinds.contains(&&ProgressKind::Downloading {
            current: total,
            total
        }),
        "{events:?}"
    );
    // The store resolves the name to the same image.
    assert_eq!(d.store.resolve(&format!("{name}:1.0")).unwrap().id, img.id);

    // Again: nothing downloaded or unpacked.
    let (r, events) = pull_recording(&d, &format!("{name}:1.0"), &PullOptions::default());
    assert_eq!(r.unwrap().image.manifest, registry_digest);
    assert_eq!(
        kinds_for(&events, &layer),
        vec![&ProgressKind::Waiting, &ProgressKind::AlreadyExists]
    );

    // By digest, into a fresh store, with the plain `pull` entry point.
    let d2 = dest();
    let by_digest = Reference::parse(&format!("{name}@{registry_digest}")).unwrap();
    let got = pull(
        &d2.store,
        &d2.snaps,
        &by_digest,
        &PullOptions::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(got.id, img.id);
    assert_eq!(got.references, vec![by_digest]);
    // No temp files left behind.
    assert_eq!(
        fs::read_dir(d2.root.join("content/ingest"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn missing_tag_and_wrong_digest() {
    let reg = Registry::start();
    let src = Source::new();
    src.import("localhost/small:v1", &[("etc/a", b"a".to_vec())], None);
    let name = format!("{}/small", reg.addr());
    src.push(
        &src.content_dir(),
        "localhost/small:v1",
        format!("{name}:v1"),
        false,
    );

    let d = dest();
    let (r, _) = pull_recording(&d, &format!("{name}:nope"), &PullOptions::default());
    let err = r.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("manifest unknown: {name}:nope")),
        "{msg}"
    );
    assert!(
        matches!(err, Error::Registry { status: 404, .. }),
        "{err:?}"
    );

    let (r, _) = pull_recording(
        &d,
        &format!("{}/absent:v1", reg.addr()),
        &PullOptions::default(),
    );
    assert!(r.unwrap_err().to_string().contains("absent"));

    let bogus = Digest::of(b"not a manifest");
    let (r, _) = pull_recording(&d, &format!("{name}@{bogus}"), &PullOptions::default());
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains(&format!("{name}@{bogus}")), "{msg}");
    assert!(d.store.list().unwrap().is_empty());
}

#[test]
fn index_platform_selection() {
    let reg = Registry::start();
    let src = Source::new();
    let amd = src.import(
        "localhost/m:amd",
        &[("etc/arch", b"amd64".to_vec())],
        Some("amd64"),
    );
    let arm = src.import(
        "localhost/m:arm",
        &[("etc/arch", b"arm64".to_vec())],
        Some("arm64"),
    );

    // A layout holding an index over both manifests.
    let layout = tempfile::tempdir().unwrap();
    let blobs = layout.path().join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let content = src.store.content();
    let mut entries = Vec::new();
    for (img, arch) in [(&amd, "amd64"), (&arm, "arm64")] {
        let mut digests = vec![img.manifest.clone(), img.id.clone()];
        for l in &img.layers {
            digests.push(l.digest().to_string().parse().unwrap());
        }
        for d in digests {
            fs::copy(content.blob_path(&d), blobs.join(d.hex())).unwrap();
        }
        let size = fs::metadata(content.blob_path(&img.manifest))
            .unwrap()
            .len();
        entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": img.manifest.to_string(),
            "size": size,
            "platform": {"os": "linux", "architecture": arch},
        }));
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .unwrap();
    let index_digest = Digest::of(&index);
    fs::write(blobs.join(index_digest.hex()), &index).unwrap();
    fs::write(
        layout.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::write(
        layout.path().join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": index_digest.to_string(),
                "size": index.len(),
                "annotations": {"org.opencontainers.image.ref.name": "multi"},
            }],
        }))
        .unwrap(),
    )
    .unwrap();
    let name = format!("{}/multi", reg.addr());
    src.push(layout.path(), "multi", format!("{name}:latest"), true);
    assert_eq!(reg.manifest_digest("multi", "latest"), index_digest);

    let platform = |arch: &str, variant: Option<&str>| PullOptions {
        platform: Some(Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
        }),
        ..Default::default()
    };
    let d = dest();
    let (r, _) = pull_recording(
        &d,
        &format!("{name}:latest"),
        &platform("arm64", Some("v8")),
    );
    let pulled = r.unwrap();
    assert_eq!(pulled.image.id, arm.id);
    assert_eq!(pulled.image.manifest, arm.manifest);
    assert_eq!(pulled.repo_digest, index_digest);
    assert_eq!(pulled.index, Some(index_digest.clone()));
    assert!(d.store.content().has(&index_digest));
    let top = d
        .snaps
        .fs_path(pulled.image.chain_ids().unwrap().last().unwrap());
    assert_eq!(fs::read(top.join("etc/arch")).unwrap(), b"arm64");

    let d = dest();
    let by_digest = format!("{name}@{index_digest}");
    let (r, _) = pull_recording(&d, &by_digest, &platform("amd64", None));
    let pulled = r.unwrap();
    assert_eq!(pulled.image.id, amd.id);
    assert_eq!(pulled.repo_digest, index_digest);
    assert_eq!(
        pulled.image.references,
        vec![Reference::parse(&format!("{name}@{}", amd.manifest)).unwrap()]
    );

    let (r, _) = pull_recording(&d, &format!("{name}:latest"), &platform("s390x", None));
    let err = r.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::NoMatchingPlatform { .. }), "{err:?}");
    assert!(msg.contains("linux/s390x"), "{msg}");
    assert!(msg.contains("linux/amd64, linux/arm64"), "{msg}");
}

#[test]
fn corrupted_blob_fails_and_leaves_nothing() {
    let reg = Registry::start();
    let src = Source::new();
    let img = src.import(
        "localhost/c:v1",
        &[("bin/busybox", busybox()), ("etc/c", b"c".to_vec())],
        None,
    );
    let name = format!("{}/corrupt", reg.addr());
    src.push(
        &src.content_dir(),
        "localhost/c:v1",
        format!("{name}:v1"),
        false,
    );
    let layer: Digest = img.layers[0].digest().to_string().parse().unwrap();
    let data = reg.blob_data(&layer);
    let size = fs::metadata(&data).unwrap().len() as usize;
    fs::write(&data, vec![0x5a; size]).unwrap();

    let d = dest();
    let (r, _) = pull_recording(&d, &format!("{name}:v1"), &PullOptions::default());
    let err = r.unwrap_err();
    match &err {
        Error::DigestMismatch { expected, .. } => assert_eq!(expected, &layer),
        e => panic!("expected a digest mismatch, got {e:?}"),
    }
    assert!(err.to_string().contains(&layer.to_string()), "{err}");
    assert!(d.store.list().unwrap().is_empty());
    assert!(d.snaps.list().unwrap().is_empty());
    assert!(!d.store.content().has(&layer));
    assert_eq!(
        fs::read_dir(d.root.join("content/ingest")).unwrap().count(),
        0
    );
    let snapdir: Vec<_> = fs::read_dir(d.root.join("snapshots")).unwrap().collect();
    assert!(snapdir.is_empty(), "{snapdir:?}");
}

#[test]
fn basic_auth() {
    let (reg, _pw) = support::registry_with_htpasswd("user", "pass");
    let src = Source::new();
    let img = src.import("localhost/a:v1", &[("etc/a", b"a".to_vec())], None);
    let name = format!("{}/private", reg.addr());
    let out = Command::new("/usr/bin/skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
        ])
        .args(["--dest-creds", "user:pass"])
        .arg(format!(
            "oci:{}:localhost/a:v1",
            src.content_dir().display()
        ))
        .arg(format!("docker://{name}:v1"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let d = dest();
    let (r, _) = pull_recording(&d, &format!("{name}:v1"), &PullOptions::default());
    assert!(matches!(r.unwrap_err(), Error::Auth { .. }));
    let mut creds = HashMap::new();
    creds.insert(
        reg.addr(),
        berth_registry::Credentials {
            username: "user".into(),
            password: "pass".into(),
        },
    );
    let opts = PullOptions {
        credentials: creds,
        ..Default::default()
    };
    let (r, _) = pull_recording(&d, &format!("{name}:v1"), &opts);
    assert_eq!(r.unwrap().image.id, img.id);
}

/// Uploads a blob through the distribution API (monolithic POST + PUT).
fn push_blob(reg: &Registry, repo: &str, data: &[u8]) -> (Digest, u64) {
    let d = Digest::of(data);
    let resp = ureq::post(&format!("http://{}/v2/{repo}/blobs/uploads/", reg.addr()))
        .send_empty()
        .unwrap();
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let loc = if loc.starts_with("http") {
        loc
    } else {
        format!("http://{}{loc}", reg.addr())
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    ureq::put(&format!("{loc}{sep}digest={d}"))
        .header("Content-Type", "application/octet-stream")
        .send(data)
        .unwrap();
    (d, data.len() as u64)
}

fn push_manifest(reg: &Registry, repo: &str, tag: &str, media_type: &str, body: &[u8]) -> Digest {
    let resp = ureq::put(&format!("http://{}/v2/{repo}/manifests/{tag}", reg.addr()))
        .header("Content-Type", media_type)
        .config()
        .http_status_as_error(false)
        .build()
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    let mut resp = resp;
    assert_eq!(status, 201, "{}", resp.body_mut().read_to_string().unwrap());
    Digest::of(body)
}

/// An uncompressed tar of (path, contents) regular files; a `None` content is a directory.
fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(if data.is_some() {
            tar::EntryType::Regular
        } else {
            tar::EntryType::Directory
        });
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        let data = data.unwrap_or(&[]);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Pushes an image made of `layers` (blob, media type, diff id) with the given config diff
/// ids, as an OCI or Docker schema2 manifest. Returns the manifest digest.
fn push_image(
    reg: &Registry,
    repo: &str,
    tag: &str,
    layers: &[(Vec<u8>, &str)],
    diff_ids: &[Digest],
    docker: bool,
) -> Digest {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
    }))
    .unwrap();
    let (cd, cs) = push_blob(reg, repo, &config);
    let layer_descs: Vec<_> = layers
        .iter()
        .map(|(blob, mt)| {
            let (d, s) = push_blob(reg, repo, blob);
            serde_json::json!({"mediaType": mt, "digest": d.to_string(), "size": s})
        })
        .collect();
    let (mt, config_mt) = if docker {
        (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
        )
    } else {
        (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
        )
    };
    let manifest = serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": config_mt, "digest": cd.to_string(), "size": cs},
        "layers": layer_descs,
    }))
    .unwrap();
    push_manifest(reg, repo, tag, mt, &manifest)
}

#[test]
fn layers_stack_in_every_compression() {
    let reg = Registry::start();
    let base = tar_of(&[
        ("etc/", None),
        ("etc/keep", Some(b"keep")),
        ("etc/gone", Some(b"gone")),
    ]);
    let mid = tar_of(&[("etc/", None), ("etc/zstd", Some(b"zstd layer"))]);
    let top = tar_of(&[
        ("etc/", None),
        ("etc/.wh.gone", Some(b"")),
        ("etc/plain", Some(b"plain")),
    ]);
    let diff_ids = [Digest::of(&base), Digest::of(&mid), Digest::of(&top)];
    let layers = vec![
        (gzip(&base), "application/vnd.oci.image.layer.v1.tar+gzip"),
        (
            zstd::encode_all(&mid[..], 3).unwrap(),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (top.clone(), "application/vnd.oci.image.layer.v1.tar"),
    ];
    let oci = push_image(&reg, "stack", "oci", &layers, &diff_ids, false);
    let docker_layers = vec![
        (
            layers[0].0.clone(),
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
        (
            layers[1].0.clone(),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (top.clone(), "application/vnd.docker.image.rootfs.diff.tar"),
    ];
    let docker = push_image(&reg, "stack", "docker", &docker_layers, &diff_ids, true);

    let d = dest();
    let name = format!("{}/stack", reg.addr());
    let (r, events) = pull_recording(&d, &format!("{name}:oci"), &PullOptions::default());
    let img = r.unwrap().image;
    assert_eq!(img.manifest, oci);
    assert_eq!(img.diff_ids().unwrap(), diff_ids);
    let chains = img.chain_ids().unwrap();
    for c in &chains {
        assert!(d.snaps.is_committed(c));
    }
    assert_eq!(
        fs::read(d.snaps.fs_path(&chains[0]).join("etc/gone")).unwrap(),
        b"gone"
    );
    assert_eq!(
        fs::read(d.snaps.fs_path(&chains[1]).join("etc/zstd")).unwrap(),
        b"zstd layer"
    );
    let top_fs = d.snaps.fs_path(&chains[2]);
    assert_eq!(fs::read(top_fs.join("etc/plain")).unwrap(), b"plain");
    // The whiteout became an overlayfs whiteout: a 0:0 character device.
    use std::os::unix::fs::FileTypeExt;
    let wh = fs::symlink_metadata(top_fs.join("etc/gone")).unwrap();
    assert!(wh.file_type().is_char_device());
    for l in &img.layers {
        let l: Digest = l.digest().to_string().parse().unwrap();
        assert_eq!(kinds_for(&events, &l).last(), Some(&&ProgressKind::Done));
    }

    // The Docker schema2 manifest over the same layers reuses every snapshot.
    let (r, events) = pull_recording(&d, &format!("{name}:docker"), &PullOptions::default());
    let img = r.unwrap().image;
    assert_eq!(img.manifest, docker);
    assert_eq!(img.chain_ids().unwrap(), chains);
    assert!(
        events
            .iter()
            .all(|e| matches!(e.kind, ProgressKind::Waiting | ProgressKind::AlreadyExists)),
        "{events:?}"
    );
    assert_eq!(d.store.list().unwrap().len(), 2);
}

#[test]
fn diff_id_mismatch_names_the_layer() {
    let reg = Registry::start();
    let l0 = tar_of(&[("a", Some(b"a"))]);
    let l1 = tar_of(&[("b", Some(b"b"))]);
    let wrong = Digest::of(b"not the layer");
    let layers = vec![
        (
            gzip(&l0),
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
        (
            gzip(&l1),
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
    ];
    push_image(
        &reg,
        "bad",
        "v1",
        &layers,
        &[Digest::of(&l0), wrong.clone()],
        true,
    );
    let d = dest();
    let (r, _) = pull_recording(
        &d,
        &format!("{}/bad:v1", reg.addr()),
        &PullOptions::default(),
    );
    let err = r.unwrap_err();
    let layer1 = Digest::of(&layers[1].0);
    match &err {
        Error::DiffIdMismatch {
            index,
            layer,
            expected,
            actual,
            ..
        } => {
            assert_eq!(*index, 1);
            assert_eq!(layer, &layer1);
            assert_eq!(expected, &wrong);
            assert_eq!(actual, &Digest::of(&l1));
        }
        e => panic!("expected a diff id mismatch, got {e:?}"),
    }
    assert!(err.to_string().contains(&layer1.to_string()), "{err}");
    assert!(d.store.list().unwrap().is_empty());
    // The good bottom layer may stay (layers unpack in parallel: the failure can cut its
    // download short first); nothing else is committed.
    let snaps = d.snaps.list().unwrap();
    assert!(
        snaps.is_empty() || snaps == vec![Digest::of(&l0)],
        "{snaps:?}"
    );
}

/// How the fake auth front asks for credentials.
#[derive(Clone, Copy, PartialEq)]
enum AuthMode {
    /// `Basic realm=…`: the client must send user:pass.
    Basic,
    /// `Bearer realm=<own /token>`: the token endpoint wants user:pass and answers with
    /// `token` (or `access_token` when the flag is set).
    Bearer { access_token: bool },
}

/// A tiny HTTP server on 127.0.0.1 that demands auth, then forwards `/v2/` GETs to a real
/// (unauthenticated) registry: a stand-in for token-authenticated registries.
struct AuthFront {
    port: u16,
    token_requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

const BASIC_USER_PASS: &str = "Basic dXNlcjpwYXNz"; // user:pass
const TOKEN: &str = "tok-123";

impl AuthFront {
    fn start(upstream: String, mode: AuthMode) -> AuthFront {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let token_requests = Arc::new(AtomicUsize::new(0));
        let counter = token_requests.clone();
        // The thread lives until the test process ends; it only ever serves loopback.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let upstream = upstream.clone();
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, mode, port, &counter);
                });
            }
        });
        fn serve(
            conn: std::net::TcpStream,
            upstream: &str,
            mode: AuthMode,
            port: u16,
            counter: &AtomicUsize,
        ) -> std::io::Result<()> {
            let mut reader = std::io::BufReader::new(conn.try_clone()?);
            let support::RequestHead { path, headers, .. } = support::read_head(&mut reader)?;
            let auth = headers.get("authorization").map(String::as_str);
            let mut out = conn;
            let mut respond =
                |status: u16, extra: &str, body: &[u8]| respond(&mut out, status, extra, body);
            if let Some(query) = path.strip_prefix("/token?") {
                counter.fetch_add(1, Ordering::SeqCst);
                let ok_query = query.contains("service=fake-registry")
                    && query.contains("scope=repository%3Aprivate%3Apull");
                if !ok_query {
                    return respond(400, "", format!("bad query {query}").as_bytes());
                }
                if auth != Some(BASIC_USER_PASS) {
                    return respond(
                        401,
                        "Content-Type: application/json\r\n",
                        br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#,
                    );
                }
                let field = match mode {
                    AuthMode::Bearer { access_token: true } => "access_token",
                    _ => "token",
                };
                return respond(200, "", format!(r#"{{"{field}":"{TOKEN}"}}"#).as_bytes());
            }
            if path.contains("/blobs/") && auth.is_some() {
                // Like registries that serve blobs from object storage: a redirect the
                // client must follow (without our Authorization).
                return respond(307, &format!("Location: http://{upstream}{path}\r\n"), b"");
            }
            let (expected, challenge) = match mode {
                AuthMode::Basic => (
                    BASIC_USER_PASS.to_string(),
                    r#"Basic realm="basic""#.to_string(),
                ),
                AuthMode::Bearer { .. } => (
                    format!("Bearer {TOKEN}"),
                    format!(
                        r#"Bearer realm="http://127.0.0.1:{port}/token",service="fake-registry",scope="repository:private:pull""#
                    ),
                ),
            };
            if auth != Some(expected.as_str()) {
                return respond(
                    401,
                    &format!("WWW-Authenticate: {challenge}\r\nContent-Type: application/json\r\n"),
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                );
            }
            let (status, extra, body) = forward(upstream, &path, &headers)?;
            respond(status, &extra, &body)
        }
        AuthFront {
            port,
            token_requests,
        }
    }
}

fn creds_for(registry: String) -> PullOptions {
    let mut credentials = HashMap::new();
    credentials.insert(
        registry,
        berth_registry::Credentials {
            username: "user".into(),
            password: "pass".into(),
        },
    );
    PullOptions {
        credentials,
        ..Default::default()
    }
}

fn auth_front_pull(mode: AuthMode) {
    use std::sync::atomic::Ordering;
    let reg = Registry::start();
    let l0 = tar_of(&[("a", Some(b"a"))]);
    let l1 = tar_of(&[("b", Some(b"b"))]);
    let layers = vec![
        (gzip(&l0), "application/vnd.oci.image.layer.v1.tar+gzip"),
        (gzip(&l1), "application/vnd.oci.image.layer.v1.tar+gzip"),
    ];
    let manifest = push_image(
        &reg,
        "private",
        "v1",
        &layers,
        &[Digest::of(&l0), Digest::of(&l1)],
        false,
    );
    let front = AuthFront::start(reg.addr(), mode);
    let registry = format!("127.0.0.1:{}", front.port);
    let reference = format!("{registry}/private:v1");

    let d = dest();
    let (r, _) = pull_recording(&d, &reference, &PullOptions::default());
    let err = r.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&registry), "{msg}");
    if mode == AuthMode::Basic {
        assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    } else {
        // The token endpoint's own error message comes through.
        assert!(msg.contains("bad credentials"), "{msg}");
    }

    front.token_requests.store(0, Ordering::SeqCst);
    let (r, _) = pull_recording(&d, &reference, &creds_for(registry.clone()));
    let img = r.unwrap().image;
    assert_eq!(img.manifest, manifest);
    assert_eq!(img.layers.len(), 2);
    if mode != AuthMode::Basic {
        // One token for /v2/, the manifest and every blob.
        assert_eq!(front.token_requests.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn bearer_token_auth() {
    auth_front_pull(AuthMode::Bearer {
        access_token: false,
    });
}

#[test]
fn bearer_access_token_auth() {
    auth_front_pull(AuthMode::Bearer { access_token: true });
}

#[test]
fn basic_auth_challenge() {
    auth_front_pull(AuthMode::Basic);
}

/// Writes a whole response and ends the connection.
fn respond(
    out: &mut std::net::TcpStream,
    status: u16,
    extra: &str,
    body: &[u8],
) -> std::io::Result<()> {
    use std::io::Write;
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}

/// GETs `path` from the real registry, passing `Accept` and `Range` on and the headers a
/// client looks at back.
fn forward(
    upstream: &str,
    path: &str,
    headers: &HashMap<String, String>,
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut req = ureq::get(&format!("http://{upstream}{path}"))
        .config()
        .http_status_as_error(false)
        .build();
    for h in ["accept", "range"] {
        if let Some(v) = headers.get(h) {
            req = req.header(h, v);
        }
    }
    let mut resp = req.call().map_err(std::io::Error::other)?;
    let mut extra = String::new();
    for h in ["content-type", "docker-content-digest", "content-range"] {
        if let Some(v) = resp.headers().get(h) {
            extra.push_str(&format!("{h}: {}\r\n", v.to_str().unwrap()));
        }
    }
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .map_err(std::io::Error::other)?;
    Ok((status, extra, body))
}

/// A recording front on `reg` that misbehaves on blob downloads as told.
fn faulty_front(reg: &Registry, fault: BlobFault) -> Front {
    let front = Front::start(reg.addr());
    *front.blob_fault.lock().unwrap() = Some(fault);
    front
}

/// The blob requests a front saw for `blob`, with their ranges.
fn requests_for(front: &Front, blob: &Digest) -> Vec<String> {
    front
        .take()
        .into_iter()
        .filter(|r| r.contains(&format!("/blobs/{blob}")))
        .collect()
}

/// Incompressible bytes (xorshift), so a gzip layer is as big as its content.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Pushes a one-file gzip layer image `repo:v1` of `len` noise bytes; returns (file content,
/// layer blob digest).
fn push_noise_image(reg: &Registry, repo: &str, len: usize, seed: u64) -> (Vec<u8>, Digest) {
    let data = noise(len, seed);
    let tar = tar_of(&[("noise", Some(&data))]);
    let blob = gzip(&tar);
    let digest = Digest::of(&blob);
    push_image(
        reg,
        repo,
        "v1",
        &[(blob, "application/vnd.oci.image.layer.v1.tar+gzip")],
        &[Digest::of(&tar)],
        false,
    );
    (data, digest)
}

fn ingest_files(d: &Dest) -> Vec<String> {
    fs::read_dir(d.root.join("content/ingest"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn truncated_download_fails_then_resumes_where_it_stopped() {
    let reg = Registry::start();
    let (data, blob) = push_noise_image(&reg, "big", 1 << 20, 7);
    let d = dest();
    let cut = 300_000;
    let bad = faulty_front(&reg, BlobFault::Truncate(cut));
    let (r, _) = pull_recording(
        &d,
        &format!("{}/big:v1", bad.addr()),
        &PullOptions::default(),
    );
    let err = r.unwrap_err().to_string();
    assert!(
        err.contains(&format!("download truncated at {cut} of")),
        "{err}"
    );
    assert!(err.contains(&blob.to_string()), "{err}");
    assert!(d.store.list().unwrap().is_empty(), "nothing tagged");
    assert!(d.snaps.list().unwrap().is_empty(), "no snapshot committed");
    let partial = d
        .root
        .join("content/ingest")
        .join(format!("{}.partial", blob.hex()));
    assert_eq!(fs::metadata(&partial).unwrap().len(), cut as u64);

    // The next pull asks only for the rest, and the result is whole.
    let good = Front::start(reg.addr());
    let name = format!("{}/big:v1", good.addr());
    let (r, _) = pull_recording(&d, &name, &PullOptions::default());
    let img = r.unwrap().image;
    let path = format!("/v2/big/blobs/{blob}");
    assert_eq!(
        requests_for(&good, &blob),
        vec![format!("GET {path} range=bytes={cut}-")]
    );
    let top = d.snaps.fs_path(img.chain_ids().unwrap().last().unwrap());
    assert_eq!(fs::read(top.join("noise")).unwrap(), data);
    assert_eq!(
        Digest::of(&fs::read(d.store.content().blob_path(&blob)).unwrap()),
        blob
    );
    assert!(ingest_files(&d).is_empty(), "{:?}", ingest_files(&d));
}

#[test]
fn registry_error_on_a_blob_fails_cleanly() {
    let reg = Registry::start();
    push_noise_image(&reg, "fire", 4096, 3);
    let front = faulty_front(&reg, BlobFault::ServerError);
    let d = dest();
    let (r, _) = pull_recording(
        &d,
        &format!("{}/fire:v1", front.addr()),
        &PullOptions::default(),
    );
    let err = r.unwrap_err();
    assert!(
        matches!(&err, Error::Registry { status: 500, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    // The first blob asked for is the config; the error names it and the image.
    assert!(
        msg.contains("storage backend on fire") && msg.contains("config sha256:"),
        "{msg}"
    );
    assert!(msg.contains("/fire:v1"), "{msg}");
    assert!(d.store.list().unwrap().is_empty());
    assert!(d.snaps.list().unwrap().is_empty());
    assert!(ingest_files(&d).is_empty(), "{:?}", ingest_files(&d));
}

#[test]
fn hanging_registry_times_out() {
    let reg = Registry::start();
    let front = faulty_front(&reg, BlobFault::Hang);
    let d = dest();
    let opts = PullOptions {
        timeout: Some(Duration::from_millis(500)),
        ..Default::default()
    };
    let started = Instant::now();
    let (r, _) = pull_recording(&d, &format!("{}/any:v1", front.addr()), &opts);
    let err = r.unwrap_err();
    assert!(matches!(&err, Error::Transport { .. }), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(d.store.list().unwrap().is_empty());
}

#[test]
fn concurrent_pulls_of_one_image_fetch_each_blob_once() {
    let reg = Registry::start();
    let (data, blob) = push_noise_image(&reg, "shared", 256 << 10, 11);
    // Slow blobs make the two pulls overlap.
    let front = faulty_front(&reg, BlobFault::Delay(300));
    let d = dest();
    let name = format!("{}/shared:v1", front.addr());
    let reference = Reference::parse(&name).unwrap();
    let images: Vec<Image> = std::thread::scope(|s| {
        let pulls: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    pull(
                        &d.store,
                        &d.snaps,
                        &reference,
                        &PullOptions::default(),
                        &|_| {},
                    )
                    .unwrap()
                })
            })
            .collect();
        pulls.into_iter().map(|p| p.join().unwrap()).collect()
    });
    assert_eq!(images[0].id, images[1].id);
    assert_eq!(
        requests_for(&front, &blob),
        vec![format!("GET /v2/shared/blobs/{blob}")],
        "the layer was fetched once"
    );
    let top = d
        .snaps
        .fs_path(images[0].chain_ids().unwrap().last().unwrap());
    assert_eq!(fs::read(top.join("noise")).unwrap(), data);
    assert!(ingest_files(&d).is_empty());
}
