//! Caller connections are bounded: silent sockets are closed, the accept loop
//! stays calm when the open-files limit is reached, a connection limit refuses
//! at once, idle and old connections are asked to go away.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::pb;
use serde_json::json;
use support::API_KEY;
use support::process::GatewayProcess;
use support::scripted_upstream::{CannedResponse, ScriptedUpstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: what a client sends right after the preface.
const EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

async fn seam() -> ScriptedUpstream {
    ScriptedUpstream::start(CannedResponse::json(&json!({"lock": {"device_id": "d1"}, "ok": true}))).await
}

/// Reads until the gateway closes the connection; returns what it sent.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the gateway kept the connection open for {within:?}"));
    received
}

const PING: u8 = 6;
const GOAWAY: u8 = 7;
const ACK: u8 = 1;

/// Plays a minimal HTTP/2 client that opens no stream: sends the preface,
/// answers the gateway's PINGs (as every HTTP/2 client must; graceful
/// shutdown waits for one), and returns the frame types the gateway sent
/// until it closed the connection.
async fn idle_http2_client(address: &str, within: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(PREFACE).await.unwrap();
    stream.write_all(EMPTY_SETTINGS).await.unwrap();
    let mut types = Vec::new();
    let mut pending = Vec::new();
    let mut buffer = [0_u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buffer[..n]),
            }
            while pending.len() >= 9 {
                let length = (usize::from(pending[0]) << 16) | (usize::from(pending[1]) << 8) | usize::from(pending[2]);
                if pending.len() < 9 + length {
                    break;
                }
                let frame: Vec<u8> = pending.drain(..9 + length).collect();
                types.push(frame[3]);
                if frame[3] == PING && frame[4] & ACK == 0 {
                    let mut ack = frame.clone();
                    ack[4] = ACK;
                    let _ = stream.write_all(&ack).await;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the gateway kept the connection open for {within:?}; it sent frames {types:?}"));
    types
}

async fn get_lock(url: String) -> Result<pb::Device, tonic::Status> {
    let mut client = pb::lock_service_client::LockServiceClient::connect(url)
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let response = client.get_lock(pb::GetLockRequest { device_id: "d1".into() }).await?;
    Ok(response.into_inner().lock.expect("lock"))
}

#[tokio::test]
async fn silent_sockets_beyond_the_open_files_limit_neither_block_callers_nor_spin() {
    // This test holds over 1,100 sockets itself.
    rlimit::increase_nofile_limit(8192).expect("raise the test's own open-files limit");
    let upstream = seam().await;
    let gateway = GatewayProcess::start_with_open_files_limit(
        1024,
        &[],
        &[("SEAM_ENDPOINT", &upstream.url), ("SEAM_API_KEY", API_KEY)],
    )
    .await;
    let ready = gateway
        .lines()
        .into_iter()
        .find(|line| line["fields"]["message"] == "ready to serve gRPC")
        .expect("ready line");
    assert_eq!(ready["fields"]["open_files_limit"], 1024, "{ready}");

    let mut silent = Vec::new();
    for n in 0..1100 {
        silent.push(TcpStream::connect(&gateway.address).await.expect("connect"));
        // Paced as real clients arrive, so that the gateway accepts them
        // (rather than the kernel's accept queue holding them) and reaches
        // the open-files limit.
        if n % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let cpu_before = gateway.cpu_ticks();
    let sampled_from = std::time::Instant::now();
    let lock = tokio::time::timeout(Duration::from_secs(5), get_lock(gateway.url()))
        .await
        .expect("a call made while the silent sockets sit is answered within 5 s")
        .expect("GetLock");
    assert_eq!(lock.device_id, "d1");
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(sampled_from.elapsed())).await;
    let cpu_ticks = gateway.cpu_ticks() - cpu_before;
    let share = cpu_ticks as f64 / (sampled_from.elapsed().as_secs_f64() * 100.0);
    assert!(share < 0.2, "the gateway used {:.0} % of a core", share * 100.0);

    let closing = silent
        .iter_mut()
        .map(|socket| until_closed(socket, Duration::from_secs(60)));
    futures_util::future::join_all(closing).await;
    assert!(
        gateway.lines().iter().any(|line| line["fields"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("accepting a connection failed"))),
        "the accept failures were logged: {:#?}",
        gateway
            .lines()
            .iter()
            .filter(|line| line["level"] == "WARN")
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn beyond_the_connection_limit_a_connection_is_closed_at_once() {
    let upstream = seam().await;
    let gateway = GatewayProcess::start(
        &["--max-connections", "3", "--handshake-timeout", "30s"],
        &[("SEAM_ENDPOINT", &upstream.url), ("SEAM_API_KEY", API_KEY)],
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&gateway.address).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = TcpStream::connect(&gateway.address).await.expect("the kernel accepts");
    until_closed(&mut fourth, Duration::from_secs(2)).await;
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    get_lock(gateway.url())
        .await
        .expect("slots are given back when connections close");
}

#[tokio::test]
async fn a_connection_that_never_sends_the_preface_is_closed() {
    let gateway = GatewayProcess::start(
        &["--handshake-timeout", "500ms"],
        &[("SEAM_ENDPOINT", "http://127.0.0.1:1")],
    )
    .await;
    let mut silent = TcpStream::connect(&gateway.address).await.expect("connect");
    until_closed(&mut silent, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_idle_connection_is_asked_to_go_away() {
    let gateway = GatewayProcess::start(&["--idle-timeout", "500ms"], &[("SEAM_ENDPOINT", "http://127.0.0.1:1")]).await;
    let frames = idle_http2_client(&gateway.address, Duration::from_secs(5)).await;
    assert!(frames.contains(&GOAWAY), "{frames:?}");
}

#[tokio::test]
async fn an_old_connection_is_asked_to_go_away_and_open_calls_finish() {
    let upstream = ScriptedUpstream::start(
        CannedResponse::json(&json!({"lock": {"device_id": "d1"}, "ok": true})).after(Duration::from_millis(1500)),
    )
    .await;
    let gateway = GatewayProcess::start(
        &["--max-connection-age", "500ms", "--max-connection-age-grace", "5s"],
        &[("SEAM_ENDPOINT", &upstream.url), ("SEAM_API_KEY", API_KEY)],
    )
    .await;
    // A call that outlives the connection's age completes within the grace.
    let lock = get_lock(gateway.url()).await.expect("the open call finishes");
    assert_eq!(lock.device_id, "d1");

    let frames = idle_http2_client(&gateway.address, Duration::from_secs(5)).await;
    assert!(frames.contains(&GOAWAY), "{frames:?}");
}
