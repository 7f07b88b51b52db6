//! The admin listener: Prometheus metrics after known calls, liveness and
//! readiness (503 once shutdown began, while calls drain).
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::pb;
use serde_json::json;
use support::process::GatewayProcess;
use support::scripted_upstream::{CannedResponse, ScriptedUpstream};
use support::{API_KEY, FakeSeam, LOCK_1};

async fn admin_address(gateway: &GatewayProcess) -> String {
    gateway.admin_address().await
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("the admin listener answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// A series as `name` and its sorted `key="value"` labels.
fn series_key(series: &str) -> (String, Vec<String>) {
    match series.split_once('{') {
        Some((name, labels)) => {
            let mut labels: Vec<String> = labels
                .trim_end_matches('}')
                .split(',')
                .filter(|label| !label.is_empty())
                .map(str::to_owned)
                .collect();
            labels.sort();
            (name.to_owned(), labels)
        }
        None => (series.to_owned(), Vec::new()),
    }
}

/// The value of the sample `name{labels}`, whatever the order of its labels.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    let wanted = series_key(series);
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| series_key(series) == wanted)
        .and_then(|(_, value)| value.parse().ok())
}

#[tokio::test]
async fn metrics_count_known_calls_with_bounded_labels() {
    let fake = FakeSeam::start().await;
    let gateway = GatewayProcess::start(
        &["--admin-listen", "127.0.0.1:0"],
        &[("SEAM_ENDPOINT", &fake.url), ("SEAM_API_KEY", API_KEY)],
    )
    .await;
    let admin = admin_address(&gateway).await;
    let mut locks = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .expect("connect");
    for _ in 0..2 {
        locks
            .get_lock(pb::GetLockRequest {
                device_id: LOCK_1.into(),
            })
            .await
            .expect("GetLock");
    }
    locks
        .get_lock(pb::GetLockRequest {
            device_id: "nope".into(),
        })
        .await
        .expect_err("unknown lock");
    support::lock_door_to_the_end(&mut locks, LOCK_1).await;

    let (status, metrics) = get(&format!("http://{admin}/metrics")).await;
    assert_eq!(status, 200);
    let get_lock = r#"grpc_method="GetLock",grpc_service="seam.v1.LockService",grpc_type="unary""#;
    assert_eq!(
        sample(&metrics, &format!("grpc_server_started_total{{{get_lock}}}")),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            &format!(r#"grpc_server_handled_total{{grpc_code="OK",{get_lock}}}"#)
        ),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            &format!(r#"grpc_server_handled_total{{grpc_code="NotFound",{get_lock}}}"#)
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, &format!("grpc_server_handling_seconds_count{{{get_lock}}}")),
        Some(3.0)
    );
    let lock_door = r#"grpc_method="LockDoor",grpc_service="seam.v1.LockService",grpc_type="server_stream""#;
    assert_eq!(
        sample(
            &metrics,
            &format!(r#"grpc_server_handled_total{{grpc_code="OK",{lock_door}}}"#)
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, r#"seam_gateway_open_streams{grpc_method="LockDoor"}"#),
        Some(0.0)
    );
    // GetLock ×2 and LockDoor's capability read: 200; the unknown lock: 404.
    assert_eq!(
        sample(
            &metrics,
            r#"seam_upstream_requests_total{route="/locks/get",status="200"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"seam_upstream_requests_total{route="/locks/get",status="404"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"seam_upstream_requests_total{route="/locks/lock_door",status="200"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "seam_gateway_confirmation_seconds_count"),
        Some(1.0),
        "{metrics}"
    );
    assert!(metrics.contains("seam_upstream_request_duration_seconds_bucket"));
    for secret_or_id in [API_KEY, LOCK_1, "nope"] {
        assert!(!metrics.contains(secret_or_id), "{secret_or_id} reached a metric");
    }
}

#[tokio::test]
async fn readyz_turns_503_once_shutdown_began_while_calls_drain() {
    let upstream = ScriptedUpstream::start(
        CannedResponse::json(&json!({"lock": {"device_id": "d1"}, "ok": true})).after(Duration::from_secs(30)),
    )
    .await;
    let gateway = GatewayProcess::start(
        &["--admin-listen", "127.0.0.1:0", "--shutdown-grace", "3s"],
        &[("SEAM_ENDPOINT", &upstream.url), ("SEAM_API_KEY", API_KEY)],
    )
    .await;
    let admin = admin_address(&gateway).await;
    assert_eq!(get(&format!("http://{admin}/healthz")).await.0, 200);
    assert_eq!(get(&format!("http://{admin}/readyz")).await.0, 200);
    let mut locks = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .expect("connect");
    let call = tokio::spawn(async move { locks.get_lock(pb::GetLockRequest { device_id: "d1".into() }).await });
    while upstream.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gateway.signal("TERM").await;
    let mut ready = 200;
    for _ in 0..100 {
        ready = get(&format!("http://{admin}/readyz")).await.0;
        if ready == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ready, 503, "not ready once shutdown began");
    assert_eq!(
        get(&format!("http://{admin}/healthz")).await.0,
        200,
        "alive while draining"
    );
    assert!(!call.is_finished(), "the call still drains");
    let status = call.await.expect("task").expect_err("ended at the grace period");
    assert_eq!(status.code(), tonic::Code::Unavailable);
}
