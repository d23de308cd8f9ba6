//! What can go wrong with a request sent on a tenant's behalf.

use crate::Refusal;

/// Why an outbound request did not get an answer. `Display` is for the tenant: it
/// names the host and what failed, never why a connection failed nor what the remote
/// side said; [`OutboundError::detail`] adds the causes, for the operator's log.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The guard refused the address (a special network, or a platform service).
    #[error("{host}: {refusal}")]
    Refused { host: String, refusal: Refusal },
    /// The name has no address.
    #[error("{host} does not resolve to an address")]
    Unresolvable {
        host: String,
        #[source]
        source: Option<std::io::Error>,
    },
    /// No connection could be made (refused, unreachable, reset: not told apart).
    #[error("cannot connect to {host}")]
    Unreachable {
        host: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// No connection or no answer within the time allowed.
    #[error("{host} did not answer within {secs}s")]
    Timeout { host: String, secs: u64 },
    /// The answer was larger than the platform reads.
    #[error("{host} sent an answer larger than {limit} bytes")]
    TooLarge { host: String, limit: usize },
    /// The request could not be sent or its answer read.
    #[error("the exchange with {host} failed")]
    Failed {
        host: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl OutboundError {
    /// The message with every cause, for the operator's log (never for a tenant).
    pub fn detail(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    /// Whether the guard refused the address: the tenant's settings must change.
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}
