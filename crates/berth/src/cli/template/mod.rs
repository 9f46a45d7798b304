//! `--format`: a subset of Go's text/template evaluated over JSON values, with docker's
//! additions (the `table` prefix, `json`, `join`, `split`, `upper`, `lower`, `title`, `truncate`,
//! `pad`) and docker's tabwriter layout for tables.

mod eval;
mod funcs;
mod parse;

use serde_json::Value;

pub struct Template {
    nodes: Vec<parse::Node>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, String> {
        Ok(Template {
            nodes: parse::parse(src).map_err(|e| format!("template parsing error: {e}"))?,
        })
    }

    pub fn render(&self, v: &Value) -> Result<String, String> {
        let mut out = String::new();
        eval::Ctx {
            root: v,
            vars: Default::default(),
        }
        .nodes(&self.nodes, v, &mut out)
        .map_err(|e| format!("template: executing \"\" at <...>: {e}"))?;
        Ok(out)
    }
}

/// A `--format` value after docker's preprocessing: `\t` and `\n` escapes expanded, the
/// `table` prefix recognised.
pub struct Format {
    pub table: bool,
    pub body: String,
}

impl Format {
    /// `default_table` is used for a bare `table`.
    pub fn new(format: &str, default_table: &str) -> Format {
        // `--format json` is docker's shorthand for one JSON object per line.
        if format == "json" {
            return Format {
                table: false,
                body: "{{json .}}".into(),
            };
        }
        let f = format.replace("\\t", "\t").replace("\\n", "\n");
        match f.strip_prefix("table") {
            Some(rest) => {
                let rest = rest.trim_start();
                let body = if rest.is_empty() {
                    default_table
                        .strip_prefix("table")
                        .unwrap_or(default_table)
                        .trim_start()
                } else {
                    rest
                };
                Format {
                    table: true,
                    body: body.to_string(),
                }
            }
            None => Format {
                table: false,
                body: f,
            },
        }
    }

    /// Renders rows (plus, for a table, the header rendered over `header`); each row ends with a
    /// newline, and a table is aligned as docker's tabwriter does.
    pub fn render_list(&self, header: &Value, rows: &[Value]) -> Result<String, String> {
        let t = Template::parse(&self.body)?;
        let mut out = String::new();
        if self.table {
            out.push_str(&t.render(header)?);
            out.push('\n');
        }
        for r in rows {
            out.push_str(&t.render(r)?);
            out.push('\n');
        }
        Ok(if self.table { tabwrite(&out) } else { out })
    }
}

