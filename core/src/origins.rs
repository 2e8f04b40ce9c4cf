//! Browser origins: the syntax rule shared by the Environment API (the
//! `cors-origins` setting and `/environment/v3/cors`), the catalog's allowed
//! origins and the pages' `form-action`.

/// Name of the contact-center setting holding a comma list of origins.
pub const SETTING: &str = "cors-origins";

/// An origin in the form browsers send (`scheme://host[:port]`, lower-case,
/// default port omitted), or why `raw` is not an origin.
pub fn normalize(raw: &str) -> Result<String, &'static str> {
    let (scheme, rest) = raw
        .split_once("://")
        .ok_or("must be scheme://host[:port]")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return Err("must be scheme://host[:port]");
    }
    if rest.is_empty() {
        return Err("has no host");
    }
    // An Origin header never has a path, query, fragment or credentials.
    if rest.contains(['/', '?', '#', '@', '\\']) || rest.contains(char::is_whitespace) {
        return Err("must be scheme://host[:port] with no path, query or credentials");
    }
    let url = url::Url::parse(raw).map_err(|_| "is not a valid origin")?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("has no host")?;
    let scheme = scheme.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    Ok(match url.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// The items of a `cors-origins` value; empty items (",a" from scripts that
/// append to an empty value) are skipped.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// The origin (`scheme://host[:port]`) of a URI, for `form-action`.
pub fn origin_of(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_rules() {
        assert_eq!(
            normalize("https://x.example"),
            Ok("https://x.example".into())
        );
        assert_eq!(
            normalize("HTTPS://X.Example:443"),
            Ok("https://x.example".into())
        );
        assert_eq!(
            normalize("http://localhost:8080"),
            Ok("http://localhost:8080".into())
        );
        assert_eq!(normalize("https://[::1]:9"), Ok("https://[::1]:9".into()));
        for bad in [
            "",
            "x.example",
            "https://",
            "https://x.example/",
            "https://x.example/path",
            "https://x.example?q",
            "https://x.example#f",
            "https://user@x.example",
            "https://x.example:99999",
            "1https://x.example",
            "https://x .example",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn lists_skip_empty_items() {
        let items: Vec<&str> = split_list(",https://a.example, https://b.example ,").collect();
        assert_eq!(items, ["https://a.example", "https://b.example"]);
    }
}
