//! Evaluating a parsed template over `serde_json::Value`, printing values as Go's fmt does.

use serde_json::Value;

use super::parse::{Arg, Cmd, Node, Pipe};

/// A value, or nothing (a missing map key, printed `<no value>` as Go does).
pub type V = Option<Value>;

pub fn truthy(v: &V) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// Go's `%v`.
pub fn go_fmt(v: &V, out: &mut String) {
    match v {
        None => out.push_str("<no value>"),
        Some(v) => go_fmt_value(v, out),
    }
}

fn go_fmt_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_fmt_value(x, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                go_fmt_value(&o[k], out);
            }
            out.push(']');
        }
    }
}

pub fn to_s(v: &V) -> String {
    let mut s = String::new();
    go_fmt(v, &mut s);
    s
}

fn walk(mut v: V, path: &[String]) -> Result<V, String> {
    for p in path {
        v = match v {
            Some(Value::Object(mut o)) => o.remove(p),
            None | Some(Value::Null) => None,
            Some(other) => {
                return Err(format!(
                    "can't evaluate field {p} in type {}",
                    type_name(&other)
                ));
            }
        };
    }
    Ok(v)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "interface {}",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn field<'a>(v: &'a Value, path: &[String]) -> Result<V, String> {
    let mut cur: Option<&'a Value> = Some(v);
    for p in path {
        cur = match cur {
            Some(Value::Object(o)) => o.get(p),
            None | Some(Value::Null) => None,
            Some(other) => {
                return Err(format!(
                    "can't evaluate field {p} in type {}",
                    type_name(other)
                ));
            }
        };
    }
    Ok(cur.cloned())
}

pub struct Ctx<'a> {
    pub root: &'a Value,
    /// Declared variables, innermost last.
    pub vars: std::cell::RefCell<Vec<(String, Value)>>,
}

impl Ctx<'_> {
    fn arg(&self, a: &Arg, dot: &Value) -> Result<V, String> {
        Ok(match a {
            Arg::Field(p) => field(dot, p)?,
            Arg::Var(n, p) if n.is_empty() => field(self.root, p)?,
            Arg::Var(n, p) => {
                let vars = self.vars.borrow();
                let v = vars
                    .iter()
                    .rev()
                    .find(|(k, _)| k == n)
                    .ok_or_else(|| format!("undefined variable: ${n}"))?;
                field(&v.1, p)?
            }
            Arg::Str(s) => Some(Value::String(s.clone())),
            Arg::Num(n) => Some(num(*n)),
            Arg::Bool(b) => Some(Value::Bool(*b)),
            Arg::Nil => Some(Value::Null),
            Arg::Ident(f) => super::funcs::call(f, Vec::new())?,
            Arg::Sub(p, path) => walk(self.pipe(p, dot)?, path)?,
        })
    }

    fn cmd(&self, c: &Cmd, dot: &Value, piped: Option<V>) -> Result<V, String> {
        let first = &c.0[0];
        let mut rest = Vec::with_capacity(c.0.len());
        for a in &c.0[1..] {
            rest.push(self.arg(a, dot)?);
        }
        if let Some(p) = piped {
            rest.push(p);
        }
        match first {
            Arg::Ident(f) => super::funcs::call(f, rest),
            Arg::Field(_) | Arg::Var(..) if !rest.is_empty() => {
                // A method-like call, `.Label "k"`: the field is a map indexed by the argument;
                // anything else (a table header) is returned as is.
                match self.arg(first, dot)? {
                    Some(Value::Object(o)) => {
                        let k = to_s(&rest[0]);
                        Ok(Some(
                            o.get(&k).cloned().unwrap_or(Value::String(String::new())),
                        ))
                    }
                    other => Ok(other),
                }
            }
            _ if !rest.is_empty() => Err(format!("can't give argument to non-function {first:?}")),
            _ => self.arg(first, dot),
        }
    }

    pub fn pipe(&self, p: &Pipe, dot: &Value) -> Result<V, String> {
        let mut v: Option<V> = None;
        for c in &p.0 {
            v = Some(self.cmd(c, dot, v)?);
        }
        Ok(v.flatten())
    }

    fn push_var(&self, name: &str, v: Value) {
        self.vars.borrow_mut().push((name.to_string(), v));
    }

    /// Runs a block's nodes in their own variable scope.
    fn scoped(&self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
        let depth = self.vars.borrow().len();
        let r = self.nodes(nodes, dot, out);
        self.vars.borrow_mut().truncate(depth);
        r
    }

    pub fn nodes(&self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) if !p.1.is_empty() => {
                    let v = self.pipe(p, dot)?;
                    self.push_var(&p.1[0], v.unwrap_or(Value::Null));
                }
                Node::Action(p) => go_fmt(&self.pipe(p, dot)?, out),
                Node::If(p, a, b) => {
                    if truthy(&self.pipe(p, dot)?) {
                        self.scoped(a, dot, out)?
                    } else {
                        self.scoped(b, dot, out)?
                    }
                }
                Node::With(p, a, b) => {
                    let v = self.pipe(p, dot)?;
                    if truthy(&v) {
                        self.scoped(a, &v.unwrap_or(Value::Null), out)?
                    } else {
                        self.scoped(b, dot, out)?
                    }
                }
                Node::Range(p, a, b) => {
                    let items: Vec<(Value, Value)> = match self.pipe(p, dot)? {
                        Some(Value::Array(v)) => v
                            .into_iter()
                            .enumerate()
                            .map(|(i, x)| (Value::from(i), x))
                            .collect(),
                        Some(Value::Object(o)) => {
                            let mut kv: Vec<_> = o.into_iter().collect();
                            kv.sort_by(|x, y| x.0.cmp(&y.0));
                            kv.into_iter().map(|(k, v)| (Value::String(k), v)).collect()
                        }
                        None | Some(Value::Null) => Vec::new(),
                        Some(Value::Number(n)) => (0..n.as_u64().unwrap_or(0))
                            .map(|i| (Value::from(i), Value::from(i)))
                            .collect(),
                        Some(o) => {
                            return Err(format!("range can't iterate over {}", to_s(&Some(o))));
                        }
                    };
                    if items.is_empty() {
                        self.scoped(b, dot, out)?;
                    }
                    for (k, it) in items {
                        let depth = self.vars.borrow().len();
                        match p.1.as_slice() {
                            [e] => self.push_var(e, it.clone()),
                            [i, e] => {
                                self.push_var(i, k);
                                self.push_var(e, it.clone());
                            }
                            _ => {}
                        }
                        let r = self.nodes(a, &it, out);
                        self.vars.borrow_mut().truncate(depth);
                        r?;
                    }
                }
            }
        }
        Ok(())
    }
}

pub fn num(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}
