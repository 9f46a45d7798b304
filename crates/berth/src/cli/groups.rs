//! The `image` and `system` command groups: docker's long forms (`image ls`, `image rm`,
//! `system df`, ...) over the same verbs as the short ones.

use clap::Subcommand;

use crate::client::Client;

use super::{Res, archive, disk, images, pull, system};

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images.
    #[command(visible_alias = "list", alias = "images")]
    Ls(images::ImagesArgs),
    /// Remove one or more images.
    #[command(visible_alias = "remove", alias = "rmi")]
    Rm(images::RmiArgs),
    /// Remove unused images.
    Prune(disk::PruneArgs),
    /// Save one or more images to a tar archive.
    Save(archive::SaveArgs),
    /// Load an image from a tar archive or STDIN.
    Load(archive::LoadArgs),
    /// Show the history of an image.
    History(archive::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(images::TagArgs),
    /// Import the contents from a tarball to create a filesystem image.
    Import(images::ImportArgs),
    /// Download an image from a registry.
    Pull(pull::PullArgs),
}

pub fn image(c: &Client, cmd: &ImageCommand) -> Res {
    match cmd {
        ImageCommand::Ls(a) => images::images(c, a),
        ImageCommand::Rm(a) => images::rmi(c, a),
        ImageCommand::Prune(a) => disk::image_prune(c, a),
        ImageCommand::Save(a) => archive::save(c, a),
        ImageCommand::Load(a) => archive::load(c, a),
        ImageCommand::History(a) => archive::history(c, a),
        ImageCommand::Tag(a) => images::tag(c, a),
        ImageCommand::Import(a) => images::import(c, a),
        ImageCommand::Pull(a) => pull::pull(c, a),
    }
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show disk usage.
    Df(disk::DfArgs),
    /// Display system-wide information.
    Info(system::InfoArgs),
}

pub fn system(c: &Client, cmd: &SystemCommand) -> Res {
    match cmd {
        SystemCommand::Df(a) => disk::system_df(c, a),
        SystemCommand::Info(a) => system::info(c, a),
    }
}
