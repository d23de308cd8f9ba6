//! `JobKind`: the name of a kind of job. It becomes part of queue names
//! (`confer.jobs.<kind>`), so it is parsed once, at the edge, into something a
//! queue name can safely hold.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest kind accepted: keeps every derived queue name far below AMQP's 255 bytes.
const MAX_LEN: usize = 64;

/// A job kind: 1 to 64 of `a-z`, `0-9`, `_`, `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobKind(String);

/// Why a string is not a [`JobKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job kind {0:?} must be 1 to 64 of a-z, 0-9, '_' or '-', starting with a letter")]
pub struct InvalidJobKind(pub String);

impl JobKind {
    /// Parses a kind, refusing anything that would not make a clean queue name.
    pub fn parse(kind: &str) -> Result<Self, InvalidJobKind> {
        let starts_with_letter = kind.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        let allowed = kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if starts_with_letter && allowed && kind.len() <= MAX_LEN {
            Ok(Self(kind.to_owned()))
        } else {
            Err(InvalidJobKind(kind.to_owned()))
        }
    }

    /// The kind as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JobKind {
    type Error = InvalidJobKind;

    fn try_from(kind: String) -> Result<Self, Self::Error> {
        Self::parse(&kind)
    }
}

impl From<JobKind> for String {
    fn from(kind: JobKind) -> Self {
        kind.0
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_simple_names() {
        for kind in ["noop", "domain_check", "acme-order", "a1"] {
            assert_eq!(JobKind::parse(kind).unwrap().as_str(), kind);
        }
    }

    #[test]
    fn refuses_what_would_break_a_queue_name() {
        for kind in ["", "Noop", "1st", "a.b", "a b", "é", &"a".repeat(65)] {
            assert!(JobKind::parse(kind).is_err(), "{kind:?} was accepted");
        }
    }
}
