//! The HTTP client of Seam's API: one keep-alive pool, POST with JSON bodies,
//! no retries and no redirects, answers read up to a size limit.

use std::time::Duration;

use reqwest::header::HeaderValue;
use serde::Serialize;

use super::credential::Credential;
use super::envelope::Answer;
use super::error::{ConnectFailure, UpstreamError, UpstreamFailure};
use super::model::{ActionAttempt, Device, ErrorBody, Event, Pagination, Webhook};
use super::queries::{
    ActionAttemptIdBody, CreateWebhookBody, DeviceIdBody, DeviceQuery, DevicesPageBody, EventIdBody, EventsPageBody,
    LockAction, LocksPageBody,
};
use crate::observe::metrics;
use crate::observe::span_export;
use crate::observe::trace_context::{TRACEPARENT, TraceContext};

/// How to reach Seam.
#[derive(Debug, Clone)]
pub struct SeamClientOptions {
    /// Base URL, e.g. `https://connect.getseam.com`.
    pub endpoint: String,
    /// The most one HTTP request to Seam may take, connection included.
    pub request_timeout: Duration,
    /// The largest answer body read from Seam; a larger one fails the call.
    pub max_body_bytes: usize,
    /// The longest `Retry-After` honoured; Seam's value is capped to it.
    pub max_retry_after: Duration,
}

/// A successful Seam answer with the `seam-request-id` it carried.
#[derive(Debug, Clone)]
pub struct Upstreamed<T> {
    pub body: T,
    pub request_id: Option<String>,
}

impl<T> Upstreamed<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Upstreamed<U> {
        Upstreamed {
            body: f(self.body),
            request_id: self.request_id,
        }
    }
}

/// Seam's HTTP API over one keep-alive connection pool.
///
/// Every call is a `POST` with a JSON body (Seam accepts POST on every
/// endpoint), so filters with arrays need no query-string encoding. The client
/// never retries: whether a call may be repeated is the caller's decision, and
/// a lock command never is.
#[derive(Debug, Clone)]
pub struct SeamClient {
    http: reqwest::Client,
    /// The endpoint parsed once: parsing a URL per request (host, IDNA) was a
    /// measurable part of a call's CPU.
    endpoint_url: reqwest::Url,
    request_timeout: Duration,
    max_body_bytes: usize,
    max_retry_after: Duration,
}

