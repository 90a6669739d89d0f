//! Path rules (PathUtils.validatePath, spec §9.2) and the string helpers prep and apply use.
//!
//! Parent/child splitting follows Java's `lastIndexOf('/')` on unvalidated input, because
//! prep looks the parent up *before* validating the full path (spec §6.2).

use crate::proto::ErrorCode;

/// PathUtils.validatePath: BADARGUMENTS unless `path` is a well-formed absolute path.
pub fn validate_path(path: &str) -> Result<(), ErrorCode> {
    if !path.starts_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    for component in path[1..].split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(ErrorCode::BadArguments);
        }
        if component.chars().any(forbidden_char) {
            return Err(ErrorCode::BadArguments);
        }
    }
    Ok(())
}

/// Java tests UTF-16 code units; every char above U+FFFF is a surrogate pair there, and
/// surrogates fall inside the rejected U+D800..U+F8FF range.
fn forbidden_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{e000}'..='\u{f8ff}'
        | '\u{fff0}'..='\u{ffff}')
        || c > '\u{ffff}'
}

/// Everything before the last '/', with Java's "" root alias mapped to "/".
/// A path without any '/' yields "" (which names no node).
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

/// Everything after the last '/' (the whole string if there is none).
pub fn child_name(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// Maps Java's root alias "" to "/" so lookups behave like Java's node map.
pub(crate) fn canonical(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// The four nodes nobody may delete (DataTree.isSpecialPath).
pub fn is_special_path(path: &str) -> bool {
    matches!(
        path,
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    )
}

/// Java's `String.format("%010d", n)`: zero-padded to width 10 with the sign first.
pub fn sequence_suffix(n: i32) -> String {
    if n < 0 {
        format!("-{:09}", (n as i64).unsigned_abs())
    } else {
        format!("{n:010}")
    }
}

/// Java's `String.length()` (UTF-16 units), used for the approximate data size.
pub(crate) fn java_len(s: &str) -> i64 {
    s.encode_utf16().count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_path_utils() {
        for ok in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/...",
            "/a/.x",
            "/a/x..",
            "/\u{4e2d}",
            "/a b",
        ] {
            assert_eq!(validate_path(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "",
            "a",
            "a/b",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/..",
            "/a\0b",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{9f}",
            "/\u{e000}",
            "/\u{f8ff}",
            "/\u{fff0}",
            "/\u{ffff}",
            "/\u{1f600}",
        ] {
            assert_eq!(validate_path(bad), Err(ErrorCode::BadArguments), "{bad:?}");
        }
        // Just outside the forbidden ranges.
        for ok in ["/\u{a0}", "/\u{f900}", "/\u{ffef}", "/\u{7e}"] {
            assert_eq!(validate_path(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn splits_like_last_index_of() {
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("/"), "/");
        assert_eq!(parent_of("/q/"), "/q");
        assert_eq!(parent_of("a"), "");
        assert_eq!(parent_of("x/a"), "x");
        assert_eq!(child_name("/a/b"), "b");
        assert_eq!(child_name("/q/"), "");
        assert_eq!(child_name("/"), "");
    }

    #[test]
    fn sequence_suffix_matches_java_format() {
        assert_eq!(sequence_suffix(0), "0000000000");
        assert_eq!(sequence_suffix(7), "0000000007");
        assert_eq!(sequence_suffix(i32::MAX), "2147483647");
        assert_eq!(sequence_suffix(i32::MIN), "-2147483648");
        assert_eq!(sequence_suffix(-5), "-000000005");
    }
}
