//! Every way an RPC can fail, and the one mapping of each onto a gRPC status
//! with `google.rpc.ErrorInfo` (plus `BadRequest` / `RetryInfo` where they apply).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::identity::identity_refusal::IdentityRefusal;
use crate::pb;
use crate::seam::{UpstreamError, UpstreamFailure};

/// The `ErrorInfo.domain` of every error the gateway returns.
pub const ERROR_DOMAIN: &str = "seam-grpc-gateway";

/// An RPC failure with the ids it concerns, which go into `ErrorInfo.metadata`.
#[derive(Debug)]
pub struct GatewayError {
    pub kind: ErrorKind,
    metadata: Vec<(&'static str, String)>,
}

#[derive(Debug)]
pub enum ErrorKind {
    /// A request field is invalid; nothing was sent to Seam.
    InvalidArgument { field: &'static str, description: String },
    /// No Seam credential: the gateway has none and the call carried none in
    /// `header` (`authorization`, or `seam-authorization` when JWTs identify
    /// callers).
    MissingCredential { header: &'static str },
    /// The `header` metadata is not `Bearer <token>`.
    MalformedCredential { header: &'static str },
    /// The caller has no valid identity (mutual TLS, JWT).
    Unauthenticated(IdentityRefusal),
    /// Seam answered OK but without the object (e.g. `/events/get` with no event).
    NotFound { what: &'static str },
    /// A Seam call failed.
    Upstream(UpstreamError),
    /// The device cannot do what was asked (`can_remotely_lock` not true …);
    /// no command was sent.
    CapabilityMissing {
        capability: &'static str,
        device_errors: Vec<pb::DeviceIssue>,
    },
    /// The device reports itself offline; no command was sent.
    DeviceOffline { device_errors: Vec<pb::DeviceIssue> },
    /// The caller's deadline passed before the lock command could be sent;
    /// no command was sent.
    DeadlineBeforeCommand,
    /// The wait budget ran out while the action attempt was still pending.
    AttemptStillPending { waited: Duration },
    /// Seam stayed unreachable until the wait budget ran out.
    AttemptUnobservable { cause: UpstreamError },
    /// A WatchEvents caller read more slowly than events arrived and its
    /// buffer filled up.
    WatcherTooSlow,
    /// One object Seam sent is too large for any gRPC response.
    ResponseTooLarge,
    /// The gateway is shutting down.
    ShuttingDown,
    /// The policies do not allow the caller this action on this device;
    /// nothing was sent to Seam.
    PolicyDenied {
        caller: String,
        action: &'static str,
        device_id: String,
    },
    /// The audit record of a command could not be written: nothing was sent.
    AuditUnavailable,
    /// The caller sent more commands than `--command-rate-limit` allows;
    /// nothing was sent.
    CommandRateLimited { retry_after: Duration },
    /// Under `--policy`, an RPC whose results are not yet decided device by
    /// device is refused as a whole (fail closed).
    PolicyNotApplicable { action: &'static str },
}

impl GatewayError {
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            metadata: Vec::new(),
        }
    }

    pub fn invalid_argument(field: &'static str, description: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument {
            field,
            description: description.into(),
        })
    }

    /// Adds an id (device, attempt, …) to the `ErrorInfo` metadata.
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.metadata.push((key, value.into()));
        self
    }

    /// Seam's `seam-request-id`, when the error came from a Seam answer.
    pub fn seam_request_id(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Upstream(e) | ErrorKind::AttemptUnobservable { cause: e } => e.request_id.as_deref(),
            _ => None,
        }
    }
}

impl From<UpstreamError> for GatewayError {
    fn from(error: UpstreamError) -> Self {
        Self::new(ErrorKind::Upstream(error))
    }
}

