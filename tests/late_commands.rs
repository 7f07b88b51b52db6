//! No door moves after its caller gave up: a lock command is sent only while
//! its caller still waits and before its deadline, and every command that
//! reaches Seam has a log line saying what became of it and of its caller.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::{Config, pb};
use serde_json::json;
use support::process::GatewayProcess;
use support::scripted_upstream::{CannedResponse, ScriptedUpstream};
use support::{API_KEY, Gateway};
use tonic::Code;

const SLOW_READ: Duration = Duration::from_millis(400);

fn capable_lock() -> CannedResponse {
    CannedResponse::json(&json!({
        "lock": {"device_id": "d1", "can_remotely_lock": true, "can_remotely_unlock": true,
                 "properties": {"online": true}},
        "ok": true
    }))
}

fn pending_attempt(action_type: &str) -> CannedResponse {
    CannedResponse::json(&json!({
        "action_attempt": {"action_attempt_id": "attempt1", "action_type": action_type, "status": "pending"},
        "ok": true
    }))
}

/// A Seam whose capability read takes `read_delay` and whose commands take
/// `command_delay`.
async fn slow_seam(read_delay: Duration, command_delay: Duration) -> ScriptedUpstream {
    ScriptedUpstream::scripted(move |request| match request.path.as_str() {
        "/locks/get" => capable_lock().after(read_delay),
        "/locks/unlock_door" => pending_attempt("UNLOCK_DOOR").after(command_delay),
        "/locks/lock_door" => pending_attempt("LOCK_DOOR").after(command_delay),
        _ => pending_attempt("UNLOCK_DOOR"),
    })
    .await
}

async fn gateway(upstream: &ScriptedUpstream) -> Gateway {
    let mut config = Config::for_endpoint(&upstream.url);
    config.seam_api_key = Some(API_KEY.to_owned().into());
    Gateway::start_with(config).await
}

/// Waits until the upstream has answered `count` requests on `path`.
async fn until_served(upstream: &ScriptedUpstream, path: &str, count: usize) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while upstream.count(path) < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{path} was not called {count} times: {:?}", upstream.counts_by_path()));
}

#[tokio::test]
async fn calls_cancelled_before_the_command_send_no_command() {
    let upstream = slow_seam(SLOW_READ, Duration::ZERO).await;
    let gateway = gateway(&upstream).await;
    let channel = gateway.channel().await;
    let mut calls = Vec::new();
    for _ in 0..100 {
        let mut client = pb::lock_service_client::LockServiceClient::new(channel.clone());
        calls.push(tokio::spawn(async move {
            // The caller gives up after 20 ms: dropping the call cancels it.
            let call = client.unlock_door(pb::UnlockDoorRequest {
                device_id: "d1".into(),
                ..Default::default()
            });
            tokio::time::timeout(Duration::from_millis(20), call).await.is_err()
        }));
    }
    for call in calls {
        assert!(call.await.unwrap(), "the call was still waiting when cancelled");
    }
    // The capability reads on the wire finish (a busy machine may cancel some
    // calls before their read left); then nothing.
    until_served(&upstream, "/locks/get", 1).await;
    tokio::time::sleep(SLOW_READ + Duration::from_millis(300)).await;
    assert_eq!(
        upstream.count("/locks/unlock_door"),
        0,
        "{:?}",
        upstream.counts_by_path()
    );
}

#[tokio::test]
async fn a_command_whose_deadline_passed_during_the_capability_read_is_not_sent() {
    let upstream = slow_seam(Duration::from_millis(600), Duration::ZERO).await;
    let gateway = gateway(&upstream).await;
    let mut request = tonic::Request::new(pb::UnlockDoorRequest {
        device_id: "d1".into(),
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(200));
    let status = gateway
        .locks()
        .await
        .unlock_door(request)
        .await
        .expect_err("the deadline passes first");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(support::error_info(&status).reason, "DEADLINE_BEFORE_COMMAND");
    until_served(&upstream, "/locks/get", 1).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        upstream.count("/locks/unlock_door"),
        0,
        "{:?}",
        upstream.counts_by_path()
    );
}

#[tokio::test]
async fn a_command_on_the_wire_completes_and_is_logged_with_its_callers_fate() {
    let upstream = slow_seam(Duration::ZERO, Duration::from_millis(500)).await;
    let gateway = GatewayProcess::start(&[], &[("SEAM_ENDPOINT", &upstream.url), ("SEAM_API_KEY", API_KEY)]).await;
    let mut client = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .expect("connect");
    let call = client.unlock_door(pb::UnlockDoorRequest {
        device_id: "d1".into(),
        request_id: "req-7".into(),
        ..Default::default()
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(200), call).await.is_err(),
        "the caller leaves while the command is on the wire"
    );
    let line = gateway
        .wait_for_line("lock command accepted by Seam", Duration::from_secs(5), |_| true)
        .await;
    let fields = &line["fields"];
    assert_eq!(fields["action"], "unlock_door");
    assert_eq!(fields["device_id"], "d1");
    assert_eq!(fields["request_id"], "req-7");
    assert_eq!(fields["action_attempt_id"], "attempt1");
    assert_eq!(fields["seam_request_id"], "scripted1");
    assert_eq!(fields["caller"], "cancelled");
    assert_eq!(upstream.count("/locks/unlock_door"), 1);

    // The request_id was remembered although its caller left: a repeat
    // re-attaches instead of sending a second command.
    let mut stream = client
        .unlock_door(pb::UnlockDoorRequest {
            device_id: "d1".into(),
            request_id: "req-7".into(),
            ..Default::default()
        })
        .await
        .expect("re-attach")
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a first message")
        .expect("no error")
        .expect("a message");
    assert_eq!(first.action_attempt.expect("attempt").action_attempt_id, "attempt1");
    assert_eq!(upstream.count("/locks/unlock_door"), 1, "no second command");
}

#[tokio::test]
async fn a_waiting_caller_is_logged_as_waiting() {
    let upstream = slow_seam(Duration::ZERO, Duration::ZERO).await;
    let gateway = GatewayProcess::start(&[], &[("SEAM_ENDPOINT", &upstream.url), ("SEAM_API_KEY", API_KEY)]).await;
    let mut client = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .expect("connect");
    let mut stream = client
        .lock_door(pb::LockDoorRequest {
            device_id: "d1".into(),
            ..Default::default()
        })
        .await
        .expect("LockDoor")
        .into_inner();
    stream.message().await.expect("first message").expect("pending");
    let line = gateway
        .wait_for_line("lock command accepted by Seam", Duration::from_secs(5), |_| true)
        .await;
    assert_eq!(line["fields"]["caller"], "waiting");
    assert_eq!(line["fields"]["action"], "lock_door");
    assert!(line["fields"].get("request_id").is_none(), "no request_id was sent");
}