impl SeamClient {
    /// A client for `options.endpoint`; fails for an endpoint that is not an
    /// http(s) URL with a host, or when the HTTP client cannot be built.
    pub fn new(options: SeamClientOptions) -> Result<Self, String> {
        let endpoint = options.endpoint.trim_end_matches('/').to_owned();
        let endpoint_url = reqwest::Url::parse(&endpoint)
            .ok()
            .filter(|url| url.has_host())
            .ok_or_else(|| format!("`{endpoint}` is not an http(s) URL with a host"))?;
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout)
            .tcp_nodelay(true)
            // Seam's fake (Node) closes idle connections after 5 s; reusing one it
            // is closing fails the request, so idle connections are dropped first.
            .pool_idle_timeout(Duration::from_secs(4))
            // reqwest re-sends a request the server refused unprocessed (HTTP/2
            // REFUSED_STREAM, GOAWAY); the gateway never repeats a call itself,
            // and with no retries reqwest also stops copying every request's
            // headers in case it would.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            // Seam's API does not redirect. Following one would send the
            // credential (and `seam-workspace`) to whatever origin it names.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("seam-grpc-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            http,
            endpoint_url,
            request_timeout: options.request_timeout,
            max_body_bytes: options.max_body_bytes,
            max_retry_after: options.max_retry_after,
        })
    }

    /// The URL of one Seam endpoint, `path` under the configured base.
    fn url(&self, path: &str) -> reqwest::Url {
        let base = &self.endpoint_url;
        let mut url = base.clone();
        let base_path = base.path().trim_end_matches('/');
        if base_path.is_empty() {
            url.set_path(path);
        } else {
            url.set_path(&format!("{base_path}{path}"));
        }
        url
    }

    pub async fn get_lock(
        &self,
        credential: &Credential,
        device_id: &str,
    ) -> Result<Upstreamed<Device>, UpstreamError> {
        let answer = self.post(credential, "/locks/get", DeviceIdBody { device_id }).await?;
        answer.field("lock")
    }

    /// One page of `/locks/list`; see `complete_lists.rs` for all of them.
    pub(super) async fn locks_page(
        &self,
        credential: &Credential,
        body: &LocksPageBody<'_>,
    ) -> Result<Upstreamed<(Vec<Device>, Option<Pagination>)>, UpstreamError> {
        let answer = self.post(credential, "/locks/list", body).await?;
        let pagination = answer.field::<Option<Pagination>>("pagination")?.body;
        let locks = answer.field::<Vec<Device>>("locks")?;
        Ok(locks.map(|locks| (locks, pagination)))
    }

    pub async fn get_device(
        &self,
        credential: &Credential,
        device_id: &str,
    ) -> Result<Upstreamed<Device>, UpstreamError> {
        let answer = self
            .post(credential, "/devices/get", DeviceIdBody { device_id })
            .await?;
        answer.field("device")
    }

    /// One page of `/devices/list`, from `page_cursor` (Seam's) when given.
    pub async fn list_devices(
        &self,
        credential: &Credential,
        query: &DeviceQuery,
        limit: usize,
        page_cursor: Option<&str>,
    ) -> Result<Upstreamed<(Vec<Device>, Option<Pagination>)>, UpstreamError> {
        let body = DevicesPageBody {
            query,
            limit,
            page_cursor,
        };
        let answer = self.post(credential, "/devices/list", body).await?;
        let pagination = answer.field::<Option<Pagination>>("pagination")?.body;
        let devices = answer.field::<Vec<Device>>("devices")?;
        Ok(devices.map(|devices| (devices, pagination)))
    }

    pub async fn get_action_attempt(
        &self,
        credential: &Credential,
        action_attempt_id: &str,
    ) -> Result<Upstreamed<ActionAttempt>, UpstreamError> {
        let body = ActionAttemptIdBody { action_attempt_id };
        let answer = self.post(credential, "/action_attempts/get", body).await?;
        answer.field("action_attempt")
    }

    /// Sends a lock or unlock command. Called once per command: never retried.
    pub async fn start_lock_action(
        &self,
        credential: &Credential,
        action: LockAction,
        device_id: &str,
    ) -> Result<Upstreamed<ActionAttempt>, UpstreamError> {
        let path = action.path();
        let answer = self.post(credential, path, DeviceIdBody { device_id }).await?;
        answer.field("action_attempt")
    }

    /// The event, or `None` when Seam answered OK without one.
    pub async fn get_event(
        &self,
        credential: &Credential,
        event_id: &str,
    ) -> Result<Upstreamed<Option<Event>>, UpstreamError> {
        let answer = self.post(credential, "/events/get", EventIdBody { event_id }).await?;
        answer.field::<Option<Event>>("event")
    }

    /// Registers `url` to receive the workspace's events (all of them when
    /// `event_types` is empty): `seam-grpc-gateway webhooks register`.
    pub async fn create_webhook(
        &self,
        credential: &Credential,
        url: &str,
        event_types: &[String],
    ) -> Result<Upstreamed<Webhook>, UpstreamError> {
        let answer = self
            .post(credential, "/webhooks/create", CreateWebhookBody { url, event_types })
            .await?;
        answer.field("webhook")
    }

    /// One page of `/events/list`; see `complete_lists.rs` for all of them.
    pub(super) async fn events_page(
        &self,
        credential: &Credential,
        body: &EventsPageBody<'_>,
    ) -> Result<Upstreamed<Vec<Event>>, UpstreamError> {
        let answer = self.post(credential, "/events/list", body).await?;
        answer.field("events")
    }

    async fn post(
        &self,
        credential: &Credential,
        path: &'static str,
        body: impl Serialize,
    ) -> Result<Answer, UpstreamError> {
        let request = self.http.post(self.url(path));
        // Serializing plain structs and JSON values cannot fail.
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let request = request
            .header(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .body(body);
        // A request made while serving a call is a span of the call's trace.
        let span = TraceContext::current().map(|call| call.child());
        let request = match span {
            Some(span) => request.header(TRACEPARENT, span.traceparent()),
            None => request,
        };
        let started = std::time::Instant::now();
        let sent = credential.apply(request).send().await;
        let took = started.elapsed();
        let response = match sent {
            Ok(response) => {
                metrics::upstream_request(path, response.status().as_str(), took);
                if let Some(span) = span.filter(|_| span_export::enabled()) {
                    let status = response.status();
                    let failed = status.is_server_error() || status.as_u16() == 429;
                    span_export::export_upstream(span, path, took, status.as_str(), failed);
                }
                response
            }
            Err(e) => {
                let failure = transport_failure(&e, self.request_timeout);
                let status = match failure {
                    UpstreamFailure::Timeout(_) => "timeout",
                    UpstreamFailure::Unreachable(_) => "connect_error",
                    _ => "transport_error",
                };
                metrics::upstream_request(path, status, took);
                if let Some(span) = span {
                    span_export::export_upstream(span, path, took, status, true);
                }
                return Err(UpstreamError {
                    failure: Box::new(failure),
                    request_id: None,
                    path,
                });
            }
        };

        let http_status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("seam-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|seconds| Duration::from_secs(seconds).min(self.max_retry_after));
        if (300..400).contains(&http_status) {
            // Only the host is logged: a redirect's path or query may carry anything.
            let target_host = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| response.url().join(location).ok())
                .and_then(|url| url.host_str().map(str::to_owned))
                .unwrap_or_else(|| "-".to_owned());
            tracing::warn!(path, http_status, %target_host, "Seam answered with a redirect; not followed");
            return Err(UpstreamError {
                failure: Box::new(UpstreamFailure::Redirect {
                    http_status,
                    target_host,
                }),
                request_id,
                path,
            });
        }
        let bytes = read_capped(response, self.max_body_bytes)
            .await
            .map_err(|failure| UpstreamError {
                failure: Box::new(match failure {
                    BodyFailure::TooLarge => UpstreamFailure::BodyTooLarge {
                        limit: self.max_body_bytes,
                    },
                    BodyFailure::Read(e) => transport_failure(&e, self.request_timeout),
                }),
                request_id: request_id.clone(),
                path,
            })?;

        let fail = |failure| UpstreamError {
            failure: Box::new(failure),
            request_id: request_id.clone(),
            path,
        };
        if (200..300).contains(&http_status) {
            return Ok(Answer {
                body: bytes,
                request_id,
                path,
                http_status,
            });
        }
        Err(fail(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(ErrorBody { error }) => UpstreamFailure::Api {
                http_status,
                error_type: error.error_type,
                message: credential.redact(&error.message),
                validation_errors: error.validation_errors,
                retry_after,
            },
            Err(_) => UpstreamFailure::Status {
                http_status,
                retry_after,
            },
        }))
    }
}