impl From<GatewayError> for Status {
    fn from(error: GatewayError) -> Self {
        let seam_request_id = error.seam_request_id().map(str::to_owned);
        let GatewayError { kind, metadata } = error;
        let mut details = ErrorDetails::new();
        let mut info: HashMap<String, String> = metadata.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();

        let (code, reason, message) = match kind {
            ErrorKind::InvalidArgument { field, description } => {
                details.add_bad_request_violation(field, description.clone());
                info.insert("field".into(), field.into());
                (
                    Code::InvalidArgument,
                    "INVALID_ARGUMENT".to_owned(),
                    format!("{field}: {description}"),
                )
            }
            ErrorKind::MissingCredential { header } => (
                Code::Unauthenticated,
                "MISSING_CREDENTIAL".to_owned(),
                format!(
                    "no Seam credential: the gateway has no SEAM_API_KEY, so send `{header}: Bearer <Seam API key>` metadata"
                ),
            ),
            ErrorKind::MalformedCredential { header } => (
                Code::Unauthenticated,
                "MALFORMED_CREDENTIAL".to_owned(),
                format!("the `{header}` metadata must be `Bearer <Seam credential>`"),
            ),
            ErrorKind::Unauthenticated(refusal) => (
                Code::Unauthenticated,
                refusal.reason().to_owned(),
                refusal.message().to_owned(),
            ),
            ErrorKind::NotFound { what } => (
                Code::NotFound,
                format!("{}_NOT_FOUND", what.to_uppercase()),
                format!("Seam has no {what} with this id"),
            ),
            ErrorKind::Upstream(upstream) => upstream_status(upstream, &mut details, &mut info),
            ErrorKind::CapabilityMissing {
                capability,
                device_errors,
            } => {
                add_device_errors(&mut details, &mut info, &device_errors);
                let codes: Vec<&str> = device_errors.iter().map(|e| e.code.as_str()).collect();
                details.add_precondition_failure_violation(
                    "CAPABILITY",
                    capability,
                    format!("the device does not report `{capability}: true`"),
                );
                info.insert("capability".into(), capability.into());
                let mut message = format!("the device does not report `{capability}: true`; no command was sent");
                if !codes.is_empty() {
                    message.push_str(&format!(" (device errors: {})", codes.join(", ")));
                }
                (Code::FailedPrecondition, "CAPABILITY_MISSING".to_owned(), message)
            }
            ErrorKind::DeviceOffline { device_errors } => {
                add_device_errors(&mut details, &mut info, &device_errors);
                details.add_precondition_failure_violation(
                    "DEVICE_STATE",
                    "online",
                    "the device reports itself offline",
                );
                (
                    Code::FailedPrecondition,
                    "DEVICE_OFFLINE".to_owned(),
                    "the device is offline; no command was sent".to_owned(),
                )
            }
            ErrorKind::DeadlineBeforeCommand => (
                Code::DeadlineExceeded,
                "DEADLINE_BEFORE_COMMAND".to_owned(),
                "the call's deadline passed before the command could be sent; no command was sent".to_owned(),
            ),
            ErrorKind::AttemptStillPending { waited } => (
                Code::DeadlineExceeded,
                "ACTION_ATTEMPT_STILL_PENDING".to_owned(),
                format!(
                    "the action attempt was still pending after {:.1}s; resume with WatchActionAttempt",
                    waited.as_secs_f64()
                ),
            ),
            ErrorKind::AttemptUnobservable { cause } => {
                if let Some(request_id) = &cause.request_id {
                    info.insert("seam_request_id".into(), request_id.clone());
                }
                (
                    Code::Unavailable,
                    "SEAM_UNAVAILABLE".to_owned(),
                    format!("{cause}; the action attempt's outcome is unknown, resume with WatchActionAttempt"),
                )
            }
            ErrorKind::WatcherTooSlow => (
                Code::ResourceExhausted,
                "WATCHER_TOO_SLOW".to_owned(),
                "events arrived faster than this stream was read; resume from the point in the ErrorInfo metadata"
                    .to_owned(),
            ),
            ErrorKind::ResponseTooLarge => (
                Code::Unavailable,
                "RESPONSE_TOO_LARGE".to_owned(),
                "Seam sent an object too large for a gRPC response (4 MiB)".to_owned(),
            ),
            ErrorKind::ShuttingDown => (
                Code::Unavailable,
                "SHUTTING_DOWN".to_owned(),
                "the gateway is shutting down; retry on another instance".to_owned(),
            ),
            ErrorKind::PolicyDenied {
                caller,
                action,
                device_id,
            } => {
                let message = format!("the policies do not allow {caller} {action} on {device_id}");
                info.insert("caller".into(), caller);
                info.insert("action".into(), action.into());
                info.insert("device_id".into(), device_id);
                (Code::PermissionDenied, "POLICY_DENIED".to_owned(), message)
            }
            ErrorKind::CommandRateLimited { retry_after } => {
                details.set_retry_info(Some(retry_after));
                (
                    Code::ResourceExhausted,
                    "COMMAND_RATE_LIMITED".to_owned(),
                    format!(
                        "this caller sent more commands than the gateway's --command-rate-limit allows; retry in {} ms",
                        retry_after.as_millis()
                    ),
                )
            }
            ErrorKind::AuditUnavailable => (
                Code::Unavailable,
                "AUDIT_UNAVAILABLE".to_owned(),
                "the audit record of this command could not be written, so it was not sent; retry later".to_owned(),
            ),
            ErrorKind::PolicyNotApplicable { action } => {
                info.insert("action".into(), action.into());
                (
                    Code::PermissionDenied,
                    "POLICY_NOT_APPLICABLE".to_owned(),
                    format!("{action} is not yet decided device by device under --policy, so it is refused"),
                )
            }
        };
        details.set_error_info(reason, ERROR_DOMAIN, info);
        let mut status = Status::with_error_details(code, message, details);
        // Also as metadata, where the access log (and a caller) finds it
        // without decoding the details.
        if let Some(value) = seam_request_id.and_then(|id| MetadataValue::try_from(id).ok()) {
            status.metadata_mut().insert(crate::api::SEAM_REQUEST_ID, value);
        }
        status
    }
}

