//! The stream behind LockDoor, UnlockDoor and WatchActionAttempt: a full
//! snapshot on every status change until the attempt completes, the wait
//! budget runs out, the caller leaves or the gateway shuts down.
//!
//! The stream is not a task feeding a channel: it follows the attempt's view
//! itself, when the transport asks for the next message. A stream waits far
//! longer than it works, and a task and a channel per stream were half of a
//! waiting stream's memory and an extra wake-up per message (BENCHMARKS.md).
//! The properties stay: the caller leaving drops the stream, and with it the
//! attempt's watcher (so polling stops); shutdown and the wait budget are
//! awaited next to the attempt's changes. The stream's log line is the access
//! log's (`observe::access_log`), written when the stream ends.

use std::pin::Pin;

use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Response, Status};

use super::attempt_audit::CommandAudit;
use super::{SEAM_REQUEST_ID, SharedGateway, shutting_down};
use crate::api::error::{ErrorKind, GatewayError};
use crate::attempts::pollers::{AttemptView, is_completed};
use crate::observe::metrics;
use crate::pb;
use crate::seam::Credential;
use tonic::metadata::MetadataValue;

/// The response stream of an attempt-following RPC.
pub type AttemptStream<M> = Pin<Box<dyn Stream<Item = Result<M, Status>> + Send>>;

/// What one stream follows.
pub(crate) struct FollowSpec<M> {
    pub credential: Credential,
    pub attempt_id: String,
    /// A snapshot already in hand (the lock command's answer): sent first.
    pub known: Option<pb::ActionAttempt>,
    pub deadline: tokio::time::Instant,
    /// Seam's request id of the command that created the attempt, sent as
    /// `seam-request-id` response metadata (and so in the access log).
    pub seam_request_id: Option<String>,
    /// Wraps a snapshot into the RPC's own response message.
    pub wrap: fn(pb::ActionAttempt) -> M,
    /// The audit of the command this stream follows (`--audit-log`).
    pub audit: Option<CommandAudit>,
}

/// Opens the stream for `spec`, or answers the error.
pub(crate) fn open<M: Send + 'static>(
    gateway: &SharedGateway,
    spec: Result<FollowSpec<M>, GatewayError>,
) -> Result<Response<AttemptStream<M>>, Status> {
    let spec = spec?;
    let seam_request_id = spec.seam_request_id.and_then(|id| MetadataValue::try_from(id).ok());
    // A stream that starts from a lock command's answer times its confirmation.
    let spec_known_at = spec.known.is_some().then(std::time::Instant::now);
    let follower = Follower {
        views: gateway.attempts.watch(&spec.credential, &spec.attempt_id, spec.known),
        shutdown: gateway.shutdown.clone(),
        budget_end: Box::pin(tokio::time::sleep_until(spec.deadline)),
        waited_since: tokio::time::Instant::now(),
        last_sent_status: None,
        gateway: gateway.clone(),
        credential: spec.credential,
        attempt_id: spec.attempt_id,
        wrap: spec.wrap,
        ended: false,
        command_accepted_at: spec_known_at,
        audit: spec.audit,
    };
    let stream = futures_util::stream::unfold(follower, |mut follower| async move {
        let message = follower.next_message().await?;
        Some((message, follower))
    });
    let mut response = Response::new(Box::pin(stream) as AttemptStream<M>);
    if let Some(value) = seam_request_id {
        response.metadata_mut().insert(SEAM_REQUEST_ID, value);
    }
    Ok(response)
}

struct Follower<M> {
    gateway: SharedGateway,
    credential: Credential,
    attempt_id: String,
    views: watch::Receiver<AttemptView>,
    shutdown: watch::Receiver<bool>,
    budget_end: Pin<Box<tokio::time::Sleep>>,
    waited_since: tokio::time::Instant,
    last_sent_status: Option<i32>,
    wrap: fn(pb::ActionAttempt) -> M,
    /// The last message (final snapshot or error) has been sent.
    ended: bool,
    /// When Seam accepted the lock command this stream follows, if it does.
    command_accepted_at: Option<std::time::Instant>,
    /// Written when the stream ends (or the caller leaves first).
    audit: Option<CommandAudit>,
}

impl<M> Follower<M> {
    /// The next message; `None` once the stream has ended.
    async fn next_message(&mut self) -> Option<Result<M, Status>> {
        if self.ended {
            return None;
        }
        loop {
            let (changed_snapshot, fatal) = {
                let view = self.views.borrow_and_update();
                let changed = view
                    .attempt
                    .as_ref()
                    .filter(|attempt| self.last_sent_status != Some(attempt.status))
                    .cloned();
                (changed, view.fatal.clone())
            };
            if let Some(attempt) = changed_snapshot {
                self.last_sent_status = Some(attempt.status);
                self.ended = is_completed(&attempt);
                if self.ended
                    && let Some(accepted_at) = self.command_accepted_at.take()
                {
                    metrics::confirmation(accepted_at.elapsed());
                }
                if self.ended
                    && let Some(audit) = self.audit.take()
                {
                    let success = attempt.status == pb::action_attempt::Status::Success as i32;
                    audit.finish(if success { "success" } else { "error" }, "OK");
                }
                return Some(Ok((self.wrap)(attempt)));
            }
            if let Some(fatal) = fatal {
                return Some(Err(self.end(GatewayError::from(fatal), "error")));
            }
            tokio::select! {
                changed = self.views.changed() => {
                    // The poller stopped without a final view (it briefly had no
                    // watcher): follow again with a fresh one.
                    if changed.is_err() && !self.views.borrow().is_final() {
                        self.views = self.gateway.attempts.watch(&self.credential, &self.attempt_id, None);
                    }
                }
                _ = &mut self.budget_end => {
                    let (kind, outcome) = match self.views.borrow().outage.clone() {
                        Some(cause) => (ErrorKind::AttemptUnobservable { cause }, "unobservable"),
                        None => (ErrorKind::AttemptStillPending { waited: self.waited_since.elapsed() }, "still_pending"),
                    };
                    return Some(Err(self.end(GatewayError::new(kind), outcome)));
                }
                _ = shutting_down(&mut self.shutdown) => {
                    return Some(Err(self.end(GatewayError::new(ErrorKind::ShuttingDown), "shutting_down")));
                }
            }
        }
    }

    /// The final status, naming the attempt to resume with.
    fn end(&mut self, error: GatewayError, outcome: &'static str) -> Status {
        let status = Status::from(error.with("action_attempt_id", &self.attempt_id));
        self.ended = true;
        if let Some(audit) = self.audit.take() {
            audit.finish(outcome, code_name(status.code()));
        }
        status
    }
}

impl<M> Drop for Follower<M> {
    fn drop(&mut self) {
        // The caller closed the stream before its end; the attempt goes on.
        if let Some(audit) = self.audit.take() {
            audit.finish("caller_left", "CANCELLED");
        }
    }
}

/// gRPC's canonical code names, as audit records write them.
fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
