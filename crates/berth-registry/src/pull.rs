//! Pulling: resolve the manifest (through an index for the wanted platform), fetch the config,
//! download layers (three at a time) while unpacking them in order, then tag.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

use berth_image::{Digest, Image, ImageStore, Reference, Snapshots, chain_ids};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::{Platform, Progress, ProgressKind, PullOptions};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
const MAX_CONFIG: u64 = 8 * 1024 * 1024;
const PARALLEL_DOWNLOADS: usize = 3;
const PROGRESS_EVERY: u64 = 512 * 1024;

/// What a pull produced.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image as recorded in the store.
    pub image: Image,
    /// The digest the registry resolved the reference to: the index's when the reference
    /// named an index, else the manifest's (Docker's `RepoDigests` entry).
    pub repo_digest: Digest,
    /// The index digest if the reference resolved to an index.
    pub index: Option<Digest>,
}

/// Pulls `reference` into `store` and `snapshots` and tags it. See [`pull_image`], which also
/// returns the repo digest.
pub fn pull(
    store: &ImageStore,
    snapshots: &Snapshots,
    reference: &Reference,
    options: &PullOptions,
    progress: &dyn Fn(Progress),
) -> Result<Image> {
    pull_image(store, snapshots, reference, options, progress).map(|p| p.image)
}

/// Pulls `reference`: resolves it (picking `options.platform` from an index), downloads the
/// config and missing layer blobs with digest verification, unpacks missing layer snapshots
/// checking diff ids, stores manifest (and index) blobs, then tags the image with `reference`.
/// A by-digest reference that named an index is tagged as `name@<platform manifest digest>`
/// (the store's names point at manifests); the index digest is in [`Pulled::repo_digest`].
/// Nothing is tagged unless everything succeeded.
pub fn pull_image(
    store: &ImageStore,
    snapshots: &Snapshots,
    reference: &Reference,
    options: &PullOptions,
    progress: &dyn Fn(Progress),
) -> Result<Pulled> {
    let client = Client::new(&reference.registry, &reference.repository, options);
    client.ping()?;
    let name = reference.to_string();
    let target = match (&reference.digest, &reference.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => berth_image::reference::DEFAULT_TAG.to_string(),
    };

    let top = fetch_manifest(&client, &reference.name(), &target, &name)?;
    if let Some(want) = &reference.digest
        && want != &top.digest
    {
        return Err(Error::DigestMismatch {
            what: format!("manifest {name}"),
            expected: want.clone(),
            actual: top.digest,
        });
    }
    let repo_digest = top.digest.clone();
    let (manifest, index) = match top.kind {
        Kind::Manifest => (top, None),
        Kind::Index => {
            let platform = options.platform.clone().unwrap_or_else(Platform::host);
            let idx: ImageIndex = parse(&top.bytes, &name, "index")?;
            let chosen = choose(&idx, &platform, &name)?;
            let d = digest_of(&chosen, &name)?;
            let m = fetch_manifest(&client, &reference.name(), &d.to_string(), &name)?;
            if m.digest != d {
                return Err(Error::DigestMismatch {
                    what: format!("manifest {d} of {name}"),
                    expected: d,
                    actual: m.digest,
                });
            }
            if m.kind != Kind::Manifest {
                return Err(invalid(
                    &name,
                    "index",
                    "index entry is not an image manifest",
                ));
            }
            (m, Some(top))
        }
    };
    let m: ImageManifest = parse(&manifest.bytes, &name, "manifest")?;

    // Config: small, fetched whole and verified before anything depends on it.
    let config_digest = digest_of(m.config(), &name)?;
    let content = store.content();
    if !content.has(&config_digest) {
        let mut resp = client.get(&format!("blobs/{config_digest}"), None, &|| {
            format!("config {config_digest} of {name}")
        })?;
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_CONFIG)
            .read_to_vec()
            .map_err(|e| invalid(&name, "config", e.to_string()))?;
        content
            .write_blob(&body[..], Some(&config_digest))
            .map_err(|e| Error::with_blob(e, || format!("config {config_digest} of {name}")))?;
    }
    let config_bytes = content.read_blob(&config_digest)?;
    let config: ImageConfiguration = parse(&config_bytes, &name, "config")?;
    let diff_ids = config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|s| s.parse::<Digest>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(&name, "config", e.to_string()))?;
    if diff_ids.len() != m.layers().len() {
        return Err(invalid(
            &name,
            "manifest",
            format!(
                "{} layers but the config lists {} diff ids",
                m.layers().len(),
                diff_ids.len()
            ),
        ));
    }
    let layers = m
        .layers()
        .iter()
        .map(|l| {
            Ok(Layer {
                digest: digest_of(l, &name)?,
                size: l.size(),
                media_type: l.media_type().to_string(),
            })
        })
        .collect::<Result<Vec<_>>>()?;

    fetch_and_unpack(
        &client, store, snapshots, &name, &layers, &diff_ids, progress,
    )?;

    // Manifest and index blobs last: their presence is not taken as "pulled" by anything,
    // but the tag is, and it comes after them.
    content
        .write_blob(&manifest.bytes[..], Some(&manifest.digest))
        .map_err(|e| Error::with_blob(e, || format!("manifest of {name}")))?;
    if let Some(idx) = &index {
        content
            .write_blob(&idx.bytes[..], Some(&idx.digest))
            .map_err(|e| Error::with_blob(e, || format!("index of {name}")))?;
    }
    let mut tag_ref = reference.clone();
    if tag_ref.digest.is_some() {
        tag_ref.digest = Some(manifest.digest.clone());
    } else if tag_ref.tag.is_none() {
        tag_ref.tag = Some(target);
    }
    store.tag(&tag_ref, &manifest.digest)?;
    let image = store.get(&manifest.digest)?;
    tracing::info!(reference = %name, manifest = %manifest.digest, %repo_digest, "pulled");
    Ok(Pulled {
        image,
        repo_digest,
        index: index.map(|i| i.digest),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Manifest,
    Index,
}

struct Fetched {
    bytes: Vec<u8>,
    digest: Digest,
    kind: Kind,
}

fn invalid(name: &str, what: &'static str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        reference: name.to_string(),
        what,
        reason: reason.into(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    name: &str,
    what: &'static str,
) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| invalid(name, what, e.to_string()))
}

