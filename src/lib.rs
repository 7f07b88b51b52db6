//! seam-grpc-gateway: Seam's smart-lock HTTP API behind a typed gRPC interface.
//!
//! [`serve`] builds the shared state and hands it to the server (`server/`),
//! which owns transport policy. The generated client and message types are in
//! [`pb`], so other Rust services can call the gateway with
//! `pb::lock_service_client::LockServiceClient`.
//!
//! The source is laid out by concern: `server/` (listener, limits, layer
//! stack), `api/` (one file per gRPC service), `seam/` (Seam's HTTP API),
//! `attempts/` (pollers, request ids), `events/` (the shared tail and the event
//! order), `polling/` (what pollers and tails share), `identity/` (who is calling,
//! and whose Seam credential a call uses), `wire/` (protobuf encoding),
//! `observe/` (logs, metrics, traces).

mod api;
mod attempts;
mod audit;
pub mod config;
mod events;
pub mod identity;
pub mod observe;
pub mod policy;
mod polling;
mod reload_schedule;
mod reloadable;
pub mod seam;
mod server;
pub mod webhooks;
mod wire;

pub use wire::{codec, encoded_struct, pb};

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use api::error::ERROR_DOMAIN;
pub use config::Config;
pub use identity::caller::{AuthMethod, Caller};
use secrecy::ExposeSecret;
pub use server::MAX_REQUEST_BYTES;

use crate::api::{Gateway, RequestLimits};
use crate::attempts::pollers::{AttemptWatcher, PollSchedule};
use crate::attempts::request_ids::RequestIds;
use crate::events::tail::EventTails;
use crate::identity::caller_layer::IdentityMethods;
use crate::identity::jwks::JwksLocation;
use crate::identity::jwt::{JwtSettings, JwtVerifier};
use crate::identity::seam_credential::CredentialSource;
use crate::polling::budget::PollBudgets;
use crate::seam::{SeamClient, SeamClientOptions};
use crate::server::tls::{ServerTls, TlsFiles};

