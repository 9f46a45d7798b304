//! Docker's variable substitution and word splitting: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`; single quotes keep text
//! literal, double quotes keep spaces, the escape character escapes the next character.

use std::iter::Peekable;
use std::str::Chars;

/// Looks a variable up: `None` when it is not set.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `s` as one word: variables substituted, quotes and escapes removed.
pub fn expand_word(s: &str, env: Lookup, escape: char) -> Result<String, String> {
    Ok(Expander { env, escape }.run(s, false)?.join(" "))
}

/// `s` split into words at unquoted whitespace, each substituted and unquoted.
pub fn expand_words(s: &str, env: Lookup, escape: char) -> Result<Vec<String>, String> {
    Expander { env, escape }.run(s, true)
}

struct Expander<'a> {
    env: Lookup<'a>,
    escape: char,
}

impl Expander<'_> {
    fn run(&self, s: &str, split: bool) -> Result<Vec<String>, String> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut started = false;
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                c if c == self.escape => {
                    match it.next() {
                        Some(n) => cur.push(n),
                        None => cur.push(c),
                    }
                    started = true;
                }
                '\'' => {
                    started = true;
                    loop {
                        match it.next() {
                            Some('\'') => break,
                            Some(n) => cur.push(n),
                            None => return Err("unexpected end of statement while looking for matching single-quote".into()),
                        }
                    }
                }
                '"' => {
                    started = true;
                    loop {
                        match it.next() {
                            Some('"') => break,
                            Some(e) if e == self.escape => match it.peek() {
                                Some(&n) if n == '"' || n == '$' || n == self.escape => {
                                    cur.push(n);
                                    it.next();
                                }
                                _ => cur.push(e),
                            },
                            Some('$') => cur.push_str(&self.variable(&mut it)?),
                            Some(n) => cur.push(n),
                            None => return Err("unexpected end of statement while looking for matching double-quote".into()),
                        }
                    }
                }
                '$' => {
                    cur.push_str(&self.variable(&mut it)?);
                    started = true;
                }
                c if split && c.is_whitespace() => {
                    if started {
                        words.push(std::mem::take(&mut cur));
                        started = false;
                    }
                }
                c => {
                    cur.push(c);
                    started = true;
                }
            }
        }
        if started || !split {
            words.push(cur);
        }
        Ok(words)
    }

    /// After a `$`: the variable's value (or a literal `$` when no name follows).
    fn variable(&self, it: &mut Peekable<Chars>) -> Result<String, String> {
        if it.peek() != Some(&'{') {
            let name = variable_name(it);
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok((self.env)(&name).unwrap_or_default());
        }
        it.next();
        let name = variable_name(it);
        if name.is_empty() {
            return Err("bad substitution: missing variable name after ${".into());
        }
        let mut op = String::new();
        if it.peek() == Some(&':') {
            op.push(':');
            it.next();
        }
        match it.next() {
            Some('}') if op.is_empty() => return Ok((self.env)(&name).unwrap_or_default()),
            Some(c @ ('-' | '+' | '?')) => op.push(c),
            Some(c) => {
                return Err(format!(
                    "unsupported modifier ({op}{c}) in substitution of {name}"
                ));
            }
            None => return Err(format!("missing '}}' in substitution of {name}")),
        }
        // The word up to the matching brace, expanded itself.
        let mut word = String::new();
        let mut depth = 0;
        loop {
            match it.next() {
                Some('}') if depth == 0 => break,
                Some(c) => {
                    depth += i32::from(c == '{') - i32::from(c == '}');
                    word.push(c);
                }
                None => return Err(format!("missing '}}' in substitution of {name}")),
            }
        }
        let value = (self.env)(&name);
        let set = match op.as_str() {
            ":-" | ":+" | ":?" => value.as_deref().is_some_and(|v| !v.is_empty()),
            _ => value.is_some(),
        };
        let word = || -> Result<String, String> { Ok(self.run(&word, false)?.join(" ")) };
        match (op.trim_start_matches(':'), set) {
            ("-", true) | ("?", true) => Ok(value.unwrap_or_default()),
            ("-", false) => word(),
            ("+", true) => word(),
            ("+", false) => Ok(String::new()),
            (_, _) => {
                let msg = word()?;
                Err(if msg.is_empty() {
                    format!("{name}: is not allowed to be unset")
                } else {
                    format!("{name}: {msg}")
                })
            }
        }
    }
}

/// The letters, digits and underscores that follow.
fn variable_name(it: &mut Peekable<Chars>) -> String {
    let mut name = String::new();
    while let Some(&c) = it.peek() {
        if c.is_ascii_alphanumeric() || c == '_' {
            name.push(c);
            it.next();
        } else {
            break;
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "A" => Some("one".into()),
            "EMPTY" => Some(String::new()),
            "SP" => Some("a b".into()),
            _ => None,
        }
    }

    fn w(s: &str) -> String {
        expand_word(s, &env, '\\').unwrap()
    }

    #[test]
    fn substitutions() {
        assert_eq!(w("$A/${A}x"), "one/onex");
        assert_eq!(w("${NOPE:-def}"), "def");
        assert_eq!(w("${EMPTY:-def}"), "def");
        assert_eq!(w("${EMPTY-def}"), "");
        assert_eq!(w("${A:+alt}"), "alt");
        assert_eq!(w("${NOPE:+alt}"), "");
        assert_eq!(w("${NOPE:-${A}-nested}"), "one-nested");
        assert_eq!(w("cost $"), "cost $");
        assert!(
            expand_word("${NOPE:?must be set}", &env, '\\')
                .unwrap_err()
                .contains("NOPE: must be set")
        );
        assert!(expand_word("${A", &env, '\\').is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(w("'$A' \"$A\" \\$A"), "$A one $A");
        assert_eq!(w("`$A"), "`one");
        assert_eq!(expand_word("`$A", &env, '`').unwrap(), "$A");
        assert!(expand_word("\"open", &env, '\\').is_err());
    }

    #[test]
    fn word_splitting() {
        let ws = expand_words("K=$A L=\"x y\" M='$SP'  \"\"", &env, '\\').unwrap();
        assert_eq!(ws, ["K=one", "L=x y", "M=$SP", ""]);
        assert_eq!(
            expand_words("  ", &env, '\\').unwrap(),
            Vec::<String>::new()
        );
    }
}
