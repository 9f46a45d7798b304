//! Finding the daemon as docker does: `-H`, then `BERTH_HOST`, then `DOCKER_HOST`, then the
//! default socket (under `BERTH_ROOT` when that is set). Only the default socket may auto-start a
//! daemon.

use std::path::PathBuf;

/// The daemon's default socket.
pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";
/// The default exec root, where an auto-started daemon's log goes.
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Unix(p) => write!(f, "unix://{}", p.display()),
            Addr::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// How to start a daemon for the default socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoStart {
    /// Arguments after `berth daemon`.
    pub args: Vec<String>,
    /// Where the daemon's stdout and stderr go.
    pub log: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub addr: Addr,
    /// Set only when the host came from no flag and no env variable.
    pub auto_start: Option<AutoStart>,
}

/// Parses `unix:///path`, `tcp://host:port`, `host:port`-less forms and bare socket paths.
pub fn parse_addr(s: &str) -> Result<Addr, String> {
    if let Some(p) = s.strip_prefix("unix://") {
        if p.is_empty() {
            return Ok(Addr::Unix(DEFAULT_SOCKET.into()));
        }
        return Ok(Addr::Unix(p.into()));
    }
    if let Some(rest) = s
        .strip_prefix("tcp://")
        .or_else(|| s.strip_prefix("http://"))
    {
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() {
            return Err(format!("invalid bind address ({s}): empty host"));
        }
        let rest = if rest.starts_with(':') {
            format!("localhost{rest}")
        } else {
            rest.to_string()
        };
        let with_port = if rest
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            rest
        } else {
            format!("{rest}:2375")
        };
        return Ok(Addr::Tcp(with_port));
    }
    if s.starts_with('/') {
        return Ok(Addr::Unix(s.into()));
    }
    Err(format!("invalid bind address ({s}): unsupported protocol"))
}

/// Resolves the host from the `-H` flag and an environment lookup.
pub fn resolve(flag: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<Host, String> {
    let explicit = flag
        .map(str::to_string)
        .or_else(|| env("BERTH_HOST").filter(|v| !v.is_empty()))
        .or_else(|| env("DOCKER_HOST").filter(|v| !v.is_empty()));
    if let Some(h) = explicit {
        return Ok(Host {
            addr: parse_addr(&h)?,
            auto_start: None,
        });
    }
    match env("BERTH_ROOT").filter(|v| !v.is_empty()) {
        Some(root) => {
            let root = PathBuf::from(root);
            let run = root.join("run");
            let sock = run.join("berth.sock");
            Ok(Host {
                addr: Addr::Unix(sock.clone()),
                auto_start: Some(AutoStart {
                    args: vec![
                        "--data-root".into(),
                        root.join("lib").display().to_string(),
                        "--exec-root".into(),
                        run.display().to_string(),
                        "-H".into(),
                        format!("unix://{}", sock.display()),
                    ],
                    log: run.join("berth-daemon.log"),
                }),
            })
        }
        None => Ok(Host {
            addr: Addr::Unix(DEFAULT_SOCKET.into()),
            auto_start: Some(AutoStart {
                args: Vec::new(),
                log: PathBuf::from(DEFAULT_EXEC_ROOT).join("berth-daemon.log"),
            }),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn precedence() {
        let all = [
            ("BERTH_HOST", "unix:///b.sock"),
            ("DOCKER_HOST", "unix:///d.sock"),
            ("BERTH_ROOT", "/r"),
        ];
        let h = resolve(Some("tcp://1.2.3.4:99"), env(&all)).unwrap();
        assert_eq!(h.addr, Addr::Tcp("1.2.3.4:99".into()));
        assert!(h.auto_start.is_none());
        let h = resolve(None, env(&all)).unwrap();
        assert_eq!(h.addr, Addr::Unix("/b.sock".into()));
        assert!(h.auto_start.is_none());
        let h = resolve(None, env(&all[1..])).unwrap();
        assert_eq!(h.addr, Addr::Unix("/d.sock".into()));
        assert!(h.auto_start.is_none());
        let h = resolve(None, env(&all[2..])).unwrap();
        assert_eq!(h.addr, Addr::Unix("/r/run/berth.sock".into()));
        let a = h.auto_start.unwrap();
        assert_eq!(
            a.args,
            [
                "--data-root",
                "/r/lib",
                "--exec-root",
                "/r/run",
                "-H",
                "unix:///r/run/berth.sock"
            ]
        );
        assert_eq!(a.log, PathBuf::from("/r/run/berth-daemon.log"));
        let h = resolve(None, env(&[])).unwrap();
        assert_eq!(h.addr, Addr::Unix(DEFAULT_SOCKET.into()));
        assert!(h.auto_start.unwrap().args.is_empty());
        // Empty variables count as unset.
        let h = resolve(None, env(&[("DOCKER_HOST", "")])).unwrap();
        assert_eq!(h.addr, Addr::Unix(DEFAULT_SOCKET.into()));
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("tcp://h").unwrap(), Addr::Tcp("h:2375".into()));
        assert_eq!(
            parse_addr("tcp://:5").unwrap(),
            Addr::Tcp("localhost:5".into())
        );
        assert_eq!(parse_addr("/x.sock").unwrap(), Addr::Unix("/x.sock".into()));
        assert!(parse_addr("ssh://x").is_err());
    }
}
