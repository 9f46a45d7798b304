//! `images`, `import`, `tag`, `rmi`.

use std::io::Read;

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Body, Client, enc};

use super::ps::{filters_json, trunc_id};
use super::template::Format;
use super::{Exit, Res, human, out};

pub const DEFAULT_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images).
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided.
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long)]
    pub format: Option<String>,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// Splits `repo[:tag]` at the tag's colon (not a registry port's).
pub fn split_ref(r: &str) -> (&str, &str) {
    match r.rfind(':') {
        Some(i) if !r[i..].contains('/') => (&r[..i], &r[i + 1..]),
        _ => (r, ""),
    }
}

/// One row per repo:tag (or `<none>`), as docker's images formatter.
pub fn rows(images: &Value, no_trunc: bool, now: i64) -> Vec<Value> {
    let mut out = Vec::new();
    for img in images.as_array().into_iter().flatten() {
        let id = img.get("Id").and_then(Value::as_str).unwrap_or("");
        let id = if no_trunc {
            id.to_string()
        } else {
            trunc_id(id, false)
        };
        let created = img.get("Created").and_then(Value::as_i64).unwrap_or(0);
        let size = img.get("Size").and_then(Value::as_f64).unwrap_or(0.0);
        let digests: Vec<&str> = img
            .get("RepoDigests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let digests: Vec<(&str, &str)> = digests.iter().filter_map(|d| d.split_once('@')).collect();
        let mut tags: Vec<(&str, &str)> = img
            .get("RepoTags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|t| *t != "<none>:<none>")
            .map(split_ref)
            .collect();
        // A repository known only by digest still gets its row, as in docker.
        for (repo, _) in &digests {
            if !tags.iter().any(|(r, _)| r == repo) {
                tags.push((repo, "<none>"));
            }
        }
        if tags.is_empty() {
            tags.push(("<none>", "<none>"));
        }
        for (repo, tag) in tags {
            let digest = digests
                .iter()
                .find(|(r, _)| *r == repo)
                .map_or("<none>", |(_, d)| d);
            out.push(json!({
                "ID": id,
                "Repository": repo,
                "Tag": if tag.is_empty() { "<none>" } else { tag },
                "Digest": digest,
                "CreatedSince": format!("{} ago", human::duration(now - created)),
                "CreatedAt": human::go_time_local(created),
                "Size": human::size(size),
                "Containers": img.get("Containers").map(|c| if c.as_i64() == Some(-1) { "N/A".to_string() } else { c.to_string() }).unwrap_or_else(|| "N/A".into()),
            }));
        }
    }
    out
}

pub fn header() -> Value {
    json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS",
    })
}

pub fn images(c: &Client, a: &ImagesArgs) -> Res {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    let mut q = format!("/images/json?all={}", a.all as u8);
    if !filters.is_empty() {
        q.push_str(&format!(
            "&filters={}",
            enc(&filters_json(&filters).map_err(Exit::one)?)
        ));
    }
    let list = c.get_json(&q).map_err(Exit::one)?;
    let rows = rows(&list, a.no_trunc, human::now_secs());
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        DEFAULT_TABLE
    };
    // Like docker, -q prints one ID per tag (duplicates included).
    let fmt = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        a.format.clone().unwrap_or_else(|| default.to_string())
    };
    let f = Format::new(&fmt, default);
    out(&f.render_list(&header(), &rows).map_err(Exit::one)?);
    Ok(0)
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Set commit message for imported image.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub platform: Option<String>,
    /// file|URL|- : the tarball.
    pub file: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// `&repo=&tag=` of a `REPOSITORY[:TAG]` and one `&changes=` per `--change` (import, commit).
pub fn image_query(reference: Option<&str>, changes: &[String]) -> String {
    let mut q = String::new();
    if let Some(r) = reference {
        let (repo, tag) = split_ref(r);
        q.push_str(&format!("&repo={}", enc(repo)));
        if !tag.is_empty() {
            q.push_str(&format!("&tag={}", enc(tag)));
        }
    }
    for ch in changes {
        q.push_str(&format!("&changes={}", enc(ch)));
    }
    q
}

