//! Dockerfile text → instructions: parser directives at the top (`# syntax=`, `# escape=`),
//! comments, line continuations (with the escape character), `--flags`, the JSON exec form,
//! and here-documents (`<<EOF` … `EOF`) after `RUN`, `COPY` and `ADD`.

use crate::error::{ParseError, Result};
use crate::instruction::{Args, Heredoc, Instruction, KEYWORDS, takes_json};

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The `# syntax=` directive (a BuildKit frontend image; recorded, not used).
    pub syntax: Option<String>,
    /// The escape character: `\` unless `# escape=` says `` ` ``.
    pub escape: char,
    pub instructions: Vec<Instruction>,
}

/// The flags each instruction accepts.
fn allowed_flags(keyword: &str) -> &'static [&'static str] {
    match keyword {
        "FROM" => &["platform"],
        "COPY" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "ADD" => &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
        ],
        "RUN" => &["mount", "network", "security"],
        "HEALTHCHECK" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        _ => &[],
    }
}

/// Instructions that may have no arguments.
const NO_ARGS_OK: &[&str] = &["CMD", "ENTRYPOINT"];

struct Lines<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
    next: usize,
}

impl Lines<'_> {
    fn err(&self, line: usize, column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// `# key=value` as a parser directive.
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.strip_prefix('#')?.trim();
    let (k, v) = body.split_once('=')?;
    let k = k.trim().to_ascii_lowercase();
    if !["syntax", "escape", "check"].contains(&k.as_str()) {
        return None;
    }
    Some((k, v.trim().to_string()))
}

/// Parses `text`, the Dockerfile named `file` (used in errors).
pub fn parse(file: &str, text: &str) -> Result<Dockerfile> {
    let mut lines = Lines {
        file,
        lines: text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect(),
        next: 0,
    };
    let mut df = Dockerfile {
        syntax: None,
        escape: '\\',
        instructions: Vec::new(),
    };
    let mut seen = Vec::new();
    while let Some(line) = lines.lines.get(lines.next) {
        let Some((k, v)) = directive(line) else { break };
        if seen.contains(&k) {
            return Err(lines.err(
                lines.next + 1,
                1,
                format!("only one {k} parser directive can be used"),
            ));
        }
        match k.as_str() {
            "syntax" => df.syntax = Some(v),
            "escape" => {
                df.escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(lines.err(
                            lines.next + 1,
                            1,
                            format!("invalid escape token '{v}' does not match ` or \\"),
                        ));
                    }
                }
            }
            _ => {}
        }
        seen.push(k);
        lines.next += 1;
    }
    while let Some(ins) = next_instruction(&mut lines, df.escape)? {
        df.instructions.push(ins);
    }
    if df.instructions.is_empty() {
        return Err(lines.err(1, 1, "the Dockerfile has no instructions"));
    }
    Ok(df)
}

