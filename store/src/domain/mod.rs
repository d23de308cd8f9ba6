//! What Confer is about, free of HTTP and SQL: the values that can only be built
//! valid (parse, don't validate), the settings of a tenant, and the events that
//! record every change.

mod certificate_record;
mod distinguished_name;
mod email_address;
mod events;
mod field_error;
mod hostname;
mod hostname_label;
mod password;
mod room_name;
mod settings;
mod user_role;

pub use certificate_record::{CertificateRecord, DomainStage, renewal_time};
pub use distinguished_name::{parse_distinguished_name, parse_distinguished_name_template};
pub use email_address::EmailAddress;
pub use events::{DomainEvent, EventMetadata, StreamId};
pub use field_error::FieldError;
pub use hostname::Hostname;
pub use hostname_label::TenantSlug;
pub use password::{PasswordHash, PlainPassword};
pub use room_name::RoomName;
pub use settings::{AuthMode, LdapSettings, OidcSettings, SealedSecret, TenantSettings};
pub use user_role::UserRole;

/// A short human-entered text (a name or a title): trimmed, non-empty, bounded.
pub fn parse_text(field: &'static str, value: &str, max_chars: usize) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > max_chars {
        return Err(FieldError::new(field, format!("{field} must be at most {max_chars} characters")));
    }
    refuse_control_characters(field, trimmed)?;
    Ok(trimmed.to_owned())
}

/// Refuses a control character (CR, LF, NUL, …) anywhere in `value`: a setting is
/// sent as it is to whatever it names, where a line break starts another command.
pub fn refuse_control_characters(field: &'static str, value: &str) -> Result<(), FieldError> {
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(field, format!("{field} must not contain control characters")));
    }
    Ok(())
}
