//! Which Seam credential a call uses: the gateway's own `SEAM_API_KEY`, or in
//! pass-through mode the caller's `authorization` (and `seam-workspace`)
//! metadata. When JWTs identify callers, `authorization` carries the JWT and
//! the Seam credential moves to `seam-authorization`.

use crate::api::error::{ErrorKind, GatewayError};
use crate::seam::Credential;

/// Where a caller's Seam credential is, unless JWTs identify callers.
pub const AUTHORIZATION: &str = "authorization";
/// Where a caller's Seam credential is when `authorization` carries its JWT.
pub const SEAM_AUTHORIZATION: &str = "seam-authorization";

/// Resolves the credential of each call.
#[derive(Debug, Clone)]
pub struct CredentialSource {
    fixed: Option<Credential>,
    /// The metadata key of the caller's credential in pass-through mode.
    header: &'static str,
}

impl CredentialSource {
    /// `api_key` set: every call uses it. Unset: pass-through mode, with the
    /// credential in `authorization`, or in `seam-authorization` when
    /// `authorization` carries a JWT (`callers_send_jwts`).
    pub fn new(api_key: Option<&str>, callers_send_jwts: bool) -> Self {
        Self {
            fixed: api_key
                .filter(|key| !key.is_empty())
                .map(|key| Credential::new(key, None)),
            header: if callers_send_jwts {
                SEAM_AUTHORIZATION
            } else {
                AUTHORIZATION
            },
        }
    }

    /// The credential of a call with these request headers (gRPC metadata).
    pub fn resolve(&self, metadata: &http::HeaderMap) -> Result<Credential, GatewayError> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let header = self.header;
        let Some(authorization) = metadata.get(header) else {
            return Err(GatewayError::new(ErrorKind::MissingCredential { header }));
        };
        let token = authorization
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| GatewayError::new(ErrorKind::MalformedCredential { header }))?;
        let workspace_id = metadata.get("seam-workspace").and_then(|value| value.to_str().ok());
        Ok(Credential::new(token, workspace_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (key, value) in pairs {
            map.insert(*key, value.parse().expect("ascii metadata"));
        }
        map
    }

    #[test]
    fn fixed_key_wins_over_caller_metadata() {
        let source = CredentialSource::new(Some("seam_gateway_key"), false);
        let credential = source
            .resolve(&metadata(&[("authorization", "Bearer seam_other")]))
            .unwrap();
        assert_eq!(credential, Credential::new("seam_gateway_key", None));
    }

    #[test]
    fn pass_through_reads_bearer_and_workspace() {
        let source = CredentialSource::new(None, false);
        let credential = source
            .resolve(&metadata(&[
                ("authorization", "bearer seam_at1"),
                ("seam-workspace", "ws1"),
            ]))
            .unwrap();
        assert_eq!(credential, Credential::new("seam_at1", Some("ws1")));
    }

    #[test]
    fn pass_through_without_or_with_bad_authorization_is_rejected() {
        let source = CredentialSource::new(None, false);
        let missing = source.resolve(&http::HeaderMap::new()).unwrap_err();
        assert!(matches!(missing.kind, ErrorKind::MissingCredential { .. }));
        for bad in ["seam_key", "Basic abc", "Bearer "] {
            let error = source.resolve(&metadata(&[("authorization", bad)])).unwrap_err();
            assert!(matches!(error.kind, ErrorKind::MalformedCredential { .. }), "{bad}");
        }
    }

    #[test]
    fn with_jwts_the_seam_credential_moves_to_seam_authorization() {
        let source = CredentialSource::new(None, true);
        let credential = source
            .resolve(&metadata(&[
                ("authorization", "Bearer eyJ.jwt.sig"),
                ("seam-authorization", "Bearer seam_at1"),
            ]))
            .unwrap();
        assert_eq!(credential, Credential::new("seam_at1", None));
        let missing = source
            .resolve(&metadata(&[("authorization", "Bearer eyJ.jwt.sig")]))
            .unwrap_err();
        assert!(matches!(
            missing.kind,
            ErrorKind::MissingCredential {
                header: SEAM_AUTHORIZATION
            }
        ));
    }
}
