//! A tiny HTTP/1.1 server for faults and timings Seam's fake cannot produce
//! (non-JSON bodies, 429, redirects, slow answers, huge bodies, lists that
//! enforce `limit`). It answers with one canned response, or with what a
//! script decides per request, and counts requests by path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the upstream answers.
#[derive(Clone)]
pub struct CannedResponse {
    pub status_line: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl CannedResponse {
    pub fn new(status_line: &'static str, content_type: &str, body: &str) -> Self {
        Self {
            status_line,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    /// A 200 with a JSON body.
    pub fn json(body: &Value) -> Self {
        Self::new("200 OK", "application/json", &body.to_string())
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` when there was none or it was not JSON).
    pub body: Value,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

type Script = dyn Fn(&ReceivedRequest) -> CannedResponse + Send + Sync;

pub struct ScriptedUpstream {
    pub url: String,
    requests: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<ReceivedRequest>>>,
}

impl ScriptedUpstream {
    /// Answers every request with `response`.
    pub async fn start(response: CannedResponse) -> Self {
        Self::scripted(move |_| response.clone()).await
    }

    /// Answers each request with what `script` returns for it.
    pub async fn scripted(script: impl Fn(&ReceivedRequest) -> CannedResponse + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        {
            let requests = requests.clone();
            let received = received.clone();
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let requests = requests.clone();
                    let received = received.clone();
                    let script = script.clone();
                    tokio::spawn(async move {
                        // One request per connection is enough for these tests.
                        let Some(request) = read_request(&mut socket).await else {
                            return;
                        };
                        requests.fetch_add(1, Ordering::SeqCst);
                        received.lock().unwrap().push(request.clone());
                        let response = script(&request);
                        tokio::time::sleep(response.delay).await;
                        let mut head = format!(
                            "HTTP/1.1 {}\r\ncontent-length: {}\r\nconnection: close\r\nseam-request-id: scripted1\r\n",
                            response.status_line,
                            response.body.len()
                        );
                        for (name, value) in &response.headers {
                            head.push_str(&format!("{name}: {value}\r\n"));
                        }
                        head.push_str("\r\n");
                        let _ = socket.write_all(head.as_bytes()).await;
                        let _ = socket.write_all(response.body.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    });
                }
            });
        }
        Self {
            url: format!("http://{addr}"),
            requests,
            received,
        }
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// How many requests each path received.
    pub fn counts_by_path(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for request in self.received.lock().unwrap().iter() {
            *counts.entry(request.path.clone()).or_default() += 1;
        }
        counts
    }

    pub fn count(&self, path: &str) -> usize {
        self.counts_by_path().get(path).copied().unwrap_or(0)
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.received.lock().unwrap().clone()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<ReceivedRequest> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let body = serde_json::from_slice(&buffer[head_end..]).unwrap_or(Value::Null);
    Some(ReceivedRequest { path, headers, body })
}
