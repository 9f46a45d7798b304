//! Platforms in OCI names (`linux/amd64`, `linux/arm/v7`): what a pull picks from an index,
//! what a build targets. Parsing normalises the names people and kernels use (`x86_64`,
//! `aarch64`, `armhf`) as containerd's `platforms.Normalize` does.

use std::fmt;

use crate::error::{Error, Result};

/// A platform to select from an image index, in OCI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The host's platform (`linux/amd64`, `linux/arm64`), normalised.
    pub fn host() -> Platform {
        let p = berth_image::Platform::host();
        Platform::normalized(&p.os, &p.architecture, None)
    }

    /// `os/arch[/variant]`, normalised; `arch` alone means Linux.
    pub fn parse(s: &str) -> Result<Platform> {
        let bad = |reason: &str| Error::InvalidPlatform {
            platform: s.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = s.trim().split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("expected os/arch[/variant], e.g. linux/amd64"));
        }
        match parts.as_slice() {
            [arch] => Ok(Platform::normalized("linux", arch, None)),
            [os, arch] => Ok(Platform::normalized(os, arch, None)),
            [os, arch, variant] => Ok(Platform::normalized(os, arch, Some(variant))),
            _ => Err(bad("expected os/arch[/variant], e.g. linux/amd64")),
        }
    }

    /// The OCI names for what `uname`, Debian and Docker users call a platform: `x86_64` is
    /// `amd64`, `aarch64` is `arm64` (its `v8` implied), `armhf` is `arm/v7`, a bare `arm` is
    /// `arm/v7`.
    pub fn normalized(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let os = os.to_ascii_lowercase();
        let arch = architecture.to_ascii_lowercase();
        let variant = variant.map(str::to_ascii_lowercase);
        let with_v = |v: String| {
            if v.starts_with('v') {
                v
            } else {
                format!("v{v}")
            }
        };
        let (architecture, variant) = match arch.as_str() {
            "i386" | "i486" | "i586" | "i686" | "x86" => ("386".to_string(), None),
            "x86_64" | "x86-64" | "amd64" => (
                "amd64".to_string(),
                variant.filter(|v| v != "v1").map(with_v),
            ),
            "aarch64" | "arm64" => (
                "arm64".to_string(),
                variant.filter(|v| v != "8" && v != "v8").map(with_v),
            ),
            "armhf" => ("arm".to_string(), Some("v7".to_string())),
            "armel" => ("arm".to_string(), Some("v6".to_string())),
            "arm" => (
                "arm".to_string(),
                Some(variant.map_or_else(|| "v7".to_string(), with_v)),
            ),
            _ => (arch, variant),
        };
        Platform {
            os,
            architecture,
            variant,
        }
    }

    /// Whether an index entry's (or image config's) platform satisfies this one. Without a
    /// wanted variant any variant matches; `arm64` without a variant counts as `v8`.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != architecture {
            return false;
        }
        let Some(want) = &self.variant else {
            return true;
        };
        let norm = |v: Option<&str>| match (architecture, v) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        norm(Some(want)) == norm(variant)
    }
}

impl From<Platform> for berth_image::Platform {
    fn from(p: Platform) -> berth_image::Platform {
        berth_image::Platform {
            os: p.os,
            architecture: p.architecture,
            variant: p.variant,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_matching() {
        let arm = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        assert!(arm.matches("linux", "arm64", None));
        assert!(arm.matches("linux", "arm64", Some("v8")));
        assert!(!arm.matches("linux", "amd64", None));
        let v7 = Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: Some("v7".into()),
        };
        assert!(!v7.matches("linux", "arm", Some("v6")));
        assert!(!v7.matches("linux", "arm", None));
        let any = Platform {
            variant: None,
            ..v7.clone()
        };
        assert!(any.matches("linux", "arm", Some("v6")));
        assert_eq!(arm.to_string(), "linux/arm64/v8");
    }

    #[test]
    fn names_are_normalised() {
        let p = |s: &str| Platform::parse(s).unwrap().to_string();
        assert_eq!(p("linux/x86_64"), "linux/amd64");
        assert_eq!(p("Linux/AMD64"), "linux/amd64");
        assert_eq!(p("linux/aarch64"), "linux/arm64");
        assert_eq!(p("linux/arm64/v8"), "linux/arm64");
        assert_eq!(p("linux/armhf"), "linux/arm/v7");
        assert_eq!(p("linux/arm"), "linux/arm/v7");
        assert_eq!(p("linux/arm/6"), "linux/arm/v6");
        assert_eq!(p("linux/i386"), "linux/386");
        assert_eq!(p("arm64"), "linux/arm64");
        assert_eq!(p("linux/riscv64"), "linux/riscv64");
        for bad in ["", "linux/", "/amd64", "linux/arm/v7/x"] {
            assert!(Platform::parse(bad).is_err(), "{bad:?}");
        }
    }
}
