//! The gateway's settings: command-line flags, each with an environment
//! fallback, validated before anything starts.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
pub use secrecy::ExposeSecret;

pub use crate::api::{CommandRate, parse_command_rate};

/// A typed gRPC gateway in front of Seam's smart-lock HTTP API.
///
/// Every flag can also be set through the environment variable named in its
/// help. Durations take a unit: `250ms`, `10s`, `5m`.
#[derive(Parser, Clone)]
#[command(name = "seam-grpc-gateway", version, about, long_about = None)]
pub struct Config {
    /// Address to serve gRPC on. The default is loopback only. Beyond loopback
    /// (e.g. 0.0.0.0:50051) a gateway holding a Seam key needs a way to know its
    /// callers, --tls-client-ca (mutual TLS) or --jwt-jwks (JWT), or it refuses
    /// to start; --allow-unauthenticated-callers overrides that.
    #[arg(long, env = "SEAM_GATEWAY_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Serve other hosts without authenticating callers, although the gateway
    /// holds a Seam key: every process that reaches --listen can then lock and
    /// unlock every door the key opens. Only behind a network policy that lets
    /// nothing else in.
    #[arg(long, env = "SEAM_GATEWAY_ALLOW_UNAUTHENTICATED_CALLERS")]
    pub allow_unauthenticated_callers: bool,

    /// Serve gRPC over TLS with this certificate chain (PEM, leaf first).
    /// With --tls-key. Re-read when the files change and on SIGHUP: new
    /// connections get the new certificate; a broken new pair is refused
    /// (logged) and the old one stays.
    #[arg(long, env = "SEAM_GATEWAY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SEAM_GATEWAY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Mutual TLS: callers must present a certificate signed by one of these
    /// CAs (PEM bundle). Needs --tls-cert. The caller's identity is the
    /// certificate's first URI SAN (SPIFFE ID), else its first DNS SAN, else
    /// its subject CN. An untrusted certificate is refused at the handshake; a
    /// connection without a certificate may use health and reflection only.
    #[arg(long, env = "SEAM_GATEWAY_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// How often the TLS files are checked for changes (cert-manager and
    /// similar rewrite them in place). SIGHUP checks at once.
    #[arg(long, env = "SEAM_GATEWAY_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub tls_reload_interval: Duration,

    /// Accept callers that send `authorization: Bearer <JWT>`, verified
    /// against this JWKS: a file, or an http(s) URL (fetched at start, again
    /// when a token names an unknown key id, and every
    /// --jwt-jwks-refresh-interval). RS256, ES256, EdDSA. The caller is the
    /// token's `sub`. Needs --jwt-issuer and --jwt-audience. In pass-through
    /// mode the caller's Seam credential then moves to `seam-authorization`.
    #[arg(long, env = "SEAM_GATEWAY_JWT_JWKS", requires_all = ["jwt_issuer", "jwt_audience"])]
    pub jwt_jwks: Option<String>,

    /// The `iss` every JWT must carry.
    #[arg(long, env = "SEAM_GATEWAY_JWT_ISSUER", requires = "jwt_jwks")]
    pub jwt_issuer: Option<String>,

    /// The `aud` every JWT must carry (one of its audiences).
    #[arg(long, env = "SEAM_GATEWAY_JWT_AUDIENCE", requires = "jwt_jwks")]
    pub jwt_audience: Option<String>,

    /// Clock skew allowed when checking a JWT's `exp` and `nbf`.
    #[arg(long, env = "SEAM_GATEWAY_JWT_CLOCK_SKEW", default_value = "30s", value_parser = parse_duration)]
    pub jwt_clock_skew: Duration,

    /// The least time between two fetches of the JWKS caused by tokens with
    /// unknown key ids, so that made-up key ids cannot hammer the issuer.
    #[arg(long, env = "SEAM_GATEWAY_JWT_JWKS_MIN_REFETCH_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub jwt_jwks_min_refetch_interval: Duration,

