//! LockDoor, UnlockDoor and WatchActionAttempt: the attempt's status streamed
//! until it completes, against Seam's fake.
//!
//! The fake completes every attempt at once. To hold one pending, a test turns
//! on the fake's outage for `/action_attempts/get`, sends the command, sets the
//! attempt back to `pending` with `/_fake/update_action_attempt`, and lifts the
//! outage.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::pb::action_attempt::Status as AttemptStatus;
use seam_grpc_gateway::{Config, pb};
use support::{FakeSeam, Gateway, KEYPAD_ONLY_LOCK, LOCK_1, OFFLINE_LOCK, drain};
use tonic::{Code, Streaming};

fn config(fake: &FakeSeam) -> Config {
    let mut config = Config::for_endpoint(&fake.url);
    config.seam_api_key = Some(support::API_KEY.to_owned().into());
    config
}

fn lock_request(device_id: &str) -> pb::LockDoorRequest {
    pb::LockDoorRequest {
        device_id: device_id.into(),
        ..Default::default()
    }
}

fn statuses(messages: &[pb::LockDoorResponse]) -> Vec<AttemptStatus> {
    messages
        .iter()
        .map(|m| m.action_attempt.as_ref().expect("attempt").status())
        .collect()
}

async fn is_locked(gateway: &Gateway) -> Option<bool> {
    let lock = gateway
        .locks()
        .await
        .get_lock(pb::GetLockRequest {
            device_id: LOCK_1.into(),
        })
        .await
        .expect("GetLock")
        .into_inner()
        .lock
        .expect("lock");
    lock.properties.expect("properties").locked
}

/// Sends LockDoor and holds its attempt pending upstream; returns the stream
/// (first message already read) and the attempt id.
async fn lock_held_pending(
    fake: &FakeSeam,
    gateway: &Gateway,
    request: tonic::Request<pb::LockDoorRequest>,
) -> (Streaming<pb::LockDoorResponse>, String) {
    fake.outage(&["/action_attempts/get"]).await;
    let mut stream = gateway
        .locks()
        .await
        .lock_door(request)
        .await
        .expect("LockDoor")
        .into_inner();
    let first = stream.message().await.expect("first message").expect("a message");
    let attempt = first.action_attempt.expect("attempt");
    assert_eq!(attempt.status(), AttemptStatus::Pending);
    fake.set_attempt(&attempt.action_attempt_id, "pending").await;
    fake.outage(&[]).await;
    (stream, attempt.action_attempt_id)
}

#[tokio::test]
async fn lock_then_unlock_streams_pending_then_success_and_flips_the_lock() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let mut locks = gateway.locks().await;

    let mut stream = locks
        .lock_door(lock_request(LOCK_1))
        .await
        .expect("LockDoor")
        .into_inner();
    let (messages, end) = drain(&mut stream).await;
    end.expect("the stream ends OK");
    assert_eq!(statuses(&messages), [AttemptStatus::Pending, AttemptStatus::Success]);
    let ids: Vec<&str> = messages
        .iter()
        .map(|m| m.action_attempt.as_ref().unwrap().action_attempt_id.as_str())
        .collect();
    assert_eq!(ids[0], ids[1], "both messages are snapshots of one attempt");
    assert_eq!(messages[1].action_attempt.as_ref().unwrap().action_type, "LOCK_DOOR");
    assert_eq!(is_locked(&gateway).await, Some(true));

    let mut stream = locks
        .unlock_door(pb::UnlockDoorRequest {
            device_id: LOCK_1.into(),
            ..Default::default()
        })
        .await
        .expect("UnlockDoor")
        .into_inner();
    let (messages, end) = drain(&mut stream).await;
    end.expect("the stream ends OK");
    let statuses: Vec<AttemptStatus> = messages
        .iter()
        .map(|m| m.action_attempt.as_ref().unwrap().status())
        .collect();
    assert_eq!(statuses, [AttemptStatus::Pending, AttemptStatus::Success]);
    assert_eq!(messages[1].action_attempt.as_ref().unwrap().action_type, "UNLOCK_DOOR");
    assert_eq!(is_locked(&gateway).await, Some(false));
}

#[tokio::test]
async fn a_failed_attempt_ends_the_stream_ok_with_the_error_as_data() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    fake.outage(&["/action_attempts/get"]).await;
    let mut stream = gateway
        .locks()
        .await
        .lock_door(lock_request(LOCK_1))
        .await
        .expect("LockDoor")
        .into_inner();
    let first = stream.message().await.expect("first").expect("a message");
    let attempt_id = first.action_attempt.expect("attempt").action_attempt_id;
    fake.set_attempt(&attempt_id, "error").await;
    fake.outage(&[]).await;

    let (messages, end) = drain(&mut stream).await;
    end.expect("a failed lock is data, not an RPC error");
    let last = messages
        .last()
        .expect("a final message")
        .action_attempt
        .clone()
        .expect("attempt");
    assert_eq!(last.status(), AttemptStatus::Error);
    assert_eq!(last.action_attempt_id, attempt_id);
    let error = last.error.expect("error");
    assert_eq!(error.r#type, "device_offline");
    assert_eq!(error.message, "Device went offline");
}

