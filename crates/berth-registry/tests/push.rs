//! Pushes to a real registry (Debian's `docker-registry` on 127.0.0.1), seen through a
//! recording proxy, and checked with skopeo and by pulling back: uploads, a second push that
//! sends nothing, cross-repository mounts, Basic auth and login, a failing upload.

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Mutex;

use berth_image::{Digest, Image, ImageStore, Reference, Snapshots};
use berth_registry::{
    Credentials, Error, PushOptions, PushProgress, PushProgressKind, Pushed, login, pull_image,
    push,
};
use support::{Front, Registry, Source, busybox, registry_with_htpasswd};

fn push_recording(
    store: &ImageStore,
    image: &Image,
    target: &str,
    options: &PushOptions,
) -> (Result<Pushed, Error>, Vec<PushProgress>) {
    let events = Mutex::new(Vec::new());
    let r = push(
        store,
        &image.manifest,
        &Reference::parse(target).unwrap(),
        options,
        &|p| events.lock().unwrap().push(p),
    );
    (r, events.into_inner().unwrap())
}

fn layer_of(image: &Image) -> Digest {
    image.layers[0].digest().to_string().parse().unwrap()
}

fn kinds(events: &[PushProgress], layer: &Digest) -> Vec<PushProgressKind> {
    events
        .iter()
        .filter(|e| &e.layer == layer)
        .map(|e| e.kind.clone())
        .collect()
}

/// `skopeo inspect`'s view of a pushed image: (manifest digest, layer digests).
fn skopeo_inspect(reference: &str) -> (String, Vec<String>) {
    let out = Command::new("/usr/bin/skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    (v["Digest"].as_str().unwrap().to_string(), layers)
}

fn uploads(requests: &[String]) -> Vec<&String> {
    requests
        .iter()
        .filter(|r| r.starts_with("PUT ") && r.contains("/blobs/uploads/"))
        .collect()
}

#[test]
fn push_again_and_mount() {
    let reg = Registry::start();
    let front = Front::start(reg.addr());
    let src = Source::new();
    let img = src.import(
        "localhost/bb:v1",
        &[
            ("bin/busybox", busybox()),
            ("etc/hello", b"pushed\n".to_vec()),
        ],
        None,
    );
    let target = format!("{}/tools/a:1", front.addr());

    let (r, events) = push_recording(&src.store, &img, &target, &PushOptions::default());
    let pushed = r.unwrap();
    // What the registry serves is what the push sent: the layer made here (stored
    // uncompressed) went up gzip-compressed, the image id the same.
    let (digest, layers) = skopeo_inspect(&format!("{}/tools/a:1", reg.addr()));
    assert_eq!(digest, pushed.digest.to_string());
    assert_ne!(layers, vec![layer_of(&img).to_string()]);
    let layer: Digest = layers[0].parse().unwrap();
    let k = kinds(&events, &layer);
    assert_eq!(k.first(), Some(&PushProgressKind::Preparing), "{events:?}");
    assert_eq!(k.last(), Some(&PushProgressKind::Pushed), "{events:?}");
    assert!(
        k.iter()
            .any(|k| matches!(k, PushProgressKind::Pushing { current, total }
            if current == total && *total > 0)),
        "{events:?}"
    );
    // Layer and config uploaded; the manifest put by tag.
    let requests = front.take();
    assert_eq!(uploads(&requests).len(), 2, "{requests:?}");
    assert!(requests.contains(&"PUT /v2/tools/a/manifests/1".to_string()));

    let dest = tempfile::tempdir().unwrap();
    let pulled = pull_image(
        &ImageStore::open(dest.path()).unwrap(),
        &Snapshots::open(dest.path()).unwrap(),
        &Reference::parse(&format!("{}/tools/a:1", reg.addr())).unwrap(),
        &Default::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(pulled.image.id, img.id);
    assert_eq!(pulled.repo_digest, pushed.digest);

    // Again: every blob is there; only the manifest is sent, the same one.
    let (r, events) = push_recording(&src.store, &img, &target, &PushOptions::default());
    assert_eq!(r.unwrap().digest, pushed.digest);
    assert_eq!(
        kinds(&events, &layer),
        vec![PushProgressKind::Preparing, PushProgressKind::AlreadyExists]
    );
    let requests = front.take();
    assert!(
        requests.iter().all(|r| !r.contains("/blobs/uploads/")),
        "{requests:?}"
    );

    // Another repository of the same registry: mounted from the first, not uploaded.
    let options = PushOptions {
        mount_from: vec!["tools/a".into()],
        ..Default::default()
    };
    let (r, events) = push_recording(
        &src.store,
        &img,
        &format!("{}/tools/b:2", front.addr()),
        &options,
    );
    r.unwrap();
    assert_eq!(
        kinds(&events, &layer),
        vec![
            PushProgressKind::Preparing,
            PushProgressKind::Mounted {
                from: "tools/a".into()
            }
        ]
    );
    let requests = front.take();
    assert!(
        requests.iter().any(
            |r| r.starts_with("POST /v2/tools/b/blobs/uploads/?mount=sha256:")
                && r.ends_with("&from=tools/a")
        ),
        "{requests:?}"
    );
    assert!(uploads(&requests).is_empty(), "{requests:?}");
    assert_eq!(
        skopeo_inspect(&format!("{}/tools/b:2", reg.addr())).0,
        pushed.digest.to_string()
    );

    // A mount source without the blob: the registry opens an upload instead, and it is used.
    let other = src.import("localhost/other:v1", &[("etc/other", b"o".to_vec())], None);
    let (r, events) = push_recording(
        &src.store,
        &other,
        &format!("{}/tools/c:1", front.addr()),
        &options,
    );
    r.unwrap();
    let other_layer: Digest = skopeo_inspect(&format!("{}/tools/c:1", reg.addr())).1[0]
        .parse()
        .unwrap();
    assert_eq!(
        kinds(&events, &other_layer).last(),
        Some(&PushProgressKind::Pushed)
    );
}

#[test]
fn basic_auth_push_and_login() {
    let (reg, _pw) = registry_with_htpasswd("user", "pass");
    let src = Source::new();
    let img = src.import("localhost/a:v1", &[("etc/a", b"a".to_vec())], None);
    let target = format!("{}/private:v1", reg.addr());
    let creds = |password: &str| Credentials {
        username: "user".into(),
        password: password.into(),
    };
    let with = |c: Credentials| PushOptions {
        credentials: HashMap::from([(reg.addr(), c)]),
        ..Default::default()
    };

    let (r, _) = push_recording(&src.store, &img, &target, &PushOptions::default());
    let err = r.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    let (r, _) = push_recording(&src.store, &img, &target, &with(creds("wrong")));
    let err = r.unwrap_err();
    assert!(
        matches!(err, Error::Registry { status: 401, .. }),
        "{err:?}"
    );
    let (r, _) = push_recording(&src.store, &img, &target, &with(creds("pass")));
    r.unwrap();

    login(&reg.addr(), &[], &creds("pass")).unwrap();
    let err = login(&reg.addr(), &[], &creds("wrong")).unwrap_err();
    assert!(
        matches!(err, Error::Registry { status: 401, .. }),
        "{err:?}"
    );
}

#[test]
fn failing_upload_is_a_clear_error() {
    let reg = Registry::start();
    let front = Front::start(reg.addr());
    front
        .fail_uploads
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let src = Source::new();
    let img = src.import("localhost/a:v1", &[("etc/a", b"a".to_vec())], None);
    let (r, events) = push_recording(
        &src.store,
        &img,
        &format!("{}/broken:1", front.addr()),
        &PushOptions::default(),
    );
    let err = r.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Registry { status: 500, .. }),
        "{err:?}"
    );
    assert!(msg.contains("storage backend failed"), "{msg}");
    assert!(msg.contains("upload of blob sha256:"), "{msg}");
    assert!(!events.iter().any(|e| e.kind == PushProgressKind::Pushed));
    // No manifest was put.
    assert!(
        front.take().iter().all(|r| !r.contains("/manifests/")),
        "manifest sent after a failed upload"
    );
}

