//! `docker commit` (and each step of a build): a layer tar on top of an image becomes a new
//! image. The layer is stored as an import's is (one pass: DiffID, gzip blob, snapshot); the
//! config is the parent's with the given runtime config, one more diff id and one more
//! history entry.

use std::io::Read;

use oci_spec::image::{
    Arch, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os, RootFsBuilder,
};

use crate::error::{Error, Result};
use crate::fsutil::now_rfc3339;
use crate::import::{
    ConfigChanges, Platform, StoredLayer, oci_err, runtime_config, store_layer, write_image,
};
use crate::reference::Reference;
use crate::snapshot::Snapshots;
use crate::store::{Image, ImageStore};

/// What the committed image records besides its layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Name for the image; without one it is dangling (addressable by id).
    pub reference: Option<Reference>,
    /// The image's runtime config (cmd, env, ...), in full: it replaces the parent's.
    pub config: ConfigChanges,
    /// The history entry's `created_by` (Docker: the container's command).
    pub created_by: String,
    /// The history entry's comment (`docker commit -m`).
    pub comment: Option<String>,
    /// The image's and the history entry's author (`docker commit -a`).
    pub author: Option<String>,
    /// The platform of an image without a parent (a build's `FROM --platform=... scratch`);
    /// the host's by default. An image with a parent keeps the parent's.
    pub platform: Option<Platform>,
}

/// Stores the uncompressed layer tar `layer` on top of `parent` (`None`: `FROM scratch`) and
/// records the new image. On failure nothing is recorded: the blob is left for garbage
/// collection and a snapshot made for it is removed.
pub fn commit_layer(
    store: &ImageStore,
    snapshots: &Snapshots,
    parent: Option<&Image>,
    layer: impl Read,
    options: &CommitOptions,
) -> Result<Image> {
    let parent_chain = match parent {
        Some(p) => p.chain_ids()?.last().cloned(),
        None => None,
    };
    if let Some(c) = &parent_chain
        && !snapshots.is_committed(c)
    {
        return Err(Error::Oci {
            what: "parent image",
            reason: format!("the snapshot of layer chain {c} is missing"),
        });
    }
    let stored = store_layer(store, snapshots, layer, parent_chain.as_ref())?;
    let res = record(store, parent, Some(&stored), options);
    stored.forget_on_error(snapshots, &res);
    res
}

/// Records an image that differs from `parent` only in its config (Docker's `#(nop)` steps:
/// `ENV`, `CMD`, ...): no new layer, a history entry marked `empty_layer`.
pub fn amend_config(
    store: &ImageStore,
    parent: Option<&Image>,
    options: &CommitOptions,
) -> Result<Image> {
    record(store, parent, None, options)
}

/// The parent's config (or a new one for the host's platform) with `options` and `layer`.
fn record(
    store: &ImageStore,
    parent: Option<&Image>,
    layer: Option<&StoredLayer>,
    options: &CommitOptions,
) -> Result<Image> {
    let created = now_rfc3339();
    let mut config = match parent {
        Some(p) => p.config.clone(),
        None => empty_config(options.platform.clone().unwrap_or_else(Platform::host))?,
    };
    config.set_created(Some(created.clone()));
    config.set_author(options.author.clone());
    config.set_config(Some(runtime_config(&options.config)?));
    let mut entry = HistoryBuilder::default()
        .created(created)
        .created_by(options.created_by.clone());
    if let Some(c) = &options.comment {
        entry = entry.comment(c.clone());
    }
    if let Some(a) = &options.author {
        entry = entry.author(a.clone());
    }
    let mut layers = parent.map(|p| p.layers.clone()).unwrap_or_default();
    match layer {
        Some(l) => {
            let mut diff_ids = config.rootfs().diff_ids().clone();
            diff_ids.push(l.diff_id.to_string());
            config.rootfs_mut().set_diff_ids(diff_ids);
            layers.push(l.descriptor());
        }
        None => entry = entry.empty_layer(true),
    }
    let mut history = config.history().clone().unwrap_or_default();
    history.push(entry.build().map_err(oci_err("history"))?);
    config.set_history(Some(history));
    write_image(
        store,
        &config,
        &options.config,
        layers,
        options.reference.as_ref(),
    )
}

/// The config of an image with no layers yet, for `platform`.
fn empty_config(platform: Platform) -> Result<ImageConfiguration> {
    let mut config = ImageConfigurationBuilder::default();
    if let Some(v) = platform.variant {
        config = config.variant(v);
    }
    config
        .architecture(Arch::from(platform.architecture.as_str()))
        .os(Os::from(platform.os.as_str()))
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(Vec::<String>::new())
                .build()
                .map_err(oci_err("rootfs"))?,
        )
        .build()
        .map_err(oci_err("image config"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{ImportOptions, import_rootfs};
    use crate::testutil::{E, TarBuf};
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn layers_and_config_steps_stack_on_the_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let snaps = Snapshots::open(tmp.path()).unwrap();
        let mut base = TarBuf::new();
        base.dir("etc/", 0o755).add(E {
            path: "etc/old",
            data: b"old",
            mode: 0o644,
            ..E::default()
        });
        let parent =
            import_rootfs(&store, &snaps, &base.finish()[..], ImportOptions::default()).unwrap();

        // A layer deleting etc/old and adding etc/new.
        let mut layer = TarBuf::new();
        layer
            .add(E {
                path: "etc/.wh.old",
                mode: 0o644,
                ..E::default()
            })
            .add(E {
                path: "etc/new",
                data: b"new",
                mode: 0o600,
                ..E::default()
            });
        let options = CommitOptions {
            reference: Some(Reference::parse("committed:1").unwrap()),
            config: ConfigChanges {
                cmd: Some(vec!["sh".into()]),
                ..Default::default()
            },
            created_by: "sh -c change".into(),
            comment: Some("why".into()),
            author: Some("me".into()),
            platform: None,
        };
        let img =
            commit_layer(&store, &snaps, Some(&parent), &layer.finish()[..], &options).unwrap();
        assert_eq!(img.layers.len(), 2);
        assert_eq!(img.diff_ids().unwrap()[0], parent.diff_ids().unwrap()[0]);
        let chain = img.chain_ids().unwrap();
        let top = snaps.fs_path(&chain[1]);
        assert!(
            std::fs::symlink_metadata(top.join("etc/old"))
                .unwrap()
                .file_type()
                .is_char_device()
        );
        assert_eq!(std::fs::read(top.join("etc/new")).unwrap(), b"new");
        let history = img.config.history().clone().unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].created_by().as_deref(), Some("sh -c change"));
        assert_eq!(history[1].comment().as_deref(), Some("why"));
        assert_eq!(img.config.author().as_deref(), Some("me"));
        assert_eq!(store.resolve("committed:1").unwrap().manifest, img.manifest);

        // A config-only step: same layers, one more history entry without a layer.
        let amended = amend_config(
            &store,
            Some(&img),
            &CommitOptions {
                created_by: "/bin/sh -c #(nop)  ENV A=1".into(),
                config: ConfigChanges {
                    env: vec!["A=1".into()],
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(amended.layers, img.layers);
        let h = amended.config.history().clone().unwrap();
        assert_eq!((h.len(), h[2].empty_layer()), (3, Some(true)));
        // With no parent (FROM scratch) the layer is the first.
        let scratch =
            commit_layer(&store, &snaps, None, &TarBuf::new().finish()[..], &options).unwrap();
        assert_eq!(scratch.layers.len(), 1);
    }
}
