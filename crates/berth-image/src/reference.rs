//! Image references in Docker's grammar, normalised the way `docker` does it so that `busybox`,
//! `library/busybox` and `docker.io/library/busybox:latest` name the same image.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::Error;

/// The registry assumed when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag assumed when a reference has neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
const OFFICIAL_PREFIX: &str = "library/";
const MAX_NAME_LEN: usize = 255;

/// A fully normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host with optional port, e.g. `docker.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/busybox`.
    pub repository: String,
    /// Tag; `latest` is filled in when neither tag nor digest was given.
    pub tag: Option<String>,
    /// Manifest digest pinned by `@sha256:…`.
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises `input` (see the module doc).
    pub fn parse(input: &str) -> Result<Reference, Error> {
        input.parse()
    }

    /// Docker's short form: `busybox:latest`, `user/app:latest`, `localhost:5000/app:1.0`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// The repository without tag or digest in familiar form (`busybox`, `user/app`).
    pub fn familiar_name(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            match self.repository.strip_prefix(OFFICIAL_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.repository.clone(),
            }
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(input: &str) -> Result<Reference, Error> {
        let bad = |reason: &'static str| Error::InvalidReference {
            input: input.to_string(),
            reason,
        };
        if input.is_empty() {
            return Err(bad("empty reference"));
        }
        // Digest first: it contains a ':' that must not be taken for a tag.
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest = d.parse::<Digest>().map_err(|_| bad("invalid digest"))?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        // A ':' after the last '/' separates the tag (a ':' before it is a registry port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                if !valid_tag(tag) {
                    return Err(bad("invalid tag"));
                }
                (&rest[..last_slash + i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(bad("empty repository name"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(bad("repository name longer than 255 characters"));
        }
        let (registry, path) = split_domain(name);
        if let Some(reg) = registry {
            if !valid_domain(reg) {
                return Err(bad("invalid registry host"));
            }
        } else if Digest::from_hex(name).is_ok() {
            return Err(bad(
                "a 64-hex repository name is ambiguous with an image id",
            ));
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        if !path.split('/').all(valid_path_component) {
            return Err(bad("invalid repository name"));
        }
        let registry = match registry {
            None | Some("index.docker.io") => DEFAULT_REGISTRY.to_string(),
            Some(r) => r.to_string(),
        };
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("{OFFICIAL_PREFIX}{path}")
        } else {
            path.to_string()
        };
        let tag = if tag.is_none() && digest.is_none() {
            Some(DEFAULT_TAG.to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// Splits off the registry as Docker does: the first component is a registry if it contains a
/// '.' or ':', is `localhost`, or has uppercase letters (which a repository may not have).
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        })
}

/// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn valid_references() {
        let at = format!("@{D}");
        // (input, full form, familiar form)
        let table: Vec<(String, String, String)> = vec![
            (
                "busybox".into(),
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "busybox:1.36".into(),
                "docker.io/library/busybox:1.36".into(),
                "busybox:1.36".into(),
            ),
            (
                "library/busybox".into(),
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "docker.io/library/busybox:latest".into(),
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "index.docker.io/busybox".into(),
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "user/app".into(),
                "docker.io/user/app:latest".into(),
                "user/app:latest".into(),
            ),
            (
                "user/sub/app:v_1.2-x".into(),
                "docker.io/user/sub/app:v_1.2-x".into(),
                "user/sub/app:v_1.2-x".into(),
            ),
            (
                "localhost:5000/app:1.0".into(),
                "localhost:5000/app:1.0".into(),
                "localhost:5000/app:1.0".into(),
            ),
            (
                "localhost/app".into(),
                "localhost/app:latest".into(),
                "localhost/app:latest".into(),
            ),
            (
                format!("registry.example.com/a/b{at}"),
                format!("registry.example.com/a/b{at}"),
                format!("registry.example.com/a/b{at}"),
            ),
            (
                format!("busybox:1{at}"),
                format!("docker.io/library/busybox:1{at}"),
                format!("busybox:1{at}"),
            ),
            (
                "a.b-c__d---e".into(),
                "docker.io/library/a.b-c__d---e:latest".into(),
                "a.b-c__d---e:latest".into(),
            ),
            (
                "Registry.Example.com/x".into(),
                "Registry.Example.com/x:latest".into(),
                "Registry.Example.com/x:latest".into(),
            ),
        ];
        for (input, full, familiar) in table {
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), full, "{input}");
            assert_eq!(r.familiar(), familiar, "{input}");
            assert_eq!(Reference::parse(&full).unwrap(), r, "{input} reparse");
        }
        let r = Reference::parse("localhost:5000/app:1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "app", Some("1.0"))
        );
        assert!(r.digest.is_none());
    }

    #[test]
    fn invalid_references() {
        let long_tag = format!("a:{}", "x".repeat(129));
        let table: Vec<(&str, &str)> = vec![
            ("", "empty"),
            ("Foo:bar", "lowercase"),
            ("user/Foo", "lowercase"),
            ("busybox:", "tag"),
            ("busybox:-x", "tag"),
            ("busybox:a/b", "invalid"),
            (&long_tag, "tag"),
            ("busybox@sha256:abc", "digest"),
            ("busybox@md5:abc", "digest"),
            ("-busybox", "repository name"),
            ("busy..box", "repository name"),
            ("a//b", "repository name"),
            ("a/b/", "repository name"),
            (":tag", "empty"),
            (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "ambiguous",
            ),
            ("host:port/app", "registry"),
            ("-bad.com/app", "registry"),
        ];
        for (input, want) in table {
            let err = Reference::parse(input).expect_err(input).to_string();
            assert!(
                err.starts_with(&format!("invalid reference format: {input:?}")),
                "{err}"
            );
            assert!(err.contains(want), "{input}: {err}");
        }
    }
}
