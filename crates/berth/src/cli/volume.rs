//! `volume create/ls/inspect/rm/prune` and `update`, over `/volumes` and
//! `/containers/{id}/update`.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Client, enc};

use super::host_opts::ResourceOpts;
use super::inspect::indent;
use super::ps::filters_json;
use super::template::{Format, Template};
use super::{Exit, Res, each, out};

#[derive(Args, Debug)]
pub struct VolumeArgs {
    #[command(subcommand)]
    pub cmd: VolumeCommand,
}

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume.
    Create(VolumeCreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes.
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes.
    #[command(alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused local volumes.
    Prune(VolumePruneArgs),
}

#[derive(Args, Debug)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name.
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set driver specific options (KEY=VALUE).
    #[arg(short, long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Set metadata for a volume.
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// The volume's name (generated when omitted).
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct VolumeLsArgs {
    /// Only display volume names.
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "dangling=true").
    #[arg(short, long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct VolumeInspectArgs {
    /// Format output using a custom template.
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>").
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

fn key_values(list: &[String]) -> BTreeMap<&str, &str> {
    list.iter()
        .map(|kv| kv.split_once('=').unwrap_or((kv.as_str(), "")))
        .collect()
}

pub fn volume(c: &Client, a: &VolumeArgs) -> Res {
    match &a.cmd {
        VolumeCommand::Create(a) => {
            let body = json!({
                "Name": a.name.clone().unwrap_or_default(),
                "Driver": a.driver,
                "DriverOpts": key_values(&a.opt),
                "Labels": key_values(&a.label),
            });
            let v = c
                .post_json("/volumes/create", Some(&body))
                .map_err(Exit::one)?;
            out(&format!("{}\n", v["Name"].as_str().unwrap_or_default()));
            Ok(0)
        }
        VolumeCommand::Ls(a) => {
            let mut q = "/volumes".to_string();
            if !a.filter.is_empty() {
                q.push_str(&format!(
                    "?filters={}",
                    enc(&filters_json(&a.filter).map_err(Exit::one)?)
                ));
            }
            let list = c.get_json(&q).map_err(Exit::one)?;
            let rows: Vec<Value> = list["Volumes"].as_array().cloned().unwrap_or_default();
            let default = "table {{.Driver}}\t{{.Name}}";
            let fmt = if a.quiet {
                "{{.Name}}".to_string()
            } else {
                a.format.clone().unwrap_or_else(|| default.to_string())
            };
            let header = json!({"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE", "Labels": "LABELS"});
            let f = Format::new(&fmt, default);
            out(&f.render_list(&header, &rows).map_err(Exit::one)?);
            Ok(0)
        }
        VolumeCommand::Inspect(a) => {
            let tmpl = match &a.format {
                Some(f) => Some(
                    Template::parse(&f.replace("\\t", "\t").replace("\\n", "\n"))
                        .map_err(Exit::one)?,
                ),
                None => None,
            };
            let mut found = Vec::new();
            let mut errors = Vec::new();
            for n in &a.names {
                match c.get_json(&format!("/volumes/{}", enc(n))) {
                    Ok(v) => found.push(v),
                    Err(e) => errors.push(format!("Error: {e}")),
                }
            }
            let text = match tmpl {
                Some(t) => found
                    .iter()
                    .map(|v| t.render(v).map(|s| s + "\n"))
                    .collect::<Result<String, _>>()
                    .map_err(Exit::one)?,
                None => indent(serde_json::to_string(&found).map_err(Exit::one)?.as_bytes()) + "\n",
            };
            out(&text);
            if errors.is_empty() {
                Ok(0)
            } else {
                Err(Exit::Msg(errors.join("\n"), 1))
            }
        }
        VolumeCommand::Rm(a) => each(&a.names, |n| {
            c.call(
                "DELETE",
                &format!("/volumes/{}?force={}", enc(n), a.force as u8),
            )
            .map(|()| None)
        }),
        VolumeCommand::Prune(a) => {
            let mut filters = a.filter.clone();
            if a.all {
                filters.push("all=true".into());
            }
            let q = format!(
                "/volumes/prune?filters={}",
                enc(&filters_json(&filters).map_err(Exit::one)?)
            );
            let r = c.post_json(&q, None).map_err(Exit::one)?;
            let mut text = String::new();
            let deleted = r["VolumesDeleted"].as_array().cloned().unwrap_or_default();
            if !deleted.is_empty() {
                text.push_str("Deleted Volumes:\n");
                for d in deleted.iter().filter_map(Value::as_str) {
                    text.push_str(d);
                    text.push('\n');
                }
                text.push('\n');
            }
            let bytes = r["SpaceReclaimed"].as_i64().unwrap_or(0);
            text.push_str(&format!(
                "Total reclaimed space: {}\n",
                super::human::size(bytes as f64)
            ));
            out(&text);
            Ok(0)
        }
    }
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub resources: ResourceOpts,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `update`: new limits for one or more containers.
pub fn update(c: &Client, a: &UpdateArgs) -> Res {
    let mut body = serde_json::Map::new();
    a.resources.apply(&mut body).map_err(Exit::one)?;
    if body.is_empty() {
        return Err(Exit::one(
            "you must provide one or more flags when using this command",
        ));
    }
    let body = Value::Object(body);
    each(&a.containers, |n| {
        let r = c.post_json(&format!("/containers/{}/update", enc(n)), Some(&body))?;
        for w in r["Warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            eprintln!("WARNING: {w}");
        }
        Ok(None)
    })
}
