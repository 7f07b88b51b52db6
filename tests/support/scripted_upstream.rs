//! A tiny HTTP/1.1 server that answers every request with one canned response,
//! for faults Seam's fake cannot produce (non-JSON bodies, 429, slow answers).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
}

pub struct ScriptedUpstream {
    pub url: String,
    requests: Arc<AtomicUsize>,
}

impl ScriptedUpstream {
    pub async fn start(response: CannedResponse) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let response = response.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0_u8; 64 * 1024];
                    // One request per connection is enough for these tests.
                    let Ok(read) = socket.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
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
        Self {
            url: format!("http://{addr}"),
            requests,
        }
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}