    /// How often the JWKS is fetched again regardless, so that a key the
    /// issuer withdrew stops being accepted.
    #[arg(long, env = "SEAM_GATEWAY_JWT_JWKS_REFRESH_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub jwt_jwks_refresh_interval: Duration,

    /// How many verified JWTs are remembered (until each expires), so that a
    /// caller sending the same token on every call pays a lookup, not a
    /// signature check.
    #[arg(long, env = "SEAM_GATEWAY_JWT_CACHE_ENTRIES", default_value_t = 10_000)]
    pub jwt_cache_entries: usize,

    /// Cedar policies deciding who may do what to which device (docs/policy.md),
    /// validated against policy/seam.cedarschema. Re-read on SIGHUP and when the
    /// file changes; a new file that does not parse or validate is refused
    /// (logged with its line) and the policies in force stay. Without it,
    /// every caller with a valid identity may call everything.
    #[arg(long, env = "SEAM_GATEWAY_POLICY")]
    pub policy: Option<PathBuf>,

    /// Audit trail: one JSON object per line, appended (`-` = standard
    /// output). Every command decision is written and flushed to disk before
    /// the command is sent; if it cannot be, the call ends UNAVAILABLE
    /// (AUDIT_UNAVAILABLE) and nothing is sent. SIGHUP reopens the file.
    #[arg(long, env = "SEAM_GATEWAY_AUDIT_LOG")]
    pub audit_log: Option<String>,

    /// Per caller: at most this many LockDoor/UnlockDoor commands, as N/UNIT
    /// (`10/s`, `30/m`, `100/h`), with bursts up to N. Over it a command ends
    /// RESOURCE_EXHAUSTED with RetryInfo, is audited as denied, and is not
    /// sent. Unlimited when unset.
    #[arg(long, env = "SEAM_GATEWAY_COMMAND_RATE_LIMIT", value_parser = crate::api::parse_command_rate)]
    pub command_rate_limit: Option<crate::api::CommandRate>,

    /// How often the policy file is checked for changes (SIGHUP checks at once).
    #[arg(long, env = "SEAM_GATEWAY_POLICY_RELOAD_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub policy_reload_interval: Duration,

    /// Address of the admin listener for operators (`/metrics`, `/healthz`,
    /// `/readyz`); off when unset. Never the gRPC address.
    #[arg(long, env = "SEAM_GATEWAY_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// Address of the webhook listener: `POST /webhooks/seam`, where Seam
    /// pushes events (docs/webhooks.md); off when unset. It faces Seam, so it
    /// is never the gRPC or admin address. Needs SEAM_WEBHOOK_SECRET or
    /// --webhook-secret-file.
    #[arg(long, env = "SEAM_GATEWAY_WEBHOOK_LISTEN")]
    pub webhook_listen: Option<SocketAddr>,

    /// The webhook's signing secret as Seam shows it (`whsec_…`). Never logged.
    #[arg(long = "webhook-secret", env = "SEAM_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<Secret>,

    /// File holding the webhook's signing secret (surrounding whitespace is
    /// ignored), for secrets mounted as files. Not together with SEAM_WEBHOOK_SECRET.
    #[arg(long, env = "SEAM_GATEWAY_WEBHOOK_SECRET_FILE", conflicts_with = "webhook_secret")]
    pub webhook_secret_file: Option<PathBuf>,

    /// The largest webhook delivery read; a larger one is refused (413).
    #[arg(long, env = "SEAM_GATEWAY_WEBHOOK_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub webhook_max_body_bytes: usize,

    /// The most a webhook delivery's headers, then its body, may take to arrive.
    #[arg(long, env = "SEAM_GATEWAY_WEBHOOK_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub webhook_read_timeout: Duration,

    /// Connections the webhook listener serves at once; more wait to be accepted.
    #[arg(long, env = "SEAM_GATEWAY_WEBHOOK_MAX_CONNECTIONS", default_value_t = 64)]
    pub webhook_max_connections: usize,

    /// Webhook ids remembered, so that a delivery Seam repeats is acknowledged
    /// and ignored (the oldest is forgotten first).
    #[arg(long, env = "SEAM_GATEWAY_WEBHOOK_REPLAY_MEMORY", default_value_t = 100_000)]
    pub webhook_replay_memory: usize,

