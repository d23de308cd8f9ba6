//! Looking for the DNS record that proves a tenant holds a custom domain: a CNAME
//! from the domain to the tenant's platform name, or a TXT record holding the token
//! the api handed out. Asked of a configurable resolver (hickory), never cached:
//! a record created a minute ago must be seen on the next check.

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// How a domain was proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofMethod {
    /// A CNAME to the tenant's platform name (which also points the name at us).
    Cname,
    /// A TXT record with the token.
    Txt,
}

impl ProofMethod {
    /// As recorded in `DomainVerified`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cname => "cname",
            Self::Txt => "txt",
        }
    }
}

/// The records a domain is proved by, as `DomainAdded` set them.
#[derive(Debug, Clone)]
pub struct ExpectedRecords<'a> {
    pub hostname: &'a str,
    pub cname_target: &'a str,
    pub txt_name: &'a str,
    pub txt_value: &'a str,
}

/// Why DNS could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The resolver could not be built from its configuration.
    #[error("the DNS resolver cannot be set up: {0}")]
    Setup(String),
    /// The resolver did not answer, or answered with an error other than "no such record".
    #[error("the DNS lookup of {name} ({record}) failed: {detail}")]
    Lookup { name: String, record: &'static str, detail: String },
}

/// Answers the two questions a domain check asks of DNS.
pub trait DnsLookup: Send + Sync + 'static {
    /// The targets of `name`'s CNAME records (lowercase, no trailing dot); empty when
    /// there are none.
    fn cname_targets(&self, name: &str) -> impl Future<Output = Result<Vec<String>, DnsError>> + Send;
    /// The texts of `name`'s TXT records (each record's strings joined); empty when none.
    fn txt_values(&self, name: &str) -> impl Future<Output = Result<Vec<String>, DnsError>> + Send;
}

/// Which proof DNS holds for the domain, if any: the CNAME is looked at first.
pub async fn find_proof(dns: &impl DnsLookup, expected: &ExpectedRecords<'_>) -> Result<Option<ProofMethod>, DnsError> {
    let target = normalize(expected.cname_target);
    if dns.cname_targets(expected.hostname).await?.contains(&target) {
        return Ok(Some(ProofMethod::Cname));
    }
    if dns.txt_values(expected.txt_name).await?.iter().any(|v| v == expected.txt_value) {
        return Ok(Some(ProofMethod::Txt));
    }
    Ok(None)
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// DNS through hickory: the given server (host:port, UDP then TCP), or the
/// system's resolvers from `/etc/resolv.conf` when none is given. No cache.
pub struct HickoryDns {
    resolver: TokioResolver,
}

impl HickoryDns {
    /// A resolver asking `server`, or the system's resolvers.
    pub fn new(server: Option<SocketAddr>) -> Result<Self, DnsError> {
        let config = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut ns.connections {
                    connection.port = addr.port();
                }
                ResolverConfig::from_name_servers(vec![ns])
            }
            None => {
                let (config, _) = hickory_resolver::system_conf::read_system_conf()
                    .map_err(|e| DnsError::Setup(format!("reading /etc/resolv.conf: {e}")))?;
                config
            }
        };
        let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
        let options = builder.options_mut();
        options.cache_size = 0;
        options.timeout = Duration::from_secs(3);
        options.attempts = 2;
        let resolver = builder.build().map_err(|e| DnsError::Setup(e.to_string()))?;
        Ok(Self { resolver })
    }

    async fn records(&self, name: &str, kind: RecordType, label: &'static str) -> Result<Vec<RData>, DnsError> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), kind).await {
            Ok(lookup) => Ok(lookup.answers().iter().map(|r| r.data.clone()).collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(DnsError::Lookup { name: name.to_owned(), record: label, detail: e.to_string() }),
        }
    }
}

impl DnsLookup for HickoryDns {
    async fn cname_targets(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let records = self.records(name, RecordType::CNAME, "CNAME").await?;
        Ok(records
            .into_iter()
            .filter_map(|data| match data {
                RData::CNAME(cname) => Some(normalize(&cname.0.to_ascii())),
                _ => None,
            })
            .collect())
    }

    async fn txt_values(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let records = self.records(name, RecordType::TXT, "TXT").await?;
        Ok(records
            .into_iter()
            .filter_map(|data| match data {
                RData::TXT(txt) => {
                    Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect::<String>())
                }
                _ => None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// DNS as a table, for the matching rules.
    struct Table {
        cnames: HashMap<&'static str, Vec<String>>,
        txts: HashMap<&'static str, Vec<String>>,
    }

    impl DnsLookup for Table {
        async fn cname_targets(&self, name: &str) -> Result<Vec<String>, DnsError> {
            Ok(self.cnames.get(name).cloned().unwrap_or_default())
        }
        async fn txt_values(&self, name: &str) -> Result<Vec<String>, DnsError> {
            Ok(self.txts.get(name).cloned().unwrap_or_default())
        }
    }

    const EXPECTED: ExpectedRecords<'static> = ExpectedRecords {
        hostname: "meet.example.com",
        cname_target: "acme.confer.test",
        txt_name: "_confer-challenge.meet.example.com",
        txt_value: "confer-verification=abc",
    };

    fn table(cname: &[&str], txt: &[&str]) -> Table {
        Table {
            cnames: HashMap::from([("meet.example.com", cname.iter().map(|s| s.to_string()).collect())]),
            txts: HashMap::from([("_confer-challenge.meet.example.com", txt.iter().map(|s| s.to_string()).collect())]),
        }
    }

    #[tokio::test]
    async fn a_cname_to_the_platform_name_proves_the_domain() {
        assert_eq!(find_proof(&table(&["acme.confer.test"], &[]), &EXPECTED).await.unwrap(), Some(ProofMethod::Cname));
    }

    #[tokio::test]
    async fn the_txt_token_proves_the_domain() {
        let dns = table(&["elsewhere.example"], &["other", "confer-verification=abc"]);
        assert_eq!(find_proof(&dns, &EXPECTED).await.unwrap(), Some(ProofMethod::Txt));
    }

    #[tokio::test]
    async fn another_target_or_token_proves_nothing() {
        let dns = table(&["acme.confer.test.evil.example"], &["confer-verification=abcd"]);
        assert_eq!(find_proof(&dns, &EXPECTED).await.unwrap(), None);
        assert_eq!(find_proof(&table(&[], &[]), &EXPECTED).await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_expected_target_is_compared_without_case_or_trailing_dot() {
        let expected = ExpectedRecords { cname_target: "ACME.confer.test.", ..EXPECTED };
        assert_eq!(find_proof(&table(&["acme.confer.test"], &[]), &expected).await.unwrap(), Some(ProofMethod::Cname));
    }
}
