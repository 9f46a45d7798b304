//! `docker import`: a root filesystem tarball (plain, gzip or zstd, told apart by magic bytes)
//! becomes a one-layer image. The input is read exactly once: the uncompressed tar bytes are
//! hashed for the DiffID, gzip-compressed into the content store (registries expect compressed
//! layers) and unpacked into the layer's snapshot, all in the same pass.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};

use oci_spec::image::{
    Arch, Config, ConfigBuilder, Descriptor, HistoryBuilder, ImageConfiguration,
    ImageConfigurationBuilder, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::fsutil::now_rfc3339;
use crate::layer::decompressed;
use crate::reference::Reference;
use crate::snapshot::Snapshots;
use crate::store::{Image, ImageStore};
use crate::unpack::unpack_layer;

/// Media type of the layers made here (imports, commits, build steps): kept uncompressed, as
/// Docker keeps them, and compressed when pushed. gzip on every commit was a third of a
/// build's time (1 s of the build bench's 2.6 s cold build).
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// Config overrides, as `docker import --change` gives them.
#[derive(Debug, Clone, Default)]
pub struct ConfigChanges {
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: HashMap<String, String>,
    /// `80`, `80/tcp`, `53/udp`; a bare port means tcp.
    pub exposed_ports: Vec<String>,
    /// `VOLUME` paths: anonymous volumes for every container of the image.
    pub volumes: Vec<String>,
    /// `HEALTHCHECK`: Docker's `Healthcheck` object, written into the config as is (the OCI
    /// config has no such field; Docker's images carry it).
    pub healthcheck: Option<serde_json::Value>,
    /// `STOPSIGNAL`.
    pub stop_signal: Option<String>,
    /// `ONBUILD` triggers, the instruction text after the keyword (Docker's `OnBuild`, which
    /// the OCI config has no field for either): run by a build whose `FROM` names the image.
    pub on_build: Vec<String>,
}

/// The image's platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// e.g. `linux`.
    pub os: String,
    /// OCI architecture name, e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// e.g. `v7` for `arm`.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on, in OCI names.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: None,
        }
    }
}

/// What `import_rootfs` should produce.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Name for the image; without one it is dangling (addressable by id).
    pub reference: Option<Reference>,
    /// Config overrides.
    pub changes: ConfigChanges,
    /// Defaults to the host's.
    pub platform: Option<Platform>,
    /// History comment (`docker import -m`).
    pub message: Option<String>,
}

fn refuse_unsupported(head: &[u8]) -> Result<()> {
    match head {
        [b'B', b'Z', b'h', ..] => Err(unsupported("bzip2")),
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Err(unsupported("xz")),
        _ => Ok(()),
    }
}

fn unsupported(what: &str) -> Error {
    Error::Layer(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} compression is not supported"),
    ))
}

/// A reader that copies everything it reads into a writer.
struct Tee<R, W> {
    inner: R,
    out: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

pub(crate) fn oci_err(what: &'static str) -> impl FnOnce(oci_spec::OciSpecError) -> Error {
    move |e| Error::Oci {
        what,
        reason: e.to_string(),
    }
}

/// Imports a root filesystem tarball as a one-layer image, tagging it with
/// `options.reference` if given. On failure nothing is recorded: the half-written blob and
/// the half-unpacked snapshot are removed.
pub fn import_rootfs(
    store: &ImageStore,
    snapshots: &Snapshots,
    reader: impl Read,
    options: ImportOptions,
) -> Result<Image> {
    let mut input = BufReader::with_capacity(256 * 1024, reader);
    refuse_unsupported(input.fill_buf().map_err(Error::Layer)?)?;
    let decoded = decompressed(input, "")?;
    let layer = store_layer(store, snapshots, decoded, None)?;
    let config = image_config(&options, &layer.diff_id)?;
    let res = write_image(
        store,
        &config,
        &options.changes,
        vec![layer.descriptor()],
        options.reference.as_ref(),
    );
    layer.forget_on_error(snapshots, &res);
    res
}

/// A layer just stored: its blob in the content store, its snapshot committed.
pub(crate) struct StoredLayer {
    pub diff_id: Digest,
    pub chain_id: Digest,
    blob: Digest,
    blob_size: u64,
    /// Whether the snapshot was made now (not already there from another image).
    fresh: bool,
}

impl StoredLayer {
    /// The manifest's descriptor of the layer blob.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            MediaType::from(LAYER_MEDIA_TYPE),
            self.blob_size,
            self.blob.to_oci(),
        )
    }

    /// Removes the snapshot made for an image that then failed to be recorded.
    pub fn forget_on_error<T>(&self, snapshots: &Snapshots, res: &Result<T>) {
        if res.is_err() && self.fresh {
            let _ = snapshots.remove(&self.chain_id);
        }
    }
}

