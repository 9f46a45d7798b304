//! Image records: which names point at which manifest. Kept in the layout's `index.json` as
//! manifest descriptors annotated with `org.opencontainers.image.ref.name` (the full reference),
//! so the store stays a readable OCI layout. An image without names (e.g. an import without a
//! reference, or after its last tag is removed) keeps one descriptor with no name: Docker's
//! dangling `<none>:<none>` image, still addressable by id.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::path::PathBuf;

use nix::fcntl::{Flock, FlockArg};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::reference::Reference;
use crate::store::layout::ContentStore;

/// Annotation holding an image's full reference.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation holding when the record was created (RFC 3339).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// An image as the engine sees it.
#[derive(Debug, Clone)]
pub struct Image {
    /// The config digest: Docker's image id.
    pub id: Digest,
    /// The manifest digest.
    pub manifest: Digest,
    /// Every name pointing at this image (empty for a dangling image).
    pub references: Vec<Reference>,
    /// The image configuration.
    pub config: ImageConfiguration,
    /// Manifest, config and (compressed) layer blob sizes summed.
    pub size: u64,
    /// When the image was built, from its config (RFC 3339).
    pub created: Option<String>,
    /// The layer descriptors from the manifest, bottom first.
    pub layers: Vec<Descriptor>,
}

impl Image {
    /// The layers' diff ids (digests of the uncompressed tars), bottom first.
    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        self.config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|s| s.parse())
            .collect()
    }

    /// The layers' chain ids (snapshot names), bottom first.
    pub fn chain_ids(&self) -> Result<Vec<Digest>> {
        Ok(crate::snapshot::chain_ids(&self.diff_ids()?))
    }
}

/// Names → manifests, on top of a [`ContentStore`].
#[derive(Debug, Clone)]
pub struct ImageStore {
    content: ContentStore,
}

impl ImageStore {
    /// Opens (creating if needed) the store at `<root>/content`.
    pub fn open(root: impl Into<PathBuf>) -> Result<ImageStore> {
        Ok(ImageStore {
            content: ContentStore::open(root.into())?,
        })
    }

