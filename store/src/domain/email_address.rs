//! An email address, as far as a meeting platform needs to trust one.

use super::FieldError;
use std::fmt;

/// A syntactically plausible address: `local@domain`, domain with a dot, no spaces,
/// at most 254 characters; stored lower-cased so that uniqueness ignores case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses `value` as the address in `field`.
    pub fn parse(field: &'static str, value: &str) -> Result<Self, FieldError> {
        let value = value.trim();
        let invalid = || FieldError::new(field, format!("{field} must be an email address like name@example.com"));
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'))
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(value.to_lowercase()))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_and_trims() {
        assert_eq!(EmailAddress::parse("email", " Ada@Example.ORG ").unwrap().as_str(), "ada@example.org");
    }

    #[test]
    fn refuses_non_addresses() {
        for bad in
            ["", "ada", "ada@", "@example.org", "ada@localhost", "a da@example.org", "ada@ex..org", "a@b@example.org"]
        {
            assert!(EmailAddress::parse("email", bad).is_err(), "{bad}");
        }
    }
}
