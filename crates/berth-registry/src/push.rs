//! Pushing per the distribution spec: every layer blob and the config go up unless the
//! repository has them (`HEAD`), by cross-repository mount when another repository of the
//! registry is known to hold them, else as an upload streamed from the content store (`POST`
//! then one `PUT ?digest=`); the manifest last, by tag: its exact stored bytes, or with the
//! layers made here compressed (see `compress`).

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};

use berth_image::{ContentStore, Digest, ImageStore, Reference};
use oci_spec::image::ImageManifest;

use crate::Credentials;
use crate::client::{Client, Payload, check};
use crate::error::{Error, Result};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const PARALLEL_UPLOADS: usize = 3;
const PROGRESS_EVERY: u64 = 512 * 1024;

/// How to push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Registries (`host` or `host:port`) to talk to over plain HTTP. Loopback registries
    /// always are.
    pub insecure_registries: Vec<String>,
    /// Credentials by registry name (as in the reference, e.g. `docker.io`, `localhost:5000`).
    pub credentials: HashMap<String, Credentials>,
    /// Other repositories of the target registry known to hold the image's blobs (e.g. from
    /// its repo digests): a missing blob is mounted from the first of them before it is
    /// uploaded.
    pub mount_from: Vec<String>,
}

/// What is happening to one layer during a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushProgressKind {
    /// Listed, before any request about it.
    Preparing,
    /// Queued behind other uploads.
    Waiting,
    /// Bytes sent so far of `total`.
    Pushing { current: u64, total: u64 },
    /// The repository already had the blob: nothing sent.
    AlreadyExists,
    /// The registry linked the blob from repository `from` without an upload.
    Mounted { from: String },
    /// Uploaded.
    Pushed,
}

/// A progress event about one layer, for rendering Docker-style progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushProgress {
    pub layer: Digest,
    pub kind: PushProgressKind,
}

/// What a push produced: the manifest as the registry now serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: u64,
    pub media_type: String,
}

/// Pushes the image whose manifest is `manifest` to `target` (`registry/repo:tag`, or
/// `registry/repo@digest` to push by digest only). Layers go up to three at a time with
/// progress reported per layer; the manifest is put only after every blob is in place.
pub fn push(
    store: &ImageStore,
    manifest: &Digest,
    target: &Reference,
    options: &PushOptions,
    progress: &dyn Fn(PushProgress),
) -> Result<Pushed> {
    let content = store.content();
    let stored = content.read_blob(manifest)?;
    let name = target.to_string();
    let bytes = crate::compress::manifest_for_push(content, &stored, &name)?;
    let manifest = &Digest::of(&bytes);
    let parsed: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| Error::Invalid {
        reference: name.clone(),
        what: "manifest",
        reason: e.to_string(),
    })?;
    let media_type = parsed
        .media_type()
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_else(|| OCI_MANIFEST.to_string());
    let digest_of = |d: &oci_spec::image::Descriptor| {
        d.digest()
            .to_string()
            .parse::<Digest>()
            .map_err(Error::Image)
    };
    let layers = parsed
        .layers()
        .iter()
        .map(digest_of)
        .collect::<Result<Vec<_>>>()?;
    let config = digest_of(parsed.config())?;

    let repository = &target.repository;
    let mount_from: Vec<&str> = options
        .mount_from
        .iter()
        .map(String::as_str)
        .filter(|r| r != repository)
        .collect();
    let mut scopes = vec![format!("repository:{repository}:pull,push")];
    scopes.extend(mount_from.iter().map(|r| format!("repository:{r}:pull")));
    let client = Client::new(
        &target.registry,
        repository,
        &options.insecure_registries,
        options.credentials.get(&target.registry).cloned(),
    )
    .with_scopes(scopes);
    client.ping()?;

    let uploader = Uploader {
        client: &client,
        content,
        name: &name,
        mount_from: mount_from.first().copied(),
    };
    uploader.layers(&layers, progress)?;
    uploader.blob(&config, &|_| {}, &AtomicBool::new(false))?;

    let reference = match (&target.tag, &target.digest) {
        (Some(tag), _) => tag.clone(),
        (None, Some(d)) => d.to_string(),
        (None, None) => berth_image::reference::DEFAULT_TAG.to_string(),
    };
    let url = client.url(&format!("manifests/{reference}"));
    let resp = client.send(
        "PUT",
        &url,
        &[("Content-Type", media_type.as_str())],
        &Payload::Bytes(&bytes),
    )?;
    let resp = check(resp, &url, || format!("manifest {name}"))?;
    if let Some(h) = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Digest>().ok())
        && &h != manifest
    {
        return Err(Error::DigestMismatch {
            what: format!("manifest {name} (Docker-Content-Digest)"),
            expected: manifest.clone(),
            actual: h,
        });
    }
    tracing::info!(reference = %name, %manifest, "pushed");
    Ok(Pushed {
        digest: manifest.clone(),
        size: bytes.len() as u64,
        media_type,
    })
}

