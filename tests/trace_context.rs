//! W3C trace context: a caller's `traceparent` is honoured, every request to
//! Seam made for the call carries the same trace (a span of its own), and the
//! call's log line names the trace.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::pb;
use serde_json::json;
use support::API_KEY;
use support::process::GatewayProcess;
use support::scripted_upstream::{CannedResponse, ScriptedUpstream};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

async fn seam() -> ScriptedUpstream {
    ScriptedUpstream::scripted(|request| match request.path.as_str() {
        "/locks/get" => CannedResponse::json(&json!({"lock": {"device_id": "d1",
            "can_remotely_lock": true, "properties": {"online": true}}, "ok": true})),
        _ => CannedResponse::json(&json!({"action_attempt": {"action_attempt_id": "a1",
            "action_type": "LOCK_DOOR", "status": "success", "result": {}}, "ok": true})),
    })
    .await
}

/// (trace id, span id) of a `traceparent` value.
fn ids(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test]
async fn the_callers_trace_reaches_seam_and_the_log_line() {
    let upstream = seam().await;
    let gateway = GatewayProcess::start(&[], &[("SEAM_ENDPOINT", &upstream.url), ("SEAM_API_KEY", API_KEY)]).await;
    let mut client = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .expect("connect");
    let mut request = tonic::Request::new(pb::LockDoorRequest {
        device_id: "d1".into(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01").parse().unwrap(),
    );
    let mut stream = client.lock_door(request).await.expect("LockDoor").into_inner();
    while stream.message().await.expect("stream").is_some() {}

    let received = upstream.received();
    let capability_read = received.iter().find(|r| r.path == "/locks/get").expect("read");
    let command = received.iter().find(|r| r.path == "/locks/lock_door").expect("command");
    let mut spans = Vec::new();
    for request in [capability_read, command] {
        let (trace, span) = ids(request.header("traceparent").expect("traceparent sent to Seam"));
        assert_eq!(trace, CALLER_TRACE, "{}", request.path);
        assert_ne!(span, CALLER_SPAN, "each Seam request is a span of its own");
        spans.push(span);
    }
    assert_ne!(spans[0], spans[1]);
    let line = gateway
        .wait_for_line("rpc", Duration::from_secs(5), |line| {
            line["fields"]["method"] == "LockDoor"
        })
        .await;
    assert_eq!(line["fields"]["trace_id"], CALLER_TRACE);
}

#[tokio::test]
async fn without_a_traceparent_a_new_trace_starts() {
    let upstream = seam().await;
    let gateway = GatewayProcess::start(&[], &[("SEAM_ENDPOINT", &upstream.url), ("SEAM_API_KEY", API_KEY)]).await;
    let mut client = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .expect("connect");
    for _ in 0..2 {
        client
            .get_lock(pb::GetLockRequest { device_id: "d1".into() })
            .await
            .expect("GetLock");
    }
    let traces: Vec<String> = upstream
        .received()
        .iter()
        .map(|r| ids(r.header("traceparent").expect("traceparent")).0)
        .collect();
    assert_eq!(traces.len(), 2);
    assert_ne!(traces[0], traces[1], "one trace per call");
    assert!(traces.iter().all(|t| t.len() == 32 && t != &"0".repeat(32)));
    let line = gateway
        .wait_for_line("rpc", Duration::from_secs(5), |line| {
            line["fields"]["method"] == "GetLock"
        })
        .await;
    assert!(traces.contains(&line["fields"]["trace_id"].as_str().unwrap().to_owned()));
}