fn upstream_status(
    upstream: UpstreamError,
    details: &mut ErrorDetails,
    info: &mut HashMap<String, String>,
) -> (Code, String, String) {
    if let Some(request_id) = &upstream.request_id {
        info.insert("seam_request_id".into(), request_id.clone());
    }
    info.insert("seam_path".into(), upstream.path.into());
    let message = upstream.to_string();
    let (code, reason) = match &*upstream.failure {
        UpstreamFailure::Api {
            http_status,
            error_type,
            validation_errors,
            retry_after,
            ..
        } => {
            info.insert("http_status".into(), http_status.to_string());
            if let Some(validation_errors) = validation_errors {
                add_validation_errors(details, "", validation_errors);
            }
            if let Some(delay) = retry_after {
                details.set_retry_info(Some(*delay));
            } else if *http_status == 429 {
                details.set_retry_info(Some(Duration::from_secs(1)));
            }
            (code_for_http_status(*http_status), error_type.to_uppercase())
        }
        UpstreamFailure::Status {
            http_status,
            retry_after,
        } => {
            info.insert("http_status".into(), http_status.to_string());
            if *http_status == 429 {
                details.set_retry_info(Some(retry_after.unwrap_or(Duration::from_secs(1))));
            }
            let reason = match *http_status {
                429 => "RATE_LIMITED",
                401 => "UNAUTHORIZED",
                403 => "FORBIDDEN",
                s if s >= 500 => "SEAM_UNAVAILABLE",
                _ => "SEAM_UNEXPECTED_ANSWER",
            };
            let code = match code_for_http_status(*http_status) {
                // Without Seam's error body a 4xx cannot be attributed to the request.
                Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition => Code::Unavailable,
                code => code,
            };
            (code, reason.to_owned())
        }
        UpstreamFailure::MalformedBody { http_status, .. } => {
            info.insert("http_status".into(), http_status.to_string());
            (Code::Unavailable, "SEAM_MALFORMED_RESPONSE".to_owned())
        }
        UpstreamFailure::Redirect { http_status, .. } => {
            info.insert("http_status".into(), http_status.to_string());
            (Code::Unavailable, "SEAM_REDIRECT".to_owned())
        }
        UpstreamFailure::BodyTooLarge { .. } => (Code::Unavailable, "SEAM_RESPONSE_TOO_LARGE".to_owned()),
        UpstreamFailure::ListIncomplete { .. } => (Code::Unavailable, "SEAM_LIST_INCOMPLETE".to_owned()),
        UpstreamFailure::Timeout(_) => (Code::Unavailable, "SEAM_TIMEOUT".to_owned()),
        UpstreamFailure::Unreachable(cause) => {
            info.insert("cause".into(), cause.to_string());
            (Code::Unavailable, "SEAM_UNREACHABLE".to_owned())
        }
        UpstreamFailure::Transport => (Code::Unavailable, "SEAM_CONNECTION_FAILED".to_owned()),
    };
    (code, reason, message)
}

/// The device's own errors (`device_offline` …) as precondition violations
/// and as a comma-separated `device_errors` metadata entry.
fn add_device_errors(
    details: &mut ErrorDetails,
    info: &mut HashMap<String, String>,
    device_errors: &[pb::DeviceIssue],
) {
    for device_error in device_errors {
        details.add_precondition_failure_violation(
            "DEVICE_ERROR",
            device_error.code.clone(),
            device_error.message.clone(),
        );
    }
    if !device_errors.is_empty() {
        let codes: Vec<&str> = device_errors.iter().map(|e| e.code.as_str()).collect();
        info.insert("device_errors".into(), codes.join(","));
    }
}

