//! `berth push NAME[:TAG]`: the daemon pushes; progress is shown as for a pull, with the
//! stored credentials of the image's registry sent as `X-Registry-Auth`.

use std::io::{IsTerminal, Write};

use clap::Args;

use super::images::split_ref;
use super::pull::show_progress;
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
    let r = c
        .request_with_headers("POST", &path, Body::None, &[("X-Registry-Auth", &auth)])
        .map_err(Exit::one)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let tty = !a.quiet && out.is_terminal();
    let mut sink: Box<dyn Write> = if a.quiet {
        Box::new(std::io::sink())
    } else {
        Box::new(&mut out)
    };
    show_progress(r.body, &mut sink, tty).map_err(Exit::one)?;
    drop(sink);
    if a.quiet {
        println!("{}", a.image);
    }
    Ok(0)
}
