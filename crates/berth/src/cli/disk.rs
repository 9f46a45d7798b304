//! `image prune` and `system df`.

use std::io::{BufRead, Write};

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Client, enc};

use super::images::split_ref;
use super::ps::{filters_json, trunc_id};
use super::template::Format;
use super::{Exit, Res, human, out};

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>").
    #[arg(long)]
    pub filter: Vec<String>,
}

fn confirm(question: &str) -> bool {
    eprint!("{question} Are you sure you want to continue? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Docker's prune report: every untagged/deleted line, then the space reclaimed.
pub fn prune_report(v: &Value) -> String {
    let mut text = String::new();
    let items = v["ImagesDeleted"].as_array().filter(|a| !a.is_empty());
    if let Some(items) = items {
        text.push_str("Deleted Images:\n");
        for item in items {
            for (k, label) in [("Untagged", "untagged"), ("Deleted", "deleted")] {
                if let Some(x) = item.get(k).and_then(Value::as_str) {
                    text.push_str(&format!("{label}: {x}\n"));
                }
            }
        }
        text.push('\n');
    }
    let bytes = v["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    text.push_str(&format!("Total reclaimed space: {}\n", human::size(bytes)));
    text
}

pub fn image_prune(c: &Client, a: &PruneArgs) -> Res {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let mut filters = a.filter.clone();
    if a.all {
        filters.push("dangling=false".into());
    }
    let mut q = "/images/prune".to_string();
    if !filters.is_empty() {
        q.push_str(&format!(
            "?filters={}",
            enc(&filters_json(&filters).map_err(Exit::one)?)
        ));
    }
    let v = c.post_json(&q, None).map_err(Exit::one)?;
    out(&prune_report(&v));
    Ok(0)
}

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage.
    #[arg(short, long)]
    pub verbose: bool,
    /// Format output using a custom template.
    #[arg(long)]
    pub format: Option<String>,
}

const DF_TABLE: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

fn reclaimable(reclaim: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            human::size(reclaim as f64),
            reclaim * 100 / total
        )
    } else {
        human::size(reclaim as f64)
    }
}

fn list(v: &Value, key: &str) -> Vec<Value> {
    v[key].as_array().cloned().unwrap_or_default()
}

/// The summary rows, computed as docker's formatter does.
pub fn df_rows(v: &Value) -> Vec<Value> {
    let images = list(v, "Images");
    let containers = list(v, "Containers");
    let layers = v["LayersSize"].as_i64().unwrap_or(0);
    let active_images: Vec<&Value> = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .collect();
    let used: i64 = active_images
        .iter()
        .map(|i| i["Size"].as_i64().unwrap_or(0) - i["SharedSize"].as_i64().unwrap_or(0).max(0))
        .sum();
    let rw = |c: &Value| c["SizeRw"].as_i64().unwrap_or(0);
    let running = |c: &Value| c["State"].as_str() == Some("running");
    let csize: i64 = containers.iter().map(rw).sum();
    let creclaim: i64 = containers.iter().filter(|c| !running(c)).map(rw).sum();
    let row = |t: &str, total: usize, active: usize, size: i64, reclaim: String| {
        json!({"Type": t, "TotalCount": total.to_string(), "Active": active.to_string(),
            "Size": human::size(size as f64), "Reclaimable": reclaim})
    };
    vec![
        row(
            "Images",
            images.len(),
            active_images.len(),
            layers,
            reclaimable((layers - used).max(0), layers),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| running(c)).count(),
            csize,
            reclaimable(creclaim, csize),
        ),
        row("Local Volumes", 0, 0, 0, reclaimable(0, 0)),
        row("Build Cache", 0, 0, 0, reclaimable(0, 0)),
    ]
}

