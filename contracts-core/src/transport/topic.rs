//! AMQP topic matching: `*` is exactly one word, `#` is zero or more words.

/// Does `routing_key` match the topic binding `pattern`?
///
/// ```
/// use contracts_core::transport::topic_matches;
/// assert!(topic_matches("user_service.*", "user_service.create_user"));
/// assert!(!topic_matches("user_service.*", "user_service"));
/// assert!(topic_matches("#", "any.thing.at.all"));
/// assert!(topic_matches("a.#.z", "a.z"));
/// ```
pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    // Runs on every publish: walk the words without allocating.
    matches(pattern.split('.'), routing_key.split('.'))
}

type Words<'a> = std::str::Split<'a, char>;

fn matches(mut pattern: Words<'_>, mut key: Words<'_>) -> bool {
    loop {
        match pattern.next() {
            None => return key.next().is_none(),
            Some("#") => loop {
                if matches(pattern.clone(), key.clone()) {
                    return true;
                }
                if key.next().is_none() {
                    return false;
                }
            },
            Some(word) => match key.next() {
                Some(k) if word == "*" || word == k => {}
                _ => return false,
            },
        }
    }
}

/// Whether a binding pattern contains wildcards (else it matches only itself).
pub(crate) fn is_wildcard(pattern: &str) -> bool {
    pattern.split('.').any(|w| w == "*" || w == "#")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_is_one_word() {
        assert!(topic_matches("svc.*", "svc.m"));
        assert!(!topic_matches("svc.*", "svc.m.x"));
        assert!(!topic_matches("svc.*", "other.m"));
    }

    #[test]
    fn hash_is_zero_or_more_words() {
        assert!(topic_matches("svc.#", "svc"));
        assert!(topic_matches("svc.#", "svc.a.b"));
        assert!(topic_matches("#.b", "a.b"));
        assert!(!topic_matches("#.b", "a.c"));
    }

    #[test]
    fn literal_is_exact() {
        assert!(topic_matches("abc", "abc"));
        assert!(!topic_matches("abc", "abcd"));
        assert!(!is_wildcard("abc-def"));
        assert!(is_wildcard("a.*"));
    }
}
