//! Where the api, the worker and the media nodes meet on Redis: the pub/sub channels
//! on which a tenant's nodes hear that something changed (the message carries no
//! data, only "read the api again"), and the keys of ACME HTTP-01 answers.

/// The Redis pub/sub channel on which the api announces that `tenant`'s settings
/// changed, and its media nodes listen.
pub fn settings_channel(tenant: &str) -> String {
    format!("confer:{tenant}:settings")
}

/// The Redis pub/sub channel on which the worker announces that one of `tenant`'s
/// certificates was issued or renewed; its media nodes then read the list again.
pub fn certificates_channel(tenant: &str) -> String {
    format!("confer:{tenant}:certificates")
}

/// The Redis key under which the worker leaves the key authorization of an ACME
/// HTTP-01 challenge `token`, for any media node to answer
/// `GET /.well-known/acme-challenge/<token>` with.
pub fn acme_http01_key(token: &str) -> String {
    format!("confer:acme:http01:{token}")
}
