//! A layer of the server's stack that decides, once per call, which Seam
//! credential the call acts with (`seam_credential::CredentialSource`), and
//! hands it to the handler in the request's extensions. A call to the
//! gateway's API without a usable credential ends here, UNAUTHENTICATED;
//! health checks and reflection need none and pass untouched.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tower::{Layer, Service};

use super::seam_credential::CredentialSource;

/// The path prefix of the calls that need a Seam credential.
const API_PREFIX: &str = "/seam.v1.";

/// Adds [`SeamCredentials`] to a service.
#[derive(Debug, Clone)]
pub struct SeamCredentialLayer {
    source: Arc<CredentialSource>,
}

impl SeamCredentialLayer {
    pub fn new(source: CredentialSource) -> Self {
        Self {
            source: Arc::new(source),
        }
    }
}

impl<S> Layer<S> for SeamCredentialLayer {
    type Service = SeamCredentials<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SeamCredentials {
            inner,
            source: self.source.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct SeamCredentials<S> {
    inner: S,
    source: Arc<CredentialSource>,
}

impl<S, RequestBody> Service<http::Request<RequestBody>> for SeamCredentials<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<RequestBody>) -> Self::Future {
        if request.uri().path().starts_with(API_PREFIX) {
            match self.source.resolve(request.headers()) {
                Ok(credential) => {
                    request.extensions_mut().insert(credential);
                }
                Err(error) => {
                    let response = Status::from(error).into_http::<tonic::body::Body>();
                    return Box::pin(std::future::ready(Ok(response)));
                }
            }
        }
        Box::pin(self.inner.call(request))
    }
}