pub fn import(c: &Client, a: &ImportArgs) -> Res {
    let mut q = String::from("/images/create?fromSrc=");
    let is_url = a.file.contains("://");
    q.push_str(&enc(if is_url { &a.file } else { "-" }));
    q.push_str(&image_query(a.reference.as_deref(), &a.change));
    if let Some(m) = &a.message {
        q.push_str(&format!("&message={}", enc(m)));
    }
    if let Some(p) = &a.platform {
        q.push_str(&format!("&platform={}", enc(p)));
    }
    let r = if is_url {
        c.request("POST", &q, Body::None)
    } else {
        let mut reader: Box<dyn Read> = if a.file == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(
                std::fs::File::open(&a.file)
                    .map_err(|e| Exit::one(format!("open {}: {e}", a.file)))?,
            )
        };
        c.post_tar(&q, &mut *reader)
    };
    let r = r.map_err(Exit::one)?;
    super::run::json_messages(r).map_err(Exit::one)?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

pub fn tag(c: &Client, a: &TagArgs) -> Res {
    let (repo, tag) = split_ref(&a.target);
    let mut q = format!("/images/{}/tag?repo={}", enc(&a.source), enc(repo));
    if !tag.is_empty() {
        q.push_str(&format!("&tag={}", enc(tag)));
    }
    c.call("POST", &q).map_err(Exit::one)?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents.
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn rmi(c: &Client, a: &RmiArgs) -> Res {
    let mut failed = false;
    for n in &a.images {
        let r = c
            .request(
                "DELETE",
                &format!(
                    "/images/{}?force={}&noprune={}",
                    enc(n),
                    a.force as u8,
                    a.no_prune as u8
                ),
                Body::None,
            )
            .and_then(|r| r.json());
        match r {
            Ok(v) => {
                let mut text = String::new();
                for item in v.as_array().into_iter().flatten() {
                    for (k, label) in [("Untagged", "Untagged"), ("Deleted", "Deleted")] {
                        if let Some(x) = item.get(k).and_then(Value::as_str) {
                            text.push_str(&format!("{label}: {x}\n"));
                        }
                    }
                }
                out(&text);
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_and_rows() {
        assert_eq!(split_ref("busybox"), ("busybox", ""));
        assert_eq!(split_ref("busybox:1.36"), ("busybox", "1.36"));
        assert_eq!(split_ref("reg:5000/a/b"), ("reg:5000/a/b", ""));
        assert_eq!(split_ref("reg:5000/a/b:t"), ("reg:5000/a/b", "t"));
        let imgs = json!([{"Id": "sha256:abcdef0123456789", "RepoTags": ["busybox:latest", "bb:1"],
            "Created": 0, "Size": 4_261_000, "RepoDigests": []},
            {"Id": "sha256:99", "RepoTags": [], "Created": 0, "Size": 10}]);
        let r = rows(&imgs, false, 300);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0]["ID"], "abcdef012345");
        assert_eq!(r[0]["Size"], "4.26MB");
        assert_eq!(r[1]["Repository"], "bb");
        assert_eq!(r[2]["Tag"], "<none>");
        assert_eq!(r[0]["CreatedSince"], "5 minutes ago");
        let out = Format::new(DEFAULT_TABLE, DEFAULT_TABLE)
            .render_list(&header(), &r[..1])
            .unwrap();
        assert_eq!(
            out.lines().next().unwrap(),
            "REPOSITORY   TAG       IMAGE ID       CREATED         SIZE"
        );
    }

    #[test]
    fn digest_per_repository() {
        let imgs = json!([{"Id": "sha256:ab", "RepoTags": ["r:5/a:1"], "Created": 0, "Size": 1,
            "RepoDigests": ["r:5/b@sha256:bb", "r:5/a@sha256:aa"]}]);
        let r = rows(&imgs, false, 0);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (&r[0]["Repository"], &r[0]["Digest"]),
            (&json!("r:5/a"), &json!("sha256:aa"))
        );
        assert_eq!(
            (&r[1]["Tag"], &r[1]["Digest"]),
            (&json!("<none>"), &json!("sha256:bb"))
        );
    }
}
