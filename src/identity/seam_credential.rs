//! Which Seam credential a call uses: the gateway's own `SEAM_API_KEY`, or in
//! pass-through mode the caller's `authorization` (and `seam-workspace`) metadata.

use crate::api::error::{ErrorKind, GatewayError};
use crate::seam::Credential;

/// Resolves the credential of each call.
#[derive(Debug, Clone)]
pub struct CredentialSource {
    fixed: Option<Credential>,
}

impl CredentialSource {
    /// `api_key` set: every call uses it. Unset: pass-through mode.
    pub fn new(api_key: Option<&str>) -> Self {
        Self {
            fixed: api_key
                .filter(|key| !key.is_empty())
                .map(|key| Credential::new(key, None)),
        }
    }

    /// The credential of a call with these request headers (gRPC metadata).
    pub fn resolve(&self, metadata: &http::HeaderMap) -> Result<Credential, GatewayError> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let Some(authorization) = metadata.get("authorization") else {
            return Err(GatewayError::new(ErrorKind::MissingCredential));
        };
        let token = authorization
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| GatewayError::new(ErrorKind::MalformedCredential))?;
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
        let source = CredentialSource::new(Some("seam_gateway_key"));
        let credential = source
            .resolve(&metadata(&[("authorization", "Bearer seam_other")]))
            .unwrap();
        assert_eq!(credential, Credential::new("seam_gateway_key", None));
    }

    #[test]
    fn pass_through_reads_bearer_and_workspace() {
        let source = CredentialSource::new(None);
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
        let source = CredentialSource::new(None);
        let missing = source.resolve(&http::HeaderMap::new()).unwrap_err();
        assert!(matches!(missing.kind, ErrorKind::MissingCredential));
        for bad in ["seam_key", "Basic abc", "Bearer "] {
            let error = source.resolve(&metadata(&[("authorization", bad)])).unwrap_err();
            assert!(matches!(error.kind, ErrorKind::MalformedCredential), "{bad}");
        }
    }
}
