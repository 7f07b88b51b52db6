//! A layer of the server's stack that decides, once per call of the gateway's
//! API, who is calling ([`Caller`]): from the connection's client certificate
//! (mutual TLS), from the call's JWT, or `anonymous` when no identity method
//! is configured. The caller goes into the request's extensions (for handlers,
//! policy and audit) and into the response's (for the log line). A call
//! without a valid identity ends here, UNAUTHENTICATED with the failed check
//! as its `ErrorInfo` reason. Health checks and reflection pass untouched:
//! probes and `grpcurl list` need no identity.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tower::{Layer, Service};

use super::caller::{AuthMethod, Caller};
use super::client_certificate::ClientCertificate;
use super::identity_refusal::IdentityRefusal;
use super::jwt::JwtVerifier;
use crate::api::error::{ErrorKind, GatewayError};

/// The path prefix of the calls that need a caller.
const API_PREFIX: &str = "/seam.v1.";

/// How callers prove who they are. Both set: a call must satisfy both, and
/// the caller is the JWT's subject.
#[derive(Clone, Default)]
pub struct IdentityMethods {
    pub mutual_tls: bool,
    pub jwt: Option<Arc<JwtVerifier>>,
}

impl IdentityMethods {
    /// The caller of a call with these headers on a connection with this
    /// client certificate.
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
        certificate: Option<&ClientCertificate>,
    ) -> Result<Caller, IdentityRefusal> {
        let certificate_identity = if self.mutual_tls {
            Some(
                certificate
                    .map(|certificate| certificate.identity.clone())
                    .ok_or(IdentityRefusal::ClientCertificateMissing)?,
            )
        } else {
            None
        };
        if let Some(jwt) = &self.jwt {
            let token = bearer_token(headers)?;
            let subject = jwt.verify(token).await?;
            return Ok(Caller {
                principal: subject,
                auth_method: AuthMethod::Jwt,
                certificate_identity,
            });
        }
        Ok(match certificate_identity {
            Some(identity) => Caller {
                principal: identity.clone(),
                auth_method: AuthMethod::Mtls,
                certificate_identity: Some(identity),
            },
            None => Caller::anonymous(),
        })
    }
}

/// The JWT in `authorization: Bearer <JWT>`.
fn bearer_token(headers: &http::HeaderMap) -> Result<&str, IdentityRefusal> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(IdentityRefusal::TokenMissing)?;
    let (scheme, token) = value
        .to_str()
        .ok()
        .and_then(|value| value.trim().split_once(' '))
        .ok_or(IdentityRefusal::TokenMalformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(IdentityRefusal::TokenMalformed);
    }
    Ok(token)
}

/// Adds [`CallerIdentity`] to a service.
#[derive(Clone)]
pub struct CallerLayer {
    methods: IdentityMethods,
}

impl CallerLayer {
    pub fn new(methods: IdentityMethods) -> Self {
        Self { methods }
    }
}

impl<S> Layer<S> for CallerLayer {
    type Service = CallerIdentity<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallerIdentity {
            inner,
            methods: self.methods.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct CallerIdentity<S> {
    inner: S,
    methods: IdentityMethods,
}

impl<S, RequestBody> Service<http::Request<RequestBody>> for CallerIdentity<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RequestBody: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<RequestBody>) -> Self::Future {
        if !request.uri().path().starts_with(API_PREFIX) {
            return Box::pin(self.inner.call(request));
        }
        // The ready service serves this call; a clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let methods = self.methods.clone();
        Box::pin(async move {
            let certificate = request.extensions().get::<ClientCertificate>();
            let caller = match methods.authenticate(request.headers(), certificate).await {
                Ok(caller) => caller,
                Err(refusal) => {
                    crate::observe::metrics::caller_refused(refusal.reason());
                    let status = Status::from(GatewayError::new(ErrorKind::Unauthenticated(refusal)));
                    let mut response = status.into_http::<tonic::body::Body>();
                    response.extensions_mut().insert(refusal);
                    return Ok(response);
                }
            };
            request.extensions_mut().insert(caller.clone());
            let mut response = inner.call(request).await?;
            response.extensions_mut().insert(caller);
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: Option<&str>) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        }
        headers
    }

    #[tokio::test]
    async fn without_identity_methods_everyone_is_anonymous() {
        let caller = IdentityMethods::default()
            .authenticate(&headers(Some("Bearer whatever")), None)
            .await
            .unwrap();
        assert_eq!(caller, Caller::anonymous());
        assert_eq!(caller.auth_method.as_str(), "none");
    }

    #[tokio::test]
    async fn mutual_tls_needs_a_certificate_and_names_its_identity() {
        let methods = IdentityMethods {
            mutual_tls: true,
            jwt: None,
        };
        assert_eq!(
            methods.authenticate(&headers(None), None).await,
            Err(IdentityRefusal::ClientCertificateMissing)
        );
        let certificate = ClientCertificate {
            identity: Arc::from("spiffe://acme.test/ns/doors/sa/frontdesk"),
        };
        let caller = methods.authenticate(&headers(None), Some(&certificate)).await.unwrap();
        assert_eq!(&*caller.principal, "spiffe://acme.test/ns/doors/sa/frontdesk");
        assert_eq!(caller.auth_method, AuthMethod::Mtls);
    }

    #[test]
    fn bearer_tokens_are_read_from_authorization() {
        assert_eq!(bearer_token(&headers(Some("Bearer a.b.c"))), Ok("a.b.c"));
        assert_eq!(bearer_token(&headers(Some("bearer  a.b.c "))), Ok("a.b.c"));
        assert_eq!(bearer_token(&headers(None)), Err(IdentityRefusal::TokenMissing));
        for malformed in ["a.b.c", "Basic a.b.c", "Bearer "] {
            assert_eq!(
                bearer_token(&headers(Some(malformed))),
                Err(IdentityRefusal::TokenMalformed),
                "{malformed}"
            );
        }
    }
}
