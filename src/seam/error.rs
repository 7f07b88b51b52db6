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
    /// Seam answered with a redirect (3xx). Seam's API never redirects, and
    /// following one would hand the credential to another origin.
    Redirect { http_status: u16, target_host: String },
    /// A list could not be read whole: asking again brought nothing new.
    ListIncomplete { detail: String },
    /// Seam's answer was larger than the gateway reads.
    BodyTooLarge { limit: usize },
    /// Seam did not answer in time.
    Timeout(Duration),
    /// No connection to Seam could be made, and why.
    Unreachable(ConnectFailure),
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
            UpstreamFailure::MalformedBody { .. }
            | UpstreamFailure::Redirect { .. }
            | UpstreamFailure::BodyTooLarge { .. }
            | UpstreamFailure::ListIncomplete { .. } => false,
            UpstreamFailure::Timeout(_) | UpstreamFailure::Unreachable(_) | UpstreamFailure::Transport => true,
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
            UpstreamFailure::Redirect {
                http_status,
                target_host,
            } => write!(
                f,
                "Seam {path} answered {http_status}, a redirect to host {target_host}; redirects are never followed"
            ),
            UpstreamFailure::ListIncomplete { detail } => {
                write!(f, "Seam {path} could not be read whole: {detail}")
            }
            UpstreamFailure::BodyTooLarge { limit } => {
                write!(f, "Seam {path} answered with a body over the {limit}-byte limit")
            }
            UpstreamFailure::Timeout(limit) => write!(f, "Seam {path} did not answer within {limit:?}"),
            UpstreamFailure::Unreachable(cause) => write!(f, "Seam could not be reached for {path}: {cause}"),
            UpstreamFailure::Transport => write!(f, "the connection to Seam failed during {path}"),
        }
    }
}

impl std::error::Error for UpstreamError {}

/// Why no connection to Seam could be made. Fixed wording only: the
/// underlying error text is not passed on, so nothing it might quote (a URL
/// with a key in it, say) reaches a caller or a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Seam's host refused the TCP connection.
    Refused,
    /// Seam's host name did not resolve.
    Dns,
    /// The TLS handshake with Seam failed (certificate, protocol).
    Tls,
    /// Connecting took longer than the upstream time-out.
    TimedOut,
    /// The network or host is unreachable, or another connect error.
    Other,
}

impl ConnectFailure {
    /// Classifies a connect error by walking its chain of causes.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        let mut text = String::new();
        while let Some(current) = cause {
            if let Some(io) = current.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => return Self::Refused,
                    std::io::ErrorKind::TimedOut => return Self::TimedOut,
                    _ => {}
                }
            }
            text.push_str(&current.to_string().to_ascii_lowercase());
            text.push(' ');
            cause = current.source();
        }
        if text.contains("dns error") || text.contains("failed to lookup") || text.contains("name or service") {
            Self::Dns
        } else if text.contains("tls") || text.contains("certificate") || text.contains("handshake") {
            Self::Tls
        } else if text.contains("timed out") {
            Self::TimedOut
        } else if text.contains("refused") {
            Self::Refused
        } else {
            Self::Other
        }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Refused => "connection refused",
            Self::Dns => "DNS lookup failed",
            Self::Tls => "TLS handshake failed",
            Self::TimedOut => "connect timed out",
            Self::Other => "network unreachable or connect failed",
        })
    }
}
