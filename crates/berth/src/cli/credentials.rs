//! Registry credentials in docker's `config.json` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): `auths.<server>.auth` is base64 `user:password`. `login` writes
//! there (atomically, mode 0600, other keys kept), `logout` removes, and `pull`/`push` send
//! the entry of the image's registry as `X-Registry-Auth`, as docker does.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::{Value, json};

/// The key docker uses for Docker Hub.
pub const HUB_KEY: &str = "https://index.docker.io/v1/";

/// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
pub fn config_path() -> PathBuf {
    let dir = match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".docker"),
    };
    dir.join("config.json")
}

/// The `auths` key for a server given on the command line: Docker Hub's URL for it (or no
/// server), else the host as given.
pub fn server_key(server: Option<&str>) -> String {
    let registry = berth_registry::registry_of_server(server.unwrap_or_default());
    if registry == "docker.io" {
        HUB_KEY.to_string()
    } else {
        registry
    }
}

/// The `X-Registry-Auth` value for the registry of `image` (`{}` when none is stored, as
/// docker sends).
pub fn registry_auth(image: &str) -> String {
    let registry = berth_image::Reference::parse(image)
        .map(|r| r.registry)
        .unwrap_or_default();
    let creds = berth_registry::load_docker_config(config_path())
        .ok()
        .and_then(|mut all| all.remove(&registry));
    let v = match creds {
        Some(c) => json!({
            "username": c.username,
            "password": c.password,
            "serveraddress": if registry == "docker.io" { HUB_KEY.to_string() } else { registry },
        }),
        None => json!({}),
    };
    URL_SAFE.encode(v.to_string())
}

fn read_config() -> std::io::Result<Value> {
    let path = config_path();
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(std::io::Error::other(format!("{}: {e}", path.display()))),
    }
}

/// Writes the config through a temporary file in the same directory (0600, fsync'ed) renamed
/// over the old one, so a crash leaves the old file or the new, never half.
fn write_config(v: &Value) -> std::io::Result<()> {
    let path = config_path();
    let dir = path.parent().expect("config.json has a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    let data = serde_json::to_vec_pretty(v).map_err(std::io::Error::other)?;
    let written = f.write_all(&data).and_then(|_| f.sync_all());
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, &path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::File::open(dir)?.sync_all()
}

/// Stores `user:password` for `key`.
pub fn store(key: &str, username: &str, password: &str) -> std::io::Result<()> {
    let mut v = read_config()?;
    if !v.is_object() {
        v = json!({});
    }
    let auths = v
        .as_object_mut()
        .expect("object")
        .entry("auths")
        .or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    auths[key] = json!({"auth": STANDARD.encode(format!("{username}:{password}"))});
    write_config(&v)
}

/// Removes the credentials for `key`; whether there were any.
pub fn remove(key: &str) -> std::io::Result<bool> {
    let mut v = read_config()?;
    let removed = v
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .is_some_and(|a| a.remove(key).is_some());
    if removed {
        write_config(&v)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(server_key(None), HUB_KEY);
        assert_eq!(server_key(Some("docker.io")), HUB_KEY);
        assert_eq!(server_key(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(server_key(Some("http://reg.lan:5000/v2/")), "reg.lan:5000");
    }
}
