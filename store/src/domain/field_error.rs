//! The one error every parser in the domain returns: which field, and what is wrong.

/// Input that cannot become a domain value. `field` names the request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The request field at fault, as the client spelled it.
    pub field: &'static str,
    /// What is wrong, in a sentence a client developer can act on.
    pub message: String,
}

impl FieldError {
    /// An error on `field` saying `message`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}
