//! How big and how deep a message body may be before it is refused unread.
//!
//! serde_json already stops at 128 levels, so nothing here guards the stack; these limits
//! guard memory and CPU, and let an operator refuse what no contract of theirs can need.

/// Limits applied to every inbound request and event body, before it is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Deepest nesting of JSON arrays and objects accepted, counting the envelope itself.
    pub max_depth: usize,
}

impl Default for Limits {
    /// 8 MiB and 64 levels: far above any sensible RPC message, far below what hurts.
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            max_depth: 64,
        }
    }
}

/// Why a body was refused unread.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// The body is larger than [`Limits::max_body_bytes`].
    #[error("body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The body nests deeper than [`Limits::max_depth`].
    #[error("JSON nested deeper than the limit of {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
}

impl Limits {
    /// `Ok` if `body` is within the limits, else which one it exceeds.
    pub fn check(&self, body: &[u8]) -> Result<(), LimitExceeded> {
        if body.len() > self.max_body_bytes {
            return Err(LimitExceeded::TooLarge {
                size: body.len(),
                limit: self.max_body_bytes,
            });
        }
        if json_depth_exceeds(body, self.max_depth) {
            return Err(LimitExceeded::TooDeep {
                limit: self.max_depth,
            });
        }
        Ok(())
    }
}

/// Whether arrays and objects in `body` nest deeper than `limit`, by a byte scan that skips
/// strings. It stops at the first level past the limit, so a hostile body costs no more than
/// a well-formed one of the same size.
fn json_depth_exceeds(body: &[u8], limit: usize) -> bool {
    // Nesting deeper than `limit` needs more than `limit` opening brackets. Counting them is a
    // loop the compiler vectorises, a few times cheaper than the scan below, and settles
    // nearly every real message (brackets inside strings only make the count larger).
    // `[` is 0x5B and `{` 0x7B: setting bit 0x20 maps both, and only them, to `{`. Counted
    // per chunk in a byte, so that the loop runs on whole vector registers.
    let openings: usize = body
        .chunks(255)
        .map(|chunk| {
            let in_chunk: u8 = chunk.iter().map(|&b| u8::from(b | 0x20 == b'{')).sum();
            usize::from(in_chunk)
        })
        .sum();
    if openings <= limit {
        return false;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_containers_not_brackets_in_strings() {
        assert!(!json_depth_exceeds(br#"{"a": [1, {"b": "[[[[["}]}"#, 3));
        assert!(json_depth_exceeds(br#"{"a": [1, {"b": [2]}]}"#, 3));
        assert!(!json_depth_exceeds(br#"{"s": "\"[[[[\\"}"#, 1));
    }

    #[test]
    fn long_bodies_are_counted_past_a_chunk() {
        let deep = [b'['; 600];
        assert!(json_depth_exceeds(&deep, 300));
        assert!(!json_depth_exceeds(&deep[..300], 300));
        let quoted = format!("[\"{}\"]", "{".repeat(700));
        assert!(!json_depth_exceeds(quoted.as_bytes(), 1));
    }

    #[test]
    fn size_and_depth_are_reported() {
        let limits = Limits {
            max_body_bytes: 10,
            max_depth: 2,
        };
        assert!(limits.check(b"{}").is_ok());
        let too_large = limits.check(&[b' '; 11]).unwrap_err();
        assert!(too_large.to_string().contains("11 bytes"), "{too_large}");
        let too_deep = limits.check(b"[[[]]]").unwrap_err();
        assert!(too_deep.to_string().contains("2 levels"), "{too_deep}");
    }
}
