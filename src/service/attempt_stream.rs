//! The stream behind LockDoor, UnlockDoor and WatchActionAttempt: a full
//! snapshot on every status change until the attempt completes, the wait
//! budget runs out, the caller leaves or the gateway shuts down.

use std::time::Instant;

use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Response, Status};

use super::{SharedGateway, log_rpc, shutting_down};
use crate::error::{ErrorKind, GatewayError};
use crate::pb;
use crate::seam::Credential;
use crate::watch::is_completed;

/// The response stream of an attempt-following RPC.
pub type AttemptStream<M> = Pin<Box<dyn Stream<Item = Result<M, Status>> + Send>>;

/// What the stream task sends. Boxed: a channel allocates its slots in blocks
/// of 32, and an unboxed `Result<_, Status>` is ~200 bytes, which made each
/// open stream cost 6 KB more (measured in BENCHMARKS.md).
type Outgoing<M> = Box<Result<M, Status>>;

/// Messages buffered per stream; a caller that reads slowly only delays itself.
const STREAM_BUFFER: usize = 4;

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
    let (sender, receiver) = mpsc::channel::<Outgoing<M>>(STREAM_BUFFER);
    let gateway = gateway.clone();
    tokio::spawn(async move {
        let seam_request_id = spec.seam_request_id.clone();
        let code = follow(&gateway, spec, &sender).await;
        log_rpc(method, code, started, seam_request_id.as_deref());
    });
    Ok(Response::new(Box::pin(ReceiverStream::new(receiver).map(|item| *item))))
}

async fn follow<M>(gateway: &SharedGateway, spec: FollowSpec<M>, sender: &mpsc::Sender<Outgoing<M>>) -> Code {
    let FollowSpec {
        credential,
        attempt_id,
        known,
        deadline,
        wrap,
        seam_request_id: _,
    } = spec;
    let waited_since = tokio::time::Instant::now();
    let mut views = gateway.attempts.watch(&credential, &attempt_id, known);
    let mut shutdown = gateway.shutdown.clone();
    let budget_end = tokio::time::sleep_until(deadline);
    tokio::pin!(budget_end);
    let mut last_sent_status: Option<i32> = None;
    loop {
        let view = views.borrow_and_update().clone();
        if let Some(attempt) = view.attempt
            && last_sent_status != Some(attempt.status)
        {
            last_sent_status = Some(attempt.status);
            let completed = is_completed(&attempt);
            if sender.send(Box::new(Ok(wrap(attempt)))).await.is_err() {
                return Code::Cancelled;
            }
            if completed {
                return Code::Ok;
            }
        }
        if let Some(fatal) = view.fatal {
            return end(sender, GatewayError::from(fatal).with("action_attempt_id", &attempt_id)).await;
        }
        tokio::select! {
            changed = views.changed() => {
                // The poller stopped without a final view (it briefly had no
                // watcher): start following again with a fresh one.
                if changed.is_err() && !views.borrow().is_final() {
                    views = gateway.attempts.watch(&credential, &attempt_id, None);
                }
            }
            _ = &mut budget_end => {
                let kind = match views.borrow().outage.clone() {
                    Some(cause) => ErrorKind::AttemptUnobservable { cause },
                    None => ErrorKind::AttemptStillPending { waited: waited_since.elapsed() },
                };
                return end(sender, GatewayError::new(kind).with("action_attempt_id", &attempt_id)).await;
            }
            _ = sender.closed() => return Code::Cancelled,
            _ = shutting_down(&mut shutdown) => {
                let error = GatewayError::new(ErrorKind::ShuttingDown).with("action_attempt_id", &attempt_id);
                return end(sender, error).await;
            }
        }
    }
}

async fn end<M>(sender: &mpsc::Sender<Outgoing<M>>, error: GatewayError) -> Code {
    let status = Status::from(error);
    let code = status.code();
    // The caller may be gone already; then there is nobody to tell.
    let _ = sender.send(Box::new(Err(status))).await;
    code
}