/// Stores the uncompressed layer tar read from `tar` in one pass: hashed for its DiffID,
/// gzip-compressed into the content store and unpacked into its snapshot (named by its chain
/// id on top of `parent_chain`). On failure the half-written blob and snapshot are removed.
pub(crate) fn store_layer(
    store: &ImageStore,
    snapshots: &Snapshots,
    tar: impl Read,
    parent_chain: Option<&Digest>,
) -> Result<StoredLayer> {
    // Both are removed on drop unless committed.
    let ingest = store.content().ingest()?;
    let pending = snapshots.begin()?;
    let mut tee = Tee {
        inner: tar,
        out: ingest,
    };
    unpack_layer(&mut tee, &pending.fs_dir())?;
    // The tar's end-of-archive blocks (and any padding) are part of the layer's DiffID.
    io::copy(&mut tee, &mut io::sink()).map_err(Error::Layer)?;
    // The blob is the tar itself: its digest is the DiffID.
    let (blob, blob_size) = tee.out.commit(None)?;
    let diff_id = blob.clone();
    let chain_id = match parent_chain {
        Some(parent) => Digest::of(format!("{parent} {diff_id}").as_bytes()),
        None => diff_id.clone(),
    };
    tracing::debug!(%diff_id, %blob, blob_size, "stored layer");
    let fresh = !snapshots.is_committed(&chain_id);
    pending.commit(&chain_id)?;
    Ok(StoredLayer {
        diff_id,
        chain_id,
        blob,
        blob_size,
        fresh,
    })
}

/// The runtime config (`Config` of the image config) that `changes` describe.
pub(crate) fn runtime_config(ch: &ConfigChanges) -> Result<Config> {
    let mut cfg = ConfigBuilder::default();
    if let Some(c) = &ch.cmd {
        cfg = cfg.cmd(c.clone());
    }
    if let Some(e) = &ch.entrypoint {
        cfg = cfg.entrypoint(e.clone());
    }
    if !ch.env.is_empty() {
        cfg = cfg.env(ch.env.clone());
    }
    if let Some(w) = &ch.workdir {
        cfg = cfg.working_dir(w.clone());
    }
    if let Some(u) = &ch.user {
        cfg = cfg.user(u.clone());
    }
    if !ch.labels.is_empty() {
        cfg = cfg.labels(ch.labels.clone());
    }
    if !ch.exposed_ports.is_empty() {
        let ports: Vec<String> = ch
            .exposed_ports
            .iter()
            .map(|p| {
                if p.contains('/') {
                    p.clone()
                } else {
                    format!("{p}/tcp")
                }
            })
            .collect();
        cfg = cfg.exposed_ports(ports);
    }
    if !ch.volumes.is_empty() {
        cfg = cfg.volumes(ch.volumes.clone());
    }
    if let Some(s) = &ch.stop_signal {
        cfg = cfg.stop_signal(s.clone());
    }
    cfg.build().map_err(oci_err("config"))
}