fn digest_of(d: &Descriptor, name: &str) -> Result<Digest> {
    d.digest()
        .to_string()
        .parse()
        .map_err(|e: berth_image::Error| invalid(name, "descriptor", e.to_string()))
}

/// GETs a manifest or index by tag or digest, keeping the exact bytes and checking
/// `Docker-Content-Digest`.
fn fetch_manifest(client: &Client, repo_name: &str, target: &str, name: &str) -> Result<Fetched> {
    let accept = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", ");
    let what = || {
        let sep = if target.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        format!("{repo_name}{sep}{target}")
    };
    let mut resp = client.get(&format!("manifests/{target}"), Some(&accept), &what)?;
    let header_digest = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_MANIFEST)
        .read_to_vec()
        .map_err(|e| invalid(name, "manifest", e.to_string()))?;
    let digest = Digest::of(&bytes);
    if let Some(h) = header_digest
        && let Ok(h) = h.parse::<Digest>()
        && h != digest
    {
        return Err(Error::DigestMismatch {
            what: format!("manifest {target} of {name} (Docker-Content-Digest)"),
            expected: h,
            actual: digest,
        });
    }
    let kind = classify(&bytes, content_type.as_deref(), name)?;
    Ok(Fetched {
        bytes,
        digest,
        kind,
    })
}

/// Manifest or index, from the document's `mediaType`, else the Content-Type, else its shape.
/// schema1 and unknown types are refused.
fn classify(bytes: &[u8], content_type: Option<&str>, name: &str) -> Result<Kind> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        schema_version: Option<u32>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let probe: Probe = parse(bytes, name, "manifest")?;
    let media_type = probe.media_type.clone().or(content_type
        .map(str::to_string)
        .filter(|c| c != "application/json" && !c.is_empty()));
    if probe.schema_version == Some(1)
        || matches!(
            media_type.as_deref(),
            Some(DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED)
        )
    {
        return Err(Error::UnsupportedManifest {
            reference: name.to_string(),
            media_type: "schema1 (re-push the image with a current client)".to_string(),
        });
    }
    Ok(match media_type.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => Kind::Index,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => Kind::Manifest,
        None if probe.manifests.is_some() => Kind::Index,
        None => Kind::Manifest,
        Some(other) => {
            return Err(Error::UnsupportedManifest {
                reference: name.to_string(),
                media_type: other.to_string(),
            });
        }
    })
}