#[tokio::test]
async fn pending_at_the_callers_deadline_ends_deadline_exceeded_and_watch_resumes() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let mut request = tonic::Request::new(lock_request(LOCK_1));
    request.set_timeout(Duration::from_millis(1500));
    let (mut stream, attempt_id) = lock_held_pending(&fake, &gateway, request).await;

    let (_, end) = drain(&mut stream).await;
    let status = end.expect_err("still pending at the deadline");
    assert_eq!(status.code(), Code::DeadlineExceeded);
    let info = support::error_info(&status);
    assert_eq!(info.reason, "ACTION_ATTEMPT_STILL_PENDING");
    assert_eq!(info.metadata["action_attempt_id"], attempt_id);

    let mut watch = watch_while_pending(gateway.action_attempts().await, &attempt_id).await;
    fake.set_attempt(&attempt_id, "success").await;
    let (messages, end) = drain(&mut watch).await;
    end.expect("ends OK");
    let last = messages.last().expect("final").action_attempt.clone().expect("attempt");
    assert_eq!(last.status(), AttemptStatus::Success);
    assert_eq!(last.action_attempt_id, attempt_id);
}

#[tokio::test]
async fn budget_running_out_during_an_outage_ends_unavailable_with_the_attempt_id() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    fake.outage(&["/action_attempts/get"]).await;
    let mut stream = gateway
        .locks()
        .await
        .lock_door(pb::LockDoorRequest {
            device_id: LOCK_1.into(),
            wait_timeout: Some(prost_types::Duration {
                seconds: 0,
                nanos: 600_000_000,
            }),
            ..Default::default()
        })
        .await
        .expect("LockDoor")
        .into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(statuses(&messages), [AttemptStatus::Pending]);
    let attempt_id = &messages[0].action_attempt.as_ref().unwrap().action_attempt_id;
    let status = end.expect_err("outage until the budget ran out");
    assert_eq!(status.code(), Code::Unavailable);
    let info = support::error_info(&status);
    assert_eq!(info.reason, "SEAM_UNAVAILABLE");
    assert_eq!(&info.metadata["action_attempt_id"], attempt_id);
}

#[tokio::test]
async fn missing_capability_or_offline_device_is_refused_before_any_command() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let mut locks = gateway.locks().await;
    let commands_before = fake.action_attempt_count().await;

    let offline = locks
        .lock_door(lock_request(OFFLINE_LOCK))
        .await
        .expect_err("offline lock");
    assert_eq!(offline.code(), Code::FailedPrecondition);
    let info = support::error_info(&offline);
    assert_eq!(info.metadata["device_errors"], "device_offline");
    assert_eq!(info.metadata["device_id"], OFFLINE_LOCK);

    let keypad_only = locks
        .unlock_door(pb::UnlockDoorRequest {
            device_id: KEYPAD_ONLY_LOCK.into(),
            ..Default::default()
        })
        .await
        .expect_err("no remote unlock");
    assert_eq!(keypad_only.code(), Code::FailedPrecondition);
    assert_eq!(
        support::error_info(&keypad_only).metadata["capability"],
        "can_remotely_unlock"
    );

    let empty = locks.lock_door(lock_request("")).await.expect_err("empty id");
    assert_eq!(empty.code(), Code::InvalidArgument);
    let unknown = locks
        .lock_door(lock_request("no_such_lock"))
        .await
        .expect_err("unknown id");
    assert_eq!(unknown.code(), Code::NotFound);

    assert_eq!(
        fake.action_attempt_count().await,
        commands_before,
        "no command was sent"
    );
}

#[tokio::test]
async fn the_same_request_id_sends_one_command_and_reattaches() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let commands_before = fake.action_attempt_count().await;
    let request = || pb::LockDoorRequest {
        device_id: LOCK_1.into(),
        request_id: "order-66".into(),
        ..Default::default()
    };
    let mut first_client = gateway.locks().await;
    let mut second_client = gateway.locks().await;
    // Two at once, then one more after both finished.
    let (first, second) = tokio::join!(first_client.lock_door(request()), second_client.lock_door(request()));
    let mut attempt_ids = Vec::new();
    for response in [first, second] {
        let (messages, end) = drain(&mut response.expect("LockDoor").into_inner()).await;
        end.expect("ends OK");
        assert_eq!(
            messages.last().unwrap().action_attempt.as_ref().unwrap().status(),
            AttemptStatus::Success
        );
        attempt_ids.push(messages[0].action_attempt.as_ref().unwrap().action_attempt_id.clone());
    }
    let (messages, _) = drain(&mut first_client.lock_door(request()).await.expect("LockDoor").into_inner()).await;
    attempt_ids.push(messages[0].action_attempt.as_ref().unwrap().action_attempt_id.clone());

    assert!(attempt_ids.iter().all(|id| *id == attempt_ids[0]), "{attempt_ids:?}");
    assert_eq!(
        fake.action_attempt_count().await,
        commands_before + 1,
        "one command sent"
    );

    let (other, _) = drain(
        &mut first_client
            .lock_door(pb::LockDoorRequest {
                request_id: "order-67".into(),
                ..request()
            })
            .await
            .expect("LockDoor")
            .into_inner(),
    )
    .await;
    assert_ne!(
        other[0].action_attempt.as_ref().unwrap().action_attempt_id,
        attempt_ids[0]
    );
    assert_eq!(fake.action_attempt_count().await, commands_before + 2);
}

