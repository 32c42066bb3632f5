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
    // Runs for every wildcard binding on every publish: words are byte slices, found
    // without allocating.
    matches(Some(pattern.as_bytes()), Some(routing_key.as_bytes()))
}

/// The first word of `words` (`None` once none are left) and the words after it.
fn next_word(words: Option<&[u8]>) -> Option<(&[u8], Option<&[u8]>)> {
    let words = words?;
    Some(match words.iter().position(|&b| b == b'.') {
        Some(dot) => (&words[..dot], Some(&words[dot + 1..])),
        None => (words, None),
    })
}

fn matches(mut pattern: Option<&[u8]>, mut key: Option<&[u8]>) -> bool {
    loop {
        match next_word(pattern) {
            None => return key.is_none(),
            Some((b"#", rest)) => loop {
                if matches(rest, key) {
                    return true;
                }
                match next_word(key) {
                    Some((_, after)) => key = after,
                    None => return false,
                }
            },
            Some((word, rest)) => match next_word(key) {
                Some((k, after)) if word == b"*" || word == k => {
                    pattern = rest;
                    key = after;
                }
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
    fn empty_words_are_words() {
        assert!(topic_matches("", ""));
        assert!(!topic_matches("", "a"));
        assert!(topic_matches("a..b", "a..b"));
        assert!(topic_matches("a.*.b", "a..b"));
        assert!(topic_matches("#", ""));
        assert!(topic_matches("a.#", "a."));
        assert!(!topic_matches("a.*", "a"));
        assert!(topic_matches("#.#", "x"));
        assert!(topic_matches("*.#.*", "x.y"));
        assert!(!topic_matches("*.#.*", "x"));
    }

    /// Word lists, written the plainest way: what the byte matcher must agree with.
    fn reference(pattern: &[&str], key: &[&str]) -> bool {
        match pattern.split_first() {
            None => key.is_empty(),
            Some((&"#", rest)) => (0..=key.len()).any(|skip| reference(rest, &key[skip..])),
            Some((word, rest)) => key
                .split_first()
                .is_some_and(|(k, after)| (*word == "*" || word == k) && reference(rest, after)),
        }
    }

    #[test]
    fn agrees_with_the_plain_reading_on_every_short_topic() {
        let words = ["a", "b", "", "*", "#"];
        let mut topics = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = topics
                .iter()
                .flat_map(|t| words.iter().map(move |w| format!("{t}.{w}")))
                .collect();
            topics.extend(longer);
        }
        for pattern in &topics {
            for key in topics.iter().filter(|k| !k.contains(['*', '#'])) {
                let split = |t: &str| t.split('.').map(str::to_owned).collect::<Vec<_>>();
                let (p, k) = (split(pattern), split(key));
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                let k: Vec<&str> = k.iter().map(String::as_str).collect();
                assert_eq!(
                    topic_matches(pattern, key),
                    reference(&p, &k),
                    "{pattern:?} {key:?}"
                );
            }
        }
    }

    #[test]
    fn literal_is_exact() {
        assert!(topic_matches("abc", "abc"));
        assert!(!topic_matches("abc", "abcd"));
        assert!(!is_wildcard("abc-def"));
        assert!(is_wildcard("a.*"));
    }
}