/// Sends blobs of one image to one repository.
struct Uploader<'a> {
    client: &'a Client,
    content: &'a ContentStore,
    name: &'a str,
    mount_from: Option<&'a str>,
}

impl Uploader<'_> {
    /// Every layer, on up to three threads; progress is funnelled to the calling thread. The
    /// first failure stops the others before their next blob and is returned.
    fn layers(&self, layers: &[Digest], progress: &dyn Fn(PushProgress)) -> Result<()> {
        for (i, layer) in layers.iter().enumerate() {
            progress(PushProgress {
                layer: layer.clone(),
                kind: PushProgressKind::Preparing,
            });
            if i >= PARALLEL_UPLOADS {
                progress(PushProgress {
                    layer: layer.clone(),
                    kind: PushProgressKind::Waiting,
                });
            }
        }
        let next = AtomicUsize::new(0);
        let abort = AtomicBool::new(false);
        let failure = Mutex::new(None);
        let (tx, rx) = mpsc::channel::<PushProgress>();
        std::thread::scope(|s| {
            for _ in 0..PARALLEL_UPLOADS.min(layers.len()) {
                let tx = tx.clone();
                let (next, abort, failure) = (&next, &abort, &failure);
                s.spawn(move || {
                    while !abort.load(Ordering::SeqCst) {
                        let Some(layer) = layers.get(next.fetch_add(1, Ordering::SeqCst)) else {
                            return;
                        };
                        let send = |kind| {
                            let _ = tx.send(PushProgress {
                                layer: layer.clone(),
                                kind,
                            });
                        };
                        match self.blob(layer, &send, abort) {
                            Ok(kind) => send(kind),
                            Err(e) => {
                                abort.store(true, Ordering::SeqCst);
                                failure.lock().expect("failure").get_or_insert(e);
                                return;
                            }
                        }
                    }
                });
            }
            drop(tx);
            for p in rx {
                progress(p);
            }
        });
        match failure.into_inner().expect("failure") {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Makes one blob present in the repository; says how (already there, mounted, pushed).
    fn blob(
        &self,
        digest: &Digest,
        send: &dyn Fn(PushProgressKind),
        abort: &AtomicBool,
    ) -> Result<PushProgressKind> {
        let what = || format!("blob {digest} of {}", self.name);
        let client = self.client;
        let url = client.url(&format!("blobs/{digest}"));
        let resp = client.send("HEAD", &url, &[], &Payload::Empty)?;
        match resp.status().as_u16() {
            200 => return Ok(PushProgressKind::AlreadyExists),
            404 => {}
            _ => {
                check(resp, &url, what)?;
            }
        }
        let uploads = client.url("blobs/uploads/");
        let mut session = None;
        if let Some(from) = self.mount_from {
            let url = format!("{uploads}?mount={digest}&from={from}");
            let resp = client.send("POST", &url, &[], &Payload::Empty)?;
            let status = resp.status().as_u16();
            let resp = check(resp, &url, what)?;
            if status == 201 {
                return Ok(PushProgressKind::Mounted {
                    from: from.to_string(),
                });
            }
            // 202: not mounted; the registry opened an upload session instead.
            session = Some(resp);
        }
        let resp = match session {
            Some(r) => r,
            None => {
                let resp = client.send("POST", &uploads, &[], &Payload::Empty)?;
                check(resp, &uploads, what)?
            }
        };
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Invalid {
                reference: self.name.to_string(),
                what: "upload session",
                reason: format!("the registry opened an upload for {digest} without a Location"),
            })?;
        let location = client.absolute(location);
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let path = self.content.blob_path(digest);
        let total = std::fs::metadata(&path)
            .map_err(|_| berth_image::Error::BlobNotFound(digest.clone()))?
            .len();
        let open = || -> Result<Box<dyn Read + '_>> {
            send(PushProgressKind::Pushing { current: 0, total });
            Ok(Box::new(Counting {
                inner: self.content.open_blob(digest)?,
                current: 0,
                reported: 0,
                total,
                send,
                abort,
            }))
        };
        let resp = client.send(
            "PUT",
            &put,
            &[("Content-Type", "application/octet-stream")],
            &Payload::Stream {
                open: &open,
                len: total,
            },
        )?;
        check(resp, &location, || format!("upload of {}", what()))?;
        Ok(PushProgressKind::Pushed)
    }
}

/// Reports bytes read as [`PushProgressKind::Pushing`] every 512 KiB and at the end; stops the
/// upload with an error once the push is aborted.
struct Counting<'a> {
    inner: std::fs::File,
    current: u64,
    reported: u64,
    total: u64,
    send: &'a dyn Fn(PushProgressKind),
    abort: &'a AtomicBool,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.abort.load(Ordering::SeqCst) {
            return Err(io::Error::other("push aborted"));
        }
        let n = self.inner.read(buf)?;
        self.current += n as u64;
        if self.current - self.reported >= PROGRESS_EVERY
            || (self.current == self.total && self.reported != self.total)
        {
            self.reported = self.current;
            (self.send)(PushProgressKind::Pushing {
                current: self.current,
                total: self.total,
            });
        }
        Ok(n)
    }
}
