//! Bad input and upstream failures: each is a clear status with ErrorInfo,
//! never a panic or a hang, and the gateway keeps serving.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::{Config, pb};
use support::scripted_upstream::{CannedResponse, ScriptedUpstream};
use support::{FakeSeam, Gateway, LOCK_1};
use tonic::Code;
use tonic_types::StatusExt;

async fn get_lock(gateway: &Gateway, device_id: &str) -> Result<pb::Device, tonic::Status> {
    let response = gateway
        .locks()
        .await
        .get_lock(pb::GetLockRequest {
            device_id: device_id.into(),
        })
        .await?;
    Ok(response.into_inner().lock.expect("lock"))
}

#[tokio::test]
async fn empty_ids_are_invalid_before_any_seam_call() {
    let upstream = ScriptedUpstream::start(CannedResponse::new("200 OK", "application/json", "{}")).await;
    let gateway = Gateway::start(&upstream.url).await;
    let statuses = [
        get_lock(&gateway, "").await.expect_err("GetLock"),
        get_lock(&gateway, "   ").await.expect_err("GetLock blank"),
        gateway
            .devices()
            .await
            .get_device(pb::GetDeviceRequest::default())
            .await
            .expect_err("GetDevice"),
        gateway
            .action_attempts()
            .await
            .get_action_attempt(pb::GetActionAttemptRequest::default())
            .await
            .expect_err("GetActionAttempt"),
        gateway
            .events()
            .await
            .get_event(pb::GetEventRequest::default())
            .await
            .expect_err("GetEvent"),
    ];
    for status in statuses {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(support::error_info(&status).reason, "INVALID_ARGUMENT");
        let bad_request = status.get_details_bad_request().expect("BadRequest");
        assert!(bad_request.field_violations[0].field.ends_with("_id"));
    }
    assert_eq!(upstream.request_count(), 0, "nothing was sent to Seam");
}

#[tokio::test]
async fn negative_page_size_and_garbage_page_token_are_invalid() {
    let upstream = ScriptedUpstream::start(CannedResponse::new("200 OK", "application/json", "{}")).await;
    let gateway = Gateway::start(&upstream.url).await;
    let mut locks = gateway.locks().await;
    let negative = locks
        .list_locks(pb::ListLocksRequest {
            page_size: -5,
            ..Default::default()
        })
        .await
        .expect_err("negative page_size");
    assert_eq!(negative.code(), Code::InvalidArgument);
    assert_eq!(support::error_info(&negative).metadata["field"], "page_size");

    let garbage = gateway
        .events()
        .await
        .list_events(pb::ListEventsRequest {
            page_token: "not-a-token".into(),
            ..Default::default()
        })
        .await
        .expect_err("garbage page_token");
    assert_eq!(garbage.code(), Code::InvalidArgument);
    assert_eq!(support::error_info(&garbage).metadata["field"], "page_token");
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn huge_page_size_is_capped_not_rejected() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let page = gateway
        .devices()
        .await
        .list_devices(pb::ListDevicesRequest {
            page_size: i32::MAX,
            ..Default::default()
        })
        .await
        .expect("a huge page_size is lowered to the maximum")
        .into_inner();
    assert!(!page.devices.is_empty());
}

#[tokio::test]
async fn unknown_device_is_not_found_with_seams_request_id() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let status = get_lock(&gateway, "no_such_device").await.expect_err("unknown id");
    assert_eq!(status.code(), Code::NotFound);
    let info = support::error_info(&status);
    assert_eq!(info.reason, "DEVICE_NOT_FOUND");
    assert_eq!(info.domain, seam_grpc_gateway::ERROR_DOMAIN);
    assert_eq!(info.metadata["device_id"], "no_such_device");
    assert!(info.metadata["seam_request_id"].starts_with("request"));
}

#[tokio::test]
async fn wrong_api_key_is_unauthenticated_and_not_echoed() {
    let fake = FakeSeam::start().await;
    let mut config = Config::for_endpoint(&fake.url);
    config.seam_api_key = Some("seam_wrong_key_0123".to_owned().into());
    let gateway = Gateway::start_with(config).await;
    let status = get_lock(&gateway, LOCK_1).await.expect_err("wrong key");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(support::error_info(&status).reason, "UNAUTHORIZED");
    assert!(!format!("{status:?}").contains("seam_wrong_key_0123"));
}

#[tokio::test]
async fn seam_outage_with_empty_503_is_unavailable_and_recovers() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    fake.outage(&["/locks/get"]).await;
    let status = get_lock(&gateway, LOCK_1).await.expect_err("outage");
    assert_eq!(status.code(), Code::Unavailable);
    let info = support::error_info(&status);
    assert_eq!(info.reason, "SEAM_UNAVAILABLE");
    assert_eq!(info.metadata["http_status"], "503");

    fake.outage(&[]).await;
    let lock = get_lock(&gateway, LOCK_1)
        .await
        .expect("serving again after the outage");
    assert_eq!(lock.device_id, LOCK_1);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_unavailable() {
    let upstream =
        ScriptedUpstream::start(CannedResponse::new("200 OK", "text/html", "<html>maintenance</html>")).await;
    let gateway = Gateway::start(&upstream.url).await;
    let status = get_lock(&gateway, LOCK_1).await.expect_err("HTML body");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(support::error_info(&status).reason, "SEAM_MALFORMED_RESPONSE");
}