#[tokio::test]
async fn polling_stops_when_the_caller_goes_away() {
    let fake = FakeSeam::start().await;
    let mut config = config(&fake);
    config.poll_initial = Duration::from_millis(20);
    config.poll_multiplier = 1.0;
    config.poll_max = Duration::from_millis(20);
    let gateway = Gateway::start_with(config).await;
    let (stream, _attempt_id) = lock_held_pending(&fake, &gateway, tonic::Request::new(lock_request(LOCK_1))).await;

    let before = fake.request_counter().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let while_watched = fake.request_counter().await - before - 1;
    assert!(
        while_watched >= 3,
        "the gateway polls while someone watches ({while_watched})"
    );

    drop(stream);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_leaving = fake.request_counter().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = fake.request_counter().await;
    assert_eq!(
        later - after_leaving,
        1,
        "only the counter's own request: no more polls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_watchers_of_one_attempt_share_one_poll_per_tick() {
    let fake = FakeSeam::start().await;
    let mut config = config(&fake);
    config.poll_initial = Duration::from_millis(100);
    config.poll_multiplier = 1.0;
    config.poll_max = Duration::from_millis(100);
    let gateway = Gateway::start_with(config).await;
    let (lock_stream, attempt_id) = lock_held_pending(&fake, &gateway, tonic::Request::new(lock_request(LOCK_1))).await;

    // A few connections with many streams each, as real callers would have.
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(gateway.channel().await);
    }
    let mut watchers = Vec::new();
    for n in 0..100 {
        let channel = channels[n % channels.len()].clone();
        let client = pb::action_attempt_service_client::ActionAttemptServiceClient::new(channel);
        watchers.push(watch_while_pending(client, &attempt_id).await);
    }

    let before = fake.request_counter().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let polls = fake.request_counter().await - before - 1;
    // One poller at 100 ms makes about 10 polls a second; one per watcher would be 1000.
    assert!(
        (5..=15).contains(&polls),
        "{polls} upstream polls in one second for 101 watchers"
    );

    fake.set_attempt(&attempt_id, "success").await;
    for stream in &mut watchers {
        let (messages, end) = drain(stream).await;
        end.expect("ends OK");
        assert_eq!(
            messages.last().unwrap().action_attempt.as_ref().unwrap().status(),
            AttemptStatus::Success
        );
    }
    drop(lock_stream);
}

#[tokio::test]
async fn shutdown_ends_open_streams_unavailable_with_their_attempt_within_the_grace() {
    let fake = FakeSeam::start().await;
    let mut config = config(&fake);
    config.shutdown_grace = Duration::from_secs(2);
    let gateway = Gateway::start_with(config).await;
    let (mut stream, attempt_id) = lock_held_pending(&fake, &gateway, tonic::Request::new(lock_request(LOCK_1))).await;

    let mut health = tonic_health::pb::health_client::HealthClient::new(gateway.channel().await);
    let mut health_updates = health
        .watch(tonic_health::pb::HealthCheckRequest {
            service: "seam.v1.LockService".into(),
        })
        .await
        .expect("Health/Watch")
        .into_inner();
    let serving = health_updates.message().await.expect("health").expect("a message");
    assert_eq!(
        serving.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    // The callers keep their streams (and connections) open; serve must still return.
    tokio::time::timeout(Duration::from_secs(10), gateway.stop())
        .await
        .expect("serve returns within the grace period");

    let (_, end) = drain(&mut stream).await;
    let status = end.expect_err("the stream ends with the shutdown");
    assert_eq!(status.code(), Code::Unavailable);
    let info = support::error_info(&status);
    assert_eq!(info.reason, "SHUTTING_DOWN");
    assert_eq!(info.metadata["action_attempt_id"], attempt_id);

    let not_serving = health_updates.message().await.ok().flatten();
    assert_eq!(
        not_serving.map(|m| m.status()),
        Some(tonic_health::pb::health_check_response::ServingStatus::NotServing)
    );
}

/// Opens `WatchActionAttempt` on an attempt that is still pending; its first
/// message, the pending snapshot, has been read.
async fn watch_while_pending(
    mut client: pb::action_attempt_service_client::ActionAttemptServiceClient<tonic::transport::Channel>,
    attempt_id: &str,
) -> tonic::Streaming<pb::WatchActionAttemptResponse> {
    let mut stream = client
        .watch_action_attempt(pb::WatchActionAttemptRequest {
            action_attempt_id: attempt_id.to_owned(),
            ..Default::default()
        })
        .await
        .expect("WatchActionAttempt")
        .into_inner();
    let first = stream.message().await.expect("first").expect("a message");
    assert_eq!(first.action_attempt.expect("attempt").status(), AttemptStatus::Pending);
    stream
}
