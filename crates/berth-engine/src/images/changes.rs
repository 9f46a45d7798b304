//! `docker import --change`: the Dockerfile instructions an import may apply to the config.

use berth_image::ConfigChanges;

use crate::error::{Error, Result};

/// Applies each `INSTRUCTION args` line to `changes`; unknown or unsupported instructions are
/// an error naming them, as Docker's are.
pub fn parse_changes(lines: &[String]) -> Result<ConfigChanges> {
    let mut changes = ConfigChanges::default();
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        match word.to_ascii_uppercase().as_str() {
            "CMD" => changes.cmd = Some(command(rest)?),
            "ENTRYPOINT" => changes.entrypoint = Some(command(rest)?),
            "ENV" => changes.env.extend(key_values(rest, "ENV")?),
            "WORKDIR" => changes.workdir = Some(rest.to_string()),
            "USER" => changes.user = Some(rest.to_string()),
            "LABEL" => {
                for kv in key_values(rest, "LABEL")? {
                    let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                    changes.labels.insert(k.to_string(), v.to_string());
                }
            }
            "EXPOSE" => changes
                .exposed_ports
                .extend(rest.split_whitespace().map(str::to_string)),
            "VOLUME" => changes.volumes.extend(volume_paths(rest)?),
            "HEALTHCHECK" => {
                changes.healthcheck = Some(super::healthcheck::parse_instruction(rest)?)
            }
            "ONBUILD" => changes.on_build.push(onbuild_trigger(rest)?),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "{other} is not a valid change command"
                )));
            }
        }
    }
    Ok(changes)
}

/// The exec form (`["a","b"]`) as is; the shell form wrapped in `/bin/sh -c`.
fn command(rest: &str) -> Result<Vec<String>> {
    if rest.starts_with('[') {
        serde_json::from_str(rest)
            .map_err(|e| Error::InvalidArgument(format!("invalid JSON array {rest:?}: {e}")))
    } else {
        Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
    }
}

/// `VOLUME ["/a", "/b"]` or `VOLUME /a /b`.
fn volume_paths(rest: &str) -> Result<Vec<String>> {
    let paths: Vec<String> = if rest.starts_with('[') {
        serde_json::from_str(rest)
            .map_err(|e| Error::InvalidArgument(format!("invalid JSON array {rest:?}: {e}")))?
    } else {
        rest.split_whitespace().map(str::to_string).collect()
    };
    if paths.is_empty() {
        return Err(Error::InvalidArgument("VOLUME requires an argument".into()));
    }
    Ok(paths)
}

/// `K=V K2="v 2"` pairs, or the legacy `K V` form; values may be double-quoted.
fn key_values(rest: &str, what: &str) -> Result<Vec<String>> {
    if rest.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{what} requires an argument"
        )));
    }
    let first = rest.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return Ok(vec![format!("{k}={}", v.trim())]);
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in rest.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(Error::InvalidArgument(format!(
            "unterminated quote in {what} {rest}"
        )));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    if let Some(bad) = out.iter().find(|kv| !kv.contains('=')) {
        return Err(Error::InvalidArgument(format!("{what} {bad}: missing '='")));
    }
    Ok(out)
}

/// `ONBUILD`'s trigger, checked as Docker's parser does: not empty, no `ONBUILD`, `FROM` or
/// `MAINTAINER`.
pub(crate) fn onbuild_trigger(rest: &str) -> Result<String> {
    let trigger = rest.trim();
    let keyword = trigger
        .split_whitespace()
        .next()
        .ok_or_else(|| Error::InvalidArgument("ONBUILD requires at least one argument".into()))?
        .to_ascii_uppercase();
    match keyword.as_str() {
        "ONBUILD" => Err(Error::InvalidArgument(
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into(),
        )),
        "FROM" | "MAINTAINER" => Err(Error::InvalidArgument(format!(
            "{keyword} isn't allowed as an ONBUILD trigger"
        ))),
        _ => Ok(trigger.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_and_exec_forms() {
        let c = parse_changes(&[
            "CMD echo hi".into(),
            r#"ENTRYPOINT ["/bin/sh","-c"]"#.into(),
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c"]);
    }

    #[test]
    fn env_label_forms() {
        let c = parse_changes(&[
            r#"ENV A=1 B="two words""#.into(),
            "ENV LEGACY value here".into(),
            "LABEL x=y".into(),
            "WORKDIR /srv".into(),
        ])
        .unwrap();
        assert_eq!(c.env, ["A=1", "B=two words", "LEGACY=value here"]);
        assert_eq!(c.labels["x"], "y");
        assert_eq!(c.workdir.as_deref(), Some("/srv"));
    }

    #[test]
    fn bad_changes_are_named() {
        let e = parse_changes(&["RUN rm -rf /".into()]).unwrap_err();
        assert!(
            e.to_string().contains("RUN is not a valid change command"),
            "{e}"
        );
        assert!(parse_changes(&["CMD [\"unterminated\"".into()]).is_err());
        assert!(parse_changes(&["ENV".into()]).is_err());
    }
}
