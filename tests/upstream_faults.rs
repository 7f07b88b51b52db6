//! A misbehaving Seam-shaped upstream: redirects, huge answers, absurd
//! Retry-After values and refused connections each end in a clear status,
//! and the credential never leaves for another origin.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::{Config, pb};
use serde_json::json;
use support::scripted_upstream::{CannedResponse, ScriptedUpstream};
use support::{API_KEY, Gateway};
use tonic::Code;
use tonic_types::StatusExt;

fn config(endpoint: &str) -> Config {
    let mut config = Config::for_endpoint(endpoint);
    config.seam_api_key = Some(API_KEY.to_owned().into());
    config
}

async fn get_lock(gateway: &Gateway, request: tonic::Request<pb::GetLockRequest>) -> tonic::Status {
    gateway.locks().await.get_lock(request).await.expect_err("refused")
}

fn get_lock_request() -> tonic::Request<pb::GetLockRequest> {
    tonic::Request::new(pb::GetLockRequest { device_id: "d1".into() })
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_the_credential_stays_home() {
    // Two hops, as in the report: to another port, then within that port.
    let elsewhere = ScriptedUpstream::scripted(|request| match request.path.as_str() {
        "/hop" => CannedResponse::new("302 Found", "text/plain", "").with_header("location", "/locks/get"),
        _ => CannedResponse::json(&json!({"lock": {"device_id": "d1"}, "ok": true})),
    })
    .await;
    let target = format!("{}/hop", elsewhere.url);
    let seam = ScriptedUpstream::scripted(move |_| {
        CannedResponse::new("307 Temporary Redirect", "text/plain", "").with_header("location", &target)
    })
    .await;

    let gateway = Gateway::start_with(config(&seam.url)).await;
    let status = get_lock(&gateway, get_lock_request()).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let info = support::error_info(&status);
    assert_eq!(info.reason, "SEAM_REDIRECT");
    assert!(
        status.message().contains("127.0.0.1"),
        "names the target host: {status:?}"
    );
    assert!(!status.message().contains("/hop"), "but not its path: {status:?}");
    assert!(!status.message().contains(API_KEY));

    // Pass-through: the caller's credential and workspace stay home too.
    let pass_through = Gateway::start_with(Config::for_endpoint(&seam.url)).await;
    let mut request = get_lock_request();
    request
        .metadata_mut()
        .insert("authorization", "Bearer seam_caller_token".parse().unwrap());
    request.metadata_mut().insert("seam-workspace", "ws1".parse().unwrap());
    let status = get_lock(&pass_through, request).await;
    assert_eq!(support::error_info(&status).reason, "SEAM_REDIRECT");

    assert_eq!(seam.request_count(), 2);
    assert_eq!(elsewhere.request_count(), 0, "nothing reached the other origin");
}

#[tokio::test]
async fn an_answer_over_the_body_limit_is_unavailable_not_read_whole() {
    let huge = format!(
        "{{\"lock\":{{\"device_id\":\"d1\",\"pad\":\"{}\"}},\"ok\":true}}",
        "x".repeat(300_000)
    );
    let seam = ScriptedUpstream::start(CannedResponse::new("200 OK", "application/json", &huge)).await;
    let mut config = config(&seam.url);
    config.max_upstream_body_bytes = 64 * 1024;
    let gateway = Gateway::start_with(config).await;
    let status = get_lock(&gateway, get_lock_request()).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(support::error_info(&status).reason, "SEAM_RESPONSE_TOO_LARGE");
}

#[tokio::test]
async fn retry_after_is_capped_in_retry_info() {
    let seam = ScriptedUpstream::start(
        CannedResponse::new("429 Too Many Requests", "application/json", "").with_header("retry-after", "86400"),
    )
    .await;
    let gateway = Gateway::start_with(config(&seam.url)).await;
    let status = get_lock(&gateway, get_lock_request()).await;
    assert_eq!(status.code(), Code::ResourceExhausted);
    let retry = status.get_details_retry_info().expect("RetryInfo");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(30)), "the default cap");
}

#[tokio::test]
async fn the_event_tail_sleeps_at_most_the_capped_retry_after() {
    let start = one_second_from_now();
    // The tail's first poll gets a 429 asking for an hour; the next one has an event.
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let seam = ScriptedUpstream::scripted(move |_| {
        if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return CannedResponse::new("429 Too Many Requests", "application/json", "")
                .with_header("retry-after", "3600");
        }
        CannedResponse::json(&json!({"events": [{
            "event_id": "e1", "event_type": "lock.locked", "device_id": "d1",
            "workspace_id": "w1", "created_at": start, "occurred_at": start
        }], "ok": true}))
    })
    .await;
    let mut config = config(&seam.url);
    config.max_retry_after = Duration::from_millis(500);
    let gateway = Gateway::start_with(config).await;
    let mut stream = gateway
        .events()
        .await
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .expect("WatchEvents")
        .into_inner();
    let event = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the tail woke after the capped wait, not an hour")
        .expect("no error")
        .expect("an event");
    assert_eq!(event.event.expect("event").event_id, "e1");
}

/// Now as RFC 3339, a second in the future so that the tail's window holds it.
fn one_second_from_now() -> String {
    let now = std::time::SystemTime::now() + Duration::from_secs(1);
    prost_types::Timestamp::from(now).to_string()
}

#[tokio::test]
async fn unreachable_says_why_without_the_credential() {
    let gateway = Gateway::start_with(config("http://127.0.0.1:1")).await;
    let status = get_lock(&gateway, get_lock_request()).await;
    assert_eq!(status.code(), Code::Unavailable);
    let info = support::error_info(&status);
    assert_eq!(info.reason, "SEAM_UNREACHABLE");
    assert_eq!(info.metadata["cause"], "connection refused");
    assert!(status.message().contains("connection refused"), "{status:?}");
    assert!(!status.message().contains(API_KEY));
}

#[tokio::test]
async fn a_page_over_four_mib_is_cut_and_continued_not_refused_by_the_client() {
    let locks: Vec<serde_json::Value> = (0..40)
        .map(|n| {
            json!({"device_id": format!("lock{n:02}"), "created_at": format!("2026-01-01T00:00:{n:02}Z"),
                   "custom_metadata": {"pad": "x".repeat(200_000)}})
        })
        .collect();
    let body = json!({"locks": locks, "ok": true});
    let seam = ScriptedUpstream::start(CannedResponse::json(&body)).await;
    let mut config = config(&seam.url);
    config.max_upstream_body_bytes = 16 * 1024 * 1024;
    let gateway = Gateway::start_with(config).await;
    let mut client = gateway.locks().await;
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut page_token = String::new();
    loop {
        let page = client
            .list_locks(pb::ListLocksRequest {
                page_size: 40,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("every page fits the client's 4 MiB limit")
            .into_inner();
        pages += 1;
        ids.extend(page.locks.into_iter().map(|lock| lock.device_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert!(pages >= 2, "the 8 MB page was cut");
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (40, 40));
}