    /// While webhook deliveries arrive, attempt pollers and event tails check
    /// Seam at most this often (the safety net for a lost delivery).
    #[arg(long, env = "SEAM_GATEWAY_WEBHOOK_SAFETY_POLL_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub webhook_safety_poll_interval: Duration,

    /// Deliveries count as arriving until none came for this long; polling
    /// then returns to its normal schedule.
    #[arg(long, env = "SEAM_GATEWAY_WEBHOOK_LIVE_FOR", default_value = "10m", value_parser = parse_duration)]
    pub webhook_live_for: Duration,

    /// Base URL of Seam's API (or of Seam's fake).
    #[arg(long, env = "SEAM_ENDPOINT", default_value = "https://connect.getseam.com", value_parser = parse_endpoint)]
    pub seam_endpoint: String,

    /// Seam API key used for every call. When unset (or empty), each call must
    /// carry its own Seam credential as `authorization: Bearer <token>` metadata
    /// (plus `seam-workspace` for personal access tokens). Never logged. Prefer
    /// the environment or --seam-api-key-file: a key on the command line is
    /// readable by every local user (`ps`), and the gateway warns about it.
    #[arg(long, env = "SEAM_API_KEY", hide_env_values = true)]
    pub seam_api_key: Option<Secret>,

    /// File holding the Seam API key (surrounding whitespace is ignored), for
    /// secrets mounted as files. Not together with --seam-api-key/SEAM_API_KEY.
    #[arg(long, env = "SEAM_GATEWAY_SEAM_API_KEY_FILE", conflicts_with = "seam_api_key")]
    pub seam_api_key_file: Option<PathBuf>,

    /// The most one HTTP request to Seam may take before the call fails UNAVAILABLE.
    #[arg(long, env = "SEAM_GATEWAY_UPSTREAM_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// The largest answer read from Seam, in bytes. A Seam object is a few KB
    /// and a list page a few hundred; a larger answer fails UNAVAILABLE
    /// (SEAM_RESPONSE_TOO_LARGE) instead of filling memory.
    #[arg(long, env = "SEAM_GATEWAY_MAX_UPSTREAM_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_upstream_body_bytes: usize,

    /// The longest Seam's `Retry-After` is honoured: pollers and event tails
    /// wait at most this long, and RetryInfo never says more.
    #[arg(long, env = "SEAM_GATEWAY_MAX_RETRY_AFTER", default_value = "30s", value_parser = parse_duration)]
    pub max_retry_after: Duration,

    /// The longest id a caller may send (`device_id`, `request_id`,
    /// `action_attempt_id`, `event_id`, each filter value), in bytes. Seam's
    /// ids are 36-character UUIDs.
    #[arg(long, env = "SEAM_GATEWAY_MAX_ID_BYTES", default_value_t = 256)]
    pub max_id_bytes: usize,

    /// The longest `page_token` a caller may send, in bytes.
    #[arg(long, env = "SEAM_GATEWAY_MAX_PAGE_TOKEN_BYTES", default_value_t = 2048)]
    pub max_page_token_bytes: usize,

    /// The most values one list filter may hold (`device_ids`, `event_types` …).
    #[arg(long, env = "SEAM_GATEWAY_MAX_FILTER_VALUES", default_value_t = 100)]
    pub max_filter_values: usize,

    /// Background polls per second that one Seam credential may spend on
    /// attempt pollers and event tails together. Commands and unary reads
    /// never wait for this budget. When more attempts wait than the budget
    /// covers, an attempt's first checks go first, then the one checked least
    /// recently.
    #[arg(long, env = "SEAM_GATEWAY_MAX_POLLS_PER_SECOND", default_value_t = 20.0, value_parser = parse_rate)]
    pub max_polls_per_second: f64,

    /// Delay between Seam accepting a lock command and the first status check.
    #[arg(long, env = "SEAM_GATEWAY_POLL_INITIAL", default_value = "25ms", value_parser = parse_duration)]
    pub poll_initial: Duration,

