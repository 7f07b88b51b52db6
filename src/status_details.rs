//! Gives every error status an `ErrorInfo`, including the ones tonic answers
//! by itself before a handler runs (a request message over the size limit, a
//! body that is not protobuf, an unknown method). The handlers' own errors
//! already carry one (`error.rs`); this layer only fills in the rest.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use crate::error::ERROR_DOMAIN;

/// Adds [`StatusDetails`] to a service.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusDetailsLayer;

impl<S> Layer<S> for StatusDetailsLayer {
    type Service = StatusDetails<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StatusDetails { inner }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct StatusDetails<S> {
    inner: S,
}

impl<S, Request, Body> Service<Request> for StatusDetails<S>
where
    S: Service<Request, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            add_error_info(response.headers_mut());
            Ok(response)
        })
    }
}

/// A trailers-only error response (the status in the headers) without details
/// gets an `ErrorInfo` whose reason is the code's name.
fn add_error_info(headers: &mut http::HeaderMap) {
    if headers.contains_key("grpc-status-details-bin") {
        return;
    }
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    if status.code() == Code::Ok {
        return;
    }
    let mut details = ErrorDetails::new();
    let metadata: HashMap<String, String> = [("origin".to_owned(), "grpc-transport".to_owned())].into();
    details.set_error_info(reason_for(status.code()), ERROR_DOMAIN, metadata);
    let enriched = Status::with_error_details(status.code(), status.message(), details);
    // Only fails for a message that is not valid header text, which tonic produced itself.
    let _ = enriched.add_header(headers);
}

fn reason_for(code: Code) -> &'static str {
    match code {
        Code::OutOfRange | Code::ResourceExhausted => "MESSAGE_TOO_LARGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INVALID_REQUEST",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::Unavailable => "UNAVAILABLE",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::Cancelled => "CANCELLED",
        _ => "TRANSPORT_ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_error_status_gets_error_info_and_keeps_code_and_message() {
        let mut headers = http::HeaderMap::new();
        Status::out_of_range("message too large")
            .add_header(&mut headers)
            .unwrap();
        add_error_info(&mut headers);
        let status = Status::from_header_map(&headers).expect("status");
        assert_eq!(status.code(), Code::OutOfRange);
        assert_eq!(status.message(), "message too large");
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "MESSAGE_TOO_LARGE");
        assert_eq!(info.domain, ERROR_DOMAIN);
    }

    #[test]
    fn existing_details_are_left_alone() {
        let mut headers = http::HeaderMap::new();
        let mut details = ErrorDetails::new();
        details.set_error_info("DEVICE_NOT_FOUND", ERROR_DOMAIN, HashMap::new());
        Status::with_error_details(Code::NotFound, "gone", details)
            .add_header(&mut headers)
            .unwrap();
        add_error_info(&mut headers);
        let status = Status::from_header_map(&headers).expect("status");
        assert_eq!(status.get_details_error_info().unwrap().reason, "DEVICE_NOT_FOUND");
    }

    #[test]
    fn ok_responses_are_untouched() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", "0".parse().unwrap());
        add_error_info(&mut headers);
        assert!(!headers.contains_key("grpc-status-details-bin"));
    }
}
