//! The path the gateway routes on and forwards: the request path in
//! normal form, so that a route's checks see the same resource the
//! upstream will serve.
//!
//! Matching the raw path lets `/public/../admin/x`, `//admin/x`,
//! `/%61dmin/x` or `/./admin/x` reach an `admin` route's upstream past the
//! checks of another route, and `/partner/../internal` escape a route's base
//! path: the upstream (or any HTTP library in between) normalises what the
//! gateway did not. As nginx does, the path is normalised before matching
//! and the normalised path is forwarded; what would still be read two ways
//! (an encoded `/` or `\`) is refused. Pure functions, no HTTP.

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `%2F` or `%5C`: a separator to some servers, a character to others.
    #[error(
        "the path {path:?} contains an encoded separator ({escape}), which servers read in different ways; \
         send '/' unencoded, or encode the character differently"
    )]
    EncodedSeparator { path: String, escape: String },
    /// A `%` not followed by two hex digits (RFC 3986 §2.1).
    #[error("the path {path:?} has a '%' not followed by two hex digits; encode '%' itself as %25")]
    BadEscape { path: String },
}

/// The normal form of an origin-form request path: percent-encoded
/// unreserved characters decoded (RFC 3986 §6.2.2.2) and the remaining
/// escapes in upper case (§6.2.2.1), repeated slashes merged (nginx's
/// `merge_slashes`), and dot segments removed (§5.2.4). The result starts
/// with `/`; a trailing slash (or a final `.` or `..` segment) is kept as
/// a trailing slash.
pub fn normalize(path: &str) -> Result<String, PathError> {
    if is_normal(path) {
        return Ok(path.to_owned());
    }
    let decoded = decode_unreserved(path)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded.split('/') {
        // Only the last segment decides; `split` yields "" after a final '/'.
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            name => segments.push(name),
        }
    }
    let mut normal = format!("/{}", segments.join("/"));
    if trailing_slash && !segments.is_empty() {
        normal.push('/');
    }
    Ok(normal)
}

/// Whether `path` is its own normal form: the common case, answered in one
/// pass without the allocations of [`normalize`]'s general path. Starts
/// with '/', has no escape, and no empty, `.` or `..` segment other than
/// the empty one after a trailing '/'.
fn is_normal(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if path.contains('%') {
        return false;
    }
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if matches!(segment, "." | "..") || (segment.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// Decodes escapes of unreserved characters; keeps every other escape
/// (decoding `%3B` to `;` would change the path's meaning), refuses
/// encoded separators and malformed escapes.
fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            // Multi-byte UTF-8 is copied a byte-run at a time below.
            let next = bytes[i..]
                .iter()
                .position(|&b| b == b'%')
                .map_or(bytes.len(), |p| i + p);
            out.push_str(&path[i..next]);
            i = next;
            continue;
        }
        let escape = path.get(i..i + 3).unwrap_or(&path[i..]);
        let byte = escape
            .strip_prefix('%')
            .filter(|hex| hex.len() == 2 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .ok_or_else(|| PathError::BadEscape { path: path.to_owned() })?;
        match byte {
            b'/' | b'\\' => {
                return Err(PathError::EncodedSeparator {
                    path: path.to_owned(),
                    escape: escape.to_owned(),
                });
            }
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => out.push(char::from(b)),
            _ => out.push_str(&escape.to_ascii_uppercase()),
        }
        i += 3;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_repeated_slashes_and_unreserved_escapes_are_resolved() {
        let cases = [
            ("/public/../admin/secret", "/admin/secret"),
            ("//admin/secret", "/admin/secret"),
            ("/%61dmin/secret", "/admin/secret"),
            ("/./admin/secret", "/admin/secret"),
            ("/partner/../internal", "/internal"),
            ("/partner/%2e%2E/internal", "/internal"),
            ("/../../etc", "/etc"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/a/", "/a/"),
            ("/a//b///c", "/a/b/c"),
            ("/", "/"),
            ("", "/"),
            ("/..", "/"),
            ("/a/..b/.c", "/a/..b/.c"),
            ("/x%3bjsessionid=1", "/x%3Bjsessionid=1"),
            ("/caf%C3%A9/%7euser", "/caf%C3%A9/~user"),
            ("/%25/%252F", "/%25/%252F"),
        ];
        for (raw, normal) in cases {
            assert_eq!(normalize(raw).as_deref(), Ok(normal), "{raw}");
            assert!(!is_normal(raw) || raw == normal, "{raw} taken as normal");
        }
    }

    #[test]
    fn paths_already_normal_take_the_short_way() {
        for normal in ["/", "/banks/v1", "/gw/banks/v1", "/a/", "/a/..b/.c", "/caf\u{e9}/~user"] {
            assert!(is_normal(normal), "{normal}");
        }
        for not in ["", "a", "//a", "/a//", "/a/./b", "/a/..", "/%61"] {
            assert!(!is_normal(not), "{not}");
        }
    }

    #[test]
    fn encoded_separators_and_broken_escapes_are_refused_with_the_fix() {
        for raw in ["/public%2F..%2Fadmin", "/a%2fb", "/a%5Cb"] {
            let err = normalize(raw).unwrap_err().to_string();
            assert!(
                err.contains("encoded separator") && err.contains("send '/' unencoded"),
                "{raw}: {err}"
            );
        }
        for raw in ["/a%", "/a%2", "/a%zz", "/a%+1"] {
            let err = normalize(raw).unwrap_err().to_string();
            assert!(err.contains("encode '%' itself as %25"), "{raw}: {err}");
        }
    }
}
