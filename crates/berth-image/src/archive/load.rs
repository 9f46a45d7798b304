//! `docker load`: an archive in Docker's format (current or legacy) or an OCI layout, streamed
//! into the content store, verified, unpacked, then tagged.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType,
};
use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::import::Platform;
use crate::layer::{Compression, unpack_stored_layer};
use crate::reference::Reference;
use crate::snapshot::{Snapshots, chain_ids};
use crate::store::images::ANNOTATION_REF_NAME;
use crate::store::{ContentStore, ImageStore};

use super::ANNOTATION_CONTAINERD_NAME;
use super::entries::{normalize, parent, resolve_link};

/// JSON documents bigger than this, together, are refused rather than held in memory.
const MAX_DOCUMENTS: u64 = 64 * 1024 * 1024;

/// One image a load recorded.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The image id (config digest).
    pub id: Digest,
    /// The manifest digest.
    pub manifest: Digest,
    /// The names it was tagged with (empty: recorded unnamed).
    pub names: Vec<Reference>,
}

/// What the archive's entries became: small documents in memory, everything else in the store.
#[derive(Default)]
struct Collected {
    documents: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Digest>,
    links: HashMap<String, String>,
    /// Bytes of `documents`.
    document_bytes: u64,
    added: Vec<Digest>,
    /// Snapshots this load committed.
    unpacked: Vec<Digest>,
}

/// An image found in the archive, verified and unpacked, not yet tagged.
struct Found {
    manifest: Digest,
    id: Digest,
    names: Vec<Reference>,
}

/// Loads every image in the archive read from `reader`. `progress(done, total)` is called as
/// layers are unpacked. On any error nothing is tagged; the blobs this load added that no
/// image uses are removed again either way.
pub fn load(
    store: &ImageStore,
    snapshots: &Snapshots,
    reader: impl Read,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Loaded>> {
    let mut got = Collected::default();
    let res = collect(store.content(), reader, &mut got).and_then(|()| {
        let found = if got.documents.contains_key("index.json") {
            from_oci_layout(store, &got)?
        } else if got.documents.contains_key("manifest.json") {
            from_docker_manifest(store, &mut got)?
        } else {
            return Err(Error::archive(
                "manifest.json",
                "not found: the archive has neither manifest.json nor index.json",
            ));
        };
        unpack_all(store, snapshots, &found, progress, &mut got.unpacked)?;
        tag_all(store, found)
    });
    // Blobs of a failed load, or of other platforms' images: nothing uses them. Nor, after a
    // failure, the snapshots it unpacked.
    let Some(used) = used_by_images(store) else {
        return res;
    };
    for d in &got.added {
        if !used.blobs.contains(d) {
            let _ = store.content().delete_blob(d);
        }
    }
    if res.is_err() {
        for c in &got.unpacked {
            if !used.chains.contains(c) {
                let _ = snapshots.remove(c);
            }
        }
    }
    res
}

/// Reads the tar once: documents into memory, other files into the content store (blobs
/// named `blobs/sha256/<hex>` verified against their names), links remembered.
fn collect(content: &ContentStore, reader: impl Read, got: &mut Collected) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let bad_tar = |e: std::io::Error| Error::archive("(tar stream)", e.to_string());
    for entry in archive.entries().map_err(bad_tar)? {
        let mut entry = entry.map_err(bad_tar)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = normalize(&raw)?;
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory | tar::EntryType::XGlobalHeader => {}
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .ok_or_else(|| Error::archive(&raw, "link without a target"))?;
                let base = if kind == tar::EntryType::Symlink {
                    parent(&path)
                } else {
                    ""
                };
                let target = resolve_link(&raw, base, &target)?;
                got.links.insert(path, target);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if is_document(&path) {
                    got.document_bytes += entry.size();
                    if got.document_bytes > MAX_DOCUMENTS {
                        return Err(Error::archive(
                            &raw,
                            "the archive's JSON documents exceed 64 MiB",
                        ));
                    }
                    let mut buf = Vec::new();
                    entry
                        .read_to_end(&mut buf)
                        .map_err(|e| Error::archive(&raw, e.to_string()))?;
                    got.documents.insert(path, buf);
                } else if !is_legacy_metadata(&path) {
                    let digest = ingest(content, &raw, &path, &mut entry, &mut got.added)?;
                    got.blobs.insert(path, digest);
                }
            }
            other => {
                return Err(Error::archive(
                    &raw,
                    format!("unexpected entry type {other:?} in an image archive"),
                ));
            }
        }
    }
    Ok(())
}

