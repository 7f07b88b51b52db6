//! What a caller sends is bounded: every id, token and filter has a length or
//! count limit, refused INVALID_ARGUMENT with BadRequest naming the field and
//! before anything reaches Seam, so oversized requests cannot grow memory.
use crate::support;

use seam_grpc_gateway::pb;
use support::process::GatewayProcess;
use support::scripted_upstream::{CannedResponse, ScriptedUpstream};
use support::{API_KEY, Gateway};
use tonic::Code;
use tonic_types::StatusExt;

fn assert_refused(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad_request = status.get_details_bad_request().expect("BadRequest");
    assert_eq!(bad_request.field_violations[0].field, field, "{status:?}");
    assert_eq!(support::error_info(status).metadata["field"], field);
}

#[tokio::test]
async fn oversized_ids_tokens_and_filters_are_refused_naming_the_field() {
    let upstream = ScriptedUpstream::start(CannedResponse::new("200 OK", "application/json", "{}")).await;
    let gateway = Gateway::start(&upstream.url).await;
    let long = "x".repeat(257);
    let many: Vec<String> = (0..101).map(|n| format!("d{n}")).collect();
    let mut locks = gateway.locks().await;
    let mut devices = gateway.devices().await;
    let mut attempts = gateway.action_attempts().await;
    let mut events = gateway.events().await;

    let status = locks
        .get_lock(pb::GetLockRequest {
            device_id: long.clone(),
        })
        .await
        .unwrap_err();
    assert_refused(&status, "device_id");
    let status = locks
        .lock_door(pb::LockDoorRequest {
            device_id: long.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, "device_id");
    let status = locks
        .unlock_door(pb::UnlockDoorRequest {
            device_id: "d1".into(),
            request_id: long.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, "request_id");
    let status = locks
        .list_locks(pb::ListLocksRequest {
            page_token: "t".repeat(2049),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, "page_token");
    let status = locks
        .list_locks(pb::ListLocksRequest {
            device_ids: many.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, "device_ids");
    let status = devices
        .list_devices(pb::ListDevicesRequest {
            device_ids: vec![long.clone()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, "device_ids");
    let status = devices
        .get_device(pb::GetDeviceRequest {
            device_id: long.clone(),
        })
        .await
        .unwrap_err();
    assert_refused(&status, "device_id");
    let status = attempts
        .get_action_attempt(pb::GetActionAttemptRequest {
            action_attempt_id: long.clone(),
        })
        .await
        .unwrap_err();
    assert_refused(&status, "action_attempt_id");
    let status = attempts
        .watch_action_attempt(pb::WatchActionAttemptRequest {
            action_attempt_id: long.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, "action_attempt_id");
    let status = events
        .get_event(pb::GetEventRequest { event_id: long.clone() })
        .await
        .unwrap_err();
    assert_refused(&status, "event_id");
    let status = events
        .list_events(pb::ListEventsRequest {
            event_types: many.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, "event_types");
    let status = events
        .watch_events(pb::WatchEventsRequest {
            resume_from: Some(pb::watch_events_request::ResumeFrom::AfterEventId(long.clone())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, "after_event_id");
    let status = events
        .watch_events(pb::WatchEventsRequest {
            device_ids: many,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, "device_ids");

    assert_eq!(upstream.request_count(), 0, "nothing reached Seam");
}

#[tokio::test]
async fn thousands_of_oversized_commands_leave_memory_flat() {
    // Seam unreachable, as in the report: every call used to be remembered
    // with its 120 KB ids.
    let gateway = GatewayProcess::start(
        &[],
        &[("SEAM_ENDPOINT", "http://127.0.0.1:1"), ("SEAM_API_KEY", API_KEY)],
    )
    .await;
    let channel = tonic::transport::Channel::from_shared(gateway.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let before = gateway.resident_bytes();
    let big = "x".repeat(120 * 1024);
    let mut callers = Vec::new();
    for _ in 0..16 {
        let channel = channel.clone();
        let big = big.clone();
        callers.push(tokio::spawn(async move {
            let mut client = pb::lock_service_client::LockServiceClient::new(channel);
            for _ in 0..250 {
                let status = client
                    .lock_door(pb::LockDoorRequest {
                        device_id: big.clone(),
                        request_id: big.clone(),
                        ..Default::default()
                    })
                    .await
                    .expect_err("refused");
                assert_eq!(status.code(), Code::InvalidArgument);
            }
        }));
    }
    for caller in callers {
        caller.await.expect("caller");
    }
    let after = gateway.resident_bytes();
    let grown = after.saturating_sub(before);
    assert!(
        grown < 50 * 1024 * 1024,
        "4,000 oversized calls grew resident memory by {} MB",
        grown / (1024 * 1024)
    );
}