/// Why reading an answer's body stopped.
enum BodyFailure {
    TooLarge,
    Read(reqwest::Error),
}

/// The answer's body, refused as soon as it is known to exceed `limit`: by its
/// `Content-Length` before reading, or while reading one without.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<bytes::Bytes, BodyFailure> {
    if response.content_length().is_some_and(|length| length > limit as u64) {
        return Err(BodyFailure::TooLarge);
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyFailure::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyFailure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn transport_failure(e: &reqwest::Error, limit: Duration) -> UpstreamFailure {
    if e.is_timeout() {
        UpstreamFailure::Timeout(limit)
    } else if e.is_connect() {
        UpstreamFailure::Unreachable(ConnectFailure::of(e))
    } else {
        UpstreamFailure::Transport
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str) -> SeamClient {
        SeamClient::new(SeamClientOptions {
            endpoint: endpoint.to_owned(),
            request_timeout: Duration::from_secs(1),
            max_body_bytes: 1024,
            max_retry_after: Duration::from_secs(30),
        })
        .expect("client")
    }

    #[test]
    fn paths_go_under_the_endpoint_and_its_base_path() {
        assert_eq!(
            client("http://127.0.0.1:9/").url("/locks/get").as_str(),
            "http://127.0.0.1:9/locks/get"
        );
        assert_eq!(
            client("https://seam.example/api/v1/").url("/locks/get").as_str(),
            "https://seam.example/api/v1/locks/get"
        );
    }

    #[test]
    fn an_endpoint_that_is_not_a_url_is_refused() {
        let options = SeamClientOptions {
            endpoint: "not a url".to_owned(),
            request_timeout: Duration::from_secs(1),
            max_body_bytes: 1024,
            max_retry_after: Duration::from_secs(30),
        };
        assert!(SeamClient::new(options).is_err());
    }
}
