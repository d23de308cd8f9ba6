//! LDAP distinguished names as a tenant writes them in its directory settings
//! (`bind_dn`, `base_dn`, `moderator_group`, `user_dn_template`), checked against the
//! string form of RFC 4514 §3 before they are stored.
//!
//! Written here rather than taken from a crate: `ldapdn` splits a DN at its commas and
//! plus signs but accepts any attribute type and any escape, and `ldap-types` brings a
//! parser-combinator library for fifteen lines of grammar. What is checked:
//!
//! - every RDN is `type=value` pairs joined by `+`, RDNs joined by `,`;
//! - a type is a `descr` (a letter, then letters, digits, `-`) or a numeric OID;
//! - a value is `#` and hex pairs, or a string where `" + , ; < > \` and NUL appear
//!   only escaped (`\` before a special or two hex digits); a `#` or space may not
//!   lead and a space may not end it unescaped;
//! - no control character anywhere (a CR/LF in a DN would be sent as it is).
//!
//! Spaces around `,`, `+` and `=` are tolerated (RFC 4514 §4 lets readers accept
//! the RFC 1779 forms people write, `dc=example, dc=org`) and kept as written.

use super::FieldError;

/// Longest DN accepted, in bytes.
const MAX_DN_BYTES: usize = 1024;

/// `value` as a distinguished name, or why it is not one. Surrounding spaces are
/// trimmed; an empty DN (the root) is refused: no setting means the root.
pub fn parse_distinguished_name(field: &'static str, value: &str) -> Result<String, FieldError> {
    let refuse = |why: &str| Err(FieldError::new(field, format!("{field} is not a distinguished name: {why}")));
    // Before trimming: NEL (U+0085) is both a control character and white space.
    if value.chars().any(char::is_control) {
        return refuse("it holds a control character");
    }
    let dn = value.trim();
    if dn.is_empty() {
        return refuse("it is empty");
    }
    if dn.len() > MAX_DN_BYTES {
        return refuse(&format!("it is longer than {MAX_DN_BYTES} bytes"));
    }
    for rdn in split_unescaped(dn, ',') {
        for pair in split_unescaped(rdn, '+') {
            let Some((kind, value)) = pair.split_once('=') else {
                return refuse(&format!("{:?} has no '='", pair.trim()));
            };
            if !attribute_type(kind.trim()) {
                return refuse(&format!("{:?} is not an attribute type", kind.trim()));
            }
            if let Err(why) = attribute_value(value.trim_start()) {
                return refuse(&why);
            }
        }
    }
    Ok(dn.to_owned())
}

/// The parts of `s` between unescaped `sep`s (a `\` escapes the next character).
fn split_unescaped(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == sep => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter()
}

/// `descr` (RFC 4512 `keystring`) or `numericoid`.
fn attribute_type(t: &str) -> bool {
    let mut chars = t.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => chars.all(|c| c.is_ascii_alphanumeric() || c == '-'),
        Some(c) if c.is_ascii_digit() => {
            let numbers: Vec<&str> = t.split('.').collect();
            numbers.len() >= 2
                && numbers.iter().all(|n| {
                    !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n.len() == 1 || !n.starts_with('0'))
                })
        }
        _ => false,
    }
}

/// An `attributeValue`: a `hexstring`, or a `string` with its specials escaped. Spaces
/// before a separator that follows it are tolerated (see the module's note).
fn attribute_value(v: &str) -> Result<(), String> {
    if let Some(hex) = v.strip_prefix('#') {
        let hex = hex.trim_end();
        return if !hex.is_empty() && hex.len() % 2 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(())
        } else {
            Err(format!("{v:?} starts with '#' but is not hex pairs"))
        };
    }
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) if "\\\"+,;<> #=".contains(n) => {}
                Some(h) if h.is_ascii_hexdigit() => match chars.next() {
                    Some(l) if l.is_ascii_hexdigit() => {}
                    _ => return Err(format!("{v:?} has a '\\' followed by one hex digit")),
                },
                _ => return Err(format!("{v:?} has a '\\' that escapes nothing it may")),
            },
            '"' | '+' | ',' | ';' | '<' | '>' | '\0' => {
                return Err(format!("{v:?} holds {c:?} unescaped (write \\{c})"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A DN template with `%u` (where the escaped user name goes), checked as the DN it
/// makes for a plain name.
pub fn parse_distinguished_name_template(field: &'static str, value: &str) -> Result<String, FieldError> {
    let template = value.trim();
    if !template.contains("%u") {
        return Err(FieldError::new(field, format!("{field} must contain %u")));
    }
    parse_distinguished_name(field, &template.replace("%u", "user"))?;
    Ok(template.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(dn: &str) -> bool {
        parse_distinguished_name("dn", dn).is_ok()
    }

    #[test]
    fn the_names_directories_use_are_distinguished_names() {
        assert!(ok("dc=example,dc=org"));
        assert!(ok("cn=reader,dc=example,dc=org"));
        assert!(ok("dc=example, dc=org"), "RFC 1779 spacing is tolerated");
        assert!(ok("gn=Jonathan+sn=Wilbur,st=FL,c=US"));
        assert!(ok("CN=Steve Kille,O=Isode Limited,C=GB"));
        assert!(ok(r"CN=Sam\, Jr.,OU=Sales,DC=example,DC=com"));
        assert!(ok(r"cn=Lu\C4\8Di\C4\87,dc=example"), "hex escapes");
        assert!(ok("1.3.6.1.4.1.1466.0=#04024869,dc=example"), "numeric OID and hexstring");
        assert!(ok("uid=jöran,dc=example,dc=org"), "UTF-8 in values");
        assert!(ok("cn=a=b,dc=example"), "'=' in a value is allowed unescaped");
        assert!(ok(r"cn=\ lead and trail\ ,dc=example"));
    }

    #[test]
    fn broken_names_are_refused() {
        for bad in [
            "",
            "   ",
            "example.org",
            "dc=example,,dc=org",
            "=example",
            "d c=example",
            "1dc=example",
            "1.02.3=x",
            "cn=a;b",
            "cn=a<b>",
            "cn=\"quoted\"",
            r"cn=trailing\",
            r"cn=bad\escape",
            r"cn=half\4",
            "cn=#zz",
            "cn=#123",
            "cn=#",
            "cn=x\r\nFLUSHALL\r\n",
            "cn=x\0",
            "cn=x\u{85}",
        ] {
            assert!(!ok(bad), "{bad:?} should be refused");
        }
        assert!(!ok(&format!("cn={}", "a".repeat(MAX_DN_BYTES))));
    }

    #[test]
    fn errors_name_the_field_and_the_fault() {
        let e = parse_distinguished_name("ldap.bind_dn", "cn=a;b").unwrap_err();
        assert_eq!(e.field, "ldap.bind_dn");
        assert!(e.message.contains("';'"), "{}", e.message);
    }

    #[test]
    fn templates_hold_the_placeholder_in_a_value() {
        let field = "ldap.user_dn_template";
        assert!(parse_distinguished_name_template(field, "uid=%u,ou=people,dc=example,dc=org").is_ok());
        assert!(parse_distinguished_name_template(field, "uid=ann,ou=people").is_err(), "no %u");
        assert!(parse_distinguished_name_template(field, "%u,ou=people").is_err(), "%u as a whole RDN");
        assert!(parse_distinguished_name_template(field, "uid=%u;ou=people").is_err());
    }
}