fn image_config(options: &ImportOptions, diff_id: &Digest) -> Result<ImageConfiguration> {
    let created = now_rfc3339();
    let platform = options.platform.clone().unwrap_or_else(Platform::host);
    let mut history = HistoryBuilder::default()
        .created(created.clone())
        .created_by("berth import");
    if let Some(m) = &options.message {
        history = history.comment(m.clone());
    }
    let mut config = ImageConfigurationBuilder::default();
    if let Some(v) = &platform.variant {
        config = config.variant(v.clone());
    }
    config
        .created(created)
        .architecture(Arch::from(platform.architecture.as_str()))
        .os(Os::from(platform.os.as_str()))
        .config(runtime_config(&options.changes)?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id.to_string()])
                .build()
                .map_err(oci_err("rootfs"))?,
        )
        .history(vec![history.build().map_err(oci_err("history"))?])
        .build()
        .map_err(oci_err("image config"))
}

/// Writes `config` (with Docker's `Healthcheck` and `OnBuild` from `docker`, which the OCI
/// config type has no fields for) and a manifest of `layers` into the content store and
/// records the image under `reference` (dangling without one).
pub(crate) fn write_image(
    store: &ImageStore,
    config: &ImageConfiguration,
    docker: &ConfigChanges,
    layers: Vec<Descriptor>,
    reference: Option<&Reference>,
) -> Result<Image> {
    let json_err = |e: serde_json::Error| Error::Oci {
        what: "image config",
        reason: e.to_string(),
    };
    // Through a JSON value only when there is a Docker field to add: that sorts the keys, and
    // the plain form keeps the field order other tools write (so a config that goes through
    // skopeo keeps its digest).
    let cbytes = if docker.healthcheck.is_none() && docker.on_build.is_empty() {
        serde_json::to_vec(config).map_err(json_err)?
    } else {
        let mut value = serde_json::to_value(config).map_err(json_err)?;
        if let Some(hc) = &docker.healthcheck {
            value["config"]["Healthcheck"] = hc.clone();
        }
        if !docker.on_build.is_empty() {
            value["config"]["OnBuild"] = serde_json::json!(docker.on_build);
        }
        serde_json::to_vec(&value).map_err(json_err)?
    };
    let (config_digest, config_size) = store.content().write_blob(&cbytes[..], None)?;

    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_size,
            config_digest.to_oci(),
        ))
        .layers(layers)
        .build()
        .map_err(oci_err("manifest"))?;
    let mbytes = serde_json::to_vec(&manifest).map_err(|e| Error::Oci {
        what: "manifest",
        reason: e.to_string(),
    })?;
    let (manifest_digest, _) = store.content().write_blob(&mbytes[..], None)?;

    match reference {
        Some(r) => store.tag(r, &manifest_digest)?,
        None => store.add_untagged(&manifest_digest)?,
    }
    store.get(&manifest_digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{E, TarBuf, mount_overlay};
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::path::Path;
    use tar::EntryType;

    fn rootfs_tar() -> Vec<u8> {
        let mut t = TarBuf::new();
        t.dir("./", 0o755)
            .dir("bin/", 0o755)
            .add(E {
                path: "bin/app",
                mode: 0o4755,
                uid: 0,
                gid: 0,
                data: b"\x7fELF fake",
                mtime: 1_111_111,
                ..E::default()
            })
            .symlink("bin/sh", "app")
            .hardlink("bin/app2", "bin/app")
            .add(E {
                path: "tmp/",
                kind: EntryType::Directory,
                mode: 0o1777,
                mtime: 1_222_222,
                ..E::default()
            })
            .add(E {
                path: "run/ctl",
                kind: EntryType::Fifo,
                mode: 0o600,
                uid: 33,
                gid: 33,
                ..E::default()
            })
            .add(E {
                path: "etc/conf",
                mode: 0o640,
                uid: 1000,
                gid: 100,
                data: b"k=v\n",
                xattrs: &[("user.origin", &b"test"[..])],
                ..E::default()
            });
        t.finish()
    }

    fn count(p: &Path) -> usize {
        std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0)
    }

    fn check_import(tar: &[u8], input: Vec<u8>) {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let snaps = Snapshots::open(tmp.path()).unwrap();
        let reference = Reference::parse("test/rootfs:v1").unwrap();
        let opts = ImportOptions {
            reference: Some(reference.clone()),
            changes: ConfigChanges {
                cmd: Some(vec!["/bin/sh".into()]),
                env: vec!["A=b".into()],
                exposed_ports: vec!["80".into(), "53/udp".into()],
                labels: [("l".to_string(), "v".to_string())].into(),
                workdir: Some("/tmp".into()),
                ..Default::default()
            },
            platform: Some(Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: None,
            }),
            message: Some("hello".into()),
        };
        let img = import_rootfs(&store, &snaps, &input[..], opts).unwrap();
        assert_eq!(img.references, vec![reference]);
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, img.id);
        assert_eq!(
            store.resolve("test/rootfs:v1").unwrap().manifest,
            img.manifest
        );

        let diff = Digest::of(tar);
        assert_eq!(img.diff_ids().unwrap(), vec![diff.clone()]);
        assert_eq!(img.layers.len(), 1);
        let layer: Digest = img.layers[0].digest().to_string().parse().unwrap();
        let blob = std::fs::read(store.content().blob_path(&layer)).unwrap();
        assert_eq!(Digest::of(&blob), layer);
        assert_eq!(img.layers[0].size(), blob.len() as u64);
        assert_eq!(img.layers[0].media_type().to_string(), LAYER_MEDIA_TYPE);
        // The stored blob is exactly the layer tar.
        assert_eq!(blob, tar);
        let c = &img.config;
        assert_eq!(c.architecture().to_string(), "arm64");
        let cc = c.config().as_ref().unwrap();
        assert_eq!(cc.cmd().as_deref(), Some(&["/bin/sh".to_string()][..]));
        let mut ports = cc.exposed_ports().clone().unwrap();
        ports.sort();
        assert_eq!(ports, vec!["53/udp", "80/tcp"]);
        assert_eq!(cc.working_dir().as_deref(), Some("/tmp"));
        let h = &c.history().as_ref().unwrap()[0];
        assert_eq!(h.created_by().as_deref(), Some("berth import"));
        assert!(img.created.as_deref().unwrap().ends_with('Z'));

        assert_eq!(img.chain_ids().unwrap(), vec![diff.clone()]);
        assert!(snaps.is_committed(&diff));
        let fs = snaps.fs_path(&diff);
        let md = |p: &str| std::fs::symlink_metadata(fs.join(p)).unwrap();
        assert_eq!(md("bin/app").mode() & 0o7777, 0o4755);
        assert_eq!(md("bin/app").mtime(), 1_111_111);
        assert_eq!(md("bin/app2").ino(), md("bin/app").ino());
        assert_eq!(
            std::fs::read_link(fs.join("bin/sh")).unwrap(),
            Path::new("app")
        );
        assert_eq!(
            (md("tmp").mode() & 0o7777, md("tmp").mtime()),
            (0o1777, 1_222_222)
        );
        assert!(md("run/ctl").file_type().is_fifo());
        assert_eq!(
            (
                md("run/ctl").uid(),
                md("etc/conf").uid(),
                md("etc/conf").gid()
            ),
            (33, 1000, 100)
        );
        assert_eq!(md("etc/conf").mode() & 0o7777, 0o640);
        assert_eq!(count(&store.content().dir().join("ingest")), 0);
        // Manifest + config + layer.
        assert_eq!(count(&store.content().dir().join("blobs/sha256")), 3);
    }

    #[test]
    fn import_plain_gzip_zstd() {
        let tar = rootfs_tar();
        check_import(&tar, tar.clone());
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&tar).unwrap();
        check_import(&tar, gz.finish().unwrap());
        check_import(&tar, zstd::encode_all(&tar[..], 3).unwrap());
    }

    #[test]
    fn import_busybox() {
        let bb = std::fs::read("/bin/busybox").expect("busybox-static installed");
        let mut t = TarBuf::new();
        t.dir("bin/", 0o755)
            .add(E {
                path: "bin/busybox",
                mode: 0o755,
                data: &bb,
                ..E::default()
            })
            .symlink("bin/sh", "busybox");
        let tar = t.finish();
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let snaps = Snapshots::open(tmp.path()).unwrap();
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&tar).unwrap();
        let opts = ImportOptions {
            reference: Some(Reference::parse("busybox").unwrap()),
            ..Default::default()
        };
        let img = import_rootfs(&store, &snaps, &gz.finish().unwrap()[..], opts).unwrap();
        assert_eq!(img.references[0].familiar(), "busybox:latest");
        assert_eq!(
            img.config.architecture().to_string(),
            Platform::host().architecture
        );
        let fs = snaps.fs_path(&img.chain_ids().unwrap()[0]);
        assert_eq!(std::fs::read(fs.join("bin/busybox")).unwrap(), bb);
        assert_eq!(
            std::fs::metadata(fs.join("bin/sh")).unwrap().len(),
            bb.len() as u64
        );

        // The image is a usable root: run busybox chrooted into its overlay.
        let spec = snaps
            .prepare_container("bb-test", &img.chain_ids().unwrap())
            .unwrap();
        let merged = tmp.path().join("merged");
        std::fs::create_dir(&merged).unwrap();
        let guard = mount_overlay(&spec, &merged);
        let root = std::ffi::CString::new(merged.to_str().unwrap()).unwrap();
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", "echo hi > /out; /bin/busybox cat /out"]);
        // SAFETY: only async-signal-safe syscalls between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                if libc::chroot(root.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n", "{out:?}");
        drop(guard);
        assert_eq!(std::fs::read(spec.upperdir.join("out")).unwrap(), b"hi\n");
        snaps.remove_container("bb-test").unwrap();
    }

    fn assert_nothing_left(root: &Path, store: &ImageStore) {
        assert!(store.list().unwrap().is_empty());
        assert_eq!(count(&store.content().dir().join("ingest")), 0);
        assert_eq!(count(&store.content().dir().join("blobs/sha256")), 0);
        assert_eq!(count(&root.join("snapshots")), 0);
    }

    #[test]
    fn failed_imports_leave_nothing() {
        let tar = rootfs_tar();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let mut hostile = TarBuf::new();
        hostile
            .file("ok", b"fine")
            .symlink("lnk", "/etc")
            .file("lnk/passwd", b"x");
        let mut corrupt = tar.clone();
        corrupt[512 * 4 + 10] ^= 0x55; // the header of bin/sh
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "truncated gzip",
                gz[..gz.len() / 2].to_vec(),
                "reading layer",
            ),
            (
                "truncated zstd",
                zstd::encode_all(&tar[..], 3).unwrap()[..200].to_vec(),
                "",
            ),
            ("hostile", hostile.finish(), "layer entry \"lnk/passwd\""),
            ("corrupt header", corrupt, ""),
            (
                "xz",
                vec![0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2],
                "xz compression",
            ),
        ];
        for (what, input, want) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let store = ImageStore::open(tmp.path()).unwrap();
            let snaps = Snapshots::open(tmp.path()).unwrap();
            let opts = ImportOptions {
                reference: Some(Reference::parse("x").unwrap()),
                ..Default::default()
            };
            let err = import_rootfs(&store, &snaps, &input[..], opts)
                .expect_err(what)
                .to_string();
            assert!(err.contains(want), "{what}: {err}");
            assert_nothing_left(tmp.path(), &store);
        }
    }
}