#[test]
fn unknown_manifest_is_refused_before_any_request() {
    let src = Source::new();
    let missing = Digest::of(b"no such manifest");
    let err = push(
        &src.store,
        &missing,
        &Reference::parse("127.0.0.1:9/x:1").unwrap(),
        &PushOptions::default(),
        &|_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains(&missing.to_string()), "{err}");
}

/// Decodes `%XX` escapes (enough for the token queries' scopes).
fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The token requests the front saw since the last call, unescaped.
fn token_requests(front: &Front) -> Vec<String> {
    front
        .take()
        .iter()
        .filter(|r| r.starts_with("GET /token?"))
        .map(|r| unescape(r))
        .collect()
}

#[test]
fn bearer_token_scopes_for_push_and_mount() {
    let reg = Registry::start();
    let front = Front::start_bearer(reg.addr(), "user:pass");
    let src = Source::new();
    let img = src.import("localhost/a:v1", &[("etc/a", b"bearer".to_vec())], None);
    let creds = PushOptions {
        credentials: HashMap::from([(
            front.addr(),
            Credentials {
                username: "user".into(),
                password: "pass".into(),
            },
        )]),
        ..Default::default()
    };

    let (r, _) = push_recording(
        &src.store,
        &img,
        &format!("{}/tools/a:1", front.addr()),
        &PushOptions::default(),
    );
    let err = r.unwrap_err();
    assert!(err.to_string().contains("bad credentials"), "{err}");
    front.take();

    let (r, _) = push_recording(
        &src.store,
        &img,
        &format!("{}/tools/a:1", front.addr()),
        &creds,
    );
    let pushed = r.unwrap();
    let tokens = token_requests(&front);
    assert_eq!(tokens.len(), 1, "one token for the whole push: {tokens:?}");
    assert!(
        tokens[0].contains("scope=repository:tools/a:pull,push"),
        "{tokens:?}"
    );

    let options = PushOptions {
        mount_from: vec!["tools/a".into()],
        ..creds
    };
    let (r, events) = push_recording(
        &src.store,
        &img,
        &format!("{}/tools/b:1", front.addr()),
        &options,
    );
    r.unwrap();
    assert!(
        events.iter().any(|e| e.kind
            == PushProgressKind::Mounted {
                from: "tools/a".into()
            }),
        "{events:?}"
    );
    let tokens = token_requests(&front);
    assert!(
        tokens[0].contains("scope=repository:tools/b:pull,push")
            && tokens[0].contains("scope=repository:tools/a:pull"),
        "{tokens:?}"
    );
    assert_eq!(
        skopeo_inspect(&format!("{}/tools/b:1", reg.addr())).0,
        pushed.digest.to_string()
    );
}