/// The next instruction, its continuation lines joined and its here-documents read.
fn next_instruction(lines: &mut Lines, escape: char) -> Result<Option<Instruction>> {
    // Skip blank lines and comments.
    while let Some(l) = lines.lines.get(lines.next) {
        if l.trim().is_empty() || is_comment(l) {
            lines.next += 1;
        } else {
            break;
        }
    }
    let Some(first) = lines.lines.get(lines.next) else {
        return Ok(None);
    };
    let line_no = lines.next + 1;
    let column = first.len() - first.trim_start().len() + 1;
    let mut joined = String::new();
    let mut current = first.trim_start().to_string();
    lines.next += 1;
    loop {
        let trimmed = current.trim_end();
        match trimmed.strip_suffix(escape) {
            Some(head) => {
                joined.push_str(head);
                // The next line that is not a comment continues this one.
                let mut cont = None;
                while let Some(l) = lines.lines.get(lines.next) {
                    lines.next += 1;
                    if is_comment(l) {
                        continue;
                    }
                    if l.trim().is_empty() {
                        continue;
                    }
                    cont = Some(l.to_string());
                    break;
                }
                match cont {
                    Some(c) => current = c,
                    None => break,
                }
            }
            None => {
                joined.push_str(&current);
                break;
            }
        }
    }
    let joined = joined.trim().to_string();
    let (word, rest) = joined
        .split_once(char::is_whitespace)
        .unwrap_or((joined.as_str(), ""));
    let keyword = word.to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(lines.err(line_no, column, format!("unknown instruction: {word}")));
    }
    let (flags, rest) = split_flags(&keyword, rest.trim_start())
        .map_err(|m| lines.err(line_no, column + word.len() + 1, m))?;
    let heredocs = if ["RUN", "COPY", "ADD"].contains(&keyword.as_str()) {
        read_heredocs(lines, rest, line_no)?
    } else {
        Vec::new()
    };
    let args = arguments(&keyword, rest);
    if rest.is_empty() && !NO_ARGS_OK.contains(&keyword.as_str()) {
        return Err(lines.err(
            line_no,
            column,
            format!("{keyword} requires at least one argument"),
        ));
    }
    if keyword == "SHELL" && !matches!(args, Args::Exec(_)) {
        return Err(lines.err(
            line_no,
            column,
            "SHELL requires the arguments to be in JSON form",
        ));
    }
    if keyword == "ONBUILD" {
        let inner = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if ["ONBUILD", "FROM", "MAINTAINER"].contains(&inner.as_str()) {
            return Err(lines.err(
                line_no,
                column,
                format!("{inner} isn't allowed as an ONBUILD trigger"),
            ));
        }
    }
    Ok(Some(Instruction {
        keyword,
        flags,
        args,
        heredocs,
        original: joined.clone(),
        line: line_no,
    }))
}

/// `--name=value` pairs in order.
type Flags = Vec<(String, String)>;

/// Leading `--name[=value]` words, checked against what the instruction accepts.
fn split_flags<'a>(
    keyword: &str,
    mut rest: &'a str,
) -> std::result::Result<(Flags, &'a str), String> {
    let allowed = allowed_flags(keyword);
    let mut flags = Vec::new();
    if allowed.is_empty() {
        return Ok((flags, rest));
    }
    while let Some(after) = rest.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let word = &after[..end];
        rest = after[end..].trim_start();
        if word.is_empty() {
            break;
        }
        let (name, value) = word.split_once('=').unwrap_or((word, "true"));
        if !allowed.contains(&name) {
            return Err(format!("unknown flag: --{name} for {keyword}"));
        }
        flags.push((name.to_string(), value.to_string()));
    }
    Ok((flags, rest))
}

/// The exec form when the instruction takes it and the text is a JSON array of strings.
fn arguments(keyword: &str, rest: &str) -> Args {
    if takes_json(keyword)
        && rest.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(rest)
    {
        return Args::Exec(v);
    }
    Args::Shell(rest.to_string())
}

