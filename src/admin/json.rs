//! Just enough JSON for the AdminServer's answers, printed the way
//! ZooKeeper's (Jackson's default pretty printer) prints them: two-space
//! indents, `"key" : value`, `[ a, b ]` on one line for scalars.

use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// Printed as Java prints a double (`0.0`, `15.4`).
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    /// Keys in insertion order.
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn object() -> Json {
        Json::Object(Vec::new())
    }

    /// Adds (or replaces) `key` in an object; a no-op on other values.
    pub fn put(&mut self, key: impl Into<String>, value: impl Into<Json>) {
        if let Json::Object(fields) = self {
            let key = key.into();
            let value = value.into();
            match fields.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => *v = value,
                None => fields.push((key, value)),
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The pretty-printed text.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Float(f) => out.push_str(&super::java_double(*f)),
            Json::Str(s) => write_str(out, s),
            Json::Array(items) if items.is_empty() => out.push_str("[ ]"),
            Json::Array(items) => {
                out.push_str("[ ");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out, depth);
                }
                out.push_str(" ]");
            }
            Json::Object(fields) if fields.is_empty() => out.push_str("{ }"),
            Json::Object(fields) => {
                out.push_str("{\n");
                for (i, (k, v)) in fields.iter().enumerate() {
                    indent(out, depth + 1);
                    write_str(out, k);
                    out.push_str(" : ");
                    v.write(out, depth + 1);
                    if i + 1 < fields.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                indent(out, depth);
                out.push('}');
            }
        }
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Json {
        Json::Int(n)
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Json {
        Json::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Json {
    fn from(n: usize) -> Json {
        Json::from(n as u64)
    }
}

impl From<u32> for Json {
    fn from(n: u32) -> Json {
        Json::Int(i64::from(n))
    }
}

impl From<f64> for Json {
    fn from(f: f64) -> Json {
        Json::Float(f)
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}

impl From<Vec<Json>> for Json {
    fn from(items: Vec<Json>) -> Json {
        Json::Array(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_jackson_pretty_prints() {
        let mut inner = Json::object();
        inner.put("last_buffer_size", -1i64);
        let mut o = Json::object();
        o.put("ids", Json::Array(vec![Json::Int(1), Json::Int(2)]));
        o.put("none", Json::Array(vec![]));
        o.put("empty", Json::object());
        o.put("inner", inner);
        o.put("avg", 15.4);
        o.put("zero", 0.0);
        o.put("text", "a\"b\n");
        o.put("error", Json::Null);
        assert_eq!(
            o.pretty(),
            "{\n  \"ids\" : [ 1, 2 ],\n  \"none\" : [ ],\n  \"empty\" : { },\n  \"inner\" : {\n    \
             \"last_buffer_size\" : -1\n  },\n  \"avg\" : 15.4,\n  \"zero\" : 0.0,\n  \"text\" : \
             \"a\\\"b\\n\",\n  \"error\" : null\n}"
        );
    }

    #[test]
    fn put_replaces_an_existing_key() {
        let mut o = Json::object();
        o.put("error", Json::Null);
        o.put("error", "bad");
        assert_eq!(o.get("error"), Some(&Json::Str("bad".into())));
        assert_eq!(o.pretty().matches("error").count(), 1);
    }
}
