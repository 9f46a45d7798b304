//! `cp`, `diff` and `export`, over the archive, changes and export endpoints. `cp` follows
//! docker's rules: into an existing directory the item keeps its name, otherwise it takes the
//! destination's; `SRC/.` copies a directory's contents; `-` is a tar stream on
//! stdin/stdout.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use clap::Args;
use serde_json::Value;

use crate::client::{Body, Client, Error, enc};

use super::{Exit, Res, out};

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy.
    #[arg(short, long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH or SRC_PATH|-.
    pub src: String,
    /// DEST_PATH|- or CONTAINER:DEST_PATH.
    pub dest: String,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<String>,
    pub container: String,
}

/// `CONTAINER:PATH` (a path with a `/` before any `:` is local, as in docker).
fn split_remote(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

/// The container path's stat (from the archive endpoint's header); `None` when missing.
fn remote_stat(c: &Client, container: &str, path: &str) -> Result<Option<Value>, Error> {
    let q = format!("/containers/{}/archive?path={}", enc(container), enc(path));
    match c.request("HEAD", &q, Body::None) {
        Ok(r) => {
            let raw = r
                .head
                .header("x-docker-container-path-stat")
                .unwrap_or("")
                .to_string();
            let json = base64::engine::general_purpose::STANDARD
                .decode(raw.trim())
                .map_err(|e| Error::Other(format!("bad path stat from the daemon: {e}")))?;
            Ok(Some(serde_json::from_slice(&json)?))
        }
        Err(Error::Api { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_dir(stat: &Value) -> bool {
    stat["mode"].as_u64().is_some_and(|m| m & (1 << 31) != 0)
}

pub fn cp(c: &Client, a: &CpArgs) -> Res {
    let r = match (split_remote(&a.src), split_remote(&a.dest)) {
        (Some(_), Some(_)) => Err(Error::Other(
            "copying between containers is not supported".into(),
        )),
        (None, None) => Err(Error::Other(
            "must specify at least one container source".into(),
        )),
        (Some((ctr, path)), None) => copy_out(c, a, ctr, path),
        (None, Some((ctr, path))) => copy_in(c, a, ctr, path),
    };
    match r {
        Ok(msg) => {
            if !a.quiet && !msg.is_empty() {
                eprintln!("{msg}");
            }
            Ok(0)
        }
        Err(e) => Err(Exit::one(
            format!("Error response from daemon: {e}").replace(
                "Error response from daemon: Error response from daemon: ",
                "Error response from daemon: ",
            ),
        )),
    }
}

fn copy_out(c: &Client, a: &CpArgs, ctr: &str, path: &str) -> Result<String, Error> {
    let mut path = path.to_string();
    if a.follow_link
        && let Some(st) = remote_stat(c, ctr, &path)?
        && let Some(t) = st["linkTarget"].as_str().filter(|t| !t.is_empty())
    {
        path = if t.starts_with('/') {
            t.to_string()
        } else {
            Path::new(&path)
                .parent()
                .unwrap_or(Path::new("/"))
                .join(t)
                .to_string_lossy()
                .into_owned()
        };
    }
    let q = format!("/containers/{}/archive?path={}", enc(ctr), enc(&path));
    let mut r = c.request("GET", &q, Body::None)?;
    if a.dest == "-" {
        let mut stdout = std::io::stdout().lock();
        std::io::copy(&mut r.body, &mut stdout)?;
        stdout.flush()?;
        return Ok(String::new());
    }
    let dest = PathBuf::from(&a.dest);
    let contents_only = path.ends_with("/.");
    let base = if contents_only {
        ".".to_string()
    } else {
        Path::new(&path)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into())
    };
    // Where to unpack, and the name the top entry takes there.
    let (dir, rename) = if dest.is_dir() {
        (dest.clone(), None)
    } else if contents_only {
        std::fs::create_dir(&dest)?;
        (dest.clone(), None)
    } else {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(Error::Other(format!(
                "no such directory: {}",
                parent.display()
            )));
        }
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Other(format!("invalid destination {}", dest.display())))?;
        (parent.to_path_buf(), Some(name.to_os_string()))
    };
    let mut archive = tar::Archive::new(&mut r.body);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    let mut bytes = 0u64;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        if name
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::RootDir))
        {
            return Err(Error::Other(format!(
                "refusing archive entry {}",
                name.display()
            )));
        }
        let mut comps = name
            .components()
            .filter(|c| !matches!(c, Component::CurDir));
        let first = comps.next();
        let rest: PathBuf = comps.collect();
        let top = match (&rename, first) {
            (Some(new), Some(Component::Normal(f))) if f == base.as_str() => PathBuf::from(new),
            (_, Some(f)) => PathBuf::from(f.as_os_str()),
            (_, None) => continue,
        };
        // (`join("")` would add a trailing slash.)
        let target = if rest.as_os_str().is_empty() {
            top
        } else {
            top.join(rest)
        };
        let dst = dir.join(&target);
        // Never write through a symlink the copy itself (or anyone) placed on the way.
        let mut at = dir.clone();
        for c in target.parent().into_iter().flat_map(Path::components) {
            at.push(c);
            if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::Other(format!(
                    "refusing to write through the symlink {}",
                    at.display()
                )));
            }
        }
        if dst.is_dir() && !entry.header().entry_type().is_dir() {
            return Err(Error::Other(format!(
                "cannot overwrite directory {} with non-directory",
                dst.display()
            )));
        }
        bytes += entry.header().size().unwrap_or(0);
        entry.unpack(&dst)?;
    }
    Ok(format!(
        "Successfully copied {} to {}",
        super::human::size(bytes as f64),
        dest.display()
    ))
}

