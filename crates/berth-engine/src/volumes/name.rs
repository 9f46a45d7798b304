//! Volume names: Docker's local-driver grammar, so that a name can never be a path.

use crate::error::{Error, Result};

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, as Docker's local driver requires: no `/`, no `..` alone.
pub fn validate(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if name.len() >= 2 && first_ok && rest_ok {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )))
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn names() {
        for ok in ["data", "my-vol_1.2", "a1"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "../x", "..", "a/b", "/abs", ".hidden", "-x", "a b"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
