//! The crate's error type: every variant names what failed.

/// A networking failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A netlink request the kernel refused.
    #[error("netlink {op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: std::io::Error,
    },
    /// `nft` refused a ruleset or could not be run.
    #[error("nftables: {0}")]
    Nft(String),
    /// A file of the network state could not be read or written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A request that cannot be met as asked (a bad subnet, an address outside it).
    #[error("{0}")]
    Invalid(String),
    /// A request that clashes with what exists (an address or subnet already in use).
    #[error("{0}")]
    Conflict(String),
    /// Every address of a pool is taken.
    #[error("no available IPv4 address in {0}")]
    Exhausted(String),
}

impl Error {
    pub(crate) fn netlink(op: impl Into<String>, source: std::io::Error) -> Error {
        Error::Netlink {
            op: op.into(),
            source,
        }
    }

    pub(crate) fn io(what: impl std::fmt::Display, source: std::io::Error) -> Error {
        Error::Io {
            what: what.to_string(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