/// The index entry for `platform`, or an error listing what the index offers.
fn choose(idx: &ImageIndex, platform: &Platform, name: &str) -> Result<Descriptor> {
    let mut available = Vec::new();
    for d in idx.manifests() {
        let Some(p) = d.platform() else { continue };
        let os = p.os().to_string();
        let arch = p.architecture().to_string();
        let variant = p.variant().as_deref();
        if platform.matches(&os, &arch, variant) {
            return Ok(d.clone());
        }
        let mut s = format!("{os}/{arch}");
        if let Some(v) = variant {
            s.push('/');
            s.push_str(v);
        }
        if !available.contains(&s) {
            available.push(s);
        }
    }
    Err(Error::NoMatchingPlatform {
        reference: name.to_string(),
        wanted: platform.to_string(),
        available,
    })
}

struct Layer {
    digest: Digest,
    size: u64,
    media_type: String,
}

enum Slot {
    Pending,
    Ready,
    Failed(Error),
    Taken,
}

struct Shared {
    slots: Mutex<Vec<Slot>>,
    cond: Condvar,
    abort: AtomicBool,
}

impl Shared {
    fn set(&self, i: usize, s: Slot) {
        self.slots.lock().expect("slots")[i] = s;
        self.cond.notify_all();
    }

    fn fail(&self) {
        self.abort.store(true, Ordering::SeqCst);
        let _guard = self.slots.lock().expect("slots");
        self.cond.notify_all();
    }
}

/// Downloads missing layer blobs on up to three threads while this thread's unpacker applies
/// layers bottom-up as soon as each (and everything below it) is available. Progress events
/// from all threads are funnelled through a channel to `progress` on the calling thread.
fn fetch_and_unpack(
    client: &Client,
    store: &ImageStore,
    snapshots: &Snapshots,
    name: &str,
    layers: &[Layer],
    diff_ids: &[Digest],
    progress: &dyn Fn(Progress),
) -> Result<()> {
    let chains = chain_ids(diff_ids);
    let shared = Shared {
        slots: Mutex::new(layers.iter().map(|_| Slot::Pending).collect()),
        cond: Condvar::new(),
        abort: AtomicBool::new(false),
    };
    let next = AtomicUsize::new(0);
    for l in layers {
        progress(Progress {
            layer: l.digest.clone(),
            kind: ProgressKind::Waiting,
        });
    }
    let (tx, rx) = mpsc::channel::<Progress>();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_DOWNLOADS.min(layers.len()) {
            let tx = tx.clone();
            let (shared, next) = (&shared, &next);
            s.spawn(move || {
                loop {
                    if shared.abort.load(Ordering::SeqCst) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(layer) = layers.get(i) else { return };
                    match download(client, store, name, layer, &shared.abort, &tx) {
                        Ok(()) => shared.set(i, Slot::Ready),
                        Err(e) => {
                            shared.set(i, Slot::Failed(e));
                            shared.fail();
                            return;
                        }
                    }
                }
            });
        }
        let unpacker = {
            let tx = tx.clone();
            let (shared, chains) = (&shared, &chains);
            s.spawn(move || {
                let r = unpack_all(
                    store, snapshots, name, layers, diff_ids, chains, shared, &tx,
                );
                if r.is_err() {
                    shared.fail();
                }
                r
            })
        };
        drop(tx);
        for p in rx {
            progress(p);
        }
        unpacker.join().expect("unpacker thread panicked")
    })
}

#[allow(clippy::too_many_arguments)]
fn unpack_all(
    store: &ImageStore,
    snapshots: &Snapshots,
    name: &str,
    layers: &[Layer],
    diff_ids: &[Digest],
    chains: &[Digest],
    shared: &Shared,
    tx: &mpsc::Sender<Progress>,
) -> Result<()> {
    for (i, layer) in layers.iter().enumerate() {
        {
            let mut slots = shared.slots.lock().expect("slots");
            loop {
                match &slots[i] {
                    Slot::Ready => break,
                    Slot::Failed(_) => {
                        let Slot::Failed(e) = std::mem::replace(&mut slots[i], Slot::Taken) else {
                            unreachable!()
                        };
                        return Err(e);
                    }
                    _ if shared.abort.load(Ordering::SeqCst) => {
                        // Another layer failed: report its error, not a vague abort.
                        for s in slots.iter_mut() {
                            if let Slot::Failed(_) = s
                                && let Slot::Failed(e) = std::mem::replace(s, Slot::Taken)
                            {
                                return Err(e);
                            }
                        }
                        return Err(Error::Aborted);
                    }
                    _ => slots = shared.cond.wait(slots).expect("slots"),
                }
            }
        }
        let send = |kind| {
            let _ = tx.send(Progress {
                layer: layer.digest.clone(),
                kind,
            });
        };
        if snapshots.is_committed(&chains[i]) {
            send(ProgressKind::AlreadyExists);
            continue;
        }
        send(ProgressKind::Extracting);
        unpack_one(store, snapshots, name, i, layer, &diff_ids[i], &chains[i])?;
        send(ProgressKind::Done);
    }
    Ok(())
}

