//! Why a call has no valid identity: the `ErrorInfo` reason of its
//! UNAUTHENTICATED status. A refusal never carries the token or certificate
//! it is about, only which check failed.

/// The check a caller failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityRefusal {
    /// Mutual TLS is required and the connection presented no certificate.
    ClientCertificateMissing,
    /// No `authorization: Bearer <JWT>` metadata.
    TokenMissing,
    /// Not a JWT (structure, encoding, header, claims' types, algorithm).
    TokenMalformed,
    /// A claim the gateway requires is absent (`exp`, `sub`, `iss`, `aud`).
    TokenClaimMissing,
    TokenExpired,
    TokenNotYetValid,
    TokenWrongIssuer,
    TokenWrongAudience,
    /// The token's key id is not in the JWKS, even after fetching it again.
    TokenUnknownKey,
    TokenBadSignature,
    /// The JWKS could not be read, so no token can be checked (fail closed).
    KeysUnavailable,
}

impl IdentityRefusal {
    /// The `ErrorInfo` reason.
    pub fn reason(self) -> &'static str {
        match self {
            IdentityRefusal::ClientCertificateMissing => "CLIENT_CERTIFICATE_MISSING",
            IdentityRefusal::TokenMissing => "TOKEN_MISSING",
            IdentityRefusal::TokenMalformed => "TOKEN_MALFORMED",
            IdentityRefusal::TokenClaimMissing => "TOKEN_CLAIM_MISSING",
            IdentityRefusal::TokenExpired => "TOKEN_EXPIRED",
            IdentityRefusal::TokenNotYetValid => "TOKEN_NOT_YET_VALID",
            IdentityRefusal::TokenWrongIssuer => "TOKEN_WRONG_ISSUER",
            IdentityRefusal::TokenWrongAudience => "TOKEN_WRONG_AUDIENCE",
            IdentityRefusal::TokenUnknownKey => "TOKEN_UNKNOWN_KEY",
            IdentityRefusal::TokenBadSignature => "TOKEN_BAD_SIGNATURE",
            IdentityRefusal::KeysUnavailable => "TOKEN_KEYS_UNAVAILABLE",
        }
    }

    /// The status message: what is wrong and what the caller can do.
    pub fn message(self) -> &'static str {
        match self {
            IdentityRefusal::ClientCertificateMissing => {
                "this gateway requires a client certificate (mutual TLS); the connection presented none"
            }
            IdentityRefusal::TokenMissing => "send `authorization: Bearer <JWT>` metadata",
            IdentityRefusal::TokenMalformed => {
                "the `authorization` metadata is not `Bearer <JWT>` with a JWT signed by RS256, ES256 or EdDSA"
            }
            IdentityRefusal::TokenClaimMissing => "the JWT lacks a required claim (exp, sub, iss, aud)",
            IdentityRefusal::TokenExpired => "the JWT has expired",
            IdentityRefusal::TokenNotYetValid => "the JWT is not valid yet (nbf)",
            IdentityRefusal::TokenWrongIssuer => "the JWT's issuer (iss) is not the one this gateway accepts",
            IdentityRefusal::TokenWrongAudience => "the JWT's audience (aud) is not this gateway",
            IdentityRefusal::TokenUnknownKey => "the JWT's key id (kid) is not in the gateway's JWKS",
            IdentityRefusal::TokenBadSignature => "the JWT's signature does not verify",
            IdentityRefusal::KeysUnavailable => {
                "the gateway cannot read its JWKS, so it cannot check tokens; retry later"
            }
        }
    }
}
