//! `berth top`, `pause`, `unpause`, `rename`.

use clap::Args;
use serde_json::Value;

use crate::client::{Client, enc};

use super::template::tabwrite;
use super::{Exit, Res, each, out};

#[derive(Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// Options for ps (default -ef).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ps OPTIONS"
    )]
    pub ps_args: Vec<String>,
}

pub fn top(c: &Client, a: &TopArgs) -> Res {
    let mut path = format!("/containers/{}/top", enc(&a.container));
    if !a.ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", enc(&a.ps_args.join(" "))));
    }
    let v = c.get_json(&path).map_err(Exit::one)?;
    let cells = |row: &Value| -> String {
        row.as_array()
            .map(|r| {
                r.iter()
                    .map(|c| c.as_str().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\t")
            })
            .unwrap_or_default()
    };
    let mut text = cells(&v["Titles"]);
    for p in v["Processes"].as_array().into_iter().flatten() {
        text.push('\n');
        text.push_str(&cells(p));
    }
    out(&format!("{}\n", tabwrite(&text)));
    Ok(0)
}

#[derive(Args, Debug)]
pub struct PauseArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pause` or `unpause` (the verb) each container.
pub fn pause(c: &Client, a: &PauseArgs, verb: &str) -> Res {
    each(&a.containers, |n| {
        c.call("POST", &format!("/containers/{}/{verb}", enc(n)))
            .map(|_| None)
    })
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub fn rename(c: &Client, a: &RenameArgs) -> Res {
    c.call(
        "POST",
        &format!(
            "/containers/{}/rename?name={}",
            enc(&a.container),
            enc(&a.new_name)
        ),
    )
    .map_err(Exit::one)?;
    Ok(0)
}