    /// The underlying blob store.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    fn index_path(&self) -> PathBuf {
        self.content.dir().join("index.json")
    }

    fn read_index(&self) -> Result<ImageIndex> {
        let p = self.index_path();
        ImageIndex::from_file(&p).map_err(|e| Error::CorruptMetadata {
            path: p,
            reason: e.to_string(),
        })
    }

    /// Runs `f` on index.json under an exclusive flock and writes the result atomically.
    fn update<T>(&self, f: impl FnOnce(&mut Vec<Descriptor>) -> Result<T>) -> Result<T> {
        let lock_path = self.content.dir().join("index.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(Error::io("open", &lock_path))?;
        let _lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| Error::Io {
            op: "flock",
            path: lock_path.clone(),
            source: e.into(),
        })?;
        let mut index = self.read_index()?;
        let mut manifests = index.manifests().clone();
        let out = f(&mut manifests)?;
        index.set_manifests(manifests);
        let data = serde_json::to_vec_pretty(&index).map_err(|e| Error::Oci {
            what: "index",
            reason: e.to_string(),
        })?;
        write_atomic(&self.index_path(), &data)?;
        Ok(out)
    }

    fn descriptor(&self, manifest: &Digest, reference: Option<&Reference>) -> Result<Descriptor> {
        let size = std::fs::metadata(self.content.blob_path(manifest))
            .map_err(|_| Error::BlobNotFound(manifest.clone()))?
            .len();
        let mut ann = HashMap::new();
        if let Some(r) = reference {
            ann.insert(ANNOTATION_REF_NAME.to_string(), r.to_string());
        }
        ann.insert(ANNOTATION_CREATED.to_string(), crate::fsutil::now_rfc3339());
        let mut d = Descriptor::new(MediaType::ImageManifest, size, manifest.to_oci());
        d.set_annotations(Some(ann));
        Ok(d)
    }

    /// Points `reference` at the manifest (moving it if it pointed elsewhere). The manifest
    /// blob must be in the store.
    pub fn tag(&self, reference: &Reference, manifest: &Digest) -> Result<()> {
        if let Some(d) = &reference.digest
            && d != manifest
        {
            return Err(Error::DigestMismatch {
                expected: d.clone(),
                actual: manifest.clone(),
            });
        }
        self.name(reference, manifest)
    }

    /// Records that the registry serves this image as `repository@digest` (Docker's
    /// `RepoDigests`): a name like a tag, kept with the image's other names and removed with
    /// them. `digest` may differ from the manifest's: the index a pull resolved through.
    pub fn record_repo_digest(
        &self,
        repository: &Reference,
        digest: &Digest,
        manifest: &Digest,
    ) -> Result<()> {
        let reference = Reference {
            tag: None,
            digest: Some(digest.clone()),
            ..repository.clone()
        };
        self.name(&reference, manifest)
    }

    /// Points the name `reference` at `manifest` in one atomic update of index.json.
    fn name(&self, reference: &Reference, manifest: &Digest) -> Result<()> {
        let desc = self.descriptor(manifest, Some(reference))?;
        let name = reference.to_string();
        self.update(|entries| {
            let old = entries
                .iter()
                .position(|d| ref_name(d) == Some(name.as_str()));
            let old_manifest = old
                .map(|i| entries.remove(i))
                .and_then(|d| digest_of(&d).ok());
            // The image gains a name: drop its unnamed record.
            entries.retain(|d| {
                !(ref_name(d).is_none() && digest_of(d).ok().as_ref() == Some(manifest))
            });
            entries.push(desc);
            if let Some(m) = old_manifest {
                keep_dangling(entries, &m, self)?;
            }
            Ok(())
        })
    }

    /// Records a manifest without a name (unless the image already has one).
    pub fn add_untagged(&self, manifest: &Digest) -> Result<()> {
        let desc = self.descriptor(manifest, None)?;
        self.update(|entries| {
            if !entries
                .iter()
                .any(|d| digest_of(d).ok().as_ref() == Some(manifest))
            {
                entries.push(desc);
            }
            Ok(())
        })
    }

    /// Removes a name. Returns whether it existed. The image itself stays, unnamed if this was
    /// its last name (delete it with [`ImageStore::remove`]).
    pub fn untag(&self, reference: &Reference) -> Result<bool> {
        let name = reference.to_string();
        self.update(|entries| {
            let Some(i) = entries
                .iter()
                .position(|d| ref_name(d) == Some(name.as_str()))
            else {
                return Ok(false);
            };
            let d = entries.remove(i);
            if let Ok(m) = digest_of(&d) {
                keep_dangling(entries, &m, self)?;
            }
            Ok(true)
        })
    }

    /// Removes every record of the image (all its names). Blobs stay until [`ImageStore::gc`].
    pub fn remove(&self, image: &Image) -> Result<()> {
        self.update(|entries| {
            entries.retain(|d| digest_of(d).ok().as_ref() != Some(&image.manifest));
            Ok(())
        })
    }

    /// Deletes blobs no recorded image uses, and partial downloads no pull holds. Returns the
    /// deleted digests and their sizes.
    pub fn gc(&self) -> Result<Vec<(Digest, u64)>> {
        self.content.remove_abandoned_downloads()?;
        let mut used = std::collections::HashSet::new();
        for img in self.list()? {
            used.insert(img.manifest.clone());
            used.insert(img.id.clone());
            for l in &img.layers {
                used.insert(l.digest().to_string().parse::<Digest>()?);
            }
        }
        let dir = self.content.dir().join("blobs/sha256");
        let mut deleted = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(Error::io("read dir", &dir))? {
            let e = e.map_err(Error::io("read dir", &dir))?;
            if let Ok(d) = Digest::from_hex(&e.file_name().to_string_lossy())
                && !used.contains(&d)
            {
                let size = e.metadata().map_or(0, |m| m.len());
                if self.content.delete_blob(&d)? {
                    deleted.push((d, size));
                }
            }
        }
        Ok(deleted)
    }

    /// All images, one per manifest, with all their names.
    pub fn list(&self) -> Result<Vec<Image>> {
        let index = self.read_index()?;
        let mut by_manifest: BTreeMap<Digest, Vec<Reference>> = BTreeMap::new();
        for d in index.manifests() {
            let m = digest_of(d)?;
            let refs = by_manifest.entry(m).or_default();
            if let Some(name) = ref_name(d) {
                refs.push(Reference::parse(name)?);
            }
        }
        by_manifest
            .into_iter()
            .map(|(m, refs)| self.load(m, refs))
            .collect()
    }

    /// The recorded image with this manifest digest.
    pub fn get(&self, manifest: &Digest) -> Result<Image> {
        self.list()?
            .into_iter()
            .find(|i| &i.manifest == manifest)
            .ok_or_else(|| Error::ImageNotFound(manifest.to_string()))
    }

    /// Finds an image by full or familiar reference, `sha256:<id>`, or a unique id prefix of at
    /// least 4 hex characters (with or without `sha256:`), as `docker` accepts them.
    pub fn resolve(&self, name: &str) -> Result<Image> {
        let images = self.list()?;
        if let Ok(r) = Reference::parse(name) {
            let hit = images.iter().find(|img| {
                img.references.iter().any(|x| {
                    x == &r
                        || (r.tag.is_none()
                            && r.digest.as_ref() == Some(&img.manifest)
                            && x.name() == r.name())
                })
            });
            if let Some(img) = hit {
                return Ok(img.clone());
            }
        }
        let prefix = name.strip_prefix("sha256:").unwrap_or(name);
        let is_hex = prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if prefix.len() >= 4 && prefix.len() <= 64 && is_hex {
            // One image may be recorded under several manifests (made here with uncompressed
            // layers, pulled back with compressed ones): the id is the config's, so they are
            // one image, and any of its manifests serves.
            let mut hits = images.iter().filter(|i| i.id.hex().starts_with(prefix));
            if let Some(first) = hits.next() {
                if hits.any(|other| other.id != first.id) {
                    return Err(Error::AmbiguousImage(name.to_string()));
                }
                return Ok(first.clone());
            }
        }
        Err(Error::ImageNotFound(name.to_string()))
    }

    fn load(&self, manifest: Digest, references: Vec<Reference>) -> Result<Image> {
        let mbytes = self.content.read_blob(&manifest)?;
        let corrupt = |what: &str, e: String| Error::CorruptMetadata {
            path: self.content.blob_path(&manifest),
            reason: format!("{what}: {e}"),
        };
        let m: ImageManifest =
            serde_json::from_slice(&mbytes).map_err(|e| corrupt("manifest", e.to_string()))?;
        let id: Digest = m.config().digest().to_string().parse()?;
        let cbytes = self.content.read_blob(&id)?;
        let config: ImageConfiguration =
            serde_json::from_slice(&cbytes).map_err(|e| corrupt("config", e.to_string()))?;
        let size = mbytes.len() as u64
            + cbytes.len() as u64
            + m.layers().iter().map(|l| l.size()).sum::<u64>();
        Ok(Image {
            id,
            manifest,
            references,
            created: config.created().clone(),
            config,
            size,
            layers: m.layers().clone(),
        })
    }
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()?
        .get(ANNOTATION_REF_NAME)
        .map(String::as_str)
}

