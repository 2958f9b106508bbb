//! ZooKeeper's path rules (`PathUtils.validatePath`), checked on every path a
//! write carries. Java validates UTF-16 code units; a Rust `char` above U+FFFF
//! would be a surrogate pair in Java, which the rules reject.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("Path length must be > 0")]
    Empty,
    #[error("Path must start with / character")]
    NotAbsolute,
    #[error("Path must not end with / character")]
    TrailingSlash,
    #[error("empty node name specified @{0}")]
    EmptySegment(usize),
    #[error("relative paths not allowed @{0}")]
    Relative(usize),
    #[error("null character not allowed @{0}")]
    NullChar(usize),
    #[error("invalid character @{0}")]
    InvalidChar(usize),
}

fn invalid_char(c: char) -> bool {
    let c = c as u32;
    (0x01..=0x1f).contains(&c)
        || (0x7f..=0x9f).contains(&c)
        || (0xd800..=0xf8ff).contains(&c)
        || (0xfff0..=0xffff).contains(&c)
        || c > 0xffff
}

/// Validates `path`; a sequential create validates `path + "1"` as ZooKeeper
/// does, so a trailing `/` is allowed there.
pub fn validate_path(path: &str, sequential: bool) -> Result<(), PathError> {
    // Every write's path comes through here: most are plain ASCII and valid,
    // which one pass over the bytes confirms. Anything else takes the rules
    // character by character, which also names the error.
    if path.is_ascii() && accepts_ascii(path.as_bytes(), sequential) {
        return Ok(());
    }
    let chars: Vec<char> = if sequential {
        path.chars().chain(std::iter::once('1')).collect()
    } else {
        path.chars().collect()
    };
    validate(chars.len(), |i| chars[i])
}

/// Whether an ASCII path (plus `1` when sequential) passes the rules: it
/// starts with `/`, has only printable characters, and no empty, `.` or `..`
/// segment. A sequential create's last segment gets a `1` appended, so it
/// may be anything.
fn accepts_ascii(b: &[u8], sequential: bool) -> bool {
    if b.first() != Some(&b'/') {
        return false;
    }
    if b.len() == 1 {
        return true;
    }
    if !b.iter().all(|&c| (0x20..0x7f).contains(&c)) {
        return false;
    }
    let bad = |seg: &[u8]| seg.is_empty() || seg == b"." || seg == b"..";
    let mut segments = b[1..].split(|&c| c == b'/');
    let last = segments.next_back().unwrap_or_default();
    !segments.any(bad) && (sequential || !bad(last))
}

/// The rules over `n` characters, the `i`th being `at(i)`.
fn validate(n: usize, at: impl Fn(usize) -> char) -> Result<(), PathError> {
    if n == 0 {
        return Err(PathError::Empty);
    }
    if at(0) != '/' {
        return Err(PathError::NotAbsolute);
    }
    if n == 1 {
        return Ok(());
    }
    if at(n - 1) == '/' {
        return Err(PathError::TrailingSlash);
    }
    for i in 1..n {
        let c = at(i);
        let last = at(i - 1);
        let ends_segment = i + 1 == n || at(i + 1) == '/';
        if c == '\0' {
            return Err(PathError::NullChar(i));
        } else if c == '/' && last == '/' {
            return Err(PathError::EmptySegment(i - 1));
        } else if c == '.' && last == '.' {
            if at(i - 2) == '/' && ends_segment {
                return Err(PathError::Relative(i));
            }
        } else if c == '.' {
            if last == '/' && ends_segment {
                return Err(PathError::Relative(i));
            }
        } else if invalid_char(c) {
            return Err(PathError::InvalidChar(i));
        }
    }
    Ok(())
}

/// The parent of a valid absolute path (`/` for top-level nodes).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last segment of a valid absolute path.
pub fn basename(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/a.b/..c/d..",
            "/zookeeper/quota",
            "/ü/日本",
        ] {
            assert_eq!(validate_path(p, false), Ok(()), "{p}");
        }
    }

    #[test]
    fn rejects_what_zookeeper_rejects() {
        assert_eq!(validate_path("", false), Err(PathError::Empty));
        assert_eq!(validate_path("a", false), Err(PathError::NotAbsolute));
        assert_eq!(validate_path("/a/", false), Err(PathError::TrailingSlash));
        assert!(matches!(
            validate_path("/a//b", false),
            Err(PathError::EmptySegment(_))
        ));
        assert!(matches!(
            validate_path("/a/./b", false),
            Err(PathError::Relative(_))
        ));
        assert!(matches!(
            validate_path("/a/..", false),
            Err(PathError::Relative(_))
        ));
        assert!(matches!(
            validate_path("/a\0b", false),
            Err(PathError::NullChar(_))
        ));
        assert!(matches!(
            validate_path("/a\u{1}", false),
            Err(PathError::InvalidChar(_))
        ));
        assert!(matches!(
            validate_path("/\u{e000}", false),
            Err(PathError::InvalidChar(_))
        ));
        assert!(matches!(
            validate_path("/\u{1f600}", false),
            Err(PathError::InvalidChar(_))
        ));
    }

    /// The rules over a `Vec<char>`, as validated before the ASCII fast path.
    fn validate_as_chars(path: &str, sequential: bool) -> Result<(), PathError> {
        let mut chars: Vec<char> = path.chars().collect();
        if sequential {
            chars.push('1');
        }
        validate(chars.len(), |i| chars[i])
    }

    #[test]
    fn ascii_fast_path_agrees_with_the_char_rules_on_every_short_path() {
        let alphabet = ['/', '.', 'a', ' ', '\0', '\u{1f}', '\u{7f}'];
        let mut paths = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = paths
                .iter()
                .filter(|p| p.len() == paths.last().map_or(0, |l| l.len()))
                .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
                .collect();
            paths.extend(longer);
        }
        assert!(paths.len() > 19000);
        for p in &paths {
            for seq in [false, true] {
                assert_eq!(
                    validate_path(p, seq),
                    validate_as_chars(p, seq),
                    "{p:?} {seq}"
                );
            }
        }
    }

    #[test]
    fn sequential_create_may_end_with_slash() {
        assert_eq!(validate_path("/a/", true), Ok(()));
        assert_eq!(validate_path("/", true), Ok(()));
    }

    #[test]
    fn parent_and_basename() {
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(basename("/a/b/c"), "c");
        assert_eq!(basename("/a"), "a");
    }
}
