//! The `/v1.NN` path prefix: stripped before routing, checked against the versions we serve.

use crate::error::ApiError;

/// The API version berth speaks.
pub const API_VERSION: &str = "1.50";
/// The oldest version a client may ask for.
pub const MIN_API_VERSION: &str = "1.24";

const CURRENT: (u32, u32) = (1, 50);
const MINIMUM: (u32, u32) = (1, 24);

/// The version a request asked for with its `/v1.NN` prefix (a request extension), for the
/// few answers that differ by version; a request without one gets the current answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requested(pub (u32, u32));

impl Requested {
    /// Whether the request asked for a version older than `major.minor`.
    pub fn before(asked: Option<Requested>, version: (u32, u32)) -> bool {
        asked.is_some_and(|Requested(v)| v < version)
    }

    pub fn parse(v: &str) -> Option<Requested> {
        parse(v).map(Requested)
    }
}

fn parse(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Splits `/v1.41/containers/json` into the version and `/containers/json`; a path without a
/// prefix comes back as is. An unsupported version is a 400.
pub fn strip_prefix(path: &str) -> Result<(Option<&str>, &str), ApiError> {
    let Some(after) = path.strip_prefix("/v") else {
        return Ok((None, path));
    };
    let (version, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // Not a version prefix (e.g. `/volumes`): route it as is.
        return Ok((None, path));
    }
    let parsed = parse(version)
        .ok_or_else(|| ApiError::bad_request(format!("invalid API version {version:?}")))?;
    if parsed > CURRENT {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if parsed < MINIMUM {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok((Some(version), if rest.is_empty() { "/" } else { rest }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(strip_prefix("/_ping").unwrap(), (None, "/_ping"));
        assert_eq!(
            strip_prefix("/v1.41/_ping").unwrap(),
            (Some("1.41"), "/_ping")
        );
        assert_eq!(
            strip_prefix("/v1.50/containers/json").unwrap(),
            (Some("1.50"), "/containers/json")
        );
        assert_eq!(strip_prefix("/v1.24").unwrap(), (Some("1.24"), "/"));
        assert_eq!(strip_prefix("/volumes").unwrap(), (None, "/volumes"));
        let e = strip_prefix("/v1.99/version").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert_eq!(
            e.message,
            "client version 1.99 is too new. Maximum supported API version is 1.50"
        );
        let e = strip_prefix("/v1.12/version").unwrap_err();
        assert!(e.message.starts_with("client version 1.12 is too old"));
        assert_eq!(strip_prefix("/v1/x").unwrap_err().status.as_u16(), 400);
        assert_eq!(strip_prefix("/v2.0/x").unwrap_err().status.as_u16(), 400);
    }
}
