//! The identity in a caller's client certificate: its first URI SAN (a SPIFFE
//! ID such as `spiffe://acme.test/ns/doors/sa/frontdesk`), else its first DNS
//! SAN, else its subject CN. The certificate was verified against
//! `--tls-client-ca` during the TLS handshake; this only reads it.

use std::sync::Arc;

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The identity of a caller's TLS connection, added by the connection to each
/// of its requests.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub identity: Arc<str>,
}

impl ClientCertificate {
    /// The identity of the end-entity certificate `der`; `None` when it names
    /// nothing usable (no SAN and no CN).
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, certificate) = X509Certificate::from_der(der).ok()?;
        let names = certificate
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|extension| extension.value.general_names.clone())
            .unwrap_or_default();
        let uri = names.iter().find_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        });
        let dns = names.iter().find_map(|name| match name {
            GeneralName::DNSName(dns) => Some(*dns),
            _ => None,
        });
        let common_name = || {
            certificate
                .subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
        };
        let identity = uri.or(dns).or_else(common_name).filter(|name| !name.is_empty())?;
        Some(Self {
            identity: Arc::from(identity),
        })
    }
}
