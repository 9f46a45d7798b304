//! `build`: the context directory sent as a tar (`.dockerignore` applied; the Dockerfile and
//! `.dockerignore` always go), or a tar (or a lone Dockerfile) from stdin with `-`; the
//! daemon's JSON stream rendered as the classic builder's output.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_build::IgnoreRules;
use clap::Args;
use serde_json::Value;

use crate::client::{Body, Client, enc};

use super::archive::each_message;
use super::{Exit, Res};

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (format: "name:tag").
    #[arg(short, long)]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile").
    #[arg(short, long)]
    pub file: Option<String>,
    /// Set build-time variables.
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Set the platform to build for (`linux/arm64`): the stages' base images and the
    /// `TARGET*` build args.
    #[arg(long)]
    pub platform: Option<String>,
    /// Set metadata for an image.
    #[arg(long)]
    pub label: Vec<String>,
    /// Do not use cache when building the image.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image.
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image ID to the file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// PATH | - : the build context.
    pub context: String,
}

fn pairs(items: &[String], from_env: bool) -> Result<serde_json::Map<String, Value>, Exit> {
    let mut m = serde_json::Map::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), Value::from(v)),
            None if from_env => m.insert(
                item.clone(),
                std::env::var(item).map_or(Value::Null, Value::from),
            ),
            None => m.insert(item.clone(), Value::from("")),
        };
    }
    Ok(m)
}

pub fn build(c: &Client, a: &BuildArgs) -> Res {
    let mut q = String::from("/build?rm=1");
    for t in &a.tag {
        q.push_str(&format!("&t={}", enc(t)));
    }
    let dockerfile = match (&a.file, a.context.as_str()) {
        (None, _) => None,
        (Some(f), "-") => Some(f.clone()),
        (Some(f), dir) => Some(inside_context(Path::new(dir), Path::new(f))?),
    };
    if let Some(f) = &dockerfile {
        q.push_str(&format!("&dockerfile={}", enc(f)));
    }
    let args = pairs(&a.build_arg, true)?;
    if !args.is_empty() {
        q.push_str(&format!(
            "&buildargs={}",
            enc(&Value::Object(args).to_string())
        ));
    }
    let labels = pairs(&a.label, false)?;
    if !labels.is_empty() {
        q.push_str(&format!(
            "&labels={}",
            enc(&Value::Object(labels).to_string())
        ));
    }
    if let Some(t) = &a.target {
        q.push_str(&format!("&target={}", enc(t)));
    }
    if let Some(p) = &a.platform {
        q.push_str(&format!("&platform={}", enc(p)));
    }
    for (flag, on) in [("nocache", a.no_cache), ("pull", a.pull), ("q", a.quiet)] {
        if on {
            q.push_str(&format!("&{flag}=1"));
        }
    }
    let local = (a.context != "-")
        .then(|| c.local_dir(Path::new(&a.context)))
        .flatten();
    let r = match &local {
        // Root on the daemon's own socket: the daemon reads the directory in place.
        Some(dir) => c.request_with_headers(
            "POST",
            &q,
            Body::None,
            &[(berth_api::CONTEXT_DIR_HEADER, &dir.to_string_lossy())],
        ),
        None => {
            let mut reader: Box<dyn Read> = if a.context == "-" {
                stdin_context()?
            } else {
                context_tar(PathBuf::from(&a.context), dockerfile)?
            };
            c.post_tar(&q, &mut *reader)
        }
    }
    .map_err(Exit::one)?;
    let mut id = None;
    let mut out = std::io::stdout().lock();
    let mut step_started = None;
    each_message(r.body, |v| {
        if let Some(s) = v.get("stream").and_then(Value::as_str) {
            if s.starts_with("Step ") {
                step_started = Some(std::time::Instant::now());
            }
            match (step_result(s), step_started.take()) {
                // A step's result line gets the step's time.
                (Some(id), Some(t)) => {
                    let _ = writeln!(out, " ---> {id} ({:.2}s)", t.elapsed().as_secs_f64());
                }
                (_, started) => {
                    step_started = started;
                    let _ = out.write_all(s.as_bytes());
                }
            }
            let _ = out.flush();
        } else if let Some(s) = v.get("status").and_then(Value::as_str) {
            let _ = writeln!(out, "{s}");
        }
        if let Some(i) = v.pointer("/aux/ID").and_then(Value::as_str) {
            id = Some(i.to_string());
        }
    })?;
    if let (Some(path), Some(id)) = (&a.iidfile, &id) {
        std::fs::write(path, id)
            .map_err(|e| Exit::one(format!("write {}: {e}", path.display())))?;
    }
    Ok(0)
}

