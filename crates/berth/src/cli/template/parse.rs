//! Parsing a Go text/template subset into a tree.

/// An argument of a command.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `.A.B` (empty path: `.`).
    Field(Vec<String>),
    /// `$`, `$.A.B` (empty name: the root), `$x`, `$x.A`.
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Nil,
    /// A function name.
    Ident(String),
    /// `( pipeline )`, optionally followed by `.A.B`.
    Sub(Pipe, Vec<String>),
}

/// One command: a function call, a method-like field call, or one value.
#[derive(Debug, Clone)]
pub struct Cmd(pub Vec<Arg>);

/// `cmd | cmd | ...`: each result is passed as the last argument of the next command. The
/// second field names the variables it declares (`$x := ...`, `range $i, $e := ...`).
#[derive(Debug, Clone)]
pub struct Pipe(pub Vec<Cmd>, pub Vec<String>);

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
}

/// Splits the source into text and action strings, applying `{{-` / `-}}` trimming.
fn split(src: &str) -> Result<Vec<(bool, String)>, String> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(i) = rest.find("{{") {
        let mut text = &rest[..i];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[i + 2..];
        let (after, trim_prev) = match after.strip_prefix("- ") {
            Some(a) => (a, true),
            None => (after, false),
        };
        if trim_prev {
            text = text.trim_end();
        }
        if !text.is_empty() {
            out.push((false, text.to_string()));
        }
        let end = find_close(after).ok_or("unclosed action")?;
        let mut action = &after[..end];
        trim_next = false;
        if let Some(a) = action.strip_suffix(" -") {
            action = a;
            trim_next = true;
        }
        rest = &after[end + 2..];
        let a = action.trim();
        if !(a.starts_with("/*") && a.ends_with("*/")) {
            out.push((true, a.to_string()));
        }
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        out.push((false, text.to_string()));
    }
    Ok(out)
}

/// Finds the closing `}}` of an action, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Ident(String),
    Pipe,
    Comma,
    Declare,
    Open,
    Close,
}

fn path(s: &str) -> Vec<String> {
    s.split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut toks = Vec::new();
    let word_end = |mut j: usize| {
        while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_' || c[j] == '.') {
            j += 1;
        }
        j
    };
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                toks.push(Tok::Pipe);
                i += 1
            }
            '(' => {
                toks.push(Tok::Open);
                i += 1
            }
            ')' => {
                toks.push(Tok::Close);
                i += 1;
                // `(...).Field`
                if i < c.len() && c[i] == '.' {
                    let j = word_end(i);
                    let p: String = c[i..j].iter().collect();
                    toks.push(Tok::Field(path(&p)));
                    i = j;
                }
            }
            '.' => {
                let j = word_end(i + 1);
                let p: String = c[i..j].iter().collect();
                toks.push(Tok::Field(path(&p)));
                i = j;
            }
            '$' => {
                let mut j = i + 1;
                while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
                    j += 1;
                }
                let name: String = c[i + 1..j].iter().collect();
                let k = word_end(j);
                let p: String = c[j..k].iter().collect();
                toks.push(Tok::Var(name, path(&p)));
                i = k;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1
            }
            ':' if c.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Declare);
                i += 2
            }
            '=' => {
                toks.push(Tok::Declare);
                i += 1
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match c.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some('"') => break,
                        Some('\\') => {
                            i += 1;
                            match c.get(i) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some('r') => s.push('\r'),
                                Some(&o) => s.push(o),
                                None => return Err("unterminated quoted string".into()),
                            }
                        }
                        Some(&o) => s.push(o),
                    }
                    i += 1;
                }
                i += 1;
                toks.push(Tok::Str(s));
            }
            '`' => {
                let j = c[i + 1..]
                    .iter()
                    .position(|&x| x == '`')
                    .ok_or("unterminated raw string")?;
                toks.push(Tok::Str(c[i + 1..i + 1 + j].iter().collect()));
                i += j + 2;
            }
            d if d.is_ascii_digit() || d == '-' || d == '+' => {
                let mut j = i + 1;
                while j < c.len() && (c[j].is_ascii_alphanumeric() || c[j] == '.') {
                    j += 1;
                }
                let n: String = c[i..j].iter().collect();
                toks.push(Tok::Num(
                    n.parse().map_err(|_| format!("bad number syntax: {n:?}"))?,
                ));
                i = j;
            }
            a if a.is_alphabetic() || a == '_' => {
                let mut j = i;
                while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
                    j += 1;
                }
                toks.push(Tok::Ident(c[i..j].iter().collect()));
                i = j;
            }
            o => return Err(format!("unexpected {o:?} in command")),
        }
    }
    Ok(toks)
}