fn is_document(path: &str) -> bool {
    matches!(
        path,
        "index.json" | "manifest.json" | "repositories" | "oci-layout"
    ) || (path.ends_with(".json") && !path.contains('/'))
}

/// `<id>/VERSION` and `<id>/json` of the legacy format: v1 metadata nothing reads.
fn is_legacy_metadata(path: &str) -> bool {
    path.contains('/')
        && !path.starts_with("blobs/")
        && (path.ends_with("/VERSION") || path.ends_with("/json"))
}

fn ingest(
    content: &ContentStore,
    raw: &str,
    path: &str,
    entry: &mut impl Read,
    added: &mut Vec<Digest>,
) -> Result<Digest> {
    let expected = match path.strip_prefix("blobs/sha256/") {
        Some(hex) => Some(
            Digest::from_hex(hex)
                .map_err(|e| Error::archive(raw, format!("blob name is not a digest: {e}")))?,
        ),
        None if path.starts_with("blobs/") => {
            return Err(Error::archive(raw, "only sha256 blobs are supported"));
        }
        None => None,
    };
    let present = expected.as_ref().is_some_and(|d| content.has(d));
    let (digest, _) = content
        .write_blob(entry, expected.as_ref())
        .map_err(|e| match e {
            Error::DigestMismatch { expected, actual } => Error::archive(
                raw,
                format!("content has digest {actual}, not the {expected} its name says"),
            ),
            Error::Io { source, .. } => Error::archive(raw, source.to_string()),
            e => e,
        })?;
    if !present {
        added.push(digest.clone());
    }
    Ok(digest)
}

fn parse<T: for<'de> Deserialize<'de>>(entry: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::archive(entry, format!("invalid JSON: {e}")))
}

/// A blob the archive (or the store, for content already here) holds, or an error naming the
/// entry that should have held it.
fn read_blob(store: &ImageStore, d: &Digest, what: &str) -> Result<Vec<u8>> {
    match store.content().read_blob(d) {
        Err(Error::BlobNotFound(_)) => Err(missing(d, what)),
        r => r,
    }
}

fn missing(d: &Digest, what: &str) -> Error {
    Error::archive(
        format!("blobs/sha256/{}", d.hex()),
        format!("{what} is missing from the archive"),
    )
}

/// Images named by `index.json`; names from the containerd annotation, else from a
/// `ref.name` that is a full reference, else from `manifest.json`'s `RepoTags`.
fn from_oci_layout(store: &ImageStore, got: &Collected) -> Result<Vec<Found>> {
    let index: ImageIndex = parse("index.json", &got.documents["index.json"])?;
    let repo_tags = legacy_names(got)?;
    let mut found: Vec<Found> = Vec::new();
    for d in index.manifests() {
        let manifest = resolve_platform(store, d)?;
        let mbytes = read_blob(store, &manifest, "a manifest index.json names")?;
        let entry = format!("blobs/sha256/{}", manifest.hex());
        let m: ImageManifest = parse(&entry, &mbytes)?;
        let id: Digest = m.config().digest().to_string().parse()?;
        let mut names = Vec::new();
        if let Some(name) = annotated_name(d) {
            names.push(Reference::parse(&name).map_err(|e| {
                Error::archive("index.json", format!("bad image name {name:?}: {e}"))
            })?);
        }
        names.extend(repo_tags.get(&id).cloned().unwrap_or_default());
        match found.iter_mut().find(|f| f.manifest == manifest) {
            Some(f) => f.names.extend(names),
            None => found.push(Found {
                manifest,
                id,
                names,
            }),
        }
    }
    for f in &mut found {
        let mut seen = HashSet::new();
        f.names.retain(|n| seen.insert(n.to_string()));
    }
    Ok(found)
}

fn annotated_name(d: &Descriptor) -> Option<String> {
    let a = d.annotations().as_ref()?;
    if let Some(n) = a.get(ANNOTATION_CONTAINERD_NAME) {
        return Some(n.clone());
    }
    // A bare tag (`latest`) names no repository: only a full reference is a name.
    a.get(ANNOTATION_REF_NAME)
        .filter(|n| n.contains(':') || n.contains('/'))
        .cloned()
}

