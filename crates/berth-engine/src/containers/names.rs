//! Container names: Docker's validation and generated `adjective_scientist` names.

use crate::error::{Error, Result};

/// Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, an optional leading `/` dropped.
pub fn validate(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let b = bare.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(bare.to_string())
    } else {
        Err(Error::InvalidArgument(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "clever", "eager", "gentle", "happy", "jolly", "keen", "lucid", "merry",
    "nimble", "proud", "quiet", "rapid", "sharp", "steady", "swift", "tidy", "vivid", "witty",
];

const NAMES: &[&str] = &[
    "ada", "babbage", "curie", "dijkstra", "euler", "fermi", "gauss", "hopper", "knuth",
    "lovelace", "meitner", "noether", "pascal", "ritchie", "shannon", "turing", "volta", "wirth",
    "yalow", "zuse",
];

/// A readable name from `random` bits; the caller retries on a clash (appending a digit).
pub fn generate(random: u64, attempt: u32) -> String {
    let a = ADJECTIVES[(random % ADJECTIVES.len() as u64) as usize];
    let n = NAMES[((random >> 16) % NAMES.len() as u64) as usize];
    if attempt == 0 {
        format!("{a}_{n}")
    } else {
        format!("{a}_{n}{attempt}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_name_rules() {
        assert_eq!(validate("/web-1.a_b").unwrap(), "web-1.a_b");
        for bad in ["", "a", "-x", "a b", "a/b", "ünï"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