/// Reads the bodies of the here-documents `text` names (`<<EOF`, `<<-EOF`, `<<"EOF"`).
fn read_heredocs(lines: &mut Lines, text: &str, line_no: usize) -> Result<Vec<Heredoc>> {
    let mut out = Vec::new();
    let mut s = text;
    while let Some(i) = s.find("<<") {
        let mut rest = &s[i + 2..];
        let strip_tabs = rest.starts_with('-');
        if strip_tabs {
            rest = &rest[1..];
        }
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
        if quote.is_some() {
            rest = &rest[1..];
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        s = &rest[end..];
        if name.is_empty() {
            continue;
        }
        if let Some(q) = quote {
            s = s.strip_prefix(q).unwrap_or(s);
        }
        let mut content = String::new();
        loop {
            let Some(l) = lines.lines.get(lines.next) else {
                return Err(lines.err(
                    line_no,
                    1,
                    format!(
                        "unterminated heredoc {name}: no line {name} before the end of the file"
                    ),
                ));
            };
            lines.next += 1;
            let l = if strip_tabs {
                l.trim_start_matches('\t')
            } else {
                l
            };
            if l == name {
                break;
            }
            content.push_str(l);
            content.push('\n');
        }
        out.push(Heredoc {
            name: name.to_string(),
            content,
            strip_tabs,
            quoted: quote.is_some(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Dockerfile {
        parse("Dockerfile", s).unwrap()
    }

    #[test]
    fn continuations_comments_and_forms() {
        let df = p(
            "FROM busybox AS base\n# a comment\nRUN echo a \\\n  # inside\n  && echo b\nCMD [\"sh\", \"-c\", \"echo hi\"]\nENTRYPOINT [not json\n",
        );
        let ins = &df.instructions;
        assert_eq!(ins.len(), 4);
        assert_eq!(ins[0].keyword, "FROM");
        assert_eq!(ins[1].args, Args::Shell("echo a   && echo b".into()));
        assert_eq!(ins[1].line, 3);
        assert_eq!(
            ins[2].args,
            Args::Exec(vec!["sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(ins[3].args, Args::Shell("[not json".into()));
    }

    #[test]
    fn directives_and_escape() {
        let df = p("# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\nCOPY a `\n  b /dst\n");
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(df.escape, '`');
        assert_eq!(df.instructions[1].args, Args::Shell("a   b /dst".into()));
        // A directive after an instruction is a comment.
        let df = p("FROM scratch\n# escape=`\n");
        assert_eq!(df.escape, '\\');
        let e = parse("Dockerfile", "# escape=x\nFROM scratch\n").unwrap_err();
        assert!(e.message.contains("invalid escape token"), "{e}");
    }

    #[test]
    fn flags_are_checked() {
        let df =
            p("FROM --platform=linux/amd64 busybox\nCOPY --from=base --chown=1:2 --link a b\n");
        assert_eq!(df.instructions[0].flag("platform"), Some("linux/amd64"));
        let c = &df.instructions[1];
        assert_eq!(c.flag("from"), Some("base"));
        assert_eq!(c.flag("chown"), Some("1:2"));
        assert_eq!(c.flag("link"), Some("true"));
        assert_eq!(c.args, Args::Shell("a b".into()));
        let e = parse("Dockerfile", "FROM x\nCOPY --bogus=1 a b\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 6));
        assert!(e.message.contains("unknown flag: --bogus"), "{e}");
    }

    #[test]
    fn heredocs() {
        let df = p(
            "FROM busybox\nRUN <<EOF\necho one\necho two\nEOF\nRUN <<-\"END\" cat\n\tkept $HOME\n\tEND\nCMD x\n",
        );
        let r = &df.instructions[1];
        assert_eq!(r.heredocs[0].content, "echo one\necho two\n");
        let q = &df.instructions[2].heredocs[0];
        assert!(q.quoted && q.strip_tabs);
        assert_eq!(q.content, "kept $HOME\n");
        assert_eq!(df.instructions[3].keyword, "CMD");
        let e = parse("Dockerfile", "FROM x\nRUN <<EOF\necho\n").unwrap_err();
        assert!(e.message.contains("unterminated heredoc"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse("dir/Dockerfile.dev", "FROM busybox\n\n  FOO bar\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 3));
        let shown = e.to_string();
        assert!(
            shown.contains("line 3: unknown instruction: FOO"),
            "{shown}"
        );
        assert!(shown.contains("dir/Dockerfile.dev:3:3"), "{shown}");
        let e = parse("Dockerfile", "FROM x\nSHELL /bin/bash\n").unwrap_err();
        assert!(e.message.contains("JSON form"), "{e}");
        let e = parse("Dockerfile", "FROM x\nENV\n").unwrap_err();
        assert!(
            e.message.contains("ENV requires at least one argument"),
            "{e}"
        );
        let e = parse("Dockerfile", "FROM x\nONBUILD FROM y\n").unwrap_err();
        assert!(e.message.contains("isn't allowed"), "{e}");
        assert!(parse("Dockerfile", "# only a comment\n").is_err());
    }

    #[test]
    fn every_instruction_parses() {
        let df = p(r#"ARG V=1
FROM busybox:${V} AS b
MAINTAINER me
LABEL a=b "c d"=e
EXPOSE 80 53/udp
ENV K=v K2="x y"
ADD a.tar /x/
COPY ["a b", "/c"]
ENTRYPOINT ["/bin/sh"]
VOLUME ["/data"]
USER 1000:1000
WORKDIR /w
ARG LATE
ONBUILD RUN echo
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD true
SHELL ["/bin/sh", "-ec"]
RUN true
CMD
"#);
        assert_eq!(df.instructions.len(), 19);
        assert_eq!(df.instructions[15].flag("interval"), Some("5s"));
        assert_eq!(
            df.instructions[7].args,
            Args::Exec(vec!["a b".into(), "/c".into()])
        );
    }
}
