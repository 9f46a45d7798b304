//! `commit`: a container's changes into a new image.

use clap::Args;

use crate::client::{Client, enc};

use super::images::image_query;
use super::{Exit, Res};

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit.
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

pub fn commit(c: &Client, a: &CommitArgs) -> Res {
    let mut q = format!("/commit?container={}&pause={}", enc(&a.container), a.pause);
    q.push_str(&image_query(a.reference.as_deref(), &a.change));
    if let Some(m) = &a.message {
        q.push_str(&format!("&comment={}", enc(m)));
    }
    if let Some(au) = &a.author {
        q.push_str(&format!("&author={}", enc(au)));
    }
    let v = c.post_json(&q, None).map_err(Exit::one)?;
    println!("{}", v["Id"].as_str().unwrap_or_default());
    Ok(0)
}
