//! Background polling shares one upstream budget per credential: many pending
//! attempts cannot flood Seam, and commands and unary reads never wait for it.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::{Config, pb};
use serde_json::json;
use support::scripted_upstream::{CannedResponse, ScriptedUpstream};
use support::{API_KEY, Gateway};

#[tokio::test]
async fn fifty_pending_attempts_poll_within_the_budget_and_reads_skip_the_queue() {
    let upstream = ScriptedUpstream::scripted(|request| match request.path.as_str() {
        "/locks/get" => CannedResponse::json(&json!({"lock": {"device_id": "d1"}, "ok": true})),
        _ => {
            let id = request.body["action_attempt_id"].as_str().unwrap_or("a").to_owned();
            CannedResponse::json(&json!({"action_attempt": {"action_attempt_id": id,
                "action_type": "LOCK_DOOR", "status": "pending"}, "ok": true}))
        }
    })
    .await;
    let mut config = Config::for_endpoint(&upstream.url);
    config.seam_api_key = Some(API_KEY.to_owned().into());
    config.max_polls_per_second = 5.0;
    let gateway = Gateway::start_with(config).await;
    let channel = gateway.channel().await;
    let mut streams = Vec::new();
    for n in 0..50 {
        let mut client = pb::action_attempt_service_client::ActionAttemptServiceClient::new(channel.clone());
        streams.push(
            client
                .watch_action_attempt(pb::WatchActionAttemptRequest {
                    action_attempt_id: format!("attempt{n}"),
                    ..Default::default()
                })
                .await
                .expect("WatchActionAttempt")
                .into_inner(),
        );
    }
    let started = std::time::Instant::now();
    // A unary read goes straight to Seam although 50 polls wait for turns.
    let lock = tokio::time::timeout(
        Duration::from_secs(1),
        gateway
            .locks()
            .await
            .get_lock(pb::GetLockRequest { device_id: "d1".into() }),
    )
    .await
    .expect("the read did not queue behind the polls")
    .expect("GetLock");
    assert_eq!(lock.into_inner().lock.expect("lock").device_id, "d1");

    tokio::time::sleep(Duration::from_secs(2)).await;
    let polls = upstream.count("/action_attempts/get");
    let seconds = started.elapsed().as_secs_f64();
    // One second's worth saved up, then five a second.
    let allowed = 5.0 + 5.0 * seconds + 1.0;
    assert!(polls as f64 <= allowed, "{polls} polls in {seconds:.1} s");
    assert!(polls >= 5, "polling goes on within the budget: {polls}");
    drop(streams);
}