/// The image id of a step's ` ---> 0123456789ab` result line.
fn step_result(line: &str) -> Option<&str> {
    let id = line.strip_prefix(" ---> ")?.trim_end();
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// `-f` as a path relative to the context (a Dockerfile outside it is refused).
fn inside_context(dir: &Path, file: &Path) -> Result<String, Exit> {
    let dir = dir
        .canonicalize()
        .map_err(|e| Exit::one(format!("unable to prepare context: {}: {e}", dir.display())))?;
    let file = file.canonicalize().map_err(|e| {
        Exit::one(format!(
            "unable to find the Dockerfile {}: {e}",
            file.display()
        ))
    })?;
    file.strip_prefix(&dir)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|_| {
            Exit::one(format!(
                "the Dockerfile {} is outside the build context {}: berth does not send it separately yet",
                file.display(),
                dir.display()
            ))
        })
}

/// stdin as the context: a tar (plain or compressed) as is, anything else as the Dockerfile.
fn stdin_context() -> Result<Box<dyn Read>, Exit> {
    let mut data = Vec::new();
    std::io::stdin().read_to_end(&mut data).map_err(Exit::one)?;
    let is_tar = data.len() > 262 && &data[257..262] == b"ustar";
    let compressed = data.starts_with(&[0x1f, 0x8b]) || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    if is_tar || compressed {
        return Ok(Box::new(std::io::Cursor::new(data)));
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, "Dockerfile", &data[..])
        .map_err(Exit::one)?;
    Ok(Box::new(std::io::Cursor::new(
        b.into_inner().map_err(Exit::one)?,
    )))
}

/// The context directory as a tar written on a thread.
fn context_tar(dir: PathBuf, dockerfile: Option<String>) -> Result<Box<dyn Read>, Exit> {
    if !dir.is_dir() {
        return Err(Exit::one(format!(
            "unable to prepare context: path {:?} not found",
            dir.display().to_string()
        )));
    }
    let rules = match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(text) => IgnoreRules::parse(&text).map_err(Exit::one)?,
        Err(_) => IgnoreRules::default(),
    };
    let dockerfile = dockerfile.unwrap_or_else(|| "Dockerfile".into());
    let (reader, writer) = std::io::pipe().map_err(Exit::one)?;
    std::thread::spawn(move || {
        let mut b = tar::Builder::new(writer);
        b.follow_symlinks(false);
        let res =
            add_dir(&mut b, &dir, Path::new(""), &rules, &dockerfile).and_then(|()| b.finish());
        if let Err(e) = res {
            eprintln!("berth: sending the build context: {e}");
        }
    });
    Ok(Box::new(reader))
}

fn add_dir<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    rules: &IgnoreRules,
    dockerfile: &str,
) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(root.join(rel))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for n in names {
        let p = rel.join(&n);
        let shown = p.to_string_lossy();
        let always = shown == dockerfile || shown == ".dockerignore";
        let excluded = !always && rules.is_excluded(&shown);
        let is_dir = std::fs::symlink_metadata(root.join(&p))?.is_dir();
        if !excluded {
            b.append_path_with_name(root.join(&p), &p)?;
        }
        if is_dir && (!excluded || rules.has_exceptions()) {
            add_dir(b, root, &p, rules, dockerfile)?;
        }
    }
    Ok(())
}