fn digest_of(d: &Descriptor) -> Result<Digest> {
    d.digest().to_string().parse()
}

/// After a name is removed from `manifest`, keeps the image recorded (unnamed) if it has no
/// other name.
fn keep_dangling(
    entries: &mut Vec<Descriptor>,
    manifest: &Digest,
    store: &ImageStore,
) -> Result<()> {
    if !entries
        .iter()
        .any(|d| digest_of(d).ok().as_ref() == Some(manifest))
    {
        entries.push(store.descriptor(manifest, None)?);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use oci_spec::image::{ImageConfigurationBuilder, ImageManifestBuilder, RootFsBuilder};

    fn config_bytes(n: u32) -> Vec<u8> {
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(Vec::<String>::new())
            .build()
            .unwrap();
        let c = ImageConfigurationBuilder::default()
            .architecture("amd64")
            .os("linux")
            .author(format!("test {n}"))
            .rootfs(rootfs)
            .build()
            .unwrap();
        serde_json::to_vec(&c).unwrap()
    }

    /// Stores a layerless image whose config differs by `n`; returns (id, manifest digest).
    pub(crate) fn fake_image(store: &ImageStore, n: u32) -> (Digest, Digest) {
        let cbytes = config_bytes(n);
        let (id, csize) = store.content().write_blob(&cbytes[..], None).unwrap();
        let m = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(MediaType::ImageConfig, csize, id.to_oci()))
            .layers(Vec::<Descriptor>::new())
            .build()
            .unwrap();
        let (md, _) = store
            .content()
            .write_blob(&serde_json::to_vec(&m).unwrap()[..], None)
            .unwrap();
        (id, md)
    }

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn tag_untag_resolve_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let (id1, m1) = fake_image(&store, 1);
        let (id2, m2) = fake_image(&store, 2);
        store.tag(&r("app:1"), &m1).unwrap();
        store.tag(&r("docker.io/user/app:2"), &m1).unwrap();
        store.add_untagged(&m2).unwrap();
        assert_eq!(store.list().unwrap().len(), 2);

        let img = store.resolve("docker.io/library/app:1").unwrap();
        assert_eq!((&img.id, &img.manifest), (&id1, &m1));
        assert_eq!(img.references.len(), 2);
        assert_eq!(store.resolve("user/app:2").unwrap().id, id1);
        assert_eq!(store.resolve(&id2.to_string()).unwrap().id, id2);
        assert_eq!(store.resolve(&id2.hex()[..6]).unwrap().id, id2);
        assert_eq!(
            store
                .resolve(&format!("sha256:{}", &id1.hex()[..5]))
                .unwrap()
                .id,
            id1
        );
        assert_eq!(store.resolve(&format!("app@{m1}")).unwrap().id, id1);
        let pinned = r(&format!("app:1@{m2}"));
        assert!(matches!(
            store.tag(&pinned, &m1),
            Err(Error::DigestMismatch { .. })
        ));
        assert!(matches!(
            store.resolve(&id1.hex()[..3]),
            Err(Error::ImageNotFound(_))
        ));
        assert!(matches!(store.resolve("nope"), Err(Error::ImageNotFound(n)) if n == "nope"));

        // Moving a tag leaves the previous image dangling, not lost.
        store.tag(&r("app:1"), &m2).unwrap();
        assert_eq!(store.resolve("app:1").unwrap().id, id2);
        assert!(store.untag(&r("user/app:2")).unwrap());
        assert!(!store.untag(&r("user/app:2")).unwrap());
        let dangling = store.resolve(id1.hex()).unwrap();
        assert!(dangling.references.is_empty());

        // Survives a reopen.
        let store = ImageStore::open(tmp.path()).unwrap();
        let imgs = store.list().unwrap();
        assert_eq!(imgs.len(), 2);
        assert_eq!(store.resolve("app:1").unwrap().references, vec![r("app:1")]);

        store.remove(&dangling).unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
        let deleted: Vec<Digest> = store.gc().unwrap().into_iter().map(|(d, _)| d).collect();
        assert!(
            deleted.contains(&id1) && deleted.contains(&m1),
            "{deleted:?}"
        );
        assert!(store.content().has(&id2));
    }

    #[test]
    fn repo_digests_are_names() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let (id, m) = fake_image(&store, 7);
        store.tag(&r("reg.lan:5000/app:1"), &m).unwrap();
        let index = Digest::of(b"an index resolved through");
        store
            .record_repo_digest(&r("reg.lan:5000/app:1"), &index, &m)
            .unwrap();
        store
            .record_repo_digest(&r("reg.lan:5000/other"), &m, &m)
            .unwrap();
        // Recording again replaces rather than duplicates.
        store
            .record_repo_digest(&r("reg.lan:5000/other"), &m, &m)
            .unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let img = store.get(&m).unwrap();
        assert_eq!(img.references.len(), 3, "{:?}", img.references);
        assert!(
            img.references
                .contains(&r(&format!("reg.lan:5000/app@{index}")))
        );
        assert_eq!(
            store
                .resolve(&format!("reg.lan:5000/app@{index}"))
                .unwrap()
                .id,
            id
        );
        assert_eq!(
            store
                .resolve(&format!("reg.lan:5000/other@{m}"))
                .unwrap()
                .id,
            id
        );
        assert!(store.untag(&r(&format!("reg.lan:5000/other@{m}"))).unwrap());
        assert_eq!(store.get(&m).unwrap().references.len(), 2);
    }

    #[test]
    fn one_image_under_two_manifests_resolves_by_id() {
        // Made here with uncompressed layers, pulled back with compressed ones: one config, two
        // manifests. The id names one image, not an ambiguity.
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let (id, local) = fake_image(&store, 7);
        let pulled = {
            let mut m: serde_json::Value =
                serde_json::from_slice(&store.content().read_blob(&local).unwrap()).unwrap();
            m["annotations"] = serde_json::json!({"pulled": "yes"});
            let bytes = serde_json::to_vec(&m).unwrap();
            store.content().write_blob(&bytes[..], None).unwrap().0
        };
        assert_ne!(pulled, local);
        store.add_untagged(&local).unwrap();
        store.add_untagged(&pulled).unwrap();
        assert_eq!(store.resolve(&id.to_string()).unwrap().id, id);
        assert_eq!(store.resolve(&id.hex()[..12]).unwrap().id, id);
    }

    #[test]
    fn ambiguous_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let mut seen: HashMap<String, u32> = HashMap::new();
        let (a, b) = (0..)
            .find_map(|n| {
                let p = Digest::of(&config_bytes(n)).hex()[..4].to_string();
                seen.insert(p, n).map(|old| (old, n))
            })
            .unwrap();
        let (ida, ma) = fake_image(&store, a);
        let (idb, mb) = fake_image(&store, b);
        store.add_untagged(&ma).unwrap();
        store.add_untagged(&mb).unwrap();
        let prefix = &ida.hex()[..4];
        assert!(matches!(store.resolve(prefix), Err(Error::AmbiguousImage(p)) if p == prefix));
        // A longer prefix disambiguates (unless they share more; then use the full id).
        assert_eq!(store.resolve(ida.hex()).unwrap().id, ida);
        assert_eq!(store.resolve(&idb.to_string()).unwrap().id, idb);
    }
}
