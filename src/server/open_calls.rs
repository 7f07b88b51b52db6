//! How many calls one connection has open, so that a connection with none can
//! be closed after an idle time. A call is open from its request until its
//! response body has ended or was dropped (a stream counts for its whole life).

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tokio::sync::watch;
use tower::Service;

/// The count of one connection's open calls.
#[derive(Debug, Clone)]
pub struct OpenCalls(watch::Sender<usize>);

impl OpenCalls {
    pub fn new() -> Self {
        Self(watch::channel(0).0)
    }

    /// Follows the count (for the idle timer).
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.0.subscribe()
    }

    fn open(&self) -> OpenCall {
        self.0.send_modify(|open| *open += 1);
        OpenCall(self.0.clone())
    }
}

/// One open call; dropping it closes it.
#[derive(Debug)]
struct OpenCall(watch::Sender<usize>);

impl Drop for OpenCall {
    fn drop(&mut self) {
        self.0.send_modify(|open| *open = open.saturating_sub(1));
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

    #[test]
    fn a_call_is_open_until_it_is_dropped() {
        let calls = OpenCalls::new();
        let count = calls.subscribe();
        let first = calls.open();
        let second = calls.open();
        assert_eq!(*count.borrow(), 2);
        drop(first);
        assert_eq!(*count.borrow(), 1);
        drop(second);
        assert_eq!(*count.borrow(), 0);
    }
}