    /// Factor by which the delay between status checks grows (at least 1). The
    /// default checks at 25 ms, 525 ms, then every 500 ms: quick for providers
    /// that confirm at once, and never more than half a second late after
    /// that, as Seam's Python SDK. --max-polls-per-second bounds the total.
    #[arg(long, env = "SEAM_GATEWAY_POLL_MULTIPLIER", default_value_t = 20.0, value_parser = parse_multiplier)]
    pub poll_multiplier: f64,

    /// The longest delay between two status checks of a pending action attempt.
    #[arg(long, env = "SEAM_GATEWAY_POLL_MAX", default_value = "500ms", value_parser = parse_duration)]
    pub poll_max: Duration,

    /// The longest a LockDoor/UnlockDoor/WatchActionAttempt stream waits for an
    /// attempt to complete, whatever the caller's deadline.
    #[arg(long, env = "SEAM_GATEWAY_MAX_WAIT", default_value = "60s", value_parser = parse_duration)]
    pub max_wait: Duration,

    /// How long a LockDoor/UnlockDoor `request_id` is remembered, so that a
    /// repeated call re-attaches instead of sending a second command.
    #[arg(long, env = "SEAM_GATEWAY_REQUEST_ID_RETENTION", default_value = "10m", value_parser = parse_duration)]
    pub request_id_retention: Duration,

    /// The most `request_id`s remembered at once (the oldest are forgotten first).
    #[arg(long, env = "SEAM_GATEWAY_REQUEST_ID_CAPACITY", default_value_t = 100_000)]
    pub request_id_capacity: usize,

    /// The most memory the remembered `request_id`s may take, in bytes (the
    /// oldest are forgotten first). Only commands Seam accepted are remembered.
    #[arg(long, env = "SEAM_GATEWAY_REQUEST_ID_MEMORY_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub request_id_memory_bytes: usize,

    /// How often the shared event tail of each credential polls Seam for
    /// WatchEvents, however many callers watch.
    #[arg(long, env = "SEAM_GATEWAY_EVENTS_POLL_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub events_poll_interval: Duration,

    /// Events buffered for each WatchEvents caller; a caller that falls this far
    /// behind has its stream ended (RESOURCE_EXHAUSTED, with its resume point).
    #[arg(long, env = "SEAM_GATEWAY_EVENTS_BUFFER", default_value_t = 256)]
    pub events_buffer: usize,

    /// The most concurrent gRPC streams (calls) one HTTP/2 connection may carry.
    #[arg(long, env = "SEAM_GATEWAY_MAX_CONCURRENT_STREAMS", default_value_t = 10_000)]
    pub max_concurrent_streams: u32,

    /// The most caller connections open at once; beyond it a new connection
    /// is closed at once (and logged, at most once a second).
    #[arg(long, env = "SEAM_GATEWAY_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// A connection that has not finished its TLS handshake (with --tls-cert)
    /// and sent the HTTP/2 preface this long after it
    /// was accepted is closed.
    #[arg(long, env = "SEAM_GATEWAY_HANDSHAKE_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// A connection with no open call for this long is closed (gracefully,
    /// with GOAWAY).
    #[arg(long, env = "SEAM_GATEWAY_IDLE_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Connections are asked to go away (GOAWAY) after about this long, with
    /// ±10 % jitter, so that load balancers can rebalance callers (gRFC A9).
    #[arg(long, env = "SEAM_GATEWAY_MAX_CONNECTION_AGE", default_value = "30m", value_parser = parse_duration)]
    pub max_connection_age: Duration,

    /// After the GOAWAY of --max-connection-age, how long open calls get to
    /// finish before the connection is closed.
    #[arg(long, env = "SEAM_GATEWAY_MAX_CONNECTION_AGE_GRACE", default_value = "90s", value_parser = parse_duration)]
    pub max_connection_age_grace: Duration,

    /// Threads that run the gateway (tokio workers). Default: one per core.
    #[arg(long, env = "SEAM_GATEWAY_WORKER_THREADS")]
    pub worker_threads: Option<usize>,

