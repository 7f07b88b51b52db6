//! grpcurl, the way a user explores the gateway: server reflection (no proto
//! files at hand), health, a real call and a decoded error.
use crate::support;

use serde_json::Value;
use support::tools::{run, tool};
use support::{FakeSeam, Gateway, LOCK_1};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_and_describes_the_services() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let grpcurl = tool("grpcurl");
    let addr = gateway.addr.to_string();

    let (ok, listed, stderr) = run(&grpcurl, &["-plaintext", &addr, "list"]).await;
    assert!(ok, "grpcurl list failed: {stderr}");
    for service in [
        "seam.v1.LockService",
        "seam.v1.DeviceService",
        "seam.v1.ActionAttemptService",
        "seam.v1.EventService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            listed.lines().any(|line| line == service),
            "{service} missing from:\n{listed}"
        );
    }

    let (ok, described, stderr) = run(&grpcurl, &["-plaintext", &addr, "describe", "seam.v1.LockService"]).await;
    assert!(ok, "grpcurl describe failed: {stderr}");
    assert!(described.contains("rpc GetLock ( .seam.v1.GetLockRequest ) returns ( .seam.v1.GetLockResponse )"));
    assert!(
        described.contains("rpc LockDoor ( .seam.v1.LockDoorRequest ) returns ( stream .seam.v1.LockDoorResponse )")
    );
    assert!(
        described.contains("// Locks a door and streams the action attempt"),
        "comments are served"
    );

    let (ok, message, stderr) = run(&grpcurl, &["-plaintext", &addr, "describe", "seam.v1.Device"]).await;
    assert!(ok, "grpcurl describe Device failed: {stderr}");
    assert!(message.contains("optional bool can_remotely_lock = 7;"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_get_lock_prints_the_lock_as_json() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let grpcurl = tool("grpcurl");
    let addr = gateway.addr.to_string();
    let request = format!(r#"{{"device_id":"{LOCK_1}"}}"#);
    let (ok, printed, stderr) = run(
        &grpcurl,
        &["-plaintext", "-d", &request, &addr, "seam.v1.LockService/GetLock"],
    )
    .await;
    assert!(ok, "grpcurl GetLock failed: {stderr}");
    let answer: Value = serde_json::from_str(&printed).expect("grpcurl prints JSON");
    assert_eq!(answer["lock"]["deviceId"], LOCK_1);
    assert_eq!(answer["lock"]["deviceType"], "august_lock");
    assert_eq!(answer["lock"]["canRemotelyLock"], true);
    assert_eq!(answer["lock"]["properties"]["manufacturer"], "august");
    assert_eq!(answer["lock"]["seamObject"]["device_id"], LOCK_1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_decodes_error_details_and_health() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let grpcurl = tool("grpcurl");
    let addr = gateway.addr.to_string();

    let (ok, _, printed) = run(
        &grpcurl,
        &[
            "-plaintext",
            "-d",
            r#"{"device_id":"nope"}"#,
            &addr,
            "seam.v1.LockService/GetLock",
        ],
    )
    .await;
    assert!(!ok, "an unknown lock fails");
    assert!(printed.contains("Code: NotFound"), "{printed}");
    assert!(
        printed.contains(r#""reason":"DEVICE_NOT_FOUND""#),
        "ErrorInfo decoded through reflection: {printed}"
    );

    let (ok, health, stderr) = run(
        &grpcurl,
        &[
            "-plaintext",
            "-d",
            r#"{"service":"seam.v1.LockService"}"#,
            &addr,
            "grpc.health.v1.Health/Check",
        ],
    )
    .await;
    assert!(ok, "health check failed: {stderr}");
    assert!(health.contains("SERVING"), "{health}");
}
