//! GetActionAttempt against Seam's fake.
use crate::support;

use seam_grpc_gateway::pb;
use seam_grpc_gateway::pb::action_attempt::Status;
use serde_json::json;
use support::{FakeSeam, Gateway, LOCK_1};
use tonic::Code;

/// Sends a lock command straight to the fake and returns the attempt id.
async fn lock_directly(fake: &FakeSeam) -> String {
    let answer = fake.post("/locks/lock_door", json!({"device_id": LOCK_1})).await;
    answer["action_attempt"]["action_attempt_id"]
        .as_str()
        .expect("attempt id")
        .to_owned()
}

#[tokio::test]
async fn get_action_attempt_reports_success() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let attempt_id = lock_directly(&fake).await;
    let attempt = gateway
        .action_attempts()
        .await
        .get_action_attempt(pb::GetActionAttemptRequest {
            action_attempt_id: attempt_id.clone(),
        })
        .await
        .expect("GetActionAttempt")
        .into_inner()
        .action_attempt
        .expect("attempt");
    assert_eq!(attempt.action_attempt_id, attempt_id);
    assert_eq!(attempt.action_type, "LOCK_DOOR");
    assert_eq!(attempt.status(), Status::Success);
    assert!(attempt.result.is_some());
    assert!(attempt.error.is_none());
}

#[tokio::test]
async fn get_action_attempt_reports_a_failure_as_data() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let attempt_id = lock_directly(&fake).await;
    let updated = fake
        .post(
            "/_fake/update_action_attempt",
            json!({"action_attempt_id": attempt_id, "status": "error",
                   "error": {"type": "device_offline", "message": "Device is offline"}}),
        )
        .await;
    assert_eq!(updated["ok"], true);
    let attempt = gateway
        .action_attempts()
        .await
        .get_action_attempt(pb::GetActionAttemptRequest {
            action_attempt_id: attempt_id,
        })
        .await
        .expect("a failed attempt is still a successful read")
        .into_inner()
        .action_attempt
        .expect("attempt");
    assert_eq!(attempt.status(), Status::Error);
    let error = attempt.error.expect("error");
    assert_eq!(error.r#type, "device_offline");
    assert_eq!(error.message, "Device is offline");
    assert!(attempt.result.is_none());
}

#[tokio::test]
async fn unknown_action_attempt_is_not_found_with_its_id() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let status = gateway
        .action_attempts()
        .await
        .get_action_attempt(pb::GetActionAttemptRequest {
            action_attempt_id: "no_such_attempt".into(),
        })
        .await
        .expect_err("unknown id");
    assert_eq!(status.code(), Code::NotFound);
    let info = support::error_info(&status);
    assert_eq!(info.reason, "ACTION_ATTEMPT_NOT_FOUND");
    assert_eq!(info.metadata["action_attempt_id"], "no_such_attempt");
}
