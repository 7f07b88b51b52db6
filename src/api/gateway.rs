//! The state every service shares, and what every call does the same way:
//! refusing new work during shutdown, and turning a unary handler's outcome
//! into a response.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tonic::metadata::MetadataValue;
use tonic::{Response, Status};

use crate::api::command_rate::CommandRateLimiter;
use crate::api::error::{ErrorKind, GatewayError};
use crate::api::paging::MAX_RESPONSE_BYTES;
use crate::api::request_limits::RequestLimits;
use crate::attempts::attempt_devices::AttemptDevices;
use crate::attempts::pollers::AttemptWatcher;
use crate::attempts::request_ids::RequestIds;
use crate::audit::trail::AuditTrail;
use crate::events::tail::EventTails;
use crate::policy::policy_set::PolicyEngine;
use crate::seam::{SeamClient, Upstreamed};

/// What every service shares.
#[derive(Debug)]
pub struct Gateway {
    pub seam: SeamClient,
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
    /// The authorization policies (`--policy`); everything is allowed without.
    pub policy: Option<Arc<PolicyEngine>>,
    /// The audit trail (`--audit-log`).
    pub audit: Option<Arc<AuditTrail>>,
    /// The devices of the attempts this gateway started (policy decisions
    /// on reading an attempt).
    pub attempt_devices: AttemptDevices,
    /// The per-caller command limit (`--command-rate-limit`).
    pub command_rate: Option<Arc<CommandRateLimiter>>,
    /// Turns true when the gateway starts shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// Turns true when the shutdown grace period is over: calls still open
    /// end UNAVAILABLE rather than with a dropped connection.
    pub calls_aborted: watch::Receiver<bool>,
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
    /// Runs a unary handler: turns its error into a `Status` and forwards
    /// Seam's request id as `seam-request-id` response metadata (the access
    /// log reads it there). A call still running when the shutdown grace
    /// period ends is ended UNAVAILABLE instead of losing its connection.
    pub(crate) async fn unary<T: prost::Message>(
        &self,
        handler: impl Future<Output = Result<Upstreamed<T>, GatewayError>>,
    ) -> Result<Response<T>, Status> {
        let mut aborted = self.calls_aborted.clone();
        let outcome = tokio::select! {
            outcome = handler => outcome,
            _ = aborted.wait_for(|aborted| *aborted) => Err(GatewayError::new(ErrorKind::ShuttingDown)),
        };
        // An answer the caller's client would refuse (over 4 MiB) is not
        // sent, so that the status the log states is the one the caller got.
        let answer = outcome.and_then(|answer| {
            if answer.body.encoded_len() > MAX_RESPONSE_BYTES {
                return Err(GatewayError::new(ErrorKind::ResponseTooLarge));
            }
            Ok(answer)
        })?;
        let mut response = Response::new(answer.body);
        if let Some(value) = answer.request_id.and_then(|id| MetadataValue::try_from(id).ok()) {
            response.metadata_mut().insert(SEAM_REQUEST_ID, value);
        }
        Ok(response)
    }
}

/// The response metadata key of Seam's request id (of the call's Seam
/// request, or of the command a stream follows).
pub const SEAM_REQUEST_ID: &str = "seam-request-id";

/// Completes once shutdown has begun. (The guard `wait_for` returns must not
/// live across the awaits that follow, hence this wrapper.)
pub async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}
