//! The minimal Seam-shaped upstream both paths call: a canned device for
//! `/locks/get`, and an attempt whose status the benchmark controls.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub(crate) const DEVICE: &str = r#"{"device_id":"august_device_1","device_type":"august_lock","display_name":"Front Door","workspace_id":"w","connected_account_id":"c","created_at":"2026-01-01T00:00:00.000Z","capabilities_supported":["lock","access_code"],"can_remotely_lock":true,"can_remotely_unlock":true,"properties":{"online":true,"locked":true,"manufacturer":"august","name":"Front Door","appearance":{"name":"Front Door"},"model":{"display_name":"Lock","manufacturer_display_name":"August"},"battery":{"level":1,"status":"full"},"battery_level":1},"errors":[],"warnings":[],"custom_metadata":{},"space_ids":[],"is_managed":true}"#;

/// The minimal Seam-shaped upstream.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    pub(crate) attempt_done: AtomicBool,
    pub(crate) attempt_polls: AtomicU64,
    /// `/locks/get` requests served: one per call through a hop.
    pub(crate) lock_gets: AtomicU64,
    /// Lock commands served (each answered with a completed attempt).
    pub(crate) commands: AtomicU64,
    pub(crate) first_success_at: Mutex<Option<Instant>>,
}

pub(crate) fn http_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nseam-request-id: bench\r\ncontent-length: {}\r\n\r\n{}",
        body.len(),
        body
    )
    .into_bytes()
}

impl Upstream {
    pub(crate) async fn start() -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let upstream = Arc::new(Upstream {
            addr: listener.local_addr().expect("addr"),
            attempt_done: AtomicBool::new(false),
            attempt_polls: AtomicU64::new(0),
            lock_gets: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            first_success_at: Mutex::new(None),
        });
        let serving = upstream.clone();
        tokio::spawn(async move {
            let lock = Arc::new(http_response(&format!(
                r#"{{"lock":{DEVICE},"device":{DEVICE},"ok":true}}"#
            )));
            while let Ok((socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                tokio::spawn(serving.clone().serve(socket, lock.clone()));
            }
        });
        upstream
    }

    pub(crate) async fn serve(self: Arc<Self>, mut socket: TcpStream, lock: Arc<Vec<u8>>) {
        let mut buffer = Vec::with_capacity(4096);
        let mut chunk = [0_u8; 4096];
        loop {
            // One request: headers, then content-length bytes of body.
            let request_end = loop {
                if let Some(head_end) = find(&buffer, b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
                    let body_len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buffer.len() >= head_end + 4 + body_len {
                        break head_end + 4 + body_len;
                    }
                }
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            };
            let path = String::from_utf8_lossy(&buffer[..request_end])
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_owned();
            buffer.drain(..request_end);
            let answer = if path.starts_with("/action_attempts/get") {
                self.attempt_polls.fetch_add(1, Ordering::Relaxed);
                let done = self.attempt_done.load(Ordering::SeqCst);
                if done {
                    self.first_success_at.lock().unwrap().get_or_insert_with(Instant::now);
                }
                let status = if done { "success" } else { "pending" };
                http_response(&format!(
                    r#"{{"action_attempt":{{"action_attempt_id":"bench_attempt","action_type":"LOCK_DOOR","status":"{status}","result":null,"error":null}},"ok":true}}"#
                ))
            } else if path.starts_with("/locks/lock_door") || path.starts_with("/locks/unlock_door") {
                // A command Seam completes at once: the stream ends after one message.
                let number = self.commands.fetch_add(1, Ordering::Relaxed);
                http_response(&format!(
                    r#"{{"action_attempt":{{"action_attempt_id":"bench_command_{number}","action_type":"LOCK_DOOR","status":"success","result":{{}},"error":null}},"ok":true}}"#
                ))
            } else {
                self.lock_gets.fetch_add(1, Ordering::Relaxed);
                lock.to_vec()
            };
            if socket.write_all(&answer).await.is_err() {
                return;
            }
        }
    }
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
