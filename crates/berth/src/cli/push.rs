//! `berth push NAME[:TAG]`: the daemon pushes; progress is shown as for a pull, with the
//! stored credentials of the image's registry sent as `X-Registry-Auth`.

use clap::Args;

use super::images::split_ref;
use super::pull::{show_progress, with_progress};
use super::{Exit, Res, credentials};
use crate::client::{Body, Client, enc};

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of the repository.
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// NAME[:TAG]
    pub image: String,
}

pub fn push(c: &Client, a: &PushArgs) -> Res {
    let (name, tag) = split_ref(&a.image);
    if a.all_tags && !tag.is_empty() {
        return Err(Exit::one("tag can't be used with --all-tags/-a"));
    }
    let tag = match (a.all_tags, tag) {
        (true, _) => "",
        (false, "") => "latest",
        (false, t) => t,
    };
    let path = format!("/images/{name}/push?tag={}", enc(tag));
    let auth = credentials::registry_auth(name);
    with_progress(a.quiet, &a.image, |out, tty| {
        let r = c.request_with_headers("POST", &path, Body::None, &[("X-Registry-Auth", &auth)])?;
        show_progress(r.body, out, tty)
    })
}
