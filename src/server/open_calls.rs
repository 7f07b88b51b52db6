//! How many calls one connection has open, and since when it has had none,
//! so that a connection with none can be closed after an idle time. A call is
//! open from its request until its response body has ended or was dropped (a
//! stream counts for its whole life).
//!
//! Two atomics per call and no wake-up: the idle timer looks at them when it
//! would fire, rather than being told of every call.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;
use tower::Service;

/// One connection's open calls.
#[derive(Debug, Clone)]
pub struct OpenCalls(Arc<Counts>);

#[derive(Debug)]
struct Counts {
    open: AtomicUsize,
    /// When a call last opened or closed, in milliseconds since `origin`.
    last_change_ms: AtomicU64,
    origin: Instant,
}

impl OpenCalls {
    pub fn new() -> Self {
        Self(Arc::new(Counts {
            open: AtomicUsize::new(0),
            last_change_ms: AtomicU64::new(0),
            origin: Instant::now(),
        }))
    }

    fn open(&self) -> OpenCall {
        self.0.open.fetch_add(1, Ordering::AcqRel);
        self.0.touch();
        OpenCall(self.0.clone())
    }

    /// Completes once the connection has had no open call for `timeout`.
    pub async fn idle_for(&self, timeout: Duration) {
        loop {
            let last_change = self.0.origin + Duration::from_millis(self.0.last_change_ms.load(Ordering::Acquire));
            let idle_enough_at = last_change + timeout;
            let busy = self.0.open.load(Ordering::Acquire) > 0;
            if !busy && Instant::now() >= idle_enough_at {
                return;
            }
            // Look again when it could first have been idle long enough.
            if busy || Instant::now() >= idle_enough_at {
                tokio::time::sleep(timeout).await;
            } else {
                tokio::time::sleep_until(idle_enough_at).await;
            }
        }
    }
}

impl Counts {
    fn touch(&self) {
        let elapsed = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_change_ms.fetch_max(elapsed, Ordering::AcqRel);
    }
}

/// One open call; dropping it closes it.
#[derive(Debug)]
struct OpenCall(Arc<Counts>);

impl Drop for OpenCall {
    fn drop(&mut self) {
        self.0.touch();
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts the calls of one connection's service in [`OpenCalls`].
#[derive(Debug, Clone)]
pub struct CountOpenCalls<S> {
    inner: S,
    calls: OpenCalls,
}

impl<S> CountOpenCalls<S> {
    pub fn new(inner: S, calls: OpenCalls) -> Self {
        Self { inner, calls }
    }
}

impl<S, Request> Service<Request> for CountOpenCalls<S>
where
    S: Service<Request, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let call = self.calls.open();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| {
                tonic::body::Body::new(CountedBody {
                    inner: body,
                    _call: call,
                })
            }))
        })
    }
}

/// A response body that keeps its call open until it ends or is dropped.
struct CountedBody {
    inner: tonic::body::Body,
    _call: OpenCall,
}

impl Body for CountedBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_counts_from_the_last_call_that_closed() {
        let calls = OpenCalls::new();
        let started = Instant::now();
        let first = calls.open();
        let second = calls.open();
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(first);
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(second);
        calls.idle_for(Duration::from_secs(10)).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(15),
            "10 s after the last call closed at 5 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_with_an_open_call_is_never_idle() {
        let calls = OpenCalls::new();
        let _stream = calls.open();
        let idle = tokio::time::timeout(Duration::from_secs(3600), calls.idle_for(Duration::from_secs(1))).await;
        assert!(idle.is_err());
    }
}