/// `RepoTags` of `manifest.json` (when there is one), by config digest.
fn legacy_names(got: &Collected) -> Result<HashMap<Digest, Vec<Reference>>> {
    let mut out: HashMap<Digest, Vec<Reference>> = HashMap::new();
    let Some(bytes) = got.documents.get("manifest.json") else {
        return Ok(out);
    };
    for e in parse::<Vec<LegacyEntry>>("manifest.json", bytes)? {
        if let Some(d) = e.config.strip_prefix("blobs/sha256/")
            && let Ok(d) = Digest::from_hex(d)
        {
            out.entry(d).or_default().extend(repo_tags(&e)?);
        }
    }
    Ok(out)
}

/// A descriptor's manifest, through an image index to the host platform's entry.
fn resolve_platform(store: &ImageStore, d: &Descriptor) -> Result<Digest> {
    let digest: Digest = d.digest().to_string().parse()?;
    let is_index = matches!(d.media_type(), MediaType::ImageIndex)
        || d.media_type().to_string()
            == "application/vnd.docker.distribution.manifest.list.v2+json";
    if !is_index {
        return Ok(digest);
    }
    let bytes = read_blob(store, &digest, "an image index index.json names")?;
    let idx: ImageIndex = parse(&format!("blobs/sha256/{}", digest.hex()), &bytes)?;
    let host = Platform::host();
    idx.manifests()
        .iter()
        .find(|m| {
            m.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == host.os && p.architecture().to_string() == host.architecture
            })
        })
        .map(|m| m.digest().to_string().parse())
        .transpose()?
        .ok_or_else(|| {
            Error::archive(
                format!("blobs/sha256/{}", digest.hex()),
                format!("no manifest for {}/{}", host.os, host.architecture),
            )
        })
}

#[derive(Deserialize)]
struct LegacyEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

fn repo_tags(e: &LegacyEntry) -> Result<Vec<Reference>> {
    e.repo_tags
        .iter()
        .flatten()
        .map(|t| {
            Reference::parse(t)
                .map_err(|err| Error::archive("manifest.json", format!("bad RepoTag {t:?}: {err}")))
        })
        .collect()
}

/// Images described by Docker's `manifest.json`: configs and layers by path; a manifest is
/// written for each.
fn from_docker_manifest(store: &ImageStore, got: &mut Collected) -> Result<Vec<Found>> {
    let entries: Vec<LegacyEntry> = parse("manifest.json", &got.documents["manifest.json"])?;
    let mut found = Vec::new();
    for e in &entries {
        let config_path = normalize(&e.config)?;
        let id = match got.documents.get(&config_path) {
            Some(bytes) => {
                let id = Digest::of(bytes);
                if !store.content().has(&id) {
                    got.added.push(id.clone());
                }
                store.content().write_blob(&bytes[..], Some(&id))?;
                let stem = config_path.trim_end_matches(".json");
                if let Ok(named) = Digest::from_hex(stem.rsplit('/').next().unwrap_or(stem))
                    && named != id
                {
                    return Err(Error::archive(
                        &e.config,
                        format!("content has digest {id}, not the {named} its name says"),
                    ));
                }
                id
            }
            None => lookup(got, &e.config)?,
        };
        let cbytes = read_blob(store, &id, "the config manifest.json names")?;
        let config: ImageConfiguration = parse(&e.config, &cbytes)?;
        let diff_count = config.rootfs().diff_ids().len();
        if diff_count != e.layers.len() {
            return Err(Error::archive(
                "manifest.json",
                format!(
                    "{} lists {} layers but its config has {diff_count} diff ids",
                    e.config,
                    e.layers.len()
                ),
            ));
        }
        let mut layers = Vec::new();
        for l in &e.layers {
            let d = lookup(got, l)?;
            let file = store.content().open_blob(&d)?;
            let size = file
                .metadata()
                .map_err(Error::io("stat", store.content().blob_path(&d)))?
                .len();
            let mut head = [0u8; 4];
            let n = std::io::Read::read(&mut &file, &mut head)
                .map_err(Error::io("read", store.content().blob_path(&d)))?;
            let media = Compression::detect("", &head[..n]).oci_layer_media_type();
            layers.push(Descriptor::new(MediaType::from(media), size, d.to_oci()));
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                cbytes.len() as u64,
                id.to_oci(),
            ))
            .layers(layers)
            .build()
            .map_err(|err| Error::Oci {
                what: "manifest",
                reason: err.to_string(),
            })?;
        let mbytes = serde_json::to_vec(&manifest).map_err(|err| Error::Oci {
            what: "manifest",
            reason: err.to_string(),
        })?;
        let new_manifest = Digest::of(&mbytes);
        if !store.content().has(&new_manifest) {
            got.added.push(new_manifest);
        }
        let (manifest_digest, _) = store.content().write_blob(&mbytes[..], None)?;
        found.push(Found {
            manifest: manifest_digest,
            id,
            names: repo_tags(e)?,
        });
    }
    Ok(found)
}

