//! seam-grpc-gateway: Seam's smart-lock HTTP API behind a typed gRPC interface.
//!
//! [`serve`] is the one place that owns transport policy. The generated client
//! and message types are in [`pb`], so other Rust services can call the gateway
//! with `pb::lock_service_client::LockServiceClient`.

mod budget;
mod coalescing_io;
pub mod codec;
pub mod config;
mod convert;
mod credentials;
pub mod encoded_struct;
mod error;
mod event_order;
mod events_tail;
mod paging;
pub mod pb;
mod request_ids;
pub mod seam;
mod service;
mod shared_producers;
mod status_details;
mod watch;

use std::future::Future;
use std::sync::Arc;

use futures_util::TryStreamExt;
use tokio::net::TcpListener;
use tokio::sync::watch as signal;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

pub use config::Config;
pub use error::ERROR_DOMAIN;

use crate::credentials::CredentialSource;
use crate::events_tail::EventTails;
use crate::pb::action_attempt_service_server::ActionAttemptServiceServer;
use crate::pb::device_service_server::DeviceServiceServer;
use crate::pb::event_service_server::EventServiceServer;
use crate::pb::lock_service_server::LockServiceServer;
use crate::request_ids::RequestIds;
use crate::seam::{SeamClient, SeamClientOptions};
use crate::service::{ActionAttemptApi, DeviceApi, EventApi, Gateway, LockApi};
use crate::watch::{AttemptWatcher, PollSchedule};

/// The largest request message accepted. Requests are ids and filters: a few
/// hundred bytes; anything near this is a mistake or abuse.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
const HTTP2_KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
const HTTP2_KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const TCP_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(60);

/// Why the gateway could not start or stopped with an error.
#[derive(Debug)]
pub enum ServeError {
    /// The HTTP client for Seam could not be built (TLS roots …).
    SeamClient(reqwest::Error),
    /// The reflection service could not read the descriptor set.
    Reflection(tonic_reflection::server::Error),
    /// The gRPC transport failed.
    Transport(tonic::transport::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::SeamClient(e) => write!(f, "cannot build the Seam HTTP client: {e}"),
            ServeError::Reflection(e) => write!(f, "cannot build gRPC reflection: {e}"),
            ServeError::Transport(e) => write!(f, "gRPC transport failed: {e}"),
        }
    }
}

impl std::error::Error for ServeError {}

/// Serves the gateway on `listener` until `shutdown` completes.
///
/// Shutdown: health turns NOT_SERVING, new calls are refused, open streams end
/// UNAVAILABLE with their attempt id, and `serve` returns within
/// `config.shutdown_grace` even if callers hold connections open.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let seam = SeamClient::new(SeamClientOptions {
        endpoint: config.seam_endpoint.clone(),
        request_timeout: config.upstream_timeout,
    })
    .map_err(ServeError::SeamClient)?;
    let (stopping_tx, stopping) = signal::channel(false);
    let schedule = PollSchedule {
        initial: config.poll_initial,
        multiplier: config.poll_multiplier,
        max: config.poll_max,
    };
    let gateway = Arc::new(Gateway {
        attempts: AttemptWatcher::new(Arc::new(seam.clone()), schedule),
        event_tails: EventTails::new(seam.clone(), config.events_poll_interval),
        events_poll_interval: config.events_poll_interval,
        events_buffer: config.events_buffer.max(1),
        seam,
        credentials: CredentialSource::new(config.seam_api_key.as_ref().map(|key| key.expose())),
        request_ids: RequestIds::new(config.request_id_retention, config.request_id_capacity),
        max_wait: config.max_wait,
        shutdown: stopping.clone(),
    });

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<LockServiceServer<LockApi>>().await;
    health_reporter.set_serving::<DeviceServiceServer<DeviceApi>>().await;
    health_reporter
        .set_serving::<ActionAttemptServiceServer<ActionAttemptApi>>()
        .await;
    health_reporter.set_serving::<EventServiceServer<EventApi>>().await;

    let reflection_v1 = reflection_builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(ServeError::Reflection)?;
    let reflection_v1alpha = reflection_builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(ServeError::Reflection)?;

    let local_addr = listener.local_addr().ok();
    // Serving from our own listener bypasses the builder's TCP_NODELAY: without
    // it every small response waits on Nagle + delayed ACK (~40 ms).
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map_ok(coalescing_io::CoalescingStream::from);

    let router = Server::builder()
        .max_concurrent_streams(Some(config.max_concurrent_streams))
        // Finds callers that vanished without closing their streams (NAT, crashed
        // hosts) so that their pollers and tails stop.
        .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
        .tcp_keepalive(Some(TCP_KEEPALIVE))
        .layer(status_details::StatusDetailsLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(LockServiceServer::new(LockApi::new(gateway.clone())).max_decoding_message_size(MAX_REQUEST_BYTES))
        .add_service(
            DeviceServiceServer::new(DeviceApi::new(gateway.clone())).max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            ActionAttemptServiceServer::new(ActionAttemptApi::new(gateway.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(EventServiceServer::new(EventApi::new(gateway)).max_decoding_message_size(MAX_REQUEST_BYTES));

    if let Some(address) = local_addr {
        tracing::info!(%address, seam_endpoint = %config.seam_endpoint, pass_through = config.seam_api_key.is_none(), "ready to serve gRPC");
    }
    let begin_shutdown = async move {
        shutdown.await;
        tracing::info!(grace = ?config.shutdown_grace, "shutting down: refusing new calls, ending open streams");
        health_reporter.set_not_serving::<LockServiceServer<LockApi>>().await;
        health_reporter
            .set_not_serving::<DeviceServiceServer<DeviceApi>>()
            .await;
        health_reporter
            .set_not_serving::<ActionAttemptServiceServer<ActionAttemptApi>>()
            .await;
        health_reporter.set_not_serving::<EventServiceServer<EventApi>>().await;
        let _ = stopping_tx.send(true);
    };
    let server = router.serve_with_incoming_shutdown(incoming, begin_shutdown);
    tokio::pin!(server);
    let mut stopping = stopping;
    tokio::select! {
        result = &mut server => return result.map_err(ServeError::Transport),
        _ = stopping.wait_for(|stopping| *stopping) => {}
    }
    // tonic alone would wait forever for connections that stay open.
    match tokio::time::timeout(config.shutdown_grace, server).await {
        Ok(result) => result.map_err(ServeError::Transport),
        Err(_) => {
            tracing::warn!("connections still open after the shutdown grace period; closing them");
            Ok(())
        }
    }
}

/// Reflection over everything served, for both reflection versions; each
/// version also lists the other, so `grpcurl list` shows both.
fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(pb::ERROR_DETAILS_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}
