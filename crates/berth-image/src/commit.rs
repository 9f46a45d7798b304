//! `docker commit` (and each step of a build): a layer tar on top of an image becomes a new
//! image. The layer is stored as an import's is (one pass: DiffID, gzip blob, snapshot); the
//! config is the parent's with the given runtime config, one more diff id and one more
//! history entry.

use std::io::Read;

use oci_spec::image::HistoryBuilder;

use crate::error::{Error, Result};
use crate::fsutil::now_rfc3339;
use crate::import::{ConfigChanges, oci_err, runtime_config, store_layer, write_image};
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
}

/// Stores the uncompressed layer tar `layer` on top of `parent` and records the new image.
/// On failure nothing is recorded: the blob is left for garbage collection and a snapshot
/// made for it is removed.
pub fn commit_layer(
    store: &ImageStore,
    snapshots: &Snapshots,
    parent: &Image,
    layer: impl Read,
    options: &CommitOptions,
) -> Result<Image> {
    let parent_chain = parent.chain_ids()?.last().cloned();
    if let Some(c) = &parent_chain
        && !snapshots.is_committed(c)
    {
        return Err(Error::Oci {
            what: "parent image",
            reason: format!("the snapshot of layer chain {c} is missing"),
        });
    }
    let stored = store_layer(store, snapshots, layer, parent_chain.as_ref())?;
    let res = (|| {
        let created = now_rfc3339();
        let mut config = parent.config.clone();
        config.set_created(Some(created.clone()));
        config.set_author(options.author.clone());
        config.set_config(Some(runtime_config(&options.config)?));
        let mut diff_ids = config.rootfs().diff_ids().clone();
        diff_ids.push(stored.diff_id.to_string());
        config.rootfs_mut().set_diff_ids(diff_ids);
        let mut entry = HistoryBuilder::default()
            .created(created)
            .created_by(options.created_by.clone());
        if let Some(c) = &options.comment {
            entry = entry.comment(c.clone());
        }
        if let Some(a) = &options.author {
            entry = entry.author(a.clone());
        }
        let mut history = config.history().clone().unwrap_or_default();
        history.push(entry.build().map_err(oci_err("history"))?);
        config.set_history(Some(history));
        let mut layers = parent.layers.clone();
        layers.push(stored.descriptor());
        write_image(store, &config, layers, options.reference.as_ref())
    })();
    stored.forget_on_error(snapshots, &res);
    res
}
