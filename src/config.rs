//! The gateway's settings: command-line flags, each with an environment
//! fallback, validated before anything starts.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// A typed gRPC gateway in front of Seam's smart-lock HTTP API.
///
/// Every flag can also be set through the environment variable named in its
/// help. Durations take a unit: `250ms`, `10s`, `5m`.
#[derive(Parser, Clone)]
#[command(name = "seam-grpc-gateway", version, about, long_about = None)]
pub struct Config {
    /// Address to serve gRPC on. The default is loopback only; use 0.0.0.0:50051
    /// to serve other hosts.
    #[arg(long, env = "SEAM_GATEWAY_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Base URL of Seam's API (or of Seam's fake).
    #[arg(long, env = "SEAM_ENDPOINT", default_value = "https://connect.getseam.com", value_parser = parse_endpoint)]
    pub seam_endpoint: String,

    /// Seam API key used for every call. When unset, each call must carry its own
    /// Seam credential as `authorization: Bearer <token>` metadata (plus
    /// `seam-workspace` for personal access tokens). Never logged.
    #[arg(long, env = "SEAM_API_KEY", hide_env_values = true)]
    pub seam_api_key: Option<Secret>,

    /// The most one HTTP request to Seam may take before the call fails UNAVAILABLE.
    #[arg(long, env = "SEAM_GATEWAY_UPSTREAM_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// Delay between Seam accepting a lock command and the first status check.
    #[arg(long, env = "SEAM_GATEWAY_POLL_INITIAL", default_value = "25ms", value_parser = parse_duration)]
    pub poll_initial: Duration,

    /// Factor by which the delay between status checks grows (at least 1). The
    /// default checks at 25 ms, 225 ms, then every second: quick for providers
    /// that confirm at once, and no more calls than Seam's SDKs for slow ones.
    #[arg(long, env = "SEAM_GATEWAY_POLL_MULTIPLIER", default_value_t = 8.0, value_parser = parse_multiplier)]
    pub poll_multiplier: f64,

    /// The longest delay between two status checks of a pending action attempt.
    #[arg(long, env = "SEAM_GATEWAY_POLL_MAX", default_value = "1s", value_parser = parse_duration)]
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
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// A secret string whose `Debug` output is redacted.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("seam_endpoint", &self.seam_endpoint)
            .field("seam_api_key", &self.seam_api_key.as_ref().map(|_| "[set]"))
            .field("upstream_timeout", &self.upstream_timeout)
            .field("poll_initial", &self.poll_initial)
            .field("poll_multiplier", &self.poll_multiplier)
            .field("poll_max", &self.poll_max)
            .field("max_wait", &self.max_wait)
            .field("request_id_retention", &self.request_id_retention)
            .field("request_id_capacity", &self.request_id_capacity)
            .field("events_poll_interval", &self.events_poll_interval)
            .field("events_buffer", &self.events_buffer)
            .field("max_concurrent_streams", &self.max_concurrent_streams)
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
}

/// Parses `250ms`, `10s`, `5m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 250ms, 10s or 5m"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("`{text}` needs a unit: ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

fn parse_endpoint(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` must be an http or https URL"));
    }
    Ok(text.trim_end_matches('/').to_owned())
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
    fn listen_defaults_to_loopback() {
        let config = Config::parse_from(["seam-grpc-gateway"]);
        assert_eq!(config.listen, "127.0.0.1:50051".parse::<SocketAddr>().unwrap());
    }
}
