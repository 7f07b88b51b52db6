//! The `seam-grpc-gateway` binary as an operator runs it: flags, the ready
//! line, one log line per RPC, no secret in any log line, clean exit on SIGTERM.
use crate::support;

use std::process::Stdio;
use std::time::Duration;

use seam_grpc_gateway::pb;
use serde_json::Value;
use support::{API_KEY, FakeSeam, LOCK_1};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_seam-grpc-gateway");

#[tokio::test]
async fn help_documents_every_setting_with_its_environment_name() {
    let output = Command::new(BINARY).arg("--help").output().await.expect("run --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "--listen",
        "SEAM_GATEWAY_LISTEN",
        "127.0.0.1:50051",
        "--seam-endpoint",
        "SEAM_ENDPOINT",
        "https://connect.getseam.com",
        "--seam-api-key",
        "SEAM_API_KEY",
        "--upstream-timeout",
        "SEAM_GATEWAY_UPSTREAM_TIMEOUT",
    ] {
        assert!(help.contains(expected), "--help lacks {expected}:\n{help}");
    }
}

#[tokio::test]
async fn an_invalid_endpoint_is_refused_at_start() {
    let output = Command::new(BINARY)
        .args(["--seam-endpoint", "not a url"])
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a URL"));
}

#[tokio::test]
async fn logs_ready_line_and_one_line_per_rpc_without_secrets() {
    let fake = FakeSeam::start().await;
    let mut child = Command::new(BINARY)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("SEAM_ENDPOINT", &fake.url)
        .env("SEAM_API_KEY", API_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the gateway");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready_line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("ready within 20 s")
        .expect("read")
        .expect("a first log line");
    let ready: Value = serde_json::from_str(&ready_line).expect("JSON log line");
    assert_eq!(ready["fields"]["message"], "ready to serve gRPC");
    let address = ready["fields"]["address"].as_str().expect("address").to_owned();
    assert!(
        address.starts_with("127.0.0.1:") && !address.ends_with(":0"),
        "{address}"
    );

    let mut client = pb::lock_service_client::LockServiceClient::connect(format!("http://{address}"))
        .await
        .expect("connect");
    client
        .get_lock(pb::GetLockRequest {
            device_id: LOCK_1.into(),
        })
        .await
        .expect("GetLock");
    client
        .get_lock(pb::GetLockRequest {
            device_id: "nope".into(),
        })
        .await
        .expect_err("unknown lock");
    support::lock_door_to_the_end(&mut client, LOCK_1).await;

    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10 s of SIGTERM")
        .expect("wait");
    assert!(status.success(), "{status:?}");

    let mut logged = vec![ready_line];
    while let Some(line) = lines.next_line().await.expect("read") {
        logged.push(line);
    }
    let rpc_lines: Vec<Value> = logged
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "rpc")
        .collect();
    assert_eq!(rpc_lines.len(), 3, "{logged:#?}");
    assert_eq!(rpc_lines[0]["fields"]["method"], "GetLock");
    assert_eq!(rpc_lines[0]["fields"]["code"], "Ok");
    assert!(rpc_lines[0]["fields"]["latency_us"].is_u64());
    assert!(
        rpc_lines[0]["fields"]["seam_request_id"]
            .as_str()
            .unwrap_or("")
            .starts_with("request")
    );
    assert_eq!(rpc_lines[1]["fields"]["code"], "NotFound");
    // A stream's line comes when it ends, with the lock command's Seam request id.
    assert_eq!(rpc_lines[2]["fields"]["method"], "LockDoor");
    assert_eq!(rpc_lines[2]["fields"]["code"], "Ok");
    assert!(
        rpc_lines[2]["fields"]["seam_request_id"]
            .as_str()
            .unwrap_or("")
            .starts_with("request")
    );
    let everything = logged.join("\n");
    assert!(!everything.contains(API_KEY), "the API key reached a log line");
}
