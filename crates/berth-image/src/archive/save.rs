//! `docker save`: images to one tar that is both Docker's archive and an OCI image layout.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use oci_spec::image::{ImageManifest, MediaType};
use serde_json::json;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::store::images::ANNOTATION_REF_NAME;
use crate::store::{Image, ImageStore};

use super::ANNOTATION_CONTAINERD_NAME;

/// One image to save and the names to record for it (empty: saved by id, loaded unnamed).
#[derive(Debug, Clone)]
pub struct SaveItem {
    pub image: Image,
    pub tags: Vec<Reference>,
}

/// Resolves the names `docker save` was given, merging several names of one image into one
/// item: a name that is one of the image's references records that name, an id none.
pub fn plan_save(store: &ImageStore, names: &[String]) -> Result<Vec<SaveItem>> {
    let mut items: Vec<SaveItem> = Vec::new();
    for name in names {
        let image = store.resolve(name)?;
        let tag = Reference::parse(name)
            .ok()
            .filter(|r| r.tag.is_some() && image.references.contains(r));
        let item = match items.iter_mut().position(|i| i.image.id == image.id) {
            Some(i) => &mut items[i],
            None => {
                items.push(SaveItem {
                    image,
                    tags: Vec::new(),
                });
                items.last_mut().expect("just pushed")
            }
        };
        if let Some(t) = tag
            && !item.tags.contains(&t)
        {
            item.tags.push(t);
        }
    }
    Ok(items)
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn json_err(what: &'static str) -> impl FnOnce(serde_json::Error) -> Error {
    move |e| Error::Oci {
        what,
        reason: e.to_string(),
    }
}

fn write_err(path: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        op: "write archive entry",
        path: path.into(),
        source: e,
    }
}

/// Streams `items` as one archive to `out`: blobs first (each once), then `index.json`,
/// `manifest.json`, `repositories` and `oci-layout`.
pub fn save(store: &ImageStore, items: &[SaveItem], out: impl Write) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut written: HashSet<Digest> = HashSet::new();
    let mut index = Vec::new();
    let mut manifests = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for dir in ["blobs/", "blobs/sha256/"] {
        append_dir(&mut tar, dir)?;
    }
    for item in items {
        let img = &item.image;
        let mbytes = store.content().read_blob(&img.manifest)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&mbytes).map_err(|e| Error::CorruptMetadata {
                path: store.content().blob_path(&img.manifest),
                reason: e.to_string(),
            })?;
        let mut layer_paths = Vec::new();
        let mut blobs = vec![img.manifest.clone(), img.id.clone()];
        for l in manifest.layers() {
            let d: Digest = l.digest().to_string().parse()?;
            layer_paths.push(blob_path(&d));
            blobs.push(d);
        }
        for d in blobs {
            if written.insert(d.clone()) {
                append_blob(&mut tar, store, &d)?;
            }
        }
        let media_type = manifest
            .media_type()
            .clone()
            .unwrap_or(MediaType::ImageManifest);
        // Built as JSON with sorted keys, so the same images always save to the same bytes.
        let descriptor = |annotations: Option<BTreeMap<&str, String>>| {
            let mut d = json!({
                "mediaType": media_type.to_string(),
                "digest": img.manifest.to_string(),
                "size": mbytes.len(),
            });
            if let Some(a) = annotations {
                d["annotations"] = json!(a);
            }
            d
        };
        if item.tags.is_empty() {
            index.push(descriptor(None));
        }
        let top = img.diff_ids()?.last().map(|d| d.hex().to_string());
        for t in &item.tags {
            index.push(descriptor(Some(BTreeMap::from([
                (ANNOTATION_CONTAINERD_NAME, t.to_string()),
                (ANNOTATION_REF_NAME, t.tag.clone().unwrap_or_default()),
            ]))));
            if let (Some(tag), Some(top)) = (&t.tag, &top) {
                repositories
                    .entry(t.familiar_name())
                    .or_default()
                    .insert(tag.clone(), top.clone());
            }
        }
        manifests.push(json!({
            "Config": blob_path(&img.id),
            "RepoTags": item.tags.iter().map(Reference::familiar).collect::<Vec<_>>(),
            "Layers": layer_paths,
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MediaType::ImageIndex.to_string(),
        "manifests": index,
    });
    let docs: [(&str, Vec<u8>); 4] = [
        (
            "index.json",
            serde_json::to_vec(&index).map_err(json_err("index"))?,
        ),
        (
            "manifest.json",
            serde_json::to_vec(&manifests).map_err(json_err("manifest.json"))?,
        ),
        (
            "repositories",
            serde_json::to_vec(&repositories).map_err(json_err("repositories"))?,
        ),
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
    ];
    for (path, data) in docs {
        let mut h = header(data.len() as u64, tar::EntryType::Regular);
        tar.append_data(&mut h, path, &data[..])
            .map_err(write_err(path))?;
    }
    tar.into_inner()
        .map_err(write_err("end of archive"))?
        .flush()
        .map_err(write_err("archive"))
}

/// GNU headers: sizes past ustar's 8 GiB are written in base-256, as Go's tar reads them.
fn header(size: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
    h.set_mtime(0);
    h
}

fn append_dir(tar: &mut tar::Builder<impl Write>, path: &str) -> Result<()> {
    let mut h = header(0, tar::EntryType::Directory);
    tar.append_data(&mut h, path, std::io::empty())
        .map_err(write_err(path))
}

fn append_blob(tar: &mut tar::Builder<impl Write>, store: &ImageStore, d: &Digest) -> Result<()> {
    let file = store.content().open_blob(d)?;
    let size = file
        .metadata()
        .map_err(Error::io("stat", store.content().blob_path(d)))?
        .len();
    let path = blob_path(d);
    let mut h = header(size, tar::EntryType::Regular);
    tar.append_data(&mut h, &path, file)
        .map_err(write_err(&path))
}
