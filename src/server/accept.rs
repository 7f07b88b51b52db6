//! The accept loop: bounded in connections, and calm when accepting fails.
//!
//! Why not tonic's: on an accept error (EMFILE when the open-files limit is
//! reached) it tries again at once, spinning a core and starving the calls
//! it serves, and it has no connection limit.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// The first pause after a failed accept; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// Repeated warnings (accept failures, refused connections) are logged at
/// most once per this period, with the count since the last one.
const WARNING_PERIOD: Duration = Duration::from_secs(1);
/// How often TCP keepalive probes an idle caller connection.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Accepts connections until `stopping` turns true, handing each to
/// `serve_connection` with its slot under the connection limit.
pub async fn accept_loop(
    listener: TcpListener,
    slots: Arc<Semaphore>,
    mut stopping: watch::Receiver<bool>,
    mut serve_connection: impl FnMut(TcpStream, tokio::sync::OwnedSemaphorePermit),
) {
    let mut backoff = FIRST_BACKOFF;
    let mut accept_failures = RateLimitedWarning::new("accepting a connection failed; backing off");
    let mut refusals = RateLimitedWarning::new("connection limit (--max-connections) reached; closing new connections");
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|stopping| *stopping) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = FIRST_BACKOFF;
                stream
            }
            Err(e) => {
                accept_failures.note(&e.to_string());
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stopping.wait_for(|stopping| *stopping) => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refusals.note("");
            drop(stream);
            continue;
        };
        // Responses are small: without NODELAY each waits on Nagle and
        // delayed ACKs (~40 ms).
        let _ = stream.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE);
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
        serve_connection(stream, permit);
    }
}

/// A warning that may repeat thousands of times a second, logged at most
/// once per [`WARNING_PERIOD`] with how often it happened.
struct RateLimitedWarning {
    message: &'static str,
    last_logged: Option<tokio::time::Instant>,
    unlogged: u64,
}

impl RateLimitedWarning {
    fn new(message: &'static str) -> Self {
        Self {
            message,
            last_logged: None,
            unlogged: 0,
        }
    }

    fn note(&mut self, error: &str) {
        self.unlogged += 1;
        let now = tokio::time::Instant::now();
        if self.last_logged.is_some_and(|last| now - last < WARNING_PERIOD) {
            return;
        }
        if error.is_empty() {
            tracing::warn!(times = self.unlogged, "{}", self.message);
        } else {
            tracing::warn!(times = self.unlogged, error, "{}", self.message);
        }
        self.last_logged = Some(now);
        self.unlogged = 0;
    }
}
