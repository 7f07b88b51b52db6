//! The audit trail (`--audit-log`) against Seam's fake: a decision record on
//! disk before each command, the command's later records, denied reads; fail
//! closed on an unwritable file (`/dev/full`): UNAVAILABLE and nothing sent;
//! `kill -9` right after a command leaves its record; SIGHUP reopens the file.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::{Config, pb};
use serde_json::Value;
use support::pki::TempFiles;
use support::process::GatewayProcess;
use support::{API_KEY, FakeSeam, Gateway, LOCK_1};
use tonic::Code;

fn records(path: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON record per line ({e}): {line}")))
        .collect()
}

async fn wait_for_records(path: &str, matches: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = records(path);
        if matches(&found) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "records within 10 s: {found:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn unlock_request(device_id: &str, request_id: &str) -> tonic::Request<pb::UnlockDoorRequest> {
    let mut request = tonic::Request::new(pb::UnlockDoorRequest {
        device_id: device_id.into(),
        request_id: request_id.into(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    request
}

async fn start(fake: &FakeSeam, audit_log: &str, policy: Option<String>) -> Gateway {
    let mut config = Config::for_endpoint(&fake.url);
    config.seam_api_key = Some(API_KEY.to_owned().into());
    config.audit_log = Some(audit_log.to_owned());
    config.policy = policy.map(Into::into);
    Gateway::start_with(config).await
}

#[tokio::test]
async fn each_command_is_recorded_before_it_is_sent_then_with_its_outcome() {
    let fake = FakeSeam::start().await;
    let files = TempFiles::new("audit");
    let audit_log = files.path("audit.jsonl");
    let gateway = start(&fake, &audit_log, None).await;
    let mut locks = gateway.locks().await;
    let mut stream = locks
        .unlock_door(unlock_request(LOCK_1, "r-1"))
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}

    let found = wait_for_records(&audit_log, |r| r.iter().any(|r| r["outcome"] == "success")).await;
    let outcomes: Vec<&str> = found.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["allowed", "sent", "success"], "{found:#?}");
    let decision = &found[0];
    assert_eq!(decision["caller"], "anonymous");
    assert_eq!(decision["auth_method"], "none");
    assert_eq!(decision["rpc_method"], "/seam.v1.LockService/UnlockDoor");
    assert_eq!(decision["device_id"], LOCK_1);
    assert_eq!(decision["authorized"], true);
    assert_eq!(decision["policy_ids"], serde_json::json!([]));
    assert_eq!(decision["request_id"], "r-1");
    assert_eq!(decision["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(
        decision.get("action_attempt_id").is_none(),
        "Seam has not answered yet: absent, not invented"
    );
    let attempt_id = found[1]["action_attempt_id"]
        .as_str()
        .expect("the sent record names the attempt");
    assert_eq!(found[2]["action_attempt_id"], attempt_id);
    assert_eq!(found[2]["grpc_code"], "OK");
    assert!(found[1]["seam_request_id"].is_string());
}

#[tokio::test]
async fn denials_are_recorded_and_a_denied_command_is_not_sent() {
    let fake = FakeSeam::start().await;
    let files = TempFiles::new("audit-denied");
    let audit_log = files.path("audit.jsonl");
    let policy = files.write(
        "policy.cedar",
        "@id(\"reads-only\")\npermit(principal, action in Seam::Action::\"read\", resource)\nwhen { resource.device_type == \"august_lock\" };",
    );
    let gateway = start(&fake, &audit_log, Some(policy)).await;
    let attempts = fake.action_attempt_count().await;
    let mut locks = gateway.locks().await;
    let denied = locks.unlock_door(unlock_request(LOCK_1, "r-2")).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied_read = locks
        .get_lock(pb::GetLockRequest {
            device_id: "schlage_device_id".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied_read.code(), Code::PermissionDenied);
    assert_eq!(fake.action_attempt_count().await, attempts, "nothing reached Seam");

    let found = wait_for_records(&audit_log, |r| r.len() >= 2).await;
    assert_eq!(found[0]["outcome"], "denied");
    assert_eq!(found[0]["authorized"], false);
    assert_eq!(found[0]["grpc_code"], "PERMISSION_DENIED");
    assert_eq!(found[0]["rpc_method"], "/seam.v1.LockService/UnlockDoor");
    assert_eq!(found[1]["outcome"], "denied");
    assert_eq!(found[1]["rpc_method"], "/seam.v1.LockService/GetLock");
    assert_eq!(found[1]["device_id"], "schlage_device_id");
}

#[tokio::test]
async fn an_unwritable_audit_log_refuses_commands_and_sends_nothing() {
    let fake = FakeSeam::start().await;
    let gateway = start(&fake, "/dev/full", None).await;
    let attempts = fake.action_attempt_count().await;
    let mut locks = gateway.locks().await;
    let refused = locks.unlock_door(unlock_request(LOCK_1, "r-3")).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert_eq!(support::error_info(&refused).reason, "AUDIT_UNAVAILABLE");
    assert_eq!(fake.action_attempt_count().await, attempts, "no unaudited command");
    locks
        .get_lock(pb::GetLockRequest {
            device_id: LOCK_1.into(),
        })
        .await
        .expect("reads need no audit record");
}

#[tokio::test]
async fn kill_9_right_after_a_command_leaves_its_record_and_sighup_reopens_the_file() {
    let fake = FakeSeam::start().await;
    let files = TempFiles::new("audit-kill");
    let audit_log = files.path("audit.jsonl");
    let mut gateway = GatewayProcess::start(
        &["--seam-endpoint", &fake.url, "--audit-log", &audit_log],
        &[("SEAM_API_KEY", API_KEY)],
    )
    .await;

    // Log rotation: the file is moved away, SIGHUP, records go to a new file.
    let mut locks = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .unwrap();
    let mut stream = locks
        .unlock_door(unlock_request(LOCK_1, "before-rotation"))
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    wait_for_records(&audit_log, |r| r.iter().any(|r| r["outcome"] == "success")).await;
    let rotated = files.path("audit.jsonl.1");
    std::fs::rename(&audit_log, &rotated).unwrap();
    gateway.signal("HUP").await;
    gateway
        .wait_for_line("audit log reopened", Duration::from_secs(5), |_| true)
        .await;

    let mut stream = locks
        .unlock_door(unlock_request(LOCK_1, "killed"))
        .await
        .unwrap()
        .into_inner();
    stream
        .message()
        .await
        .unwrap()
        .expect("the pending attempt: the command was sent");
    gateway.child.start_kill().unwrap();
    gateway.child.wait().await.unwrap();

    let after = records(&audit_log);
    let decision = after
        .iter()
        .find(|r| r["request_id"] == "killed" && r["outcome"] == "allowed")
        .unwrap_or_else(|| panic!("the decision record survived kill -9: {after:#?}"));
    assert_eq!(decision["authorized"], true);
    assert!(records(&rotated).iter().all(|r| r["request_id"] == "before-rotation"));
}

#[tokio::test]
async fn over_the_command_rate_limit_a_command_is_refused_audited_and_not_sent() {
    let fake = FakeSeam::start().await;
    let files = TempFiles::new("audit-rate");
    let audit_log = files.path("audit.jsonl");
    let mut config = Config::for_endpoint(&fake.url);
    config.seam_api_key = Some(API_KEY.to_owned().into());
    config.audit_log = Some(audit_log.clone());
    config.command_rate_limit = Some(seam_grpc_gateway::config::parse_command_rate("2/m").unwrap());
    let gateway = Gateway::start_with(config).await;
    let mut locks = gateway.locks().await;
    for request_id in ["first", "second"] {
        let mut stream = locks
            .unlock_door(unlock_request(LOCK_1, request_id))
            .await
            .unwrap()
            .into_inner();
        while stream.message().await.unwrap().is_some() {}
    }
    let attempts = fake.action_attempt_count().await;
    let limited = locks.unlock_door(unlock_request(LOCK_1, "third")).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
    assert_eq!(support::error_info(&limited).reason, "COMMAND_RATE_LIMITED");
    let details = tonic_types::StatusExt::get_error_details(&limited);
    let retry = details
        .retry_info()
        .and_then(|info| info.retry_delay)
        .expect("RetryInfo");
    assert!(
        retry > Duration::from_secs(20) && retry <= Duration::from_secs(30),
        "{retry:?}"
    );
    assert_eq!(fake.action_attempt_count().await, attempts, "nothing sent");
    let found = wait_for_records(&audit_log, |r| r.iter().any(|r| r["request_id"] == "third")).await;
    let third = found.iter().find(|r| r["request_id"] == "third").unwrap();
    assert_eq!(third["outcome"], "denied");
    assert_eq!(third["authorized"], false);
    assert_eq!(third["grpc_code"], "RESOURCE_EXHAUSTED");
}
