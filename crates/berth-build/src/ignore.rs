//! `.dockerignore`: Docker's rules. One pattern a line (`#` comments, blank lines skipped),
//! cleaned like a path (leading `/` and `./` dropped); `*`, `?`, `[...]` within a path
//! segment, `**` for any number of segments; a `!` line is an exception. The last pattern
//! that matches a path decides, and a pattern matching a directory matches what is in it.

/// The parsed rules.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    exception: bool,
    segments: Vec<String>,
}

impl IgnoreRules {
    /// Parses a `.dockerignore`; a bare `!` is an error naming its line.
    pub fn parse(text: &str) -> Result<IgnoreRules, String> {
        let mut patterns = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            if pat.is_empty() {
                return Err(format!(
                    ".dockerignore line {}: illegal exclusion pattern: \"!\"",
                    n + 1
                ));
            }
            let segments = clean(pat);
            if segments.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                exception,
                segments,
            });
        }
        Ok(IgnoreRules { patterns })
    }

    /// Whether the context path `rel` (`/`-separated, relative to the context root) is left
    /// out of the build context.
    pub fn is_excluded(&self, rel: &str) -> bool {
        let path = clean(rel);
        let mut excluded = false;
        for p in &self.patterns {
            let hit = (1..=path.len()).any(|n| match_segments(&p.segments, &path[..n]));
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether any pattern is an exception (then an excluded directory must still be walked:
    /// an exception may bring back something in it).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

/// Whether the `/`-separated `path` matches the glob `pattern` as a whole (COPY sources).
pub fn glob_match(pattern: &str, path: &str) -> bool {
    match_segments(&clean(pattern), &clean(path))
}

/// Whether `s` has glob characters.
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// A path cleaned as Go's `filepath.Clean`, split into segments, without a leading `/`.
fn clean(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s.to_string()),
        }
    }
    out
}

fn match_segments(pat: &[String], path: &[String]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((seg, more)) => {
                match_segment(first.as_bytes(), seg.as_bytes()) && match_segments(rest, more)
            }
            None => false,
        },
    }
}

/// Go's `filepath.Match` for one segment.
fn match_segment(pat: &[u8], s: &[u8]) -> bool {
    match pat.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| match_segment(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && match_segment(rest, &s[1..]),
        Some((b'[', rest)) => {
            let Some((&c, more)) = s.split_first() else {
                return false;
            };
            let (negate, mut class) = match rest.first() {
                Some(b'^' | b'!') => (true, &rest[1..]),
                _ => (false, rest),
            };
            let mut found = false;
            let mut first = true;
            loop {
                match class {
                    [] => return false, // unterminated class: no match
                    [b']', tail @ ..] if !first => {
                        class = tail;
                        break;
                    }
                    [b'\\', x, tail @ ..] | [x, tail @ ..] => {
                        let lo = *x;
                        let (hi, tail) = match tail {
                            [b'-', h, t @ ..] if *h != b']' => (*h, t),
                            _ => (lo, tail),
                        };
                        found |= lo <= c && c <= hi;
                        class = tail;
                    }
                }
                first = false;
            }
            found != negate && match_segment(class, more)
        }
        Some((b'\\', [x, rest @ ..])) => s.first() == Some(x) && match_segment(rest, &s[1..]),
        Some((x, rest)) => s.first() == Some(x) && match_segment(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        let r = IgnoreRules::parse(
            "# comment\n\n*.log\n!keep.log\n/build\nsecret?/\ndocs/**/*.md\n!docs/README.md\n[a-c]x\n",
        )
        .unwrap();
        assert!(r.is_excluded("app.log"));
        assert!(!r.is_excluded("keep.log"));
        // `*.log` is for the root only, as in Docker.
        assert!(!r.is_excluded("sub/app.log"));
        assert!(r.is_excluded("build"));
        assert!(r.is_excluded("build/out/bin"));
        assert!(r.is_excluded("secret1/key"));
        assert!(!r.is_excluded("secret12/key"));
        assert!(r.is_excluded("docs/a/b/x.md"));
        assert!(r.is_excluded("docs/x.md"));
        assert!(!r.is_excluded("docs/README.md"));
        assert!(r.is_excluded("bx"));
        assert!(!r.is_excluded("dx"));
        assert!(!r.is_excluded("main.rs"));
        assert!(r.has_exceptions());
    }

    #[test]
    fn later_patterns_win_and_bad_lines_are_named() {
        let r = IgnoreRules::parse("!a\na\n**/tmp\n").unwrap();
        assert!(r.is_excluded("a"));
        assert!(r.is_excluded("x/y/tmp/z"));
        assert!(r.is_excluded("./tmp"));
        let e = IgnoreRules::parse("ok\n!\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}