fn parse_pipe(toks: &[Tok], i: &mut usize) -> Result<Pipe, String> {
    let mut cmds = Vec::new();
    let mut args = Vec::new();
    while *i < toks.len() {
        let t = toks[*i].clone();
        *i += 1;
        match t {
            Tok::Pipe => {
                if args.is_empty() {
                    return Err("missing command before |".into());
                }
                cmds.push(Cmd(std::mem::take(&mut args)));
            }
            Tok::Close => {
                *i -= 1;
                break;
            }
            Tok::Open => {
                let p = parse_pipe(toks, i)?;
                if toks.get(*i) != Some(&Tok::Close) {
                    return Err("unclosed left paren".into());
                }
                *i += 1;
                let mut fields = Vec::new();
                if let Some(Tok::Field(f)) = toks.get(*i) {
                    fields = f.clone();
                    *i += 1;
                }
                args.push(Arg::Sub(p, fields));
            }
            Tok::Field(p) => args.push(Arg::Field(p)),
            Tok::Var(n, p) => args.push(Arg::Var(n, p)),
            Tok::Comma | Tok::Declare => return Err("unexpected := or , in command".into()),
            Tok::Str(s) => args.push(Arg::Str(s)),
            Tok::Num(n) => args.push(Arg::Num(n)),
            Tok::Ident(id) => args.push(match id.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => Arg::Ident(id),
            }),
        }
    }
    if args.is_empty() {
        return Err("missing value for command".into());
    }
    cmds.push(Cmd(args));
    Ok(Pipe(cmds, Vec::new()))
}

fn pipe_of(s: &str) -> Result<Pipe, String> {
    let toks = lex(s)?;
    let mut i = 0;
    let mut decl = Vec::new();
    let var = |t: Option<&Tok>| match t {
        Some(Tok::Var(n, p)) if !n.is_empty() && p.is_empty() => Some(n.clone()),
        _ => None,
    };
    if let (Some(a), Some(Tok::Declare)) = (var(toks.first()), toks.get(1)) {
        decl.push(a);
        i = 2;
    } else if let (Some(a), Some(Tok::Comma), Some(b), Some(Tok::Declare)) = (
        var(toks.first()),
        toks.get(1),
        var(toks.get(2)),
        toks.get(3),
    ) {
        decl.extend([a, b]);
        i = 4;
    }
    let mut p = parse_pipe(&toks, &mut i)?;
    p.1 = decl;
    if i != toks.len() {
        return Err("unexpected \")\" in command".into());
    }
    Ok(p)
}

/// What ended a list of nodes.
enum Stop {
    Eof,
    End,
    Else(Option<String>),
}

fn parse_list(items: &[(bool, String)], i: &mut usize) -> Result<(Vec<Node>, Stop), String> {
    let mut nodes = Vec::new();
    while *i < items.len() {
        let (is_action, s) = &items[*i];
        *i += 1;
        if !is_action {
            nodes.push(Node::Text(s.clone()));
            continue;
        }
        let (kw, rest) = match s.split_once(|c: char| c.is_whitespace()) {
            Some((k, r)) => (k, r.trim()),
            None => (s.as_str(), ""),
        };
        match kw {
            "end" => return Ok((nodes, Stop::End)),
            "else" => {
                return Ok((
                    nodes,
                    Stop::Else(rest.strip_prefix("if").map(|r| r.trim().to_string())),
                ));
            }
            "if" | "range" | "with" => nodes.push(parse_block(kw, rest, items, i)?),
            _ => nodes.push(Node::Action(pipe_of(s)?)),
        }
    }
    Ok((nodes, Stop::Eof))
}

fn parse_block(
    kw: &str,
    cond: &str,
    items: &[(bool, String)],
    i: &mut usize,
) -> Result<Node, String> {
    let pipe = pipe_of(cond)?;
    let (body, stop) = parse_list(items, i)?;
    let other = match stop {
        Stop::End => Vec::new(),
        Stop::Eof => return Err(format!("unexpected EOF: {kw} without end")),
        Stop::Else(None) => match parse_list(items, i)? {
            (n, Stop::End) => n,
            _ => return Err(format!("expected end after else in {kw}")),
        },
        // `else if X` is `else` + a nested `if X ... end` sharing the outer end.
        Stop::Else(Some(c)) => vec![parse_block("if", &c, items, i)?],
    };
    Ok(match kw {
        "if" => Node::If(pipe, body, other),
        "range" => Node::Range(pipe, body, other),
        _ => Node::With(pipe, body, other),
    })
}

pub fn parse(src: &str) -> Result<Vec<Node>, String> {
    let items = split(src)?;
    let mut i = 0;
    match parse_list(&items, &mut i)? {
        (nodes, Stop::Eof) => Ok(nodes),
        (_, Stop::End) => Err("unexpected {{end}}".into()),
        (_, Stop::Else(_)) => Err("unexpected {{else}}".into()),
    }
}
