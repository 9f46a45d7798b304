//! The OCI distribution client: talks to registries, fetches manifests and blobs into
//! berth-image's content store, verified by digest, and unpacks layers into snapshots.
//!
//! [`pull`] resolves a reference (choosing a platform from an index), streams the config and
//! layers into the [`berth_image::ContentStore`] (up to three downloads at once), unpacks each
//! layer on top of the previous one while checking its diff id, and only then tags the image.
//! [`push`] sends an image's missing blobs (mounting them from a sibling repository when it
//! can) and then its manifest; [`login`] checks credentials the way `docker login` does.

mod client;
mod compress;
pub mod error;
mod platform;
mod pull;
mod push;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use base64::Engine as _;

pub use client::{endpoint_host, is_loopback, scheme_for};
pub use error::{Error, Result};
pub use platform::Platform;
pub use pull::{Pulled, pull, pull_image};
pub use push::{PushOptions, PushProgress, PushProgressKind, Pushed, push};

use berth_image::Digest;

/// Username and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Checks `credentials` against `registry`'s `/v2/` with the challenge flow (Basic, or a
/// Bearer token without a repository scope), as `docker login` does. A registry that lets
/// anonymous clients in accepts any credentials, as with Docker.
pub fn login(
    registry: &str,
    insecure_registries: &[String],
    credentials: &Credentials,
) -> Result<()> {
    client::Client::new(registry, "", insecure_registries, Some(credentials.clone()))
        .with_scopes(Vec::new())
        .ping()
}

/// How to pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Platform to pick from an index; the host's by default.
    pub platform: Option<Platform>,
    /// Registries (`host` or `host:port`) to talk to over plain HTTP. Loopback registries
    /// always are.
    pub insecure_registries: Vec<String>,
    /// Credentials by registry name (as in the reference, e.g. `docker.io`, `localhost:5000`).
    pub credentials: HashMap<String, Credentials>,
    /// How long a registry may take to accept a connection and then to answer each request
    /// (60 s when `None`): a registry that hangs fails the pull instead of stalling it.
    pub timeout: Option<std::time::Duration>,
}

/// What is happening to one blob (layer or config) during a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressKind {
    /// Queued behind other downloads.
    Waiting,
    /// Bytes received so far of `total` (the descriptor's size).
    Downloading { current: u64, total: u64 },
    /// Download finished; checking the digest.
    Verifying,
    /// Unpacking into its snapshot.
    Extracting,
    /// Downloaded (if needed) and unpacked.
    Done,
    /// Blob and snapshot were already present: nothing to do.
    AlreadyExists,
}

/// A progress event about one layer, for rendering Docker-style progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub layer: Digest,
    pub kind: ProgressKind,
}

/// Reads `auths.<host>.auth` (base64 `user:pass`) from a Docker `config.json`. Keys are
/// normalised to registry names: a scheme and path are dropped, and Docker Hub's
/// `index.docker.io` / `registry-1.docker.io` become `docker.io`. Credential helpers and
/// `credsStore` are not supported; entries without `auth` are skipped.
pub fn load_docker_config(path: impl AsRef<Path>) -> Result<HashMap<String, Credentials>> {
    let path = path.as_ref();
    let bad = |reason: String| Error::DockerConfig {
        path: path.display().to_string(),
        reason,
    };
    let data = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        auths: HashMap<String, Auth>,
    }
    #[derive(serde::Deserialize)]
    struct Auth {
        auth: Option<String>,
    }
    let cfg: Config = serde_json::from_slice(&data).map_err(|e| bad(e.to_string()))?;
    let mut out = HashMap::new();
    for (key, entry) in cfg.auths {
        let Some(auth) = entry.auth.filter(|a| !a.is_empty()) else {
            continue;
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| bad(format!("auths.{key}.auth: {e}")))?;
        let decoded =
            String::from_utf8(decoded).map_err(|e| bad(format!("auths.{key}.auth: {e}")))?;
        let Some((user, pass)) = decoded.split_once(':') else {
            return Err(bad(format!("auths.{key}.auth: not user:password")));
        };
        out.insert(
            registry_of_server(&key),
            Credentials {
                username: user.to_string(),
                password: pass.to_string(),
            },
        );
    }
    Ok(out)
}

/// The registry a docker server address names (a `config.json` `auths` key, `docker login`'s
/// argument): scheme and path dropped, Docker Hub's addresses (and an empty one) as
/// `docker.io`.
pub fn registry_of_server(address: &str) -> String {
    let a = address.trim();
    let a = a
        .strip_prefix("https://")
        .or_else(|| a.strip_prefix("http://"))
        .unwrap_or(a);
    match a.split('/').next().unwrap_or("") {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        host => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(
            registry_of_server("https://index.docker.io/v1/"),
            "docker.io"
        );
        assert_eq!(registry_of_server(""), "docker.io");
        assert_eq!(registry_of_server("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(
            registry_of_server("http://reg.lan:5000/v2/"),
            "reg.lan:5000"
        );
    }

    #[test]
    fn docker_config() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("config.json");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &p,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},
                "127.0.0.1:5000":{{"auth":"{}"}},"helper.example":{{}}}},"credsStore":"x"}}"#,
                b64("hub:secret"),
                b64("u:p:with:colons")
            ),
        )
        .unwrap();
        let c = load_docker_config(&p).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c["docker.io"].username, "hub");
        assert_eq!(c["docker.io"].password, "secret");
        assert_eq!(c["127.0.0.1:5000"].password, "p:with:colons");
        assert!(!format!("{:?}", c["docker.io"]).contains("secret"));
        std::fs::write(&p, r#"{"auths":{"x":{"auth":"!!"}}}"#).unwrap();
        assert!(
            load_docker_config(&p)
                .unwrap_err()
                .to_string()
                .contains("auths.x.auth")
        );
    }
}
