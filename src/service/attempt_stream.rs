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
//! awaited next to the attempt's changes.

use std::pin::Pin;
use std::time::Instant;

use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Code, Response, Status};

use super::{SharedGateway, log_rpc, shutting_down};
use crate::attempt_pollers::{AttemptView, is_completed};
use crate::error::{ErrorKind, GatewayError};
use crate::pb;
use crate::seam::Credential;

/// The response stream of an attempt-following RPC.
pub type AttemptStream<M> = Pin<Box<dyn Stream<Item = Result<M, Status>> + Send>>;

/// What one stream follows.
pub(crate) struct FollowSpec<M> {
    pub credential: Credential,
    pub attempt_id: String,
    /// A snapshot already in hand (the lock command's answer): sent first.
    pub known: Option<pb::ActionAttempt>,
    pub deadline: tokio::time::Instant,
    /// Seam's request id of the command that created the attempt, for the log line.
    pub seam_request_id: Option<String>,
    /// Wraps a snapshot into the RPC's own response message.
    pub wrap: fn(pb::ActionAttempt) -> M,
}

/// Opens the stream for `spec`, or answers the error, logging either way.
pub(crate) fn open<M: Send + 'static>(
    gateway: &SharedGateway,
    method: &'static str,
    started: Instant,
    spec: Result<FollowSpec<M>, GatewayError>,
) -> Result<Response<AttemptStream<M>>, Status> {
    let spec = match spec {
        Ok(spec) => spec,
        Err(error) => {
            let seam_request_id = error.seam_request_id().map(str::to_owned);
            let status = Status::from(error);
            log_rpc(method, status.code(), started, seam_request_id.as_deref());
            return Err(status);
        }
    };
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
        log: RpcLog {
            method,
            started,
            seam_request_id: spec.seam_request_id,
            code: None,
        },
    };
    let stream = futures_util::stream::unfold(follower, |mut follower| async move {
        let message = follower.next_message().await?;
        Some((message, follower))
    });
    Ok(Response::new(Box::pin(stream)))
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
    log: RpcLog,
}

impl<M> Follower<M> {
    /// The next message; `None` once the stream has ended.
    async fn next_message(&mut self) -> Option<Result<M, Status>> {
        if self.log.code.is_some() {
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
                if is_completed(&attempt) {
                    self.log.code = Some(Code::Ok);
                }
                return Some(Ok((self.wrap)(attempt)));
            }
            if let Some(fatal) = fatal {
                return Some(Err(self.end(GatewayError::from(fatal))));
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
                    let kind = match self.views.borrow().outage.clone() {
                        Some(cause) => ErrorKind::AttemptUnobservable { cause },
                        None => ErrorKind::AttemptStillPending { waited: self.waited_since.elapsed() },
                    };
                    return Some(Err(self.end(GatewayError::new(kind))));
                }
                _ = shutting_down(&mut self.shutdown) => {
                    return Some(Err(self.end(GatewayError::new(ErrorKind::ShuttingDown))));
                }
            }
        }
    }

    /// The final status, naming the attempt to resume with.
    fn end(&mut self, error: GatewayError) -> Status {
        let status = Status::from(error.with("action_attempt_id", &self.attempt_id));
        self.log.code = Some(status.code());
        status
    }
}

/// The stream's log line, written when the stream is dropped: after its last
/// message, or when the caller went away (CANCELLED).
struct RpcLog {
    method: &'static str,
    started: Instant,
    seam_request_id: Option<String>,
    code: Option<Code>,
}

impl Drop for RpcLog {
    fn drop(&mut self) {
        let code = self.code.unwrap_or(Code::Cancelled);
        log_rpc(self.method, code, self.started, self.seam_request_id.as_deref());
    }
}