fn unpack_one(
    store: &ImageStore,
    snapshots: &Snapshots,
    name: &str,
    index: usize,
    layer: &Layer,
    diff_id: &Digest,
    chain_id: &Digest,
) -> Result<()> {
    berth_image::layer::unpack_stored_layer(
        store.content(),
        snapshots,
        &layer.digest,
        &layer.media_type,
        diff_id,
        chain_id,
    )
    .map_err(|e| match e {
        berth_image::Error::DiffIdMismatch {
            blob,
            expected,
            actual,
        } => Error::DiffIdMismatch {
            reference: name.to_string(),
            index,
            layer: blob,
            expected,
            actual,
        },
        e => e.into(),
    })
}

/// Streams one blob into the content store (unless present), verifying size and digest.
fn download(
    client: &Client,
    store: &ImageStore,
    name: &str,
    layer: &Layer,
    abort: &AtomicBool,
    tx: &mpsc::Sender<Progress>,
) -> Result<()> {
    let content = store.content();
    if content.has(&layer.digest) {
        return Ok(());
    }
    let d = &layer.digest;
    let what = || format!("blob {d} of {name}");
    let send = |kind| {
        let _ = tx.send(Progress {
            layer: d.clone(),
            kind,
        });
    };
    let mut resp = client.get(&format!("blobs/{d}"), None, &what)?;
    let mut reader = resp.body_mut().as_reader();
    let mut ingest = content.ingest()?;
    let mut buf = vec![0u8; 128 * 1024];
    let mut current = 0u64;
    let mut last = 0u64;
    send(ProgressKind::Downloading {
        current: 0,
        total: layer.size,
    });
    loop {
        if abort.load(Ordering::SeqCst) {
            return Err(Error::Aborted);
        }
        let n = reader.read(&mut buf).map_err(|e| Error::Read {
            url: what(),
            source: e,
        })?;
        if n == 0 {
            break;
        }
        current += n as u64;
        if current > layer.size {
            return Err(invalid(
                name,
                "blob",
                format!(
                    "{d}: registry sent more than the {} bytes announced",
                    layer.size
                ),
            ));
        }
        ingest
            .write_all(&buf[..n])
            .map_err(|e| berth_image::Error::Io {
                op: "write blob",
                path: ingest.path().to_path_buf(),
                source: e,
            })?;
        if current - last >= PROGRESS_EVERY || current == layer.size {
            last = current;
            send(ProgressKind::Downloading {
                current,
                total: layer.size,
            });
        }
    }
    send(ProgressKind::Verifying);
    ingest
        .commit(Some(d))
        .map_err(|e| Error::with_blob(e, what))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_manifests() {
        let k = |json: &str, ct: Option<&str>| classify(json.as_bytes(), ct, "r/x:y");
        let err = k(r#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#, None).unwrap_err();
        assert!(
            err.to_string().contains("unsupported manifest schema1"),
            "{err}"
        );
        let err = k(r#"{"schemaVersion":2}"#, Some(DOCKER_SCHEMA1_SIGNED)).unwrap_err();
        assert!(
            err.to_string().contains("unsupported manifest schema1"),
            "{err}"
        );
        assert_eq!(
            k(&format!(r#"{{"mediaType":"{OCI_INDEX}"}}"#), None).unwrap(),
            Kind::Index
        );
        assert_eq!(k("{}", Some(DOCKER_LIST)).unwrap(), Kind::Index);
        assert_eq!(k("{}", Some(DOCKER_MANIFEST)).unwrap(), Kind::Manifest);
        assert_eq!(
            k(r#"{"manifests":[]}"#, Some("application/json")).unwrap(),
            Kind::Index
        );
        assert_eq!(k(r#"{"layers":[]}"#, None).unwrap(), Kind::Manifest);
        let err = k(r#"{"mediaType":"application/vnd.example+json"}"#, None).unwrap_err();
        assert!(
            err.to_string().contains("application/vnd.example+json"),
            "{err}"
        );
        assert!(k("not json", None).is_err());
    }
}