    /// On SIGINT/SIGTERM, how long open streams get to finish before they are
    /// ended UNAVAILABLE and the process exits.
    #[arg(long, env = "SEAM_GATEWAY_SHUTDOWN_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Log format.
    #[arg(long, env = "SEAM_GATEWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<GatewayCommand>,
}

/// What the binary does instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum GatewayCommand {
    /// Authorization policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Seam's webhooks (docs/webhooks.md).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum WebhooksCommand {
    /// Asks Seam (`/webhooks/create`, with the gateway's SEAM_API_KEY) to
    /// deliver the workspace's events to URL, and prints the signing secret
    /// to give the gateway as SEAM_WEBHOOK_SECRET.
    Register {
        /// The public HTTPS address that reaches --webhook-listen's
        /// `/webhooks/seam` (through your ingress).
        #[arg(long)]
        url: String,
        /// Only these event types (comma-separated); every event when unset,
        /// which is best: the gateway uses `action_attempt.*` and `lock.*` for
        /// confirmations, and WatchEvents callers may watch any type
        /// (docs/webhooks.md, order and late deliveries).
        #[arg(long, value_delimiter = ',')]
        event_types: Vec<String>,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum PolicyCommand {
    /// Checks a policy file against the gateway's schema; exits non-zero with
    /// the errors (PATH:LINE:COLUMN: message), for the CI of teams that write
    /// policies.
    Validate {
        /// The policy file (Cedar).
        path: PathBuf,
    },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// A secret string (the Seam key): redacted in `Debug`, zeroed when dropped,
/// read only through [`ExposeSecret::expose_secret`].
pub type Secret = secrecy::SecretString;

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("allow_unauthenticated_callers", &self.allow_unauthenticated_callers)
            .field("admin_listen", &self.admin_listen)
            .field("policy", &self.policy)
            .field("audit_log", &self.audit_log)
            .field("command_rate_limit", &self.command_rate_limit)
            .field("policy_reload_interval", &self.policy_reload_interval)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_client_ca", &self.tls_client_ca)
            .field("tls_reload_interval", &self.tls_reload_interval)
            .field("jwt_jwks", &self.jwt_jwks)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_clock_skew", &self.jwt_clock_skew)
            .field("jwt_jwks_min_refetch_interval", &self.jwt_jwks_min_refetch_interval)
            .field("jwt_jwks_refresh_interval", &self.jwt_jwks_refresh_interval)
            .field("jwt_cache_entries", &self.jwt_cache_entries)
            .field("webhook_listen", &self.webhook_listen)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "[set]"))
            .field("webhook_secret_file", &self.webhook_secret_file)
            .field("webhook_max_body_bytes", &self.webhook_max_body_bytes)
            .field("webhook_read_timeout", &self.webhook_read_timeout)
            .field("webhook_max_connections", &self.webhook_max_connections)
            .field("webhook_replay_memory", &self.webhook_replay_memory)
            .field("webhook_safety_poll_interval", &self.webhook_safety_poll_interval)
            .field("webhook_live_for", &self.webhook_live_for)
            .field("seam_endpoint", &self.seam_endpoint)
            .field("seam_api_key", &self.seam_api_key.as_ref().map(|_| "[set]"))
            .field("seam_api_key_file", &self.seam_api_key_file)
            .field("upstream_timeout", &self.upstream_timeout)
            .field("max_upstream_body_bytes", &self.max_upstream_body_bytes)
            .field("max_retry_after", &self.max_retry_after)
            .field("max_id_bytes", &self.max_id_bytes)
            .field("max_page_token_bytes", &self.max_page_token_bytes)
            .field("max_filter_values", &self.max_filter_values)
            .field("max_polls_per_second", &self.max_polls_per_second)
            .field("poll_initial", &self.poll_initial)
            .field("poll_multiplier", &self.poll_multiplier)
            .field("poll_max", &self.poll_max)
            .field("max_wait", &self.max_wait)
            .field("request_id_retention", &self.request_id_retention)
            .field("request_id_capacity", &self.request_id_capacity)
            .field("request_id_memory_bytes", &self.request_id_memory_bytes)
            .field("events_poll_interval", &self.events_poll_interval)
            .field("events_buffer", &self.events_buffer)
            .field("max_concurrent_streams", &self.max_concurrent_streams)
            .field("max_connections", &self.max_connections)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connection_age", &self.max_connection_age)
            .field("max_connection_age_grace", &self.max_connection_age_grace)
            .field("worker_threads", &self.worker_threads)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("log_format", &self.log_format)
            .finish()
    }
}

