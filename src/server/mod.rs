//! The gRPC server: the listener and its limits, the services with health
//! and reflection, and shutdown. Everything about transport policy is here.

mod accept;
pub mod admin;
pub mod coalescing_io;
mod connection;
mod layers;
mod open_calls;
mod preface;
pub mod status_details;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tonic::server::NamedService;
use tonic::service::Routes;

use crate::api::{ActionAttemptApi, DeviceApi, EventApi, LockApi, SharedGateway};
use crate::identity::caller_layer::IdentityMethods;
use crate::identity::seam_credential::CredentialSource;
use crate::pb::action_attempt_service_server::ActionAttemptServiceServer;
use crate::pb::device_service_server::DeviceServiceServer;
use crate::pb::event_service_server::EventServiceServer;
use crate::pb::lock_service_server::LockServiceServer;
use crate::{Config, ServeError, pb};

pub use connection::ConnectionLimits;

/// The largest request message accepted. Requests are ids and filters: a few
/// hundred bytes; anything near this is a mistake or abuse.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the grace period, calls still open are ended UNAVAILABLE; this is
/// how long their answers get to reach the callers before the process goes.
const FINAL_FLUSH: Duration = Duration::from_secs(1);

/// The switches shutdown flips, in order.
pub struct ShutdownSignals {
    /// Turns true when shutdown begins: no new connection or call, streams end.
    pub stopping: watch::Sender<bool>,
    /// Turns true when the grace period is over: calls still open end UNAVAILABLE.
    pub aborting: watch::Sender<bool>,
}

/// How calls are authenticated: the transport, the callers, their Seam
/// credentials.
pub struct Authentication {
    /// TLS for callers' connections; plaintext when `None`.
    pub tls: Option<Arc<tls::ServerTls>>,
    pub callers: IdentityMethods,
    pub seam_credentials: CredentialSource,
}

/// Serves `gateway` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    config: &Config,
    gateway: SharedGateway,
    authentication: Authentication,
    signals: ShutdownSignals,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let (reflection_v1, reflection_v1alpha) = reflection()?;
    let mut api_services: Vec<&'static str> = Vec::new();
    let mut routes = Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    // The gateway's services, listed once: routed, and reported to health.
    macro_rules! serve_api {
        ($($server:ident($api:ident)),* $(,)?) => {$(
            api_services.push(<$server<$api> as NamedService>::NAME);
            routes = routes.add_service(
                $server::new($api::new(gateway.clone())).max_decoding_message_size(MAX_REQUEST_BYTES),
            );
        )*};
    }
    serve_api!(
        LockServiceServer(LockApi),
        DeviceServiceServer(DeviceApi),
        ActionAttemptServiceServer(ActionAttemptApi),
        EventServiceServer(EventApi),
    );
    let Authentication {
        tls,
        callers,
        seam_credentials,
    } = authentication;
    let service = layers::stack(routes.prepare(), callers, seam_credentials);
    set_serving(&health_reporter, &api_services, true).await;

    let limits = ConnectionLimits {
        handshake_timeout: config.handshake_timeout,
        idle_timeout: config.idle_timeout,
        max_age: config.max_connection_age,
        max_age_grace: config.max_connection_age_grace,
        max_concurrent_streams: config.max_concurrent_streams,
        keepalive_interval: HTTP2_KEEPALIVE_INTERVAL,
        keepalive_timeout: HTTP2_KEEPALIVE_TIMEOUT,
    };
    let max_connections = config.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max_connections));
    if let Ok(address) = listener.local_addr() {
        let open_files_limit = rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft);
        let transport = match (&tls, config.tls_client_ca.is_some()) {
            (None, _) => "plaintext",
            (Some(_), false) => "tls",
            (Some(_), true) => "mtls",
        };
        let identity = match (config.tls_client_ca.is_some(), config.jwt_jwks.is_some()) {
            (false, false) => "none",
            (true, false) => "mtls",
            (false, true) => "jwt",
            (true, true) => "mtls+jwt",
        };
        tracing::info!(%address, transport, identity, seam_endpoint = %config.seam_endpoint, pass_through = config.pass_through(), max_connections, open_files_limit, "ready to serve gRPC");
    }
    let accepting = tokio::spawn(accept::accept_loop(
        listener,
        slots.clone(),
        signals.stopping.subscribe(),
        {
            let stopping = signals.stopping.subscribe();
            move |stream, permit| {
                tokio::spawn(connection::serve(
                    stream,
                    service.clone(),
                    tls.clone(),
                    limits,
                    stopping.clone(),
                    permit,
                ));
            }
        },
    ));

    shutdown.await;
    tracing::info!(grace = ?config.shutdown_grace, "shutting down: refusing new calls, ending open streams");
    set_serving(&health_reporter, &api_services, false).await;
    let _ = signals.stopping.send(true);
    let _ = accepting.await;
    let all_closed = slots.acquire_many_owned(u32::try_from(max_connections).unwrap_or(u32::MAX));
    tokio::pin!(all_closed);
    if tokio::time::timeout(config.shutdown_grace, &mut all_closed)
        .await
        .is_ok()
    {
        return Ok(());
    }
    tracing::warn!("calls still open after the shutdown grace period; ending them UNAVAILABLE");
    let _ = signals.aborting.send(true);
    if tokio::time::timeout(FINAL_FLUSH, all_closed).await.is_err() {
        tracing::warn!("connections still open after ending their calls; closing them");
    }
    Ok(())
}

async fn set_serving(reporter: &tonic_health::server::HealthReporter, services: &[&'static str], serving: bool) {
    let status = if serving {
        tonic_health::ServingStatus::Serving
    } else {
        tonic_health::ServingStatus::NotServing
    };
    for service in services {
        reporter.set_service_status(*service, status).await;
    }
}

/// Reflection over everything served, for both reflection versions; each
/// version also lists the other, so `grpcurl list` shows both.
#[allow(clippy::type_complexity)]
fn reflection() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ServeError,
> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(pb::ERROR_DETAILS_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let v1 = builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(ServeError::Reflection)?;
    let v1alpha = builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(ServeError::Reflection)?;
    Ok((v1, v1alpha))
}
