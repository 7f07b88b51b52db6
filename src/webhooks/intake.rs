//! The webhook listener (`--webhook-listen`): `POST /webhooks/seam`, facing
//! Seam (the gRPC and admin ports do not serve it). A delivery is read whole
//! up to `--webhook-max-body-bytes` within `--webhook-read-timeout`, its
//! signature checked (`signature`), and answered at once: 401 with nothing
//! delivered when the signature does not hold, 200 for an id already taken
//! (Seam retries; a replay changes nothing), 204 for a new one, whose event
//! is then given to WatchEvents callers and its attempt's poller (`dispatch`).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::delivery_health::DeliveryHealth;
use super::dispatch::Dispatch;
use super::recent_ids::RecentIds;
use super::signature::DeliveryVerifier;
use crate::observe::metrics;

/// The one path Seam delivers to.
pub const PATH: &str = "/webhooks/seam";

/// The limits of the listener (each a flag).
#[derive(Debug, Clone, Copy)]
pub struct IntakeLimits {
    pub max_body_bytes: usize,
    pub read_timeout: Duration,
    pub max_connections: usize,
    /// Delivery ids remembered to acknowledge and ignore replays.
    pub replay_memory: usize,
}

pub struct WebhookIntake {
    verifier: DeliveryVerifier,
    limits: IntakeLimits,
    replays: Mutex<RecentIds>,
    health: Arc<DeliveryHealth>,
    dispatch: Dispatch,
}

impl WebhookIntake {
    pub fn new(
        verifier: DeliveryVerifier,
        limits: IntakeLimits,
        health: Arc<DeliveryHealth>,
        dispatch: Dispatch,
    ) -> Self {
        Self {
            verifier,
            replays: Mutex::new(RecentIds::new(limits.replay_memory)),
            limits,
            health,
            dispatch,
        }
    }

    /// Serves deliveries on `listener` until shutdown begins.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, mut stopping: watch::Receiver<bool>) {
        let connections = Arc::new(Semaphore::new(self.limits.max_connections.max(1)));
        loop {
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => permit,
                _ = stopping.wait_for(|stopping| *stopping) => return,
            };
            let Ok(permit) = permit else { return };
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopping.wait_for(|stopping| *stopping) => return,
            };
            let Ok((stream, _)) = accepted else {
                // A failed accept (open-files limit) is retried after a pause.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let intake = self.clone();
            let read_timeout = self.limits.read_timeout;
            tokio::spawn(async move {
                let _permit = permit;
                let service = service_fn(move |request| {
                    let intake = intake.clone();
                    async move { Ok::<_, Infallible>(intake.answer(request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(read_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if request.uri().path() != PATH {
            return plain(StatusCode::NOT_FOUND, "not found\n");
        }
        if request.method() != Method::POST {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "POST only\n");
        }
        let (parts, body) = request.into_parts();
        let read = tokio::time::timeout(
            self.limits.read_timeout,
            Limited::new(body, self.limits.max_body_bytes).collect(),
        )
        .await;
        let body = match read {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
                metrics::webhook_delivery("too_large", "");
                tracing::warn!(
                    limit = self.limits.max_body_bytes,
                    "webhook delivery over the body limit: refused"
                );
                return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n");
            }
            Ok(Err(_)) => return plain(StatusCode::BAD_REQUEST, "unreadable body\n"),
            Err(_) => return plain(StatusCode::REQUEST_TIMEOUT, "body too slow\n"),
        };
        let id = match self.verifier.verify(&parts.headers, &body) {
            Ok(id) => id,
            Err(refusal) => {
                metrics::webhook_delivery("refused", refusal.as_str());
                tracing::warn!(
                    reason = refusal.as_str(),
                    "webhook delivery refused: signature does not hold"
                );
                return plain(StatusCode::UNAUTHORIZED, "invalid signature\n");
            }
        };
        let first_time = self
            .replays
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(&id);
        if !first_time {
            metrics::webhook_delivery("replayed", "");
            tracing::debug!(webhook_id = %id.escape_debug(), "webhook delivery already taken: acknowledged, ignored");
            return plain(StatusCode::OK, "already received\n");
        }
        self.health.delivered();
        let Some(event) = Dispatch::parse(&body) else {
            metrics::webhook_delivery("malformed", "");
            tracing::warn!(webhook_id = %id.escape_debug(), "signed webhook delivery is not a Seam event: ignored");
            return plain(StatusCode::BAD_REQUEST, "not a Seam event\n");
        };
        metrics::webhook_delivery("accepted", "");
        // Answered now; the event is handed on after.
        let dispatch = self.dispatch.clone();
        tokio::spawn(async move { dispatch.deliver(event) });
        plain(StatusCode::NO_CONTENT, "")
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}