fn copy_in(c: &Client, a: &CpArgs, ctr: &str, path: &str) -> Result<String, Error> {
    let put = |dir: &str, body: &mut dyn Read| -> Result<(), Error> {
        let q = format!(
            "/containers/{}/archive?path={}&noOverwriteDirNonDir=true&copyUIDGID={}",
            enc(ctr),
            enc(dir),
            a.archive
        );
        c.request(
            "PUT",
            &q,
            Body::Stream {
                content_type: "application/x-tar",
                reader: body,
            },
        )?
        .bytes()?;
        Ok(())
    };
    if a.src == "-" {
        let mut stdin = std::io::stdin().lock();
        put(path, &mut stdin)?;
        return Ok(String::new());
    }
    let src = Path::new(&a.src);
    let meta = std::fs::symlink_metadata(src)
        .map_err(|e| Error::Other(format!("could not stat {}: {e}", src.display())))?;
    let contents_only = a.src.ends_with("/.");
    let dest = remote_stat(c, ctr, path)?;
    // (container directory to extract in, name of the top entry)
    let (dir, name) = match &dest {
        Some(st) if is_dir(st) => (
            path.to_string(),
            if contents_only {
                None
            } else {
                src.file_name().map(|n| n.to_os_string())
            },
        ),
        Some(_) if meta.is_dir() => {
            return Err(Error::Other(format!(
                "cannot copy a directory to a file: {path}"
            )));
        }
        _ => {
            if path.ends_with('/') && dest.is_none() {
                return Err(Error::Other(format!("no such directory: {path}")));
            }
            let p = Path::new(path);
            let parent = p
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into());
            (
                if parent.is_empty() {
                    "/".into()
                } else {
                    parent
                },
                p.file_name().map(|n| n.to_os_string()),
            )
        }
    };
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(a.follow_link);
    match (&name, meta.is_dir()) {
        (Some(n), true) => tar.append_dir_all(n, src)?,
        (None, true) => tar.append_dir_all(".", src)?,
        (Some(n), false) => tar.append_path_with_name(src, n)?,
        (None, false) => {
            return Err(Error::Other(format!(
                "{} is not a directory",
                src.display()
            )));
        }
    }
    let bytes = tar.into_inner()?;
    let size = bytes.len();
    put(&dir, &mut &bytes[..])?;
    Ok(format!(
        "Successfully copied {} to {ctr}:{path}",
        super::human::size(size as f64)
    ))
}

pub fn diff(c: &Client, a: &DiffArgs) -> Res {
    let list = c
        .get_json(&format!("/containers/{}/changes", enc(&a.container)))
        .map_err(|e| Exit::one(format!("Error response from daemon: {e}")))?;
    let mut text = String::new();
    for ch in list.as_array().into_iter().flatten() {
        let kind = match ch["Kind"].as_i64() {
            Some(0) => 'C',
            Some(1) => 'A',
            _ => 'D',
        };
        text.push_str(&format!(
            "{kind} {}\n",
            ch["Path"].as_str().unwrap_or_default()
        ));
    }
    out(&text);
    Ok(0)
}

pub fn export(c: &Client, a: &ExportArgs) -> Res {
    let fail = |e: Error| Exit::one(format!("Error response from daemon: {e}"));
    if a.output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(Exit::one(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let mut r = c
        .request(
            "GET",
            &format!("/containers/{}/export", enc(&a.container)),
            Body::None,
        )
        .map_err(fail)?;
    match &a.output {
        Some(f) => {
            // Written beside the target and renamed: no half-written file under its name.
            let tmp = format!("{f}.partial");
            let mut file =
                std::fs::File::create(&tmp).map_err(|e| Exit::one(format!("{f}: {e}")))?;
            std::io::copy(&mut r.body, &mut file).map_err(|e| Exit::one(format!("{f}: {e}")))?;
            std::fs::rename(&tmp, f).map_err(|e| Exit::one(format!("{f}: {e}")))?;
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            std::io::copy(&mut r.body, &mut stdout).map_err(Exit::one)?;
        }
    }
    Ok(0)
}
