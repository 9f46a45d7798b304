//! Pulling: resolve the manifest (through an index for the wanted platform), fetch the config,
//! download layers (three at a time), each unpacked into its own snapshot while its bytes
//! arrive, then tag.

use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use berth_image::snapshot::PendingSnapshot;
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
const PARALLEL_LAYERS: usize = 3;
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
    let client = Client::new(
        &reference.registry,
        &reference.repository,
        &options.insecure_registries,
        options.credentials.get(&reference.registry).cloned(),
    )
    .with_timeout(options.timeout);
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

/// One pull's layers, worked through by a few threads that each take the next layer.
struct Work<'a> {
    client: &'a Client,
    store: &'a ImageStore,
    snapshots: &'a Snapshots,
    name: &'a str,
    layers: &'a [Layer],
    diff_ids: &'a [Digest],
    chains: Vec<Digest>,
    next: AtomicUsize,
    abort: AtomicBool,
    /// The first failure: it is the one reported, not the aborts it caused.
    error: Mutex<Option<Error>>,
}

/// Fetches and unpacks every layer, up to three at a time. Each layer's snapshot is its own
/// directory (whiteouts are files in it, not deletions below), so layers unpack independently
/// and in parallel, each while its bytes arrive. Progress events from all threads are
/// funnelled through a channel to `progress` on the calling thread.
fn fetch_and_unpack(
    client: &Client,
    store: &ImageStore,
    snapshots: &Snapshots,
    name: &str,
    layers: &[Layer],
    diff_ids: &[Digest],
    progress: &dyn Fn(Progress),
) -> Result<()> {
    for l in layers {
        progress(Progress {
            layer: l.digest.clone(),
            kind: ProgressKind::Waiting,
        });
    }
    let work = Work {
        client,
        store,
        snapshots,
        name,
        layers,
        diff_ids,
        chains: chain_ids(diff_ids),
        next: AtomicUsize::new(0),
        abort: AtomicBool::new(false),
        error: Mutex::new(None),
    };
    let (tx, rx) = mpsc::channel::<Progress>();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_LAYERS.min(layers.len()) {
            let (tx, work) = (tx.clone(), &work);
            s.spawn(move || work.run(&tx));
        }
        drop(tx);
        for p in rx {
            progress(p);
        }
    });
    match work.error.into_inner().expect("error lock") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

impl Work<'_> {
    fn run(&self, tx: &mpsc::Sender<Progress>) {
        while !self.abort.load(Ordering::SeqCst) {
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            let Some(layer) = self.layers.get(i) else {
                return;
            };
            if let Err(e) = self.layer(i, layer, tx) {
                self.error.lock().expect("error lock").get_or_insert(e);
                self.abort.store(true, Ordering::SeqCst);
                return;
            }
        }
    }

    /// One layer: nothing to do when its blob and snapshot exist; unpack the blob when only
    /// the snapshot is missing; else download it (resuming what an earlier attempt kept),
    /// unpacking as the bytes arrive unless the snapshot exists already.
    fn layer(&self, i: usize, layer: &Layer, tx: &mpsc::Sender<Progress>) -> Result<()> {
        let send = |kind| {
            let _ = tx.send(Progress {
                layer: layer.digest.clone(),
                kind,
            });
        };
        let chain = &self.chains[i];
        let content = self.store.content();
        // Waits while another pull downloads the same blob: it does the work for both.
        let Some(mut download) = content.download(&layer.digest)? else {
            if self.snapshots.is_committed(chain) {
                send(ProgressKind::AlreadyExists);
                return Ok(());
            }
            send(ProgressKind::Extracting);
            let blob = content.open_blob(&layer.digest)?;
            self.unpack(i, layer, blob)?.commit(chain)?;
            send(ProgressKind::Done);
            return Ok(());
        };
        let what = || format!("blob {} of {}", layer.digest, self.name);
        let offset = download.offset();
        let mut resp = self.client.get_blob(&layer.digest, offset, &what)?;
        if offset > 0 && resp.status().as_u16() != 206 {
            download.restart()?;
        }
        let incoming = Incoming {
            body: resp.body_mut().as_reader(),
            at: download.offset(),
            last_report: 0,
            size: layer.size,
            abort: &self.abort,
            report: &|current| {
                send(ProgressKind::Downloading {
                    current,
                    total: layer.size,
                })
            },
        };
        let mut stream = download.stream(incoming)?;
        let unpacked = if self.snapshots.is_committed(chain) {
            Ok(None)
        } else {
            self.unpack(i, layer, &mut stream).map(Some)
        };
        // The blob's digest speaks first: a corrupt download explains a failed unpack.
        io::copy(&mut stream, &mut io::sink()).map_err(|e| Error::Read {
            url: what(),
            source: e,
        })?;
        send(ProgressKind::Verifying);
        let _claim = stream.commit().map_err(|e| Error::with_blob(e, what))?;
        // Committed before the claim is released, so a pull waiting for this blob finds the
        // snapshot too.
        if let Some(pending) = unpacked? {
            pending.commit(chain)?;
        }
        send(ProgressKind::Done);
        Ok(())
    }

    /// Unpacks one layer stream into a new snapshot and checks its diff id; the caller commits
    /// the snapshot once the blob itself is verified.
    fn unpack(&self, index: usize, layer: &Layer, blob: impl Read) -> Result<PendingSnapshot> {
        berth_image::layer::unpack_layer_stream(
            blob,
            self.snapshots,
            &layer.digest,
            &layer.media_type,
            &self.diff_ids[index],
        )
        .map_err(|e| match e {
            berth_image::Error::DiffIdMismatch {
                blob,
                expected,
                actual,
            } => Error::DiffIdMismatch {
                reference: self.name.to_string(),
                index,
                layer: blob,
                expected,
                actual,
            },
            e => e.into(),
        })
    }
}

/// The registry's bytes of one blob after the part already kept: counted against the size the
/// manifest announced (more is an error, less is a truncated download), reported as progress,
/// and cut short when another layer failed.
struct Incoming<'a, R> {
    body: R,
    at: u64,
    last_report: u64,
    size: u64,
    abort: &'a AtomicBool,
    report: &'a dyn Fn(u64),
}

impl<R: Read> Read for Incoming<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.abort.load(Ordering::SeqCst) {
            return Err(io::Error::other("pull aborted"));
        }
        let n = self.body.read(buf)?;
        self.at += n as u64;
        if self.at > self.size {
            return Err(io::Error::other(format!(
                "registry sent more than the {} bytes announced",
                self.size
            )));
        }
        if n == 0 && self.at < self.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("download truncated at {} of {} bytes", self.at, self.size),
            ));
        }
        if self.at - self.last_report >= PROGRESS_EVERY || (n > 0 && self.at == self.size) {
            self.last_report = self.at;
            (self.report)(self.at);
        }
        Ok(n)
    }
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