/// The blob an archive path holds, following links (at most a few hops).
fn lookup(got: &Collected, path: &str) -> Result<Digest> {
    let mut p = normalize(path)?;
    for _ in 0..8 {
        if let Some(d) = got.blobs.get(&p) {
            return Ok(d.clone());
        }
        match got.links.get(&p) {
            Some(t) => p = t.clone(),
            None => break,
        }
    }
    Err(Error::archive(
        path,
        "named in manifest.json but missing from the archive",
    ))
}

/// Checks every image's blobs and unpacks the layers not already there.
fn unpack_all(
    store: &ImageStore,
    snapshots: &Snapshots,
    found: &[Found],
    progress: &mut dyn FnMut(usize, usize),
    unpacked: &mut Vec<Digest>,
) -> Result<()> {
    let mut work = Vec::new();
    for f in found {
        let entry = format!("blobs/sha256/{}", f.manifest.hex());
        let m: ImageManifest = parse(&entry, &read_blob(store, &f.manifest, "a manifest")?)?;
        let cbytes = read_blob(store, &f.id, "an image config")?;
        let config: ImageConfiguration = parse(&format!("blobs/sha256/{}", f.id.hex()), &cbytes)?;
        let diff_ids: Vec<Digest> = config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_>>()?;
        if diff_ids.len() != m.layers().len() {
            return Err(Error::archive(
                entry,
                format!(
                    "{} layers but the config lists {} diff ids",
                    m.layers().len(),
                    diff_ids.len()
                ),
            ));
        }
        for ((l, diff), chain) in m.layers().iter().zip(&diff_ids).zip(chain_ids(&diff_ids)) {
            let blob: Digest = l.digest().to_string().parse()?;
            if !snapshots.is_committed(&chain) && !store.content().has(&blob) {
                return Err(missing(&blob, "a layer"));
            }
            work.push((blob, l.media_type().to_string(), diff.clone(), chain));
        }
    }
    let total = work.len();
    for (i, (blob, media, diff, chain)) in work.iter().enumerate() {
        if !snapshots.is_committed(chain) {
            unpack_stored_layer(store.content(), snapshots, blob, media, diff, chain).map_err(
                |e| match e {
                    Error::LayerEntry { .. } | Error::Layer(_) | Error::DiffIdMismatch { .. } => {
                        Error::archive(format!("blobs/sha256/{}", blob.hex()), e.to_string())
                    }
                    e => e,
                },
            )?;
            unpacked.push(chain.clone());
        }
        progress(i + 1, total);
    }
    Ok(())
}

fn tag_all(store: &ImageStore, found: Vec<Found>) -> Result<Vec<Loaded>> {
    let mut out = Vec::new();
    for f in found {
        if f.names.is_empty() {
            store.add_untagged(&f.manifest)?;
        }
        for n in &f.names {
            store.tag(n, &f.manifest)?;
        }
        out.push(Loaded {
            id: f.id,
            manifest: f.manifest,
            names: f.names,
        });
    }
    Ok(out)
}

/// What the recorded images use.
#[derive(Default)]
struct Used {
    blobs: HashSet<Digest>,
    chains: HashSet<Digest>,
}

/// Everything the recorded images use (`None` if the store cannot be listed: then nothing is
/// known to be unused).
fn used_by_images(store: &ImageStore) -> Option<Used> {
    let mut used = Used::default();
    let images = store.list().ok()?;
    for img in images {
        used.chains.extend(img.chain_ids().unwrap_or_default());
        used.blobs.insert(img.manifest);
        used.blobs.insert(img.id);
        for l in img.layers {
            if let Ok(d) = l.digest().to_string().parse::<Digest>() {
                used.blobs.insert(d);
            }
        }
    }
    Some(used)
}
