//! Registry credentials as Docker clients send them: the `X-Registry-Auth` header of pull and
//! push, and `POST /auth` (`docker login`), checked against the registry itself.

use std::collections::HashMap;

use base64::Engine as _;
use berth_registry::Credentials;
use serde_json::Value;

use crate::api::LoginRequest;
use crate::error::{Error, Result};

/// `X-Registry-Auth`: base64url (padded or not) JSON `{"username","password",...}`.
pub fn decode_auth(header: &str) -> Option<Credentials> {
    let trimmed = header.trim().trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let username = v.get("username")?.as_str()?.to_string();
    let password = v
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    (!username.is_empty()).then_some(Credentials { username, password })
}

/// The credentials of an `X-Registry-Auth` header, keyed by `registry` (the header carries
/// one registry's, the one the request is about).
pub fn credentials_for(registry: &str, header: Option<&str>) -> HashMap<String, Credentials> {
    header
        .and_then(decode_auth)
        .map(|c| HashMap::from([(registry.to_string(), c)]))
        .unwrap_or_default()
}

/// `docker login`: the credentials are tried on the registry's `/v2/`; a refusal is a 401
/// with Docker's wording.
pub fn login(req: &LoginRequest, insecure: &[String]) -> Result<()> {
    if req.username.is_empty() {
        return Err(Error::InvalidArgument(
            "username is required to log in".into(),
        ));
    }
    let registry = berth_registry::registry_of_server(&req.server_address);
    let creds = Credentials {
        username: req.username.clone(),
        password: req.password.clone(),
    };
    berth_registry::login(&registry, insecure, &creds).map_err(|e| match e {
        berth_registry::Error::Registry {
            status: 401 | 403, ..
        }
        | berth_registry::Error::Auth { .. } => Error::Unauthorized(format!(
            "login attempt to {registry} failed: unauthorized: {e}"
        )),
        e => Error::Internal(format!("login to {registry}: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_header_forms() {
        let raw = r#"{"username":"u","password":"p","serveraddress":"localhost:5000"}"#;
        let url = base64::engine::general_purpose::URL_SAFE.encode(raw);
        let c = decode_auth(&url).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert!(decode_auth("e30=").is_none(), "{{}} carries no credentials");
        assert!(decode_auth("not base64!").is_none());
        assert_eq!(credentials_for("r:1", Some(&url))["r:1"], c);
        assert!(credentials_for("r:1", None).is_empty());
    }
}
