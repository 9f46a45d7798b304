//! Building for a platform: the build's and the target's platform with Docker's automatic
//! platform ARGs (`BUILDPLATFORM`, `TARGETARCH`, ...), an image's platform, and whether this
//! host can run a platform's binaries (natively, or through a binfmt_misc handler).

use berth_image::Image;
use berth_registry::Platform;

use crate::error::{Error, Result};

/// The platforms of one build.
pub struct Platforms {
    /// Where the build runs: the host.
    pub build: Platform,
    /// The `platform` the request asked for (every stage's, unless `FROM --platform`).
    pub requested: Option<Platform>,
}

impl Platforms {
    pub fn new(requested: Option<&str>) -> Result<Platforms> {
        let requested = requested
            .filter(|p| !p.is_empty())
            .map(crate::images::parse_platform)
            .transpose()?;
        Ok(Platforms {
            build: Platform::host(),
            requested,
        })
    }

    /// The platform the build targets: the requested one, else the host's.
    pub fn target(&self) -> &Platform {
        self.requested.as_ref().unwrap_or(&self.build)
    }

    /// Docker's automatic platform ARGs: in the global scope for `FROM`, and in a stage
    /// through `ARG NAME` without a value.
    pub fn arg(&self, name: &str) -> Option<String> {
        let (p, part) = if let Some(part) = name.strip_prefix("BUILD") {
            (&self.build, part)
        } else {
            (self.target(), name.strip_prefix("TARGET")?)
        };
        match part {
            "PLATFORM" => Some(p.to_string()),
            "OS" => Some(p.os.clone()),
            "ARCH" => Some(p.architecture.clone()),
            "VARIANT" => Some(p.variant.clone().unwrap_or_default()),
            _ => None,
        }
    }
}

/// The platform an image's config declares, normalised.
pub fn of_image(img: &Image) -> Platform {
    Platform::normalized(
        &img.config.os().to_string(),
        &img.config.architecture().to_string(),
        img.config.variant().as_deref(),
    )
}

/// Refuses to run `p`'s binaries on this host unless the host runs them natively (its own
/// platform; 386 on amd64) or the kernel has a binfmt_misc handler for them (then the
/// kernel runs them through it, as for Docker).
pub fn check_runnable(p: &Platform, host: &Platform) -> Result<()> {
    let native = p.os == host.os
        && (p.architecture == host.architecture
            || (host.architecture == "amd64" && p.architecture == "386"));
    if native || (p.os == "linux" && has_binfmt_handler(&p.architecture)) {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "RUN cannot execute {p} binaries on this {host} host: no binfmt_misc handler for {} \
         is registered (/proc/sys/fs/binfmt_misc; e.g. Debian's qemu-user-binfmt)",
        p.architecture
    )))
}

/// Whether an enabled `qemu-<arch>` handler is registered with binfmt_misc.
fn has_binfmt_handler(architecture: &str) -> bool {
    let qemu = match architecture {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "386" => "i386",
        "mips64le" => "mips64el",
        "loong64" => "loongarch64",
        other => other,
    };
    [format!("qemu-{qemu}"), format!("qemu-{qemu}-static")]
        .iter()
        .any(|name| {
            std::fs::read_to_string(format!("/proc/sys/fs/binfmt_misc/{name}"))
                .is_ok_and(|s| s.lines().next() == Some("enabled"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_args() {
        let p = Platforms::new(Some("linux/arm/v7")).unwrap();
        assert_eq!(p.arg("TARGETPLATFORM").unwrap(), "linux/arm/v7");
        assert_eq!(p.arg("TARGETARCH").unwrap(), "arm");
        assert_eq!(p.arg("TARGETVARIANT").unwrap(), "v7");
        assert_eq!(
            p.arg("BUILDPLATFORM").unwrap(),
            Platform::host().to_string()
        );
        assert_eq!(p.arg("BUILDOS").unwrap(), "linux");
        assert_eq!(p.arg("TARGETNAME"), None);
        assert_eq!(p.arg("HOME"), None);
        let host = Platforms::new(None).unwrap();
        assert_eq!(host.arg("TARGETARCH"), host.arg("BUILDARCH"));
    }

    #[test]
    fn foreign_binaries_are_refused_without_a_handler() {
        let host = Platform::parse("linux/amd64").unwrap();
        assert!(check_runnable(&host, &host).is_ok());
        assert!(check_runnable(&Platform::parse("linux/386").unwrap(), &host).is_ok());
        let windows = Platform::parse("windows/amd64").unwrap();
        let e = check_runnable(&windows, &host).unwrap_err().to_string();
        assert!(
            e.contains("RUN cannot execute windows/amd64 binaries on this linux/amd64 host"),
            "{e}"
        );
    }
}
