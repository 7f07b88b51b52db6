//! Seam's webhooks (`--webhook-listen`): deliveries signed here, verified by
//! the gateway, and what they change: WatchEvents callers get the event at
//! once, a LockDoor stream ends as soon as Seam says its attempt completed,
//! and polling slows to the safety schedule while deliveries arrive.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::pb;
use serde_json::json;
use support::process::GatewayProcess;
use support::webhook_delivery::{OTHER_SECRET, SECRET, deliver, event, now, post, signature, signed};
use support::{API_KEY, FakeSeam, LOCK_1};
use tonic::Streaming;
use tonic::transport::Channel;

async fn gateway(fake: &FakeSeam, extra: &[&str]) -> GatewayProcess {
    let mut args = vec!["--webhook-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    GatewayProcess::start(
        &args,
        &[
            ("SEAM_ENDPOINT", &fake.url),
            ("SEAM_API_KEY", API_KEY),
            ("SEAM_WEBHOOK_SECRET", SECRET),
        ],
    )
    .await
}

async fn channel(gateway: &GatewayProcess) -> Channel {
    Channel::from_shared(gateway.url())
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

async fn watch(channel: &Channel, event_types: &[&str]) -> Streaming<pb::WatchEventsResponse> {
    let mut events = pb::event_service_client::EventServiceClient::new(channel.clone());
    events
        .watch_events(pb::WatchEventsRequest {
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            ..Default::default()
        })
        .await
        .expect("WatchEvents")
        .into_inner()
}

async fn next_event(stream: &mut Streaming<pb::WatchEventsResponse>, within: Duration) -> pb::Event {
    tokio::time::timeout(within, stream.message())
        .await
        .unwrap_or_else(|_| panic!("an event within {within:?}"))
        .expect("the stream is healthy")
        .expect("the stream is open")
        .event
        .expect("event")
}

/// A LockDoor stream on LOCK_1, and its first message: the pending attempt.
async fn lock_door(gateway: &GatewayProcess) -> (Streaming<pb::LockDoorResponse>, pb::ActionAttempt) {
    let mut locks = pb::lock_service_client::LockServiceClient::new(channel(gateway).await);
    let mut stream = locks
        .lock_door(pb::LockDoorRequest {
            device_id: LOCK_1.into(),
            ..Default::default()
        })
        .await
        .expect("LockDoor")
        .into_inner();
    let pending = stream.message().await.unwrap().unwrap().action_attempt.unwrap();
    (stream, pending)
}

#[tokio::test]
async fn only_deliveries_whose_signature_holds_reach_callers() {
    let fake = FakeSeam::start().await;
    let gateway = gateway(&fake, &["--webhook-max-body-bytes", "4096"]).await;
    let webhooks = gateway.webhook_address().await;
    let channel = channel(&gateway).await;
    let mut stream = watch(&channel, &["lock.locked"]).await;
    let forged = event("evt_forged", "lock.locked", json!({"device_id": LOCK_1}));
    let at = now();

    let wrong_secret = signed(OTHER_SECRET, "msg_forged_1", at, &forged);
    assert_eq!(
        post(&webhooks, &wrong_secret, &forged).await,
        401,
        "another secret's signature"
    );
    let stale = signed(SECRET, "msg_forged_2", at - 400, &forged);
    assert_eq!(post(&webhooks, &stale, &forged).await, 401, "a timestamp 400 s old");
    let unsigned = vec![
        ("svix-id", "msg_forged_3".to_owned()),
        ("svix-timestamp", at.to_string()),
    ];
    assert_eq!(post(&webhooks, &unsigned, &forged).await, 401, "no signature");
    let altered = forged.replace("evt_forged", "evt_altered");
    let signed_other_body = signed(SECRET, "msg_forged_4", at, &forged);
    assert_eq!(
        post(&webhooks, &signed_other_body, &altered).await,
        401,
        "a changed body"
    );
    let oversized = event("evt_big", "lock.locked", json!({"padding": "x".repeat(8192)}));
    assert_eq!(
        post(&webhooks, &signed(SECRET, "msg_big", at, &oversized), &oversized).await,
        413
    );

    // During a secret rotation Seam signs with the old and the new secret.
    let genuine = event("evt_genuine", "lock.locked", json!({"device_id": LOCK_1}));
    let rotating = format!(
        "{} {}",
        signature(OTHER_SECRET, "msg_genuine", at, &genuine),
        signature(SECRET, "msg_genuine", at, &genuine)
    );
    let headers = vec![
        ("webhook-id", "msg_genuine".to_owned()),
        ("webhook-timestamp", at.to_string()),
        ("webhook-signature", rotating),
    ];
    assert_eq!(
        post(&webhooks, &headers, &genuine).await,
        204,
        "one of two signatures holds"
    );
    assert_eq!(
        post(&webhooks, &headers, &genuine).await,
        200,
        "a replayed id is acknowledged and ignored"
    );

    // Nothing refused came first: the first event the caller sees is the genuine one.
    let first = next_event(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(first.event_id, "evt_genuine");
    assert_eq!(first.device_id, LOCK_1);

    let text = gateway.metrics().await;
    for (series, count) in [
        (r#"outcome="refused",reason="bad_signature""#, 2),
        (r#"outcome="refused",reason="stale_timestamp""#, 1),
        (r#"outcome="refused",reason="missing_headers""#, 1),
        (r#"outcome="too_large",reason="""#, 1),
        (r#"outcome="accepted",reason="""#, 1),
        (r#"outcome="replayed",reason="""#, 1),
    ] {
        let line = format!("seam_gateway_webhook_deliveries_total{{{series}}} {count}");
        assert!(text.contains(&line), "{line} in:\n{text}");
    }
    assert!(!text.contains("whsec_"), "no secret in the metrics");
}

#[tokio::test]
async fn lock_door_with_a_30s_first_check_completes_on_the_delivery() {
    let fake = FakeSeam::start().await;
    let gateway = gateway(&fake, &["--poll-initial", "30s"]).await;
    let webhooks = gateway.webhook_address().await;
    let (mut stream, pending) = lock_door(&gateway).await;
    assert_eq!(pending.status(), pb::action_attempt::Status::Pending);

    // Seam's delivery names the attempt: the poller reads it now, not in 30 s.
    let body = event(
        "evt_lock_succeeded",
        "action_attempt.lock_door.succeeded",
        json!({"action_attempt_id": pending.action_attempt_id, "action_type": "LOCK_DOOR",
               "status": "success", "device_id": LOCK_1}),
    );
    assert_eq!(deliver(&webhooks, "msg_lock_succeeded", &body).await, 204);
    let completed = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the stream ends within seconds of the delivery, not after the 30 s check")
        .expect("the stream is healthy")
        .expect("a final status")
        .action_attempt
        .unwrap();
    assert_eq!(completed.status(), pb::action_attempt::Status::Success);
    assert_eq!(completed.action_attempt_id, pending.action_attempt_id);
    assert!(stream.message().await.expect("ends OK").is_none(), "the stream ends");
}

#[tokio::test]
async fn while_deliveries_arrive_polling_waits_for_the_safety_interval() {
    let fake = FakeSeam::start().await;
    let gateway = gateway(&fake, &["--webhook-safety-poll-interval", "30s"]).await;
    let webhooks = gateway.webhook_address().await;
    // A test delivery (no event) proves the path.
    assert_eq!(
        deliver(&webhooks, "msg_test", r#"{"event_type": "webhook.test"}"#).await,
        204
    );
    gateway
        .wait_for_line(
            "webhook deliveries arriving: polling slows to the safety schedule",
            Duration::from_secs(5),
            |_| true,
        )
        .await;
    assert!(
        gateway
            .metrics()
            .await
            .contains("seam_gateway_webhook_deliveries_live 1")
    );

    let (mut stream, pending) = lock_door(&gateway).await;
    // The fake completes at once; at the normal schedule (25 ms) the stream
    // would end now. At the safety schedule it waits for the delivery.
    let early = tokio::time::timeout(Duration::from_millis(1500), stream.message()).await;
    assert!(early.is_err(), "no check before the safety interval: {early:?}");
    let body = event(
        "evt_safety",
        "action_attempt.lock_door.succeeded",
        json!({"action_attempt_id": pending.action_attempt_id}),
    );
    assert_eq!(deliver(&webhooks, "msg_safety", &body).await, 204);
    let completed = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("completed on the delivery")
        .unwrap()
        .unwrap()
        .action_attempt
        .unwrap();
    assert_eq!(completed.status(), pb::action_attempt::Status::Success);
}

#[tokio::test]
async fn a_pushed_event_arrives_at_once_while_the_tail_waits_30s() {
    let fake = FakeSeam::start().await;
    let gateway = gateway(&fake, &["--events-poll-interval", "30s"]).await;
    let webhooks = gateway.webhook_address().await;
    let channel = channel(&gateway).await;
    let mut stream = watch(&channel, &[]).await;
    // The tail's first poll happens as the caller subscribes; the next is 30 s away.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = event(
        "evt_pushed",
        "lock.unlocked",
        json!({"device_id": LOCK_1, "method": "remote"}),
    );
    assert_eq!(deliver(&webhooks, "msg_pushed", &body).await, 204);
    let pushed = next_event(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(
        (
            pushed.event_id.as_str(),
            pushed.event_type.as_str(),
            pushed.method.as_str()
        ),
        ("evt_pushed", "lock.unlocked", "remote")
    );
}

#[tokio::test]
async fn an_event_pushed_then_polled_reaches_the_caller_once() {
    let fake = FakeSeam::start().await;
    let gateway = gateway(&fake, &["--events-poll-interval", "2s"]).await;
    let webhooks = gateway.webhook_address().await;
    let channel = channel(&gateway).await;
    let mut stream = watch(&channel, &["lock.locked"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A real event in Seam, pushed by webhook before the tail's next poll lists it.
    let answer = fake.post("/locks/lock_door", json!({ "device_id": LOCK_1 })).await;
    assert_eq!(answer["ok"], true, "{answer}");
    let listed = fake
        .post(
            "/events/list",
            json!({ "event_type": "lock.locked", "since": "2000-01-01T00:00:00Z" }),
        )
        .await;
    let seam_event = listed["events"]
        .as_array()
        .and_then(|events| events.last())
        .cloned()
        .expect("the fake recorded lock.locked");
    let event_id = seam_event["event_id"].as_str().unwrap().to_owned();
    assert_eq!(deliver(&webhooks, "msg_real", &seam_event.to_string()).await, 204);
    let first = next_event(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(first.event_id, event_id);

    // Two polls later the tail has listed it too; then a later event arrives.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let sentinel = event("evt_sentinel", "lock.locked", json!({"device_id": LOCK_1}));
    assert_eq!(deliver(&webhooks, "msg_sentinel", &sentinel).await, 204);
    let next = next_event(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(
        next.event_id, "evt_sentinel",
        "the polled copy of {event_id} was not given again"
    );
}

#[tokio::test]
async fn a_webhook_listener_without_a_secret_refuses_to_start() {
    let output = tokio::process::Command::new(support::process::BINARY)
        .args(["--webhook-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"])
        .env("SEAM_API_KEY", API_KEY)
        .env_remove("SEAM_WEBHOOK_SECRET")
        .output()
        .await
        .expect("the binary runs");
    assert!(!output.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("SEAM_WEBHOOK_SECRET"), "{said}");
}

/// `seam-grpc-gateway webhooks register` against the fake, with or without the gateway's key.
async fn register(fake: &FakeSeam, key: Option<&str>, extra: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new(support::process::BINARY);
    command
        .args([
            "webhooks",
            "register",
            "--url",
            "https://doors.example.test/webhooks/seam",
        ])
        .args(extra)
        .env("SEAM_ENDPOINT", &fake.url);
    match key {
        Some(key) => command.env("SEAM_API_KEY", key),
        None => command.env_remove("SEAM_API_KEY"),
    };
    command.output().await.expect("the binary runs")
}

#[tokio::test]
async fn webhooks_register_asks_seam_and_prints_the_secret_to_use() {
    let fake = FakeSeam::start().await;
    // Types the fake knows (its list has no action_attempt.* yet).
    let output = register(&fake, Some(API_KEY), &["--event-types", "lock.locked,lock.unlocked"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let database = fake.database().await;
    let webhooks = database["webhooks"].as_array().expect("the fake's webhooks");
    assert_eq!(webhooks.len(), 1, "{webhooks:?}");
    let created = &webhooks[0];
    assert_eq!(created["url"], "https://doors.example.test/webhooks/seam");
    assert_eq!(created["event_types"], json!(["lock.locked", "lock.unlocked"]));
    let secret = created["secret"].as_str().expect("Seam chose a secret");
    assert!(
        stdout.contains(&format!("\nSEAM_WEBHOOK_SECRET={secret}\n")),
        "{stdout}"
    );
    // The fake's secrets are not Seam's `whsec_…`: the operator is told.
    assert!(stdout.contains("whsec_"), "{stdout}");
    let everything = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(!everything.contains(API_KEY), "the Seam key is never printed");
}

#[tokio::test]
async fn webhooks_register_without_the_gateways_key_registers_nothing() {
    let fake = FakeSeam::start().await;
    let output = register(&fake, None, &[]).await;
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("SEAM_API_KEY"), "{said}");
    let database = fake.database().await;
    assert_eq!(database["webhooks"].as_array().map_or(0, Vec::len), 0);
}
