//! Who is calling: one [`Caller`] per call of the gateway's API, decided by
//! the caller layer (`caller_layer`) and read from the request's extensions by
//! handlers, the log line and, later, policy and audit.

use std::fmt;
use std::sync::Arc;

/// How a caller proved who it is (`auth_method` in logs and audit records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// A client certificate signed by `--tls-client-ca`.
    Mtls,
    /// A JWT verified against `--jwt-jwks` (with or without a client
    /// certificate: when both are configured, both are required and the
    /// identity is the token's `sub`).
    Jwt,
    /// No identity method is configured: every caller is `anonymous`.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Mtls => "mtls",
            AuthMethod::Jwt => "jwt",
            AuthMethod::None => "none",
        }
    }
}

/// The principal of callers when no identity method is configured.
pub const ANONYMOUS: &str = "anonymous";

/// The caller of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The identity: a certificate's SPIFFE ID / DNS name / CN, a JWT's `sub`,
    /// or `anonymous`.
    pub principal: Arc<str>,
    pub auth_method: AuthMethod,
    /// The client certificate's identity when the caller also presented one
    /// (with mTLS and JWT both configured, the principal is the JWT's).
    pub certificate_identity: Option<Arc<str>>,
}

impl Caller {
    pub fn anonymous() -> Self {
        Self {
            principal: Arc::from(ANONYMOUS),
            auth_method: AuthMethod::None,
            certificate_identity: None,
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.principal)
    }
}