/// Why the gateway could not start or stopped with an error.
#[derive(Debug)]
pub enum ServeError {
    /// The HTTP client for Seam could not be built (endpoint, TLS roots …).
    SeamClient(String),
    /// The admin listener could not bind its address.
    Admin(std::net::SocketAddr, std::io::Error),
    /// The reflection service could not read the descriptor set.
    Reflection(tonic_reflection::server::Error),
    /// The TLS files or the JWKS could not be loaded.
    Identity(String),
    /// The policy file could not be read, parsed or validated.
    Policy(String),
    /// The audit log could not be opened.
    Audit(String),
    /// The webhook listener could not start (no or bad secret, address in use).
    Webhooks(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::SeamClient(e) => write!(f, "cannot build the Seam HTTP client: {e}"),
            ServeError::Admin(address, e) => write!(f, "cannot listen on the admin address {address}: {e}"),
            ServeError::Reflection(e) => write!(f, "cannot build gRPC reflection: {e}"),
            ServeError::Identity(e) => f.write_str(e),
            ServeError::Policy(e) => write!(f, "invalid policy file:\n{e}"),
            ServeError::Audit(e) => f.write_str(e),
            ServeError::Webhooks(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ServeError {}

/// Serves the gateway on `listener` until `shutdown` completes.
///
/// Shutdown: health turns NOT_SERVING, new connections and calls are refused,
/// open streams end UNAVAILABLE with their attempt id, unary calls get the
/// grace period to finish (then end UNAVAILABLE), and `serve` returns within
/// `config.shutdown_grace` plus a second even if callers hold connections open.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (_no_reloads, reloads) = watch::channel(0);
    serve_with_reloads(config, listener, shutdown, reloads).await
}

/// [`serve`], re-reading the files it was given (TLS certificate and key,
/// policies) whenever `reloads` changes: the binary bumps it on SIGHUP.
pub async fn serve_with_reloads(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    reloads: watch::Receiver<u64>,
) -> Result<(), ServeError> {
    let seam = SeamClient::new(SeamClientOptions {
        endpoint: config.seam_endpoint.clone(),
        request_timeout: config.upstream_timeout,
        max_body_bytes: config.max_upstream_body_bytes,
        max_retry_after: config.max_retry_after,
    })
    .map_err(ServeError::SeamClient)?;
    let (stopping, stopping_rx) = watch::channel(false);
    let (aborting, aborting_rx) = watch::channel(false);
    let audit = match &config.audit_log {
        Some(target) => {
            let trail =
                audit::trail::AuditTrail::open(audit::trail::AuditTarget::parse(target)).map_err(ServeError::Audit)?;
            tokio::spawn(trail.clone().reopen_on_hangup(reloads.clone(), stopping_rx.clone()));
            Some(trail)
        }
        None => None,
    };
    let command_rate = config.command_rate_limit.map(|rate| {
        let limiter = Arc::new(api::CommandRateLimiter::new(rate));
        tokio::spawn(forget_idle_callers(limiter.clone(), stopping_rx.clone()));
        limiter
    });
    let policy = match &config.policy {
        Some(path) => {
            let engine = Arc::new(policy::policy_set::PolicyEngine::load(path).map_err(ServeError::Policy)?);
            tracing::info!(policy = %path.display(), policies = engine.policy_count(), "policies loaded");
            tokio::spawn(
                engine
                    .clone()
                    .watch(config.policy_reload_interval, reloads.clone(), stopping_rx.clone()),
            );
            Some(engine)
        }
        None => {
            if config.identity_method_configured() {
                tracing::warn!("no --policy: every caller with a valid identity may call everything");
            }
            None
        }
    };
    let schedule = PollSchedule {
        initial: config.poll_initial,
        multiplier: config.poll_multiplier,
        max: config.poll_max,
    };
    let poll_budgets = Arc::new(PollBudgets::new(config.max_polls_per_second));
    let webhook_verifier = match (&config.webhook_listen, &config.webhook_secret) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(ServeError::Webhooks(
                "--webhook-listen needs the signing secret: SEAM_WEBHOOK_SECRET or --webhook-secret-file".into(),
            ));
        }
        (Some(_), Some(secret)) => {
            Some(webhooks::signature::DeliveryVerifier::new(secret).map_err(ServeError::Webhooks)?)
        }
    };
    let delivery_health = Arc::new(if webhook_verifier.is_some() {
        webhooks::delivery_health::DeliveryHealth::new(config.webhook_live_for, config.webhook_safety_poll_interval)
    } else {
        webhooks::delivery_health::DeliveryHealth::never()
    });
    let attempt_hints = Arc::new(attempts::attempt_hints::AttemptHints::default());
    let gateway = Arc::new(Gateway {
        attempts: AttemptWatcher::new(Arc::new(seam.clone()), schedule, poll_budgets.clone())
            .with_webhooks(attempt_hints.clone(), delivery_health.clone()),
        event_tails: EventTails::new(
            seam.clone(),
            config.events_poll_interval,
            stopping_rx.clone(),
            poll_budgets,
        )
        .with_webhooks(delivery_health.clone()),
        events_poll_interval: config.events_poll_interval,
        events_buffer: config.events_buffer.max(1),
        seam,
        request_ids: RequestIds::new(
            config.request_id_retention,
            config.request_id_capacity,
            config.request_id_memory_bytes,
        ),
        limits: RequestLimits {
            max_id_bytes: config.max_id_bytes.max(1),
            max_page_token_bytes: config.max_page_token_bytes.max(1),
            max_filter_values: config.max_filter_values,
        },
        max_wait: config.max_wait,
        policy,
        audit,
        command_rate,
        // As many as request_ids are remembered: attempts are read while they run.
        attempt_devices: attempts::attempt_devices::AttemptDevices::new(config.request_id_capacity),
        shutdown: stopping_rx.clone(),
        calls_aborted: aborting_rx,
    });
    if let (Some(address), Some(verifier)) = (config.webhook_listen, webhook_verifier) {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| ServeError::Webhooks(format!("cannot listen on the webhook address {address}: {e}")))?;
        let credential = config
            .seam_api_key
            .as_ref()
            .map(|key| seam::Credential::new(key.expose_secret(), None));
        if credential.is_none() {
            tracing::warn!(
                "webhooks without SEAM_API_KEY: deliveries wake attempt pollers, but events reach no WatchEvents caller (pass-through credentials keep polling)"
            );
        }
        let intake = Arc::new(webhooks::intake::WebhookIntake::new(
            verifier,
            webhooks::intake::IntakeLimits {
                max_body_bytes: config.webhook_max_body_bytes.max(1),
                read_timeout: config.webhook_read_timeout,
                max_connections: config.webhook_max_connections,
                replay_memory: config.webhook_replay_memory,
            },
            delivery_health.clone(),
            webhooks::dispatch::Dispatch {
                gateway: gateway.clone(),
                hints: attempt_hints,
                credential,
            },
        ));
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, path = webhooks::intake::PATH, "webhook listener ready");
        }
        tokio::spawn(intake.serve(listener, stopping_rx.clone()));
        let stopping = stopping_rx.clone();
        tokio::spawn(async move { delivery_health.report_changes(stopping).await });
    }
    if let Some(address) = config.admin_listen {
        let admin = TcpListener::bind(address)
            .await
            .map_err(|e| ServeError::Admin(address, e))?;
        // Record metrics from the first call on: the recorder is in place
        // before the gateway says the admin listener is ready, and before
        // it serves gRPC.
        observe::metrics::install();
        tokio::spawn(observe::metrics::keep_up(stopping_rx.clone()));
        if let Ok(address) = admin.local_addr() {
            tracing::info!(%address, "admin listener ready (/metrics, /healthz, /readyz)");
        }
        tokio::spawn(server::admin::serve(admin, stopping_rx.clone()));
    }
    let authentication = authentication(&config, reloads, &stopping_rx).await?;
    let signals = server::ShutdownSignals { stopping, aborting };
    server::serve(&config, gateway, authentication, signals, listener, shutdown).await
}

