//! User names as typed, made canonical once at the edge of every password
//! endpoint. Directories match names leniently (LDAP's string preparation
//! applies NFKC and ignores surrounding and repeated spaces, and all our
//! directories ignore case), so `" agent"`, `"agent  "` and `"ａｇｅｎｔ"` reach
//! the same account; without normalizing first, each variant would get its
//! own lockout counter and its own subject.

use unicode_normalization::UnicodeNormalization;

/// The name to hand to a directory: NFKC (full-width and other compatibility
/// forms become their plain letters), surrounding white space removed. Case
/// is left to the directory's own matching rules.
pub fn normalize(typed: &str) -> String {
    let nfkc: String = typed.nfkc().collect();
    nfkc.trim().to_string()
}

/// The case- and space-folded form for keys (lockout counters): folding more
/// than a directory does only merges counters, never splits them.
pub fn fold(typed: &str) -> String {
    normalize(typed)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_normalize_to_one_name() {
        for v in [
            " agent",
            "agent  ",
            "ａｇｅｎｔ",
            "\u{3000}agent\u{00a0}",
            "agent",
        ] {
            assert_eq!(normalize(v), "agent", "{v:?}");
        }
        assert_eq!(
            normalize("Agent"),
            "Agent",
            "case is the directory's business"
        );
        assert_eq!(fold(" Ａgent "), "agent");
        assert_eq!(fold("jane  doe"), "jane doe");
        assert_eq!(normalize("   "), "");
    }
}