impl Config {
    /// The defaults, pointed at `seam_endpoint`: handy for tests and embedding.
    pub fn for_endpoint(seam_endpoint: &str) -> Self {
        Self::parse_from(["seam-grpc-gateway", "--seam-endpoint", seam_endpoint])
    }

    /// Settles where the secrets come from. The Seam key: a key read from
    /// --seam-api-key-file replaces the flag, and an empty key is no key
    /// (pass-through mode), whichever way it came. The webhook secret: read
    /// from --webhook-secret-file when given.
    pub fn resolve_secret_files(&mut self) -> Result<(), String> {
        if let Some(path) = &self.seam_api_key_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --seam-api-key-file {}: {e}", path.display()))?;
            self.seam_api_key = Some(Secret::from(text.trim().to_owned()));
        }
        if self
            .seam_api_key
            .as_ref()
            .is_some_and(|key| key.expose_secret().trim().is_empty())
        {
            self.seam_api_key = None;
        }
        if let Some(path) = &self.webhook_secret_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --webhook-secret-file {}: {e}", path.display()))?;
            self.webhook_secret = Some(Secret::from(text.trim().to_owned()));
        }
        Ok(())
    }

    /// Secure by default: a gateway that holds a Seam key and listens beyond
    /// loopback, with no way to tell its callers apart, would open every door
    /// to whoever reaches it. It refuses, unless told to accept that.
    pub fn check_exposure(&self) -> Result<(), String> {
        if self.pass_through()
            || self.listen.ip().is_loopback()
            || self.identity_method_configured()
            || self.allow_unauthenticated_callers
        {
            return Ok(());
        }
        Err(format!(
            "refusing to listen on {} with a Seam key and no caller authentication: any host that reaches it \
             could lock and unlock every door the key opens. Authenticate callers with mutual TLS \
             (--tls-cert, --tls-key and --tls-client-ca) or with JWTs (--jwt-jwks, --jwt-issuer, \
             --jwt-audience), listen on loopback (127.0.0.1), or pass --allow-unauthenticated-callers \
             behind a network policy.",
            self.listen
        ))
    }

    /// Whether callers prove who they are (mutual TLS or JWT).
    pub fn identity_method_configured(&self) -> bool {
        self.tls_client_ca.is_some() || self.jwt_jwks.is_some()
    }

    /// Whether calls carry their own Seam credential (no gateway key).
    pub fn pass_through(&self) -> bool {
        self.seam_api_key.is_none()
    }
}

/// Parses a duration with a unit: `250ms`, `1.5s`, `5m`, `1h 30m` (humantime's
/// syntax, fractions included).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("`{text}` is not a duration like 250ms, 10s or 5m: {e}"))
}

