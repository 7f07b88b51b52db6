//! Gives every error status an `ErrorInfo`, including the ones tonic answers
//! by itself before a handler runs (a request message over the size limit, a
//! body that is not protobuf, an unknown method). The handlers' own errors
//! already carry one (`error.rs`); this layer only fills in the rest.
//!
//! A request that is not valid protobuf (malformed, or a string field that is
//! not UTF-8) is the caller's fault: tonic answers INTERNAL, which this layer
//! turns into INVALID_ARGUMENT (the access log, outside it, logs that code).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use crate::api::error::ERROR_DOMAIN;

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

impl<S, RequestBody, Body> Service<http::Request<RequestBody>> for StatusDetails<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            add_error_info(response.headers_mut());
            Ok(response)
        })
    }
}

/// tonic's message for a request body prost could not decode.
const UNDECODABLE_REQUEST: &str = "failed to decode Protobuf message";
/// tonic's message for a request whose body broke off (the caller reset the
/// stream or closed the connection mid-request).
const REQUEST_BROKE_OFF: &str = "h2 protocol error";

/// A trailers-only error response (the status in the headers) without details
/// gets an `ErrorInfo` whose reason is the code's name; an undecodable request
/// becomes INVALID_ARGUMENT. Returns the code of a status it filled in.
fn add_error_info(headers: &mut http::HeaderMap) -> Option<Code> {
    if headers.contains_key("grpc-status-details-bin") {
        return None;
    }
    let status = Status::from_header_map(headers)?;
    let (code, reason) = match status.code() {
        Code::Ok => return None,
        Code::Internal if status.message().starts_with(UNDECODABLE_REQUEST) => {
            (Code::InvalidArgument, "MALFORMED_REQUEST")
        }
        // The caller left before its request was whole: nobody hears this
        // answer, and the log should not count it as the gateway's failure.
        Code::Unknown if status.message().starts_with(REQUEST_BROKE_OFF) => (Code::Cancelled, "CANCELLED"),
        code => (code, reason_for(code)),
    };
    let mut details = ErrorDetails::new();
    let metadata: HashMap<String, String> = [("origin".to_owned(), "grpc-transport".to_owned())].into();
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
    let enriched = Status::with_error_details(code, status.message(), details);
    // Only fails for a message that is not valid header text, which tonic produced itself.
    let _ = enriched.add_header(headers);
    Some(code)
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
    fn an_undecodable_request_is_invalid_argument() {
        let mut headers = http::HeaderMap::new();
        Status::internal("failed to decode Protobuf message: GetLockRequest.device_id: invalid string value: data is not UTF-8 encoded")
            .add_header(&mut headers)
            .unwrap();
        assert_eq!(add_error_info(&mut headers), Some(Code::InvalidArgument));
        let status = Status::from_header_map(&headers).expect("status");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.get_details_error_info().unwrap().reason, "MALFORMED_REQUEST");
    }

    #[test]
    fn a_request_that_broke_off_is_cancelled() {
        let mut headers = http::HeaderMap::new();
        Status::unknown("h2 protocol error: error reading a body from connection")
            .add_header(&mut headers)
            .unwrap();
        assert_eq!(add_error_info(&mut headers), Some(Code::Cancelled));
        assert_eq!(Status::from_header_map(&headers).unwrap().code(), Code::Cancelled);
    }

    #[test]
    fn ok_responses_are_untouched() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", "0".parse().unwrap());
        add_error_info(&mut headers);
        assert!(!headers.contains_key("grpc-status-details-bin"));
    }
}
