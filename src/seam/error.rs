use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// A Seam call that did not produce the expected JSON.
#[derive(Debug, Clone)]
pub struct UpstreamError {
    /// What went wrong.
    pub failure: Box<UpstreamFailure>,
    /// Seam's `seam-request-id` response header, when there was a response.
    pub request_id: Option<String>,
    /// The Seam path that was called, e.g. `/locks/get`.
    pub path: &'static str,
}

/// The ways a Seam call fails.
#[derive(Debug, Clone)]
pub enum UpstreamFailure {
    /// Seam answered with its JSON error body `{"error": {"type", "message", …}}`.
    Api {
        http_status: u16,
        /// Seam's `error.type`, e.g. `device_not_found`.
        error_type: String,
        /// Seam's `error.message`, already scrubbed of the credential.
        message: String,
        /// Seam's `error.validation_errors`, for `invalid_input`.
        validation_errors: Option<Value>,
        /// How long Seam asked callers to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
    },
    /// An error status without a readable JSON error (e.g. an empty 503).
    Status {
        http_status: u16,
        retry_after: Option<Duration>,
    },
    /// A success status whose body was not the JSON that was expected.
    MalformedBody { http_status: u16, detail: String },
    /// Seam did not answer in time.
    Timeout(Duration),
    /// No connection to Seam could be made.
    Unreachable,
    /// The connection failed mid-request.
    Transport,
}

impl UpstreamError {
    /// Whether trying the same read again later may succeed: outages, time-outs,
    /// rate limits. Never used to repeat a lock command.
    pub fn is_transient(&self) -> bool {
        match &*self.failure {
            UpstreamFailure::Api { http_status, .. } | UpstreamFailure::Status { http_status, .. } => {
                *http_status == 429 || *http_status >= 500
            }
            UpstreamFailure::MalformedBody { .. } => false,
            UpstreamFailure::Timeout(_) | UpstreamFailure::Unreachable | UpstreamFailure::Transport => true,
        }
    }

    /// The `Retry-After` Seam sent, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match &*self.failure {
            UpstreamFailure::Api { retry_after, .. } | UpstreamFailure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path;
        match &*self.failure {
            UpstreamFailure::Api {
                http_status,
                error_type,
                message,
                ..
            } => {
                write!(f, "Seam {path} answered {http_status} {error_type}: {message}")
            }
            UpstreamFailure::Status { http_status, .. } => {
                write!(f, "Seam {path} answered {http_status} without a JSON error body")
            }
            UpstreamFailure::MalformedBody { http_status, detail } => {
                write!(
                    f,
                    "Seam {path} answered {http_status} with a body that is not the expected JSON: {detail}"
                )
            }
            UpstreamFailure::Timeout(limit) => write!(f, "Seam {path} did not answer within {limit:?}"),
            UpstreamFailure::Unreachable => write!(f, "Seam could not be reached for {path}"),
            UpstreamFailure::Transport => write!(f, "the connection to Seam failed during {path}"),
        }
    }
}

impl std::error::Error for UpstreamError {}
