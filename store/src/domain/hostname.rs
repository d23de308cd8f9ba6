//! A custom domain a tenant brings: a fully qualified DNS name its people will meet
//! at. Parsed once at the edge; the rules say why a name is refused.

use super::FieldError;

/// The longest DNS name, in characters (RFC 1035, without the trailing dot).
const MAX_LEN: usize = 253;

/// A hostname: lower-case, without a trailing dot, at least two labels, each 1–63
/// letters, digits or hyphens (not first or last), no IP literal, no wildcard, not
/// `localhost`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Hostname(String);

impl Hostname {
    /// Parses `value` given in `field`.
    pub fn parse(field: &'static str, value: &str) -> Result<Self, FieldError> {
        let refuse = |why: &str| Err(FieldError::new(field, format!("{value:?} is not a usable hostname: {why}")));
        let name = value.trim().to_ascii_lowercase();
        let name = name.strip_suffix('.').unwrap_or(&name).to_owned();
        if name.is_empty() {
            return refuse("it is empty");
        }
        if !name.is_ascii() {
            return refuse("it has characters outside ASCII; give the punycode form (xn--…)");
        }
        if name.len() > MAX_LEN {
            return refuse("it is longer than 253 characters");
        }
        if name.contains('*') {
            return refuse("wildcards are not accepted; add each name");
        }
        if name.contains(':') || name.contains('[') || name.parse::<std::net::Ipv4Addr>().is_ok() {
            return refuse("an IP address is not a domain");
        }
        if name == "localhost" || name.ends_with(".localhost") {
            return refuse("localhost names point at the visitor's own machine");
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return refuse("it needs at least two labels, like meet.example.com");
        }
        for label in &labels {
            if label.is_empty() {
                return refuse("it has an empty label (two dots in a row)");
            }
            if label.len() > 63 {
                return refuse("a label is longer than 63 characters");
            }
            if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return refuse("a label may hold only letters, digits and hyphens");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return refuse("a label may not start or end with a hyphen");
            }
        }
        if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
            return refuse("the last label is all digits");
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `base` or a name under it.
    pub fn is_within(&self, base: &str) -> bool {
        let base = base.trim_end_matches('.').to_ascii_lowercase();
        self.0 == base || self.0.ends_with(&format!(".{base}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_are_lower_cased_without_the_trailing_dot() {
        assert_eq!(Hostname::parse("hostname", " Meet.Example.COM. ").unwrap().as_str(), "meet.example.com");
        assert_eq!(Hostname::parse("hostname", "xn--bcher-kva.example").unwrap().as_str(), "xn--bcher-kva.example");
        assert!(Hostname::parse("hostname", &format!("{}.example.com", "a".repeat(63))).is_ok());
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        for (name, why) in [
            ("", "empty"),
            ("*.example.com", "wildcard"),
            ("192.0.2.1", "IP address"),
            ("[2001:db8::1]", "IP address"),
            ("2001:db8::1", "IP address"),
            ("localhost", "localhost"),
            ("meet.localhost", "localhost"),
            ("example", "two labels"),
            ("meet..example.com", "empty label"),
            ("-meet.example.com", "hyphen"),
            ("meet-.example.com", "hyphen"),
            ("meet_room.example.com", "letters, digits and hyphens"),
            ("bücher.example", "punycode"),
            ("meet.example.123", "all digits"),
        ] {
            let e = Hostname::parse("hostname", name).unwrap_err();
            assert_eq!(e.field, "hostname");
            assert!(e.message.contains(why), "{name}: {}", e.message);
        }
        let long = format!("{}.example.com", "a".repeat(64));
        assert!(Hostname::parse("hostname", &long).unwrap_err().message.contains("63"));
        let too_long = vec!["abcdefghi"; 26].join(".");
        assert!(Hostname::parse("hostname", &too_long).unwrap_err().message.contains("253"));
    }

    #[test]
    fn a_name_is_within_a_base_domain_when_it_is_it_or_under_it() {
        let h = Hostname::parse("hostname", "acme.confer.example").unwrap();
        assert!(h.is_within("confer.example"));
        assert!(h.is_within("acme.confer.example."));
        assert!(!h.is_within("fer.example"));
        assert!(!Hostname::parse("hostname", "notconfer.example").unwrap().is_within("confer.example"));
    }
}
