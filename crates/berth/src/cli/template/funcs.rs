//! The template functions: Go's builtins that matter here plus docker's own (json, join, split,
//! upper, lower, title, truncate, pad).

use serde_json::Value;

use super::eval::{V, to_s, truthy};

fn need(name: &str, args: &[V], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn s(v: String) -> V {
    Some(Value::String(v))
}

fn as_i64(v: &V) -> Result<i64, String> {
    match v {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| "bad number".into()),
        Some(Value::String(t)) => t.parse().map_err(|_| format!("not a number: {t}")),
        _ => Err(format!("not a number: {}", to_s(v))),
    }
}

pub fn call(name: &str, args: Vec<V>) -> Result<V, String> {
    match name {
        "json" => {
            need(name, &args, 1)?;
            let v = args.into_iter().next().flatten().unwrap_or(Value::Null);
            Ok(s(serde_json::to_string(&v).map_err(|e| e.to_string())?))
        }
        "upper" | "lower" | "title" => {
            need(name, &args, 1)?;
            let t = to_s(&args[0]);
            Ok(s(match name {
                "upper" => t.to_uppercase(),
                "lower" => t.to_lowercase(),
                _ => title(&t),
            }))
        }
        "join" => {
            need(name, &args, 2)?;
            let sep = to_s(&args[1]);
            let parts: Vec<String> = match &args[0] {
                Some(Value::Array(a)) => a.iter().map(|x| to_s(&Some(x.clone()))).collect(),
                None | Some(Value::Null) => Vec::new(),
                other => vec![to_s(other)],
            };
            Ok(s(parts.join(&sep)))
        }
        "split" => {
            need(name, &args, 2)?;
            let t = to_s(&args[0]);
            let sep = to_s(&args[1]);
            Ok(Some(Value::Array(
                t.split(sep.as_str())
                    .map(|p| Value::String(p.into()))
                    .collect(),
            )))
        }
        "index" => {
            let mut it = args.into_iter();
            let mut v = it.next().ok_or("wrong number of args for index")?;
            for k in it {
                v = match (v, &k) {
                    (Some(Value::Object(mut o)), _) => o.remove(&to_s(&k)),
                    (Some(Value::Array(mut a)), _) => {
                        let i = as_i64(&k)?;
                        if i < 0 || i as usize >= a.len() {
                            return Err(format!("index out of range: {i}"));
                        }
                        Some(a.swap_remove(i as usize))
                    }
                    (None | Some(Value::Null), _) => None,
                    (Some(o), _) => return Err(format!("can't index item of type {o}")),
                };
            }
            Ok(v)
        }
        "len" => {
            need(name, &args, 1)?;
            let n = match &args[0] {
                Some(Value::Array(a)) => a.len(),
                Some(Value::Object(o)) => o.len(),
                Some(Value::String(t)) => t.len(),
                _ => return Err("len of invalid value".into()),
            };
            Ok(Some(Value::from(n)))
        }
        "print" | "println" => {
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = |v: &V| matches!(v, Some(Value::String(_)));
                if i > 0 && (name == "println" || !(is_str(a) || is_str(&args[i - 1]))) {
                    out.push(' ');
                }
                out.push_str(&to_s(a));
            }
            if name == "println" {
                out.push('\n');
            }
            Ok(s(out))
        }
        "printf" => {
            let mut it = args.into_iter();
            let f = to_s(&it.next().ok_or("wrong number of args for printf")?);
            Ok(s(printf(&f, &it.collect::<Vec<_>>())))
        }
        "eq" | "ne" => {
            if args.len() < 2 {
                return Err(format!("wrong number of args for {name}"));
            }
            let eq = args[1..].iter().any(|b| same(&args[0], b));
            Ok(Some(Value::Bool(eq == (name == "eq"))))
        }
        "not" => {
            need(name, &args, 1)?;
            Ok(Some(Value::Bool(!truthy(&args[0]))))
        }
        "and" | "or" => {
            let want = name == "or";
            let n = args.len();
            for (i, a) in args.into_iter().enumerate() {
                if truthy(&a) == want || i + 1 == n {
                    return Ok(a);
                }
            }
            Err(format!("wrong number of args for {name}"))
        }
        "truncate" => {
            need(name, &args, 2)?;
            let t = to_s(&args[0]);
            let n = as_i64(&args[1])?.max(0) as usize;
            Ok(s(t.chars().take(n).collect()))
        }
        "pad" => {
            need(name, &args, 3)?;
            let t = to_s(&args[0]);
            let l = as_i64(&args[1])?.max(0) as usize;
            let r = as_i64(&args[2])?.max(0) as usize;
            Ok(s(format!("{}{t}{}", " ".repeat(l), " ".repeat(r))))
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

fn same(a: &V, b: &V) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn title(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut start = true;
    for c in t.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric() && c != '\'';
    }
    out
}

/// A basic `printf`: verbs `%s %v %d %q %t %f %x %%`, flags `-` and `0`, a width.
pub fn printf(f: &str, args: &[V]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut zero = false;
        let mut width = 0usize;
        while let Some(&p) = chars.peek() {
            match p {
                '-' => left = true,
                '0' if width == 0 => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = width * 10 + d as usize;
            chars.next();
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(a) = it.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let body = match verb {
            'q' => serde_json::to_string(&to_s(a)).unwrap_or_default(),
            'd' => as_i64(a)
                .map(|n| n.to_string())
                .unwrap_or_else(|_| format!("%!d({})", to_s(a))),
            'x' => as_i64(a)
                .map(|n| format!("{n:x}"))
                .unwrap_or_else(|_| to_s(a).bytes().map(|b| format!("{b:02x}")).collect()),
            'f' => match a {
                Some(Value::Number(n)) => format!("{:.6}", n.as_f64().unwrap_or(0.0)),
                _ => format!("%!f({})", to_s(a)),
            },
            _ => to_s(a),
        };
        let len = body.chars().count();
        if len >= width {
            out.push_str(&body);
        } else if left {
            out.push_str(&body);
            out.push_str(&" ".repeat(width - len));
        } else {
            let pad = if zero && verb == 'd' { "0" } else { " " };
            out.push_str(&pad.repeat(width - len));
            out.push_str(&body);
        }
    }
    let extra: Vec<String> = it.map(to_s).collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}