fn verbose(v: &Value) -> String {
    let now = human::now_secs();
    let mut text = String::from("Images space usage:\n\n");
    let mut rows = Vec::new();
    for i in list(v, "Images") {
        let tags: Vec<String> = i["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        let tags = if tags.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            tags
        };
        let size = i["Size"].as_i64().unwrap_or(0);
        let shared = i["SharedSize"].as_i64().unwrap_or(0).max(0);
        for t in tags {
            let (repo, tag) = split_ref(&t);
            rows.push(format!(
                "{repo}\t{}\t{}\t{} ago\t{}\t{}\t{}\t{}",
                if tag.is_empty() { "<none>" } else { tag },
                trunc_id(i["Id"].as_str().unwrap_or(""), false),
                human::duration(now - i["Created"].as_i64().unwrap_or(0)),
                human::size(size as f64),
                human::size(shared as f64),
                human::size((size - shared) as f64),
                i["Containers"].as_i64().unwrap_or(0),
            ));
        }
    }
    text.push_str(&super::template::tabwrite(&format!(
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n{}",
        rows.iter().map(|r| format!("{r}\n")).collect::<String>()
    )));
    text.push_str("\nContainers space usage:\n\n");
    let mut rows = Vec::new();
    for c in list(v, "Containers") {
        let name = c["Names"][0].as_str().unwrap_or("").trim_start_matches('/');
        rows.push(format!(
            "{}\t{}\t{:?}\t0\t{}\t{} ago\t{}\t{name}\n",
            trunc_id(c["Id"].as_str().unwrap_or(""), false),
            c["Image"].as_str().unwrap_or(""),
            c["Command"].as_str().unwrap_or(""),
            human::size(c["SizeRw"].as_f64().unwrap_or(0.0)),
            human::duration(now - c["Created"].as_i64().unwrap_or(0)),
            c["Status"].as_str().unwrap_or(""),
        ));
    }
    text.push_str(&super::template::tabwrite(&format!(
        "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES\n{}",
        rows.concat()
    )));
    text.push_str("\nLocal Volumes space usage:\n\n");
    text.push_str(&super::template::tabwrite("VOLUME NAME\tLINKS\tSIZE\n"));
    text.push_str("\nBuild cache usage: 0B\n\n");
    text.push_str(&super::template::tabwrite(
        "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n",
    ));
    text
}

pub fn system_df(c: &Client, a: &DfArgs) -> Res {
    let v = c.get_json("/system/df").map_err(Exit::one)?;
    if a.verbose && a.format.is_none() {
        out(&verbose(&v));
        return Ok(0);
    }
    let fmt = a.format.clone().unwrap_or_else(|| DF_TABLE.to_string());
    let header = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    out(&Format::new(&fmt, DF_TABLE)
        .render_list(&header, &df_rows(&v))
        .map_err(Exit::one)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_summary_as_docker() {
        let v = json!({"LayersSize": 1000, "Images": [
            {"Containers": 1, "Size": 600, "SharedSize": 100},
            {"Containers": 0, "Size": 500, "SharedSize": 100}],
            "Containers": [{"SizeRw": 10, "State": "running"}, {"SizeRw": 30, "State": "exited"}]});
        let rows = df_rows(&v);
        assert_eq!(rows[0]["Reclaimable"], "500B (50%)");
        assert_eq!(rows[0]["Active"], "1");
        assert_eq!(rows[1]["Size"], "40B");
        assert_eq!(rows[1]["Reclaimable"], "30B (75%)");
        assert_eq!(rows[2]["Reclaimable"], "0B");
    }

    #[test]
    fn prune_lines() {
        let v = json!({"ImagesDeleted": [{"Untagged": "a:b"}, {"Deleted": "sha256:1"}], "SpaceReclaimed": 4_261_000});
        assert_eq!(
            prune_report(&v),
            "Deleted Images:\nuntagged: a:b\ndeleted: sha256:1\n\nTotal reclaimed space: 4.26MB\n"
        );
        assert_eq!(
            prune_report(&json!({"ImagesDeleted": null, "SpaceReclaimed": 0})),
            "Total reclaimed space: 0B\n"
        );
    }
}
