//! Query parameters the way Docker reads them: booleans, repeated keys, numbers, and the
//! `filters` JSON in both of its forms.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use berth_engine::Filters;

use crate::error::ApiError;

/// All the query parameters of a request, in order, repeated keys kept.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
        Ok(Params(pairs))
    }
}

impl Params {
    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key`, `None` when absent or empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Every value given for `key`, in order.
    pub fn get_all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean parameter; absent is `false`.
    pub fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(parse_bool)
    }

    /// A boolean parameter with a default for when it is absent.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        self.get(key).map_or(default, parse_bool)
    }

    /// A number; absent or empty is `None`, anything unparsable is a 400.
    pub fn num<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => {
                v.trim().parse().map(Some).map_err(|e| {
                    ApiError::bad_request(format!("invalid value for {key}: {v:?}: {e}"))
                })
            }
        }
    }

    pub fn filters(&self) -> Result<Filters, ApiError> {
        parse_filters(self.get("filters").unwrap_or(""))
    }
}

/// Docker's boolean: empty, `0`, `no`, `false` and `none` (any case) are false, anything else
/// (`1`, `true`, `True`, ...) is true.
pub fn parse_bool(v: &str) -> bool {
    !matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "no" | "false" | "none"
    )
}

/// Decodes `filters`: `{"key":["v1","v2"]}` or the older `{"key":{"v1":true}}`.
pub fn parse_filters(raw: &str) -> Result<Filters, ApiError> {
    let mut out = Filters::new();
    if raw.trim().is_empty() {
        return Ok(out);
    }
    let bad = |why: &str| ApiError::bad_request(format!("invalid filter: {why}"));
    let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| bad(&e.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(bad("expected a JSON object"));
    };
    for (key, values) in map {
        let list = match values {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s),
                    _ => Err(bad(&format!("values of {key:?} must be strings"))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            serde_json::Value::Object(items) => items
                .into_iter()
                .filter_map(|(v, on)| match on {
                    serde_json::Value::Bool(true) => Some(Ok(v)),
                    serde_json::Value::Bool(false) => None,
                    _ => Some(Err(bad(&format!("values of {key:?} must be booleans")))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(bad(&format!("{key:?} must be a list or a map"))),
        };
        out.entry(key).or_default().extend(list);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for t in ["1", "true", "True", "TRUE", "yes", "on"] {
            assert!(parse_bool(t), "{t}");
        }
        for f in ["", "0", "false", "False", "no", "none"] {
            assert!(!parse_bool(f), "{f}");
        }
        let p = Params(vec![
            ("all".into(), "1".into()),
            ("size".into(), "0".into()),
        ]);
        assert!(p.bool("all"));
        assert!(!p.bool("size"));
        assert!(!p.bool("missing"));
        assert!(p.bool_or("missing", true));
    }

    #[test]
    fn filters_both_forms() {
        let a = parse_filters(r#"{"label":["a=b","c"],"dangling":["true"]}"#).unwrap();
        assert_eq!(a["label"], vec!["a=b", "c"]);
        assert_eq!(a["dangling"], vec!["true"]);
        let b =
            parse_filters(r#"{"label":{"a=b":true,"x":false},"status":{"exited":true}}"#).unwrap();
        assert_eq!(b["label"], vec!["a=b"]);
        assert_eq!(b["status"], vec!["exited"]);
        assert!(parse_filters("").unwrap().is_empty());
        assert!(parse_filters("{").is_err());
        assert!(parse_filters("[]").is_err());
        assert!(parse_filters(r#"{"a":[1]}"#).is_err());
    }

    #[test]
    fn numbers_and_repeats() {
        let p = Params(vec![
            ("changes".into(), "CMD [\"sh\"]".into()),
            ("t".into(), "5".into()),
            ("changes".into(), "ENV A=1".into()),
            ("h".into(), "x".into()),
        ]);
        assert_eq!(p.get_all("changes").len(), 2);
        assert_eq!(p.num::<i64>("t").unwrap(), Some(5));
        assert_eq!(p.num::<i64>("nope").unwrap(), None);
        assert!(p.num::<u16>("h").is_err());
    }
}