/// Aligns tab-separated cells as Go's `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)`, docker's
/// table writer: a column is as wide as its widest cell plus 3, at least 10; the last cell of a
/// line is not padded. Columns are computed per block of consecutive lines having that column.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let width = |s: &str| s.chars().count();
    // widths[line][col] for the cells that are followed by a tab.
    let mut widths: Vec<Vec<usize>> = lines
        .iter()
        .map(|l| vec![0; l.len().saturating_sub(1)])
        .collect();
    let max_cols = widths.iter().map(Vec::len).max().unwrap_or(0);
    for col in 0..max_cols {
        let mut i = 0;
        while i < lines.len() {
            if widths[i].len() <= col {
                i += 1;
                continue;
            }
            let start = i;
            let mut w = 0;
            while i < lines.len() && widths[i].len() > col {
                w = w.max(width(lines[i][col]));
                i += 1;
            }
            let w = (w + 3).max(10);
            for row in &mut widths[start..i] {
                row[col] = w;
            }
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    for (li, l) in lines.iter().enumerate() {
        if li > 0 {
            out.push('\n');
        }
        for (ci, cell) in l.iter().enumerate() {
            out.push_str(cell);
            if ci + 1 < l.len() {
                out.push_str(&" ".repeat(widths[li][ci] - width(cell)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn fields_and_text() {
        let v = json!({"A": {"B": 3}, "S": "x", "State": {"ExitCode": 0}});
        assert_eq!(r("a {{.S}} b {{.A.B}}", &v), "a x b 3");
        assert_eq!(r("{{.State.ExitCode}}", &v), "0");
        assert_eq!(r("{{.Missing}}", &v), "<no value>");
        assert_eq!(r("{{.}}", &json!("s")), "s");
        assert_eq!(r("{{ $.S }}", &v), "x");
    }

    #[test]
    fn go_printing() {
        let v =
            json!({"Env": ["a=1", "b=2"], "M": {"z": 1, "a": "q"}, "N": null, "F": 1.5, "B": true});
        assert_eq!(r("{{.Env}}", &v), "[a=1 b=2]");
        assert_eq!(r("{{.M}}", &v), "map[a:q z:1]");
        assert_eq!(r("{{.N}}", &v), "<nil>");
        assert_eq!(r("{{.F}} {{.B}}", &v), "1.5 true");
    }

    #[test]
    fn json_func() {
        let v = json!({"Config": {"Cmd": ["sh"], "Tty": false}});
        assert_eq!(r("{{json .Config.Cmd}}", &v), r#"["sh"]"#);
        assert_eq!(r("{{json .}}", &json!({"a": 1})), r#"{"a":1}"#);
        assert_eq!(r("{{.Config | json}}", &v), r#"{"Cmd":["sh"],"Tty":false}"#);
    }

    #[test]
    fn index_join_case() {
        let v = json!({"M": {"k": "v", "a.b": "dot"}, "L": ["x", "y"], "S": "hello world"});
        assert_eq!(
            r(r#"{{index .M "k"}} {{index .M "a.b"}} {{index .L 1}}"#, &v),
            "v dot y"
        );
        assert_eq!(r(r#"{{join .L ","}}"#, &v), "x,y");
        assert_eq!(
            r("{{upper .S}} {{lower \"AB\"}} {{title .S}}", &v),
            "HELLO WORLD ab Hello World"
        );
        assert_eq!(r(r#"{{split "a:b" ":"}}"#, &v), "[a b]");
        assert_eq!(r("{{len .L}}", &v), "2");
    }

    #[test]
    fn range_if_with() {
        let v = json!({"L": ["x", "y"], "E": [], "T": true, "Z": 0, "O": {"N": "n"}});
        assert_eq!(r("{{range .L}}<{{.}}>{{end}}", &v), "<x><y>");
        assert_eq!(r("{{range .E}}x{{else}}empty{{end}}", &v), "empty");
        assert_eq!(r("{{if .T}}yes{{else}}no{{end}}", &v), "yes");
        assert_eq!(r("{{if .Z}}yes{{else}}no{{end}}", &v), "no");
        assert_eq!(r("{{if .Z}}a{{else if .T}}b{{else}}c{{end}}", &v), "b");
        assert_eq!(r("{{with .O}}{{.N}}{{end}}", &v), "n");
        assert_eq!(
            r("{{if eq .Z 0}}zero{{end}}{{if not .Z}}!{{end}}", &v),
            "zero!"
        );
    }

    #[test]
    fn variables() {
        let v = json!({"L": {"b": "2", "a": "1"}, "A": ["x", "y"], "S": "s"});
        assert_eq!(
            r("{{range $k, $v := .L}}{{$k}}={{$v}};{{end}}", &v),
            "a=1;b=2;"
        );
        assert_eq!(
            r("{{range $i, $e := .A}}{{$i}}:{{$e}} {{end}}", &v),
            "0:x 1:y "
        );
        assert_eq!(r("{{range $e := .A}}{{$e}}{{$.S}}{{end}}", &v), "xsys");
        assert_eq!(r("{{$x := .S}}{{upper $x}}", &v), "S");
        assert!(Template::parse("{{$nope}}").unwrap().render(&v).is_err());
    }

    #[test]
    fn printf_println_trim() {
        let v = json!({"S": "ab", "N": 7});
        assert_eq!(r(r#"{{printf "%s=%d" .S .N}}"#, &v), "ab=7");
        assert_eq!(
            r(r#"{{printf "%-4s|%3d|%q" .S .N .S}}"#, &v),
            "ab  |  7|\"ab\""
        );
        assert_eq!(r("{{println .S}}", &v), "ab\n");
        assert_eq!(r("a  {{- .S -}}  b", &v), "aabb");
        assert_eq!(r("{{/* note */}}x", &v), "x");
    }

    #[test]
    fn method_like_label() {
        let v = json!({"Label": {"com.x": "1"}});
        assert_eq!(r(r#"{{.Label "com.x"}}"#, &v), "1");
        assert_eq!(r(r#"{{.Label "none"}}"#, &v), "");
        assert_eq!(
            r(r#"{{.Label "none"}}"#, &json!({"Label": "LABEL"})),
            "LABEL"
        );
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{if .A}}").is_err());
        assert!(Template::parse("{{end}}").is_err());
        assert!(Template::parse("{{.A").is_err());
        assert!(
            Template::parse("{{nosuch .A}}")
                .unwrap()
                .render(&json!({}))
                .is_err()
        );
        assert!(
            Template::parse("{{.A.B}}")
                .unwrap()
                .render(&json!({"A": "s"}))
                .is_err()
        );
    }

    #[test]
    fn table() {
        let f = Format::new("table {{.ID}}\\t{{.Name}}", "");
        assert!(f.table);
        let out = f
            .render_list(
                &json!({"ID": "CONTAINER ID", "Name": "NAMES"}),
                &[
                    json!({"ID": "abc", "Name": "n1"}),
                    json!({"ID": "0123456789abcdef", "Name": "n2"}),
                ],
            )
            .unwrap();
        assert_eq!(
            out,
            "CONTAINER ID       NAMES\nabc                n1\n0123456789abcdef   n2\n"
        );
        let f = Format::new("{{.ID}}", "");
        assert!(!f.table);
        assert_eq!(
            f.render_list(&json!({}), &[json!({"ID": "a"}), json!({"ID": "b"})])
                .unwrap(),
            "a\nb\n"
        );
        assert_eq!(Format::new("table", "table {{.X}}").body, "{{.X}}");
        assert_eq!(Format::new("json", "").body, "{{json .}}");
    }

    #[test]
    fn tabwriter_min_width() {
        assert_eq!(tabwrite("a\tb\nccc\td"), "a         b\nccc       d");
    }
}
