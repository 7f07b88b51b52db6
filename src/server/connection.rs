//! One caller connection's life: the handshake deadline (TLS when configured,
//! then the HTTP/2 preface), then HTTP/2 until the caller closes it, it sits
//! idle too long, it reaches its maximum age, or the gateway shuts down. The
//! last three end it gracefully: GOAWAY, open calls finish, then the
//! connection closes. The identity in a TLS client certificate is added to
//! every request of the connection.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tower::{Service, ServiceExt};

use super::open_calls::{CountOpenCalls, OpenCalls};
use super::preface::{HandshakeFailure, read_preface};
use super::tls::ServerTls;
use crate::identity::client_certificate::ClientCertificate;
use crate::observe::metrics;
use crate::server::coalescing_io::CoalescingStream;

/// The time limits of every connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_age: Duration,
    pub max_age_grace: Duration,
    pub max_concurrent_streams: u32,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

impl ConnectionLimits {
    /// This connection's age limit: the maximum ±10 %, so that connections
    /// opened together (after a deploy) do not all go away together.
    fn jittered_max_age(&self) -> Duration {
        self.max_age.mul_f64(0.9 + 0.2 * fastrand::f64())
    }
}

/// Why a connection is asked to go away.
#[derive(Debug, Clone, Copy)]
enum GoAway {
    Idle,
    MaxAge,
    Shutdown,
}

/// Serves one accepted connection until it ends. `permit` is its slot under
/// the connection limit, given back when it ends.
pub async fn serve<S>(
    stream: TcpStream,
    service: S,
    tls: Option<Arc<ServerTls>>,
    limits: ConnectionLimits,
    stopping: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + Sync + 'static,
{
    let _permit = permit;
    let _counted = CountedConnection::open();
    let peer = stream.peer_addr().ok();
    // One deadline for the whole handshake: TLS and the HTTP/2 preface.
    let deadline = tokio::time::Instant::now() + limits.handshake_timeout;
    let Some(tls) = tls else {
        return serve_http2(
            CoalescingStream::from(stream),
            None,
            service,
            peer,
            deadline,
            limits,
            stopping,
        )
        .await;
    };
    let stream = match tokio::time::timeout_at(deadline, tls.acceptor().accept(stream)).await {
        Err(_) => {
            tracing::debug!(
                ?peer,
                "closed a connection that did not finish the TLS handshake in time"
            );
            return;
        }
        Ok(Err(e)) => {
            let rustls_error = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
            if let Some(rustls::Error::InvalidCertificate(reason)) = rustls_error {
                // A client certificate that does not chain to --tls-client-ca
                // (or expired, or revoked): worth an operator's eye.
                metrics::tls_handshake_refused("untrusted_certificate");
                tracing::warn!(?peer, reason = ?reason, "refused a TLS handshake: untrusted client certificate");
            } else {
                metrics::tls_handshake_refused("other");
                tracing::debug!(?peer, error = %e, "TLS handshake failed");
            }
            return;
        }
        Ok(Ok(stream)) => stream,
    };
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| ClientCertificate::from_der(leaf));
    serve_http2(
        CoalescingStream::new(stream),
        certificate,
        service,
        peer,
        deadline,
        limits,
        stopping,
    )
    .await;
}

/// HTTP/2 on an established connection (TCP or TLS), from its preface on.
async fn serve_http2<I, S>(
    stream: I,
    certificate: Option<ClientCertificate>,
    service: S,
    peer: Option<std::net::SocketAddr>,
    deadline: tokio::time::Instant,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + Sync + 'static,
{
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    let prefaced = match read_preface(stream, remaining).await {
        Ok(prefaced) => prefaced,
        Err(failure) => {
            match failure {
                HandshakeFailure::TimedOut => {
                    tracing::debug!(?peer, "closed a connection that sent no HTTP/2 preface in time")
                }
                HandshakeFailure::NotHttp2 => tracing::debug!(?peer, "closed a connection that does not speak HTTP/2"),
                HandshakeFailure::Io(e) => tracing::debug!(?peer, error = %e, "connection failed before HTTP/2 began"),
            }
            return;
        }
    };

    let calls = OpenCalls::new();
    let service = CountOpenCalls::new(service, calls.clone()).map_request(move |request: http::Request<Incoming>| {
        let mut request = request.map(tonic::body::Body::new);
        if let Some(certificate) = &certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        request
    });
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        // Finds callers that vanished without closing their streams (NAT,
        // crashed hosts) so that their pollers and tails stop.
        .keep_alive_interval(limits.keepalive_interval)
        .keep_alive_timeout(limits.keepalive_timeout);
    let connection = builder.serve_connection(TokioIo::new(prefaced), TowerToHyperService::new(service));
    tokio::pin!(connection);

    let max_age = tokio::time::sleep(limits.jittered_max_age());
    tokio::pin!(max_age);
    let go_away = tokio::select! {
        result = connection.as_mut() => {
            log_end(peer, result);
            return;
        }
        () = calls.idle_for(limits.idle_timeout) => GoAway::Idle,
        () = &mut max_age => GoAway::MaxAge,
        _ = stopping.wait_for(|stopping| *stopping) => GoAway::Shutdown,
    };
    tracing::debug!(?peer, reason = ?go_away, "asking the caller's connection to go away");
    connection.as_mut().graceful_shutdown();
    // Shutdown has its own bound (the gateway's grace period); the other two
    // give open calls the configured grace.
    let grace = match go_away {
        GoAway::Shutdown => Duration::MAX,
        GoAway::Idle | GoAway::MaxAge => limits.max_age_grace,
    };
    match tokio::time::timeout(grace, connection.as_mut()).await {
        Ok(result) => log_end(peer, result),
        Err(_) => tracing::info!(?peer, "closed a connection whose calls outlived the grace period"),
    }
}

fn log_end(peer: Option<std::net::SocketAddr>, result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(?peer, error = %e, "caller connection ended with an error");
    }
}

/// One caller connection in the `seam_gateway_connections` gauge.
struct CountedConnection;

impl CountedConnection {
    fn open() -> Self {
        metrics::connections(1.0);
        Self
    }
}

impl Drop for CountedConnection {
    fn drop(&mut self) {
        metrics::connections(-1.0);
    }
}
