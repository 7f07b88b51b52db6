//! Pass-through mode: with no SEAM_API_KEY, each call carries its own Seam
//! credential in `authorization` (and `seam-workspace` for access tokens).
use crate::support;

use seam_grpc_gateway::{Config, pb};
use support::scripted_upstream::{CannedResponse, ScriptedUpstream};
use support::{FakeSeam, Gateway, LOCK_1, WORKSPACE};
use tonic::Code;

fn get_lock_request(credential: Option<&str>, workspace: Option<&str>) -> tonic::Request<pb::GetLockRequest> {
    let mut request = tonic::Request::new(pb::GetLockRequest {
        device_id: LOCK_1.into(),
    });
    if let Some(credential) = credential {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {credential}").parse().expect("ascii"));
    }
    if let Some(workspace) = workspace {
        request
            .metadata_mut()
            .insert("seam-workspace", workspace.parse().expect("ascii"));
    }
    request
}

#[tokio::test]
async fn without_any_credential_the_call_is_unauthenticated_before_seam() {
    let upstream = ScriptedUpstream::start(CannedResponse::new("200 OK", "application/json", "{}")).await;
    let gateway = Gateway::start_with(Config::for_endpoint(&upstream.url)).await;
    let status = gateway
        .locks()
        .await
        .get_lock(get_lock_request(None, None))
        .await
        .expect_err("no credential");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(support::error_info(&status).reason, "MISSING_CREDENTIAL");
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn callers_own_api_key_is_forwarded() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start_with(Config::for_endpoint(&fake.url)).await;
    let mut client = gateway.locks().await;
    let lock = client
        .get_lock(get_lock_request(Some(support::API_KEY), None))
        .await
        .expect("caller's key works")
        .into_inner()
        .lock
        .expect("lock");
    assert_eq!(lock.device_id, LOCK_1);

    let status = client
        .get_lock(get_lock_request(Some("seam_not_a_key"), None))
        .await
        .expect_err("wrong key");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(!status.message().contains("seam_not_a_key"));
}

#[tokio::test]
async fn personal_access_token_uses_the_workspace_header() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start_with(Config::for_endpoint(&fake.url)).await;
    let mut request = tonic::Request::new(pb::GetDeviceRequest {
        device_id: LOCK_1.into(),
    });
    request
        .metadata_mut()
        .insert("authorization", "Bearer seam_at1_longtoken".parse().expect("ascii"));
    request
        .metadata_mut()
        .insert("seam-workspace", WORKSPACE.parse().expect("ascii"));
    let device = gateway
        .devices()
        .await
        .get_device(request)
        .await
        .expect("PAT with workspace")
        .into_inner()
        .device
        .expect("device");
    assert_eq!(device.device_id, LOCK_1);
}