fn parse_endpoint(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` must be an http or https URL"));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err(format!("`{text}` must be a positive number")),
    }
}

fn parse_multiplier(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(factor) if factor >= 1.0 && factor.is_finite() => Ok(factor),
        _ => Err(format!("`{text}` must be a number of at least 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn debug_output_hides_the_api_key() {
        let config = Config::parse_from(["seam-grpc-gateway", "--seam-api-key", "seam_live_secret"]);
        assert!(!format!("{config:?}").contains("seam_live_secret"));
    }

    #[test]
    fn endpoint_must_be_http() {
        assert!(parse_endpoint("ftp://x").is_err());
        assert_eq!(
            parse_endpoint("http://127.0.0.1:1/"),
            Ok("http://127.0.0.1:1".to_owned())
        );
    }

    #[test]
    fn an_empty_key_means_pass_through_whichever_way_it_came() {
        let mut config = Config::parse_from(["seam-grpc-gateway", "--seam-api-key", ""]);
        config.resolve_secret_files().unwrap();
        assert!(config.pass_through());

        let dir = std::env::temp_dir().join(format!("seam-gateway-key-{}", std::process::id()));
        std::fs::write(&dir, "  seam_key_from_file\n").unwrap();
        let mut config = Config::parse_from(["seam-grpc-gateway", "--seam-api-key-file", dir.to_str().unwrap()]);
        config.resolve_secret_files().unwrap();
        assert_eq!(
            config.seam_api_key.as_ref().map(|key| key.expose_secret()),
            Some("seam_key_from_file")
        );
        std::fs::write(&dir, "\n").unwrap();
        let mut config = Config::parse_from(["seam-grpc-gateway", "--seam-api-key-file", dir.to_str().unwrap()]);
        config.resolve_secret_files().unwrap();
        assert!(config.pass_through());
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn a_key_beyond_loopback_needs_an_explicit_yes() {
        let exposed = |args: &[&str]| {
            let mut config = Config::parse_from(args);
            config.resolve_secret_files().unwrap();
            config.check_exposure()
        };
        let error = exposed(&["gw", "--seam-api-key", "k", "--listen", "0.0.0.0:50051"]).unwrap_err();
        assert!(error.contains("--allow-unauthenticated-callers"), "{error}");
        assert!(
            error.contains("--tls-client-ca") && error.contains("--jwt-jwks"),
            "{error}"
        );
        assert!(exposed(&["gw", "--seam-api-key", "k", "--listen", "[::]:50051"]).is_err());
        assert!(exposed(&["gw", "--seam-api-key", "k"]).is_ok(), "loopback");
        assert!(
            exposed(&["gw", "--seam-api-key", "k", "--listen", "[::1]:50051"]).is_ok(),
            "loopback"
        );
        assert!(
            exposed(&["gw", "--listen", "0.0.0.0:50051"]).is_ok(),
            "pass-through holds no key"
        );
        let allowed = [
            "gw",
            "--seam-api-key",
            "k",
            "--listen",
            "0.0.0.0:50051",
            "--allow-unauthenticated-callers",
        ];
        assert!(exposed(&allowed).is_ok());
        let mutual_tls = [
            "gw",
            "--seam-api-key",
            "k",
            "--listen",
            "0.0.0.0:50051",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--tls-client-ca",
            "ca.pem",
        ];
        assert!(exposed(&mutual_tls).is_ok(), "mutual TLS names the callers");
        let server_tls_only = &mutual_tls[..mutual_tls.len() - 2];
        assert!(
            exposed(server_tls_only).is_err(),
            "TLS without client certificates names nobody"
        );
        let jwt = [
            "gw",
            "--seam-api-key",
            "k",
            "--listen",
            "0.0.0.0:50051",
            "--jwt-jwks",
            "jwks.json",
            "--jwt-issuer",
            "i",
            "--jwt-audience",
            "a",
        ];
        assert!(exposed(&jwt).is_ok(), "JWTs name the callers");
    }

    #[test]
    fn jwt_needs_issuer_and_audience() {
        assert!(Config::try_parse_from(["gw", "--jwt-jwks", "jwks.json"]).is_err());
        assert!(Config::try_parse_from(["gw", "--jwt-jwks", "j", "--jwt-issuer", "i"]).is_err());
        assert!(
            Config::try_parse_from(["gw", "--tls-client-ca", "ca.pem"]).is_err(),
            "mutual TLS needs TLS"
        );
        assert!(
            Config::try_parse_from(["gw", "--tls-cert", "c.pem"]).is_err(),
            "a certificate needs its key"
        );
    }

    #[test]
    fn listen_defaults_to_loopback() {
        let config = Config::parse_from(["seam-grpc-gateway"]);
        assert_eq!(config.listen, "127.0.0.1:50051".parse::<SocketAddr>().unwrap());
    }
}
