//! The one log line per call, for unary calls and streams alike, written by a
//! layer of the server's stack: a unary call's line when its response is
//! ready, a stream's when it ends (its trailers), or CANCELLED when the caller
//! left before. Only the gateway's own API is logged (`/seam.v1.`); health
//! checks and reflection are not, so that probes do not flood the log.
//!
//! The line: `method`, `code`, `latency_us`, the caller (`caller` and
//! `auth_method`, from the [`Caller`] the caller layer puts into the response;
//! `-` when the call was refused, with the refusal's `reason`), Seam's request id
//! (`seam_request_id`, from the `seam-request-id` metadata of the response or
//! of its status; `-` when none) and `trace_id` (`observe::trace_context`:
//! the caller's `traceparent`, or a new trace, set for the call's future). The
//! same moments feed the `grpc_server_*` metrics (`observe::metrics`) and, when
//! spans are exported, the call's server span (`observe::span_export`).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tonic::Code;
use tower::{Layer, Service};

use super::metrics::RpcLabels;
use super::span_export;
use super::trace_context::{TRACEPARENT, TraceContext};
use crate::identity::caller::Caller;
use crate::identity::identity_refusal::IdentityRefusal;

/// The path prefix of the calls that are logged.
const LOGGED_PREFIX: &str = "/seam.v1.";
const SEAM_REQUEST_ID: &str = "seam-request-id";

/// Adds [`AccessLog`] to a service.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLogLayer;

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLog { inner }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct AccessLog<S> {
    inner: S,
}

impl<S, RequestBody> Service<http::Request<RequestBody>> for AccessLog<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let Some(rest) = request.uri().path().strip_prefix(LOGGED_PREFIX) else {
            return Box::pin(self.inner.call(request));
        };
        let method = rest.rsplit('/').next().unwrap_or(rest).to_owned();
        // The caller's trace, or a new one; this call is a span of it.
        let trace = request
            .headers()
            .get(TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .and_then(TraceContext::parse)
            .map_or_else(TraceContext::new_trace, |caller| caller.child());
        let labels = RpcLabels::of(&method);
        labels.started();
        let entry = Some(PendingLine {
            method,
            labels,
            trace,
            started: Instant::now(),
            seam_request_id: None,
            caller: None,
            refusal: None,
        });
        let response = trace.scope(self.inner.call(request));
        Box::pin(async move {
            let response = response.await?;
            let Some(mut entry) = entry else {
                return Ok(response);
            };
            entry.seam_request_id = seam_request_id(response.headers());
            entry.caller = response.extensions().get::<Caller>().cloned();
            entry.refusal = response.extensions().get::<IdentityRefusal>().copied();
            // Trailers-only: the status is in the headers, the call is over.
            if let Some(code) = grpc_code(response.headers()) {
                entry.write(code);
                return Ok(response);
            }
            Ok(response.map(|body| {
                tonic::body::Body::new(LoggedBody {
                    inner: body,
                    line: Some(entry),
                })
            }))
        })
    }
}

/// A call's line, written once its code is known.
struct PendingLine {
    method: String,
    labels: RpcLabels,
    trace: TraceContext,
    started: Instant,
    seam_request_id: Option<String>,
    caller: Option<Caller>,
    refusal: Option<IdentityRefusal>,
}

impl PendingLine {
    fn write(self, code: Code) {
        let took = self.started.elapsed();
        self.labels.handled(code, took);
        let method = self.method.escape_debug().to_string();
        let latency_us = took.as_micros() as u64;
        let seam_request_id = self.seam_request_id.as_deref().unwrap_or("-");
        let trace_id = self.trace.trace_id();
        if span_export::enabled() {
            span_export::export_rpc(self.trace, &self.labels, took, code);
        }
        // A JWT's `sub` is the issuer's text: no control characters reach the log.
        let caller: std::borrow::Cow<'_, str> = match &self.caller {
            None => "-".into(),
            Some(caller) if caller.principal.chars().any(char::is_control) => {
                caller.principal.escape_debug().to_string().into()
            }
            Some(caller) => (*caller.principal).into(),
        };
        let caller = caller.as_ref();
        let auth_method = self.caller.as_ref().map_or("-", |caller| caller.auth_method.as_str());
        match (code, self.refusal) {
            (Code::Ok, _) => {
                tracing::info!(method, code = ?code, latency_us, caller, auth_method, seam_request_id, trace_id, "rpc")
            }
            (_, Some(refusal)) => {
                let reason = refusal.reason();
                tracing::warn!(method, code = ?code, latency_us, caller, reason, seam_request_id, trace_id, "rpc")
            }
            (Code::Internal | Code::Unknown | Code::DataLoss, None) => {
                tracing::error!(method, code = ?code, latency_us, caller, auth_method, seam_request_id, trace_id, "rpc")
            }
            _ => {
                tracing::warn!(method, code = ?code, latency_us, caller, auth_method, seam_request_id, trace_id, "rpc")
            }
        }
    }
}

/// A response body that writes its call's line from the trailers, or as
/// CANCELLED when it is dropped before them (the caller left).
struct LoggedBody {
    inner: tonic::body::Body,
    line: Option<PendingLine>,
}

impl Body for LoggedBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(mut line) = self.line.take()
                {
                    if let Some(id) = seam_request_id(trailers) {
                        line.seam_request_id = Some(id);
                    }
                    line.write(grpc_code(trailers).unwrap_or(Code::Unknown));
                }
            }
            Poll::Ready(Some(Err(status))) => {
                if let Some(line) = self.line.take() {
                    line.write(status.code());
                }
            }
            Poll::Ready(None) => {
                if let Some(line) = self.line.take() {
                    line.write(Code::Unknown);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            line.write(Code::Cancelled);
        }
    }
}

fn grpc_code(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(Code::from_i32(value.parse().ok()?))
}

fn seam_request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(SEAM_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_request_ids_are_read_from_metadata() {
        let mut headers = HeaderMap::new();
        assert_eq!(grpc_code(&headers), None);
        headers.insert("grpc-status", "5".parse().unwrap());
        headers.insert(SEAM_REQUEST_ID, "request7".parse().unwrap());
        assert_eq!(grpc_code(&headers), Some(Code::NotFound));
        assert_eq!(seam_request_id(&headers).as_deref(), Some("request7"));
    }
}
