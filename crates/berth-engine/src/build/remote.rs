//! `ADD <url>`: each URL fetched (http or https) into a directory of its own, named by the
//! URL's last path segment, mode 0600 as Docker's; the files are then added like context
//! files (not extracted). A URL that cannot be fetched is an error naming it and why.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// Fetches `urls` into `dir`; returns the files' names there, in order.
pub fn fetch_all(urls: &[String], dir: &Path) -> Result<Vec<PathBuf>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut names = Vec::new();
    for url in urls {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::InvalidArgument(format!(
                "ADD {url}: only http and https URLs are supported"
            )));
        }
        let name = url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .unwrap_or("download")
            .to_string();
        let failed = |e: &dyn std::fmt::Display| {
            Error::InvalidArgument(format!("ADD {url}: cannot fetch it: {e}"))
        };
        let mut resp = agent.get(url).call().map_err(|e| failed(&e))?;
        let path = dir.join(&name);
        let mut file =
            std::fs::File::create(&path).map_err(|e| Error::internal(path.display(), e))?;
        std::io::copy(&mut resp.body_mut().as_reader(), &mut file).map_err(|e| failed(&e))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::internal(path.display(), e))?;
        names.push(PathBuf::from(name));
    }
    Ok(names)
}
