//! Writes an OCI image layout (the form skopeo pushes from): gzip'ed tar layers streamed to
//! disk with their two digests (blob and diff_id) computed in the same pass, then the config,
//! the manifest and `index.json`, which is written last (its presence marks a complete layout).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use berth_image::{Digest, DigestWriter};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Layer annotation with the tar stream's length, so a cached image can report it.
pub const UNPACKED_SIZE: &str = "org.berth.bench.unpacked-size";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// The tar stream of one layer: hashed (diff_id), gzip'ed, hashed again (blob digest), on disk.
pub type LayerTar = tar::Builder<DigestWriter<GzEncoder<DigestWriter<BufWriter<File>>>>>;

/// A layer as the manifest and config name it.
pub struct Layer {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub unpacked: u64,
}

/// An OCI layout being written in `dir`.
pub struct Layout {
    dir: PathBuf,
    layers: Vec<Layer>,
}

impl Layout {
    pub fn create(dir: &Path) -> Result<Layout> {
        std::fs::create_dir_all(dir.join("blobs/sha256"))
            .with_context(|| format!("create {}", dir.display()))?;
        Ok(Layout {
            dir: dir.to_path_buf(),
            layers: Vec::new(),
        })
    }

    /// Adds a layer whose entries `fill` appends to the tar stream.
    pub fn add_layer(&mut self, fill: impl FnOnce(&mut LayerTar) -> Result<()>) -> Result<&Layer> {
        let partial = self.dir.join("layer.partial");
        let file = BufWriter::new(File::create(&partial)?);
        let mut tar = tar::Builder::new(DigestWriter::new(GzEncoder::new(
            DigestWriter::new(file),
            Compression::default(),
        )));
        tar.mode(tar::HeaderMode::Complete);
        tar.follow_symlinks(false);
        fill(&mut tar)?;
        let (diff_id, unpacked, gz) = tar.into_inner()?.finish();
        let (digest, size, file) = gz.finish()?.finish();
        file.into_inner()?.sync_all()?;
        std::fs::rename(&partial, self.blob_path(&digest))?;
        self.layers.push(Layer {
            digest,
            diff_id,
            size,
            unpacked,
        });
        Ok(self.layers.last().expect("just pushed"))
    }

    /// Writes the config, the manifest and, last, `index.json` naming the manifest `tag`.
    pub fn finish(self, tag: &str, cmd: &[&str]) -> Result<()> {
        let diff_ids: Vec<String> = self.layers.iter().map(|l| l.diff_id.to_string()).collect();
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = self.write_blob(CONFIG_TYPE, &config)?;
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| {
                json!({
                    "mediaType": LAYER_TYPE,
                    "digest": l.digest.to_string(),
                    "size": l.size,
                    "annotations": {UNPACKED_SIZE: l.unpacked.to_string()},
                })
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": config,
            "layers": layers,
        });
        let mut manifest = self.write_blob(MANIFEST_TYPE, &manifest)?;
        manifest["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        std::fs::write(
            self.dir.join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        let index = json!({"schemaVersion": 2, "manifests": [manifest]});
        let partial = self.dir.join("index.json.partial");
        std::fs::write(&partial, serde_json::to_vec(&index)?)?;
        File::open(&partial)?.sync_all()?;
        std::fs::rename(partial, self.dir.join("index.json"))?;
        Ok(())
    }

    fn write_blob(&self, media_type: &str, value: &Value) -> Result<Value> {
        let bytes = serde_json::to_vec(value)?;
        let digest = Digest::of(&bytes);
        std::fs::write(self.blob_path(&digest), &bytes)?;
        Ok(json!({"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len()}))
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }
}
