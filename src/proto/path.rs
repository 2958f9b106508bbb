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
    if sequential {
        return validate(path.chars().chain(std::iter::once('1')));
    }
    validate(path.chars())
}

fn validate(chars: impl Iterator<Item = char>) -> Result<(), PathError> {
    let chars: Vec<char> = chars.collect();
    let n = chars.len();
    if n == 0 {
        return Err(PathError::Empty);
    }
    if chars[0] != '/' {
        return Err(PathError::NotAbsolute);
    }
    if n == 1 {
        return Ok(());
    }
    if chars[n - 1] == '/' {
        return Err(PathError::TrailingSlash);
    }
    for i in 1..n {
        let c = chars[i];
        let last = chars[i - 1];
        let ends_segment = i + 1 == n || chars[i + 1] == '/';
        if c == '\0' {
            return Err(PathError::NullChar(i));
        } else if c == '/' && last == '/' {
            return Err(PathError::EmptySegment(i - 1));
        } else if c == '.' && last == '.' {
            if chars[i - 2] == '/' && ends_segment {
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