fn code_for_http_status(http_status: u16) -> Code {
    match http_status {
        400 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::Aborted,
        429 => Code::ResourceExhausted,
        500..=599 => Code::Unavailable,
        // 405 and friends mean the gateway called Seam wrongly: its own bug.
        _ => Code::Internal,
    }
}

/// Seam's `validation_errors` (`{"_errors": [..], "<param>": {"_errors": [..]}}`,
/// nested for nested params) as `BadRequest` field violations.
fn add_validation_errors(details: &mut ErrorDetails, prefix: &str, errors: &Value) {
    let Value::Object(entries) = errors else { return };
    for (key, value) in entries {
        if key == "_errors" {
            for message in value.as_array().into_iter().flatten().filter_map(Value::as_str) {
                details.add_bad_request_violation(prefix, message);
            }
        } else {
            let field = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            add_validation_errors(details, &field, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(http_status: u16, error_type: &str) -> GatewayError {
        UpstreamError {
            failure: Box::new(UpstreamFailure::Api {
                http_status,
                error_type: error_type.into(),
                message: "m".into(),
                validation_errors: None,
                retry_after: None,
            }),
            request_id: Some("request7".into()),
            path: "/locks/get",
        }
        .into()
    }

    fn error_info(status: &Status) -> tonic_types::ErrorInfo {
        status.get_details_error_info().expect("every status carries ErrorInfo")
    }

    #[test]
    fn seam_errors_map_by_meaning() {
        for (http_status, error_type, code, reason) in [
            (400, "invalid_input", Code::InvalidArgument, "INVALID_INPUT"),
            (401, "unauthorized", Code::Unauthenticated, "UNAUTHORIZED"),
            (403, "forbidden", Code::PermissionDenied, "FORBIDDEN"),
            (404, "device_not_found", Code::NotFound, "DEVICE_NOT_FOUND"),
            (429, "rate_limited", Code::ResourceExhausted, "RATE_LIMITED"),
            (503, "service_unavailable", Code::Unavailable, "SERVICE_UNAVAILABLE"),
        ] {
            let status = Status::from(api_error(http_status, error_type).with("device_id", "d1"));
            assert_eq!(status.code(), code, "{http_status}");
            let info = error_info(&status);
            assert_eq!(info.reason, reason);
            assert_eq!(info.domain, ERROR_DOMAIN);
            assert_eq!(info.metadata["seam_request_id"], "request7");
            assert_eq!(info.metadata["device_id"], "d1");
        }
    }

    #[test]
    fn rate_limit_carries_retry_info_from_retry_after() {
        let error: GatewayError = UpstreamError {
            failure: Box::new(UpstreamFailure::Status {
                http_status: 429,
                retry_after: Some(Duration::from_secs(7)),
            }),
            request_id: None,
            path: "/locks/get",
        }
        .into();
        let status = Status::from(error);
        assert_eq!(status.code(), Code::ResourceExhausted);
        let retry = status.get_details_retry_info().expect("RetryInfo");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(7)));
    }

    #[test]
    fn validation_errors_become_field_violations() {
        let error: GatewayError = UpstreamError {
            failure: Box::new(UpstreamFailure::Api {
                http_status: 400,
                error_type: "invalid_input".into(),
                message: "bad".into(),
                validation_errors: Some(serde_json::json!({"_errors": [], "device_id": {"_errors": ["Required"]}})),
                retry_after: None,
            }),
            request_id: None,
            path: "/locks/get",
        }
        .into();
        let status = Status::from(error);
        let bad_request = status.get_details_bad_request().expect("BadRequest");
        assert_eq!(bad_request.field_violations[0].field, "device_id");
        assert_eq!(bad_request.field_violations[0].description, "Required");
    }

    #[test]
    fn empty_503_is_unavailable() {
        let error: GatewayError = UpstreamError {
            failure: Box::new(UpstreamFailure::Status {
                http_status: 503,
                retry_after: None,
            }),
            request_id: Some("request9".into()),
            path: "/locks/get",
        }
        .into();
        let status = Status::from(error);
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(error_info(&status).reason, "SEAM_UNAVAILABLE");
    }
}