/// Keeps the command limiter's table to the callers seen lately.
async fn forget_idle_callers(limiter: Arc<api::CommandRateLimiter>, mut stopping: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(60)) => limiter.forget_idle_callers(),
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
    }
}

/// Loads what authenticates calls (TLS files, JWKS) and starts what keeps
/// it current.
async fn authentication(
    config: &Config,
    reloads: watch::Receiver<u64>,
    stopping: &watch::Receiver<bool>,
) -> Result<server::Authentication, ServeError> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(certificate), Some(key)) => {
            let tls = Arc::new(
                ServerTls::load(TlsFiles {
                    certificate: certificate.clone(),
                    key: key.clone(),
                    client_ca: config.tls_client_ca.clone(),
                })
                .map_err(ServeError::Identity)?,
            );
            tokio::spawn(tls.clone().watch(config.tls_reload_interval, reloads, stopping.clone()));
            Some(tls)
        }
        _ => None,
    };
    let jwt = match &config.jwt_jwks {
        Some(jwks) => {
            let verifier = JwtVerifier::start(JwtSettings {
                jwks: JwksLocation::parse(jwks),
                issuer: config.jwt_issuer.clone().unwrap_or_default(),
                audience: config.jwt_audience.clone().unwrap_or_default(),
                clock_skew: config.jwt_clock_skew,
                min_refetch_interval: config.jwt_jwks_min_refetch_interval,
                refresh_interval: config.jwt_jwks_refresh_interval,
                cache_entries: config.jwt_cache_entries,
            })
            .await
            .map_err(ServeError::Identity)?;
            tokio::spawn(verifier.clone().refresh_periodically(stopping.clone()));
            Some(verifier)
        }
        None => None,
    };
    let seam_credentials = CredentialSource::new(
        config.seam_api_key.as_ref().map(|key| key.expose_secret()),
        jwt.is_some(),
    );
    Ok(server::Authentication {
        tls,
        callers: IdentityMethods {
            mutual_tls: config.tls_client_ca.is_some(),
            jwt,
        },
        seam_credentials,
    })
}
