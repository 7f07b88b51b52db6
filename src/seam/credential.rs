use std::fmt;
use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, HeaderValue};

/// A Seam credential (API key, personal access token, client session token …)
/// with the workspace it targets, if any.
///
/// The token never leaves this type except as the `Authorization` header to
/// Seam: `Debug` is redacted, there is no `Display`, and [`Credential::redact`]
/// scrubs it from text that came back from upstream.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credential {
    token: Arc<str>,
    workspace_id: Option<Arc<str>>,
    /// `Bearer <token>`, built once (marked sensitive, so HTTP/2 and logs
    /// never index or print it); `None` if the token cannot be a header value,
    /// and the request then fails as reqwest reports it.
    authorization: Option<HeaderValue>,
}

impl Credential {
    /// A credential for `token`, optionally scoped to a workspace (needed for
    /// personal access tokens).
    pub fn new(token: &str, workspace_id: Option<&str>) -> Self {
        let authorization = HeaderValue::from_str(&format!("Bearer {token}")).ok().map(|mut value| {
            value.set_sensitive(true);
            value
        });
        Self {
            token: Arc::from(token),
            workspace_id: workspace_id.filter(|w| !w.is_empty()).map(Arc::from),
            authorization,
        }
    }

    pub(super) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = match &self.authorization {
            Some(authorization) => request.header(AUTHORIZATION, authorization.clone()),
            None => request.bearer_auth(&*self.token),
        };
        match &self.workspace_id {
            Some(workspace_id) => request.header("seam-workspace", &**workspace_id),
            None => request,
        }
    }

    /// Roughly what this credential holds in memory, for memory budgets.
    pub fn approximate_bytes(&self) -> usize {
        2 * self.token.len() + self.workspace_id.as_ref().map_or(0, |w| w.len()) + 64
    }

    /// `text` with every occurrence of the token replaced, for messages that
    /// Seam wrote and that the gateway passes on to callers or logs.
    pub fn redact(&self, text: &str) -> String {
        if self.token.len() < 4 {
            return text.to_owned();
        }
        text.replace(&*self.token, "[redacted]")
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("token", &"[redacted]")
            .field("workspace_id", &self.workspace_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token() {
        let credential = Credential::new("seam_secret_token_123", Some("ws1"));
        let printed = format!("{credential:?}");
        assert!(!printed.contains("seam_secret_token_123"), "{printed}");
        assert!(printed.contains("ws1"));
    }

    #[test]
    fn authorization_is_the_bearer_token_marked_sensitive() {
        let credential = Credential::new("seam_secret_token_123", None);
        let authorization = credential.authorization.expect("a valid header value");
        assert_eq!(authorization, "Bearer seam_secret_token_123");
        assert!(authorization.is_sensitive());
        assert!(Credential::new("line\nbreak", None).authorization.is_none());
    }

    #[test]
    fn redact_scrubs_the_token_from_upstream_text() {
        let credential = Credential::new("seam_secret_token_123", None);
        let text = credential.redact("key seam_secret_token_123 is unknown");
        assert_eq!(text, "key [redacted] is unknown");
    }
}
