//! `inspect`: containers first, then images; a JSON array indented as docker's (4 spaces, the
//! daemon's key order kept), or `-f` over each object.

use clap::Args;

use crate::client::{Client, Error, enc};

use super::template::Template;
use super::{Exit, Res, out};

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Return JSON for specified type.
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes if the type is container.
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Re-indents compact JSON text as Go's `json.Indent(dst, src, "", "    ")`, keeping key order.
pub fn indent(src: &[u8]) -> String {
    let mut o = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    let text = String::from_utf8_lossy(src);
    let mut chars = text.trim().chars().peekable();
    let nl = |o: &mut String, d: usize| {
        o.push('\n');
        for _ in 0..d {
            o.push_str("    ");
        }
    };
    while let Some(ch) = chars.next() {
        if in_str {
            o.push(ch);
            if esc {
                esc = false;
            } else if ch == '\\' {
                esc = true;
            } else if ch == '"' {
                in_str = false;
            }
            continue;
        }
        match ch {
            ' ' | '\t' | '\n' | '\r' => {}
            '"' => {
                in_str = true;
                o.push(ch);
            }
            '{' | '[' => {
                o.push(ch);
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    o.push(chars.next().expect("peeked"));
                } else {
                    depth += 1;
                    nl(&mut o, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                nl(&mut o, depth);
                o.push(ch);
            }
            ',' => {
                o.push(',');
                nl(&mut o, depth);
            }
            ':' => o.push_str(": "),
            c => o.push(c),
        }
    }
    o
}

pub fn inspect(c: &Client, a: &InspectArgs) -> Res {
    let tmpl = match &a.format {
        Some(f) => {
            Some(Template::parse(&f.replace("\\t", "\t").replace("\\n", "\n")).map_err(Exit::one)?)
        }
        None => None,
    };
    let kind = a.kind.as_deref().unwrap_or("");
    if !matches!(kind, "" | "container" | "image" | "network") {
        return Err(Exit::one(format!(
            "\"{kind}\" is not a valid value for --type"
        )));
    }
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for n in &a.names {
        let mut paths = Vec::new();
        if kind.is_empty() || kind == "container" {
            paths.push(format!("/containers/{}/json?size={}", enc(n), a.size as u8));
        }
        if kind.is_empty() || kind == "image" {
            paths.push(format!("/images/{}/json", enc(n)));
        }
        if kind.is_empty() || kind == "network" {
            paths.push(format!("/networks/{}", enc(n)));
        }
        let mut got = None;
        let mut last_err = None;
        for p in &paths {
            match c
                .request("GET", p, crate::client::Body::None)
                .and_then(|r| r.bytes())
            {
                Ok(b) => {
                    got = Some(b);
                    break;
                }
                Err(Error::Api { status: 404, .. }) => {}
                Err(e) => {
                    last_err = Some(e.to_string());
                    break;
                }
            }
        }
        match (got, last_err) {
            (Some(b), _) => found.push(b),
            (None, Some(e)) => errors.push(e),
            (None, None) => errors.push(match kind {
                "" => format!("Error: No such object: {n}"),
                "container" => format!("Error: No such container: {n}"),
                "network" => format!("Error: No such network: {n}"),
                _ => format!("Error: No such image: {n}"),
            }),
        }
    }
    let mut text = String::new();
    match tmpl {
        Some(t) => {
            for b in &found {
                let v: serde_json::Value = serde_json::from_slice(b).map_err(Exit::one)?;
                text.push_str(&t.render(&v).map_err(Exit::one)?);
                text.push('\n');
            }
        }
        None => {
            let mut arr = Vec::with_capacity(found.iter().map(Vec::len).sum::<usize>() + 8);
            arr.push(b'[');
            for (i, b) in found.iter().enumerate() {
                if i > 0 {
                    arr.push(b',');
                }
                arr.extend_from_slice(b);
            }
            arr.push(b']');
            text = indent(&arr);
            text.push('\n');
        }
    }
    out(&text);
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Exit::Msg(errors.join("\n"), 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_go() {
        assert_eq!(indent(b"[]"), "[]");
        assert_eq!(
            indent(br#"[{"Id":"a","Args":[],"Config":{"Env":["A=1","B=\"x, {y}\""],"Labels":{}},"N":null}]"#),
            "[\n    {\n        \"Id\": \"a\",\n        \"Args\": [],\n        \"Config\": {\n            \"Env\": [\n                \"A=1\",\n                \"B=\\\"x, {y}\\\"\"\n            ],\n            \"Labels\": {}\n        },\n        \"N\": null\n    }\n]"
        );
    }
}
