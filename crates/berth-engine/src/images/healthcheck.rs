//! The image's `HEALTHCHECK`, parsed from the Dockerfile instruction (`import --change`,
//! builds); `docker_config` reads it back from the config blob.

use bollard_stubs::models::HealthConfig;

use crate::error::{Error, Result};
use crate::logs::parse_go_duration;

/// `HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D]
/// [--retries=N] CMD command` or `HEALTHCHECK NONE`, as Docker's `Healthcheck` object.
pub(crate) fn parse_instruction(rest: &str) -> Result<serde_json::Value> {
    let bad = |why: String| Error::InvalidArgument(format!("HEALTHCHECK: {why}"));
    let mut hc = HealthConfig::default();
    let mut rest = rest.trim_start();
    while let Some(flag) = rest.strip_prefix("--") {
        let (word, after) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
        rest = after.trim_start();
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| bad(format!("flag --{word} needs a value (--{word}=...)")))?;
        let nanos = || {
            parse_go_duration(value)
                .filter(|s| *s >= 0.0)
                .map(|s| (s * 1e9) as i64)
                .ok_or_else(|| bad(format!("invalid duration {value:?} for --{name}")))
        };
        match name {
            "interval" => hc.interval = Some(nanos()?),
            "timeout" => hc.timeout = Some(nanos()?),
            "start-period" => hc.start_period = Some(nanos()?),
            "start-interval" => hc.start_interval = Some(nanos()?),
            "retries" => {
                hc.retries = Some(
                    value
                        .parse()
                        .map_err(|_| bad(format!("invalid --retries {value:?}")))?,
                )
            }
            other => return Err(bad(format!("unknown flag --{other}"))),
        }
    }
    let (kind, command) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let command = command.trim();
    hc.test = Some(match kind.to_ascii_uppercase().as_str() {
        "NONE" if command.is_empty() => vec!["NONE".into()],
        "CMD" if command.starts_with('[') => {
            let argv: Vec<String> = serde_json::from_str(command)
                .map_err(|e| bad(format!("invalid JSON array {command:?}: {e}")))?;
            std::iter::once("CMD".to_string()).chain(argv).collect()
        }
        "CMD" if !command.is_empty() => vec!["CMD-SHELL".into(), command.into()],
        _ => return Err(bad(format!("expected NONE or CMD command, got {rest:?}"))),
    });
    Ok(serde_json::to_value(hc).expect("a health config serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn instructions_as_docker_reads_them() {
        assert_eq!(
            parse_instruction("--interval=200ms --retries=2 CMD test -f /ok").unwrap(),
            json!({"Test": ["CMD-SHELL", "test -f /ok"], "Interval": 200_000_000, "Retries": 2})
        );
        assert_eq!(
            parse_instruction("CMD [\"true\", \"x\"]").unwrap(),
            json!({"Test": ["CMD", "true", "x"]})
        );
        assert_eq!(
            parse_instruction("NONE").unwrap(),
            json!({"Test": ["NONE"]})
        );
        assert!(parse_instruction("--bogus=1 CMD true").is_err());
        assert!(parse_instruction("--interval=soon CMD true").is_err());
        assert!(parse_instruction("RUN true").is_err());
    }
}
