//! The `seam-grpc-gateway` binary: read the configuration, set up logging,
//! bind, serve until SIGINT or SIGTERM.

use std::process::ExitCode;

/// Every call allocates many small, short-lived objects (JSON, protobuf,
/// HTTP frames); glibc's malloc took 14 % of the gateway's CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use seam_grpc_gateway::config::{Config, GatewayCommand, LogFormat, PolicyCommand, WebhooksCommand};
use seam_grpc_gateway::observe::{log_writer, span_export};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let matches = Config::command().get_matches();
    let mut config = match Config::from_arg_matches(&matches) {
        Ok(config) => config,
        Err(e) => e.exit(),
    };
    if let Some(GatewayCommand::Policy(PolicyCommand::Validate { path })) = &config.command {
        return validate_policy(path);
    }
    init_logging(config.log_format);
    if let Some(GatewayCommand::Webhooks(WebhooksCommand::Register { url, event_types })) = config.command.clone() {
        return register_webhook(config, &url, &event_types);
    }
    if let Err(e) = config.resolve_secret_files().and_then(|()| config.check_exposure()) {
        tracing::error!(error = %e, "cannot start");
        return ExitCode::FAILURE;
    }
    if config.jwt_jwks.is_some() && config.tls_cert.is_none() && !config.listen.ip().is_loopback() {
        tracing::warn!(listen = %config.listen, "JWTs travel in clear text without --tls-cert: anyone on the path can replay them");
    }
    if config.allow_unauthenticated_callers
        && !config.pass_through()
        && !config.listen.ip().is_loopback()
        && !config.identity_method_configured()
    {
        tracing::warn!(listen = %config.listen, "serving other hosts with a Seam key and no caller authentication (--allow-unauthenticated-callers)");
    }
    if matches.value_source("seam_api_key") == Some(ValueSource::CommandLine) && !config.pass_through() {
        tracing::warn!(
            "the Seam API key was given on the command line, where every local user can read it (ps, /proc); use SEAM_API_KEY or --seam-api-key-file"
        );
    }
    raise_open_files_limit();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime
        .enable_all()
        .on_thread_park(log_writer::worker_parking)
        .on_thread_stop(log_writer::flush_this_thread);
    if let Some(threads) = config.worker_threads {
        runtime.worker_threads(threads.max(1));
    }
    match runtime.build() {
        Ok(runtime) => runtime.block_on(run(config)),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> ExitCode {
    match span_export::start_from_environment() {
        Ok(Some(endpoint)) => tracing::info!(%endpoint, "exporting spans with OTLP over gRPC"),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    }
    let listener = match TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(address = %config.listen, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let (reload, reloads) = tokio::sync::watch::channel(0_u64);
    tokio::spawn(forward_hangups(reload));
    let served = seam_grpc_gateway::serve_with_reloads(config, listener, shutdown_signal(), reloads).await;
    span_export::flush().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "gateway stopped");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for people: escape codes cost time and clutter log files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_writer(log_writer::BatchedStdout)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Every caller connection and every Seam connection is a file descriptor;
/// the usual soft limit of 1024 is far below what one gateway serves, and
/// hitting it stalls every new caller. The hard limit is what the operator
/// (or systemd's LimitNOFILE) allows. The ready line states the figure.
fn raise_open_files_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(error = %e, "cannot raise the open-files limit");
    }
}

/// `seam-grpc-gateway webhooks register --url URL`: the secret on standard
/// output, errors in the log, non-zero exit on failure.
fn register_webhook(mut config: Config, url: &str, event_types: &[String]) -> ExitCode {
    let registered = config.resolve_secret_files().and_then(|()| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        runtime.block_on(seam_grpc_gateway::webhooks::registration::register(
            &config,
            url,
            event_types,
        ))
    });
    match registered {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot register the webhook");
            ExitCode::FAILURE
        }
    }
}

/// `seam-grpc-gateway policy validate PATH`: the errors on standard error,
/// one per line, and a non-zero exit when there are any.
fn validate_policy(path: &std::path::Path) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    match seam_grpc_gateway::policy::check(&path.display().to_string(), &text) {
        Ok(policies) => {
            println!("{}: {} policies, valid", path.display(), policies.policies().count());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// SIGHUP asks the gateway to re-read its files (TLS certificate and key,
/// policies) and to reopen its audit log.
async fn forward_hangups(reload: tokio::sync::watch::Sender<u64>) {
    #[cfg(unix)]
    if let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: re-reading files");
            reload.send_modify(|count| *count += 1);
        }
    }
    #[cfg(not(unix))]
    let _ = reload;
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested");
}