#[tokio::test]
async fn a_json_body_of_the_wrong_shape_is_unavailable() {
    let upstream = ScriptedUpstream::start(CannedResponse::new(
        "200 OK",
        "application/json",
        r#"{"lock":{"device_id":"d","properties":{"locked":"very"}},"ok":true}"#,
    ))
    .await;
    let gateway = Gateway::start(&upstream.url).await;
    let status = get_lock(&gateway, LOCK_1).await.expect_err("wrong shape");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(support::error_info(&status).reason, "SEAM_MALFORMED_RESPONSE");
}

#[tokio::test]
async fn a_502_html_page_is_unavailable() {
    let upstream = ScriptedUpstream::start(CannedResponse::new(
        "502 Bad Gateway",
        "text/html",
        "<h1>bad gateway</h1>",
    ))
    .await;
    let gateway = Gateway::start(&upstream.url).await;
    let status = get_lock(&gateway, LOCK_1).await.expect_err("502");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(support::error_info(&status).metadata["http_status"], "502");
}

#[tokio::test]
async fn rate_limit_is_resource_exhausted_with_retry_info() {
    let mut response = CannedResponse::new(
        "429 Too Many Requests",
        "application/json",
        r#"{"error":{"type":"rate_limit_exceeded","message":"slow down"},"ok":false}"#,
    );
    response.headers.push(("retry-after", "7".into()));
    let upstream = ScriptedUpstream::start(response).await;
    let gateway = Gateway::start(&upstream.url).await;
    let status = get_lock(&gateway, LOCK_1).await.expect_err("429");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(support::error_info(&status).reason, "RATE_LIMIT_EXCEEDED");
    let retry = status.get_details_retry_info().expect("RetryInfo");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn seam_invalid_input_is_invalid_argument_with_field_violations() {
    let upstream = ScriptedUpstream::start(CannedResponse::new(
        "400 Bad Request",
        "application/json",
        r#"{"error":{"type":"invalid_input","message":"Invalid base64 for \"page_cursor\"",
            "validation_errors":{"_errors":[],"page_cursor":{"_errors":["Invalid base64"]}}},"ok":false}"#,
    ))
    .await;
    let gateway = Gateway::start(&upstream.url).await;
    let status = get_lock(&gateway, LOCK_1).await.expect_err("400");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(support::error_info(&status).reason, "INVALID_INPUT");
    let bad_request = status.get_details_bad_request().expect("BadRequest");
    assert_eq!(bad_request.field_violations[0].field, "page_cursor");
    assert_eq!(bad_request.field_violations[0].description, "Invalid base64");
}

#[tokio::test]
async fn unreachable_seam_is_unavailable() {
    // Bind then drop: nothing listens on this port any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let gateway = Gateway::start(&format!("http://127.0.0.1:{port}")).await;
    let status = get_lock(&gateway, LOCK_1).await.expect_err("refused");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(support::error_info(&status).reason, "SEAM_UNREACHABLE");
}

#[tokio::test]
async fn slow_seam_times_out_as_unavailable() {
    let mut response = CannedResponse::new("200 OK", "application/json", "{}");
    response.delay = Duration::from_secs(30);
    let upstream = ScriptedUpstream::start(response).await;
    let mut config = Config::for_endpoint(&upstream.url);
    config.seam_api_key = Some(support::API_KEY.to_owned().into());
    config.upstream_timeout = Duration::from_millis(200);
    let gateway = Gateway::start_with(config).await;
    let status = get_lock(&gateway, LOCK_1).await.expect_err("timeout");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(support::error_info(&status).reason, "SEAM_TIMEOUT");
}

#[tokio::test]
async fn an_oversized_request_is_refused_with_error_info_before_any_seam_call() {
    let upstream = ScriptedUpstream::start(CannedResponse::new("200 OK", "application/json", "{}")).await;
    let gateway = Gateway::start(&upstream.url).await;
    let huge = "d".repeat(seam_grpc_gateway::MAX_REQUEST_BYTES + 1);
    let status = gateway
        .events()
        .await
        .list_events(pb::ListEventsRequest {
            device_ids: vec![huge],
            ..Default::default()
        })
        .await
        .expect_err("over the size limit");
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );
    assert_eq!(support::error_info(&status).reason, "MESSAGE_TOO_LARGE");
    assert_eq!(upstream.request_count(), 0);
    // And the gateway keeps serving.
    let next = get_lock(&gateway, "").await.expect_err("still answering");
    assert_eq!(next.code(), Code::InvalidArgument);
}
