//! One module per gRPC service. Handlers validate, call Seam, convert; the
//! shared state and the per-RPC log line live here.

mod action_attempts;
mod attempt_stream;
mod devices;
mod event_stream;
mod events;
mod locks;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use tonic::metadata::MetadataValue;
use tonic::{Response, Status};

pub use action_attempts::ActionAttemptApi;
pub use devices::DeviceApi;
pub use events::EventApi;
pub use locks::LockApi;

use crate::attempt_pollers::AttemptWatcher;
use crate::credentials::CredentialSource;
use crate::error::{ErrorKind, GatewayError};
use crate::events_tail::EventTails;
use crate::request_ids::RequestIds;
use crate::seam::{SeamClient, Upstreamed};

/// What every service shares.
#[derive(Debug)]
pub struct Gateway {
    pub seam: SeamClient,
    pub credentials: CredentialSource,
    /// Pollers of pending action attempts, shared by all their watchers.
    pub attempts: AttemptWatcher<SeamClient>,
    /// Remembered `request_id`s of lock commands.
    pub request_ids: RequestIds,
    /// The longest a stream waits for an attempt.
    pub max_wait: Duration,
    /// One `/events/list` tail per credential, shared by all WatchEvents callers.
    pub event_tails: EventTails,
    /// How often an event tail polls Seam.
    pub events_poll_interval: Duration,
    /// Events buffered per WatchEvents caller before its stream ends.
    pub events_buffer: usize,
    /// Size limits of what callers send.
    pub limits: RequestLimits,
    /// Turns true when the gateway starts shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// Turns true when the shutdown grace period is over: calls still open
    /// end UNAVAILABLE rather than with a dropped connection.
    pub calls_aborted: watch::Receiver<bool>,
}

/// How large the ids, tokens and filters that callers send may be. Each is
/// checked before anything else happens, so an oversized one costs nothing
/// but its refusal.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_id_bytes: usize,
    pub max_page_token_bytes: usize,
    pub max_filter_values: usize,
}

impl RequestLimits {
    /// A required id: not empty, not over the limit; surrounding blanks trimmed.
    pub(crate) fn required_id<'a>(&self, field: &'static str, value: &'a str) -> Result<&'a str, GatewayError> {
        let value = self.optional_id(field, value)?;
        if value.is_empty() {
            return Err(GatewayError::invalid_argument(field, "is required"));
        }
        Ok(value)
    }

    /// An id that may be empty, not over the limit; surrounding blanks trimmed.
    pub(crate) fn optional_id<'a>(&self, field: &'static str, value: &'a str) -> Result<&'a str, GatewayError> {
        if value.len() > self.max_id_bytes {
            return Err(GatewayError::invalid_argument(
                field,
                format!(
                    "is {} bytes long; at most {} are accepted",
                    value.len(),
                    self.max_id_bytes
                ),
            ));
        }
        Ok(value.trim())
    }

    /// A list filter: at most `max_filter_values` values, each an id within the limit.
    pub(crate) fn filter(&self, field: &'static str, values: &[String]) -> Result<(), GatewayError> {
        if values.len() > self.max_filter_values {
            return Err(GatewayError::invalid_argument(
                field,
                format!(
                    "has {} values; at most {} are accepted",
                    values.len(),
                    self.max_filter_values
                ),
            ));
        }
        for value in values {
            self.optional_id(field, value)?;
        }
        Ok(())
    }

    /// A page token within the limit (its content is checked when decoded).
    pub(crate) fn page_token<'a>(&self, token: &'a str) -> Result<&'a str, GatewayError> {
        if token.len() > self.max_page_token_bytes {
            return Err(GatewayError::invalid_argument(
                "page_token",
                format!(
                    "is {} bytes long; at most {} are accepted",
                    token.len(),
                    self.max_page_token_bytes
                ),
            ));
        }
        Ok(token)
    }
}

impl Gateway {
    /// New streams are refused once shutdown has begun.
    pub(crate) fn refuse_if_shutting_down(&self) -> Result<(), GatewayError> {
        if *self.shutdown.borrow() {
            return Err(GatewayError::new(ErrorKind::ShuttingDown));
        }
        Ok(())
    }
}

pub type SharedGateway = Arc<Gateway>;

impl Gateway {
    /// Runs a unary handler: turns its error into a `Status`, forwards Seam's
    /// request id as `seam-request-id` response metadata, and logs one line.
    /// A call still running when the shutdown grace period ends is ended
    /// UNAVAILABLE (and logged) instead of losing its connection.
    pub(crate) async fn unary<T: prost::Message>(
        &self,
        method: &'static str,
        handler: impl Future<Output = Result<Upstreamed<T>, GatewayError>>,
    ) -> Result<Response<T>, Status> {
        let mut aborted = self.calls_aborted.clone();
        unary_call(method, async move {
            tokio::select! {
                outcome = handler => outcome,
                _ = aborted.wait_for(|aborted| *aborted) => Err(GatewayError::new(ErrorKind::ShuttingDown)),
            }
        })
        .await
    }
}

async fn unary_call<T: prost::Message>(
    method: &'static str,
    handler: impl Future<Output = Result<Upstreamed<T>, GatewayError>>,
) -> Result<Response<T>, Status> {
    let started = Instant::now();
    // An answer the caller's client would refuse (over 4 MiB) is not sent,
    // so that the log line states the code the caller really got.
    let outcome = handler.await.and_then(|answer| {
        if answer.body.encoded_len() > crate::paging::MAX_RESPONSE_BYTES {
            return Err(GatewayError::new(ErrorKind::ResponseTooLarge));
        }
        Ok(answer)
    });
    let seam_request_id = match &outcome {
        Ok(answer) => answer.request_id.clone(),
        Err(error) => error.seam_request_id().map(str::to_owned),
    };
    let result = outcome.map_err(Status::from).map(|answer| {
        let mut response = Response::new(answer.body);
        if let Some(value) = answer.request_id.and_then(|id| MetadataValue::try_from(id).ok()) {
            response.metadata_mut().insert("seam-request-id", value);
        }
        response
    });
    log_rpc(
        method,
        result.as_ref().err().map_or(tonic::Code::Ok, Status::code),
        started,
        seam_request_id.as_deref(),
    );
    result
}

/// The one log line per RPC.
pub(crate) fn log_rpc(method: &'static str, code: tonic::Code, started: Instant, seam_request_id: Option<&str>) {
    let latency_us = started.elapsed().as_micros() as u64;
    let seam_request_id = seam_request_id.unwrap_or("-");
    match code {
        tonic::Code::Ok => tracing::info!(method, code = ?code, latency_us, seam_request_id, "rpc"),
        tonic::Code::Internal | tonic::Code::Unknown | tonic::Code::DataLoss => {
            tracing::error!(method, code = ?code, latency_us, seam_request_id, "rpc")
        }
        _ => tracing::warn!(method, code = ?code, latency_us, seam_request_id, "rpc"),
    }
}

/// Completes once shutdown has begun. (The guard `wait_for` returns must not
/// live across the awaits that follow, hence this wrapper.)
pub(crate) async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}
