//! Entry names of an image archive: hostile input, so every name is normalised and any that
//! would leave the archive's root is refused before it is used.

use crate::error::{Error, Result};

/// `name` as a relative path inside the archive (`./a//b` → `a/b`). Absolute names, `..` and
/// NUL bytes are refused, naming the entry.
pub(super) fn normalize(name: &str) -> Result<String> {
    if name.starts_with('/') {
        return Err(Error::archive(name, "absolute path in an image archive"));
    }
    join("", name, name)
}

/// Resolves a link target: relative to `dir` for symlinks, to the root for hard links.
pub(super) fn resolve_link(entry: &str, dir: &str, target: &str) -> Result<String> {
    if target.starts_with('/') {
        return Err(Error::archive(
            entry,
            format!("link to absolute path {target:?}"),
        ));
    }
    join(dir, target, entry)
}

fn join(base: &str, rel: &str, entry: &str) -> Result<String> {
    let mut out: Vec<&str> = base.split('/').filter(|c| !c.is_empty()).collect();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(Error::archive(entry, "path escapes the archive"));
                }
            }
            c if c.contains('\0') => return Err(Error::archive(entry, "NUL byte in path")),
            c => out.push(c),
        }
    }
    if out.is_empty() && !rel.trim_matches(['/', '.']).is_empty() {
        return Err(Error::archive(entry, "path escapes the archive"));
    }
    Ok(out.join("/"))
}

/// The directory part of a normalised path (`a/b` → `a`, `b` → ``).
pub(super) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize("./blobs//sha256/ab").unwrap(), "blobs/sha256/ab");
        assert_eq!(normalize("a/../b").unwrap(), "b");
        for bad in ["../x", "/etc/passwd", "a/../../x", "a/..\0/b"] {
            let e = normalize(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        assert_eq!(
            resolve_link("x/layer.tar", "x", "../y/layer.tar").unwrap(),
            "y/layer.tar"
        );
        assert!(resolve_link("x/layer.tar", "x", "../../y").is_err());
        assert!(resolve_link("x/layer.tar", "x", "/etc/shadow").is_err());
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("c"), "");
    }
}
