//! A reader for the `java.util.Properties` text format that `zoo.cfg` uses.
//!
//! It owns only the syntax: logical lines (a trailing odd backslash continues a
//! line), `#`/`!` comments, the key/value separators `=`, `:` or whitespace, and
//! backslash escapes (`\t`, `\n`, `\r`, `\f`, `\uXXXX`, `\x` for any other `x`).
//! Keys and values come back trimmed, as ZooKeeper trims them. It never looks at
//! what a key means; `super::load` does.

/// One `key=value` pair and the line it started on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// A syntax error: the line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub reason: String,
}

/// Whitespace as `java.util.Properties` counts it inside a line.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// True when `s` ends in an odd number of backslashes: the line continues.
fn continues(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Parses the whole text, in order. Later duplicates are kept; the caller
/// decides that the last one wins.
pub fn parse(text: &str) -> Result<Vec<Property>, SyntaxError> {
    let mut out = Vec::new();
    // `lines()` splits on `\n` and strips one `\r`; a lone `\r` terminator (old
    // Mac files) is rare enough to treat as part of the line.
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line = index + 1;
        let first = raw.trim_start_matches(is_blank);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while continues(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches(is_blank)),
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|reason| SyntaxError { line, reason })?;
        let value = unescape(value).map_err(|reason| SyntaxError { line, reason })?;
        out.push(Property {
            line,
            key: key.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    Ok(out)
}

/// Splits a logical line (leading blanks already removed) into its raw,
/// still-escaped key and value.
fn split_key_value(s: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = s.len();
    let mut separator = None;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_blank(c) {
            key_end = i;
            separator = Some(c);
            break;
        }
    }
    let key = &s[..key_end];
    let mut rest = &s[key_end..];
    if let Some(sep) = separator {
        rest = &rest[sep.len_utf8()..];
        rest = rest.trim_start_matches(is_blank);
        // After a blank separator one `=` or `:` may still follow: `key = value`.
        if is_blank(sep) && (rest.starts_with('=') || rest.starts_with(':')) {
            rest = rest[1..].trim_start_matches(is_blank);
        }
    }
    (key, rest)
}

/// Resolves backslash escapes.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let decoded = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32);
                match decoded {
                    Some(ch) => out.push(ch),
                    None => return Err(format!("malformed \\uXXXX escape \"\\u{hex}\"")),
                }
            }
            Some(other) => out.push(other),
            // A lone trailing backslash (end of file inside a continuation).
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(usize, String, String)> {
        parse(text)
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.line, p.key, p.value))
            .collect()
    }

    fn p(line: usize, k: &str, v: &str) -> (usize, String, String) {
        (line, k.to_string(), v.to_string())
    }

    #[test]
    fn all_three_separators_and_comments_are_understood() {
        let text = "# comment\n! bang comment\n\na=1\nb: 2\nc 3\n  d = 4  \ne\n";
        assert_eq!(
            pairs(text),
            vec![
                p(4, "a", "1"),
                p(5, "b", "2"),
                p(6, "c", "3"),
                p(7, "d", "4"),
                p(8, "e", "")
            ]
        );
    }

    #[test]
    fn continued_lines_join_and_report_their_first_line() {
        let text = "x=1\nlist=a,\\\n    b,\\\n    c\ny=2\n";
        assert_eq!(
            pairs(text),
            vec![p(1, "x", "1"), p(2, "list", "a,b,c"), p(5, "y", "2")]
        );
    }

    #[test]
    fn escapes_are_resolved_in_keys_and_values() {
        let text = "a\\=b=c\\:d\nu=\\u0041\\t\n";
        assert_eq!(pairs(text), vec![p(1, "a=b", "c:d"), p(2, "u", "A")]);
    }

    #[test]
    fn malformed_unicode_escape_is_a_syntax_error_on_its_line() {
        let err = parse("ok=1\nbad=\\u12\n");
        assert_eq!(err.map_err(|e| e.line), Err(2));
    }

    #[test]
    fn value_may_contain_separators_after_the_first() {
        assert_eq!(
            pairs("server.1=127.0.0.1:2888:3888;2181\n"),
            vec![p(1, "server.1", "127.0.0.1:2888:3888;2181")]
        );
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        assert_eq!(
            pairs("a=1\r\nb=2\r\n"),
            vec![p(1, "a", "1"), p(2, "b", "2")]
        );
    }
}
