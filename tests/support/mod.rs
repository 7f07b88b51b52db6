//! Starts the real things the integration tests talk to: Seam's own fake
//! (Node, `tests/support/fake_seam.mjs`) and the gateway on `127.0.0.1:0`.
pub mod jwt;
pub mod pki;
pub mod process;
pub mod scripted_upstream;
pub mod tools;
pub mod webhook_delivery;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use seam_grpc_gateway::Config;
use seam_grpc_gateway::pb;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub const API_KEY: &str = "seam_apikey1_token";
pub const LOCK_1: &str = "august_device_1";
pub const LOCK_2: &str = "august_device_2";
pub const OFFLINE_LOCK: &str = "offline_lock";
pub const KEYPAD_ONLY_LOCK: &str = "keypad_only_lock";
pub const WORKSPACE: &str = "seed_workspace_1";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running `@seamapi/fake-seam-connect`, killed on drop.
pub struct FakeSeam {
    pub url: String,
    /// Held for `kill_on_drop`: the fake ends with this value.
    _process: Child,
    http: reqwest::Client,
}

impl FakeSeam {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// With the tagged locks of the policy tests (`hq_front_door`,
    /// `hq_server_room`, `annex_door`).
    pub async fn start_with_policy_devices() -> Self {
        Self::start_with(&[("SEAM_FAKE_POLICY_DEVICES", "1")]).await
    }

    async fn start_with(env: &[(&str, &str)]) -> Self {
        let launcher = repo_root().join("tests/support/fake_seam.mjs");
        assert!(
            repo_root().join("node_modules/@seamapi/fake-seam-connect").exists(),
            "Seam's fake is not installed: run `npm ci` (scripts/test does)"
        );
        let mut child = Command::new("node")
            .arg(launcher)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed to run Seam's fake");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first_line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("Seam's fake did not start within 30 s")
            .expect("reading the fake's output")
            .expect("the fake exited before printing its URL");
        let announced: Value = serde_json::from_str(&first_line).expect("the fake prints one JSON line");
        let url = announced["url"].as_str().expect("url").to_owned();
        Self {
            url,
            _process: child,
            http: reqwest::Client::new(),
        }
    }

    /// Calls one of the fake's routes (its test routes need no credential).
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{}", self.url, path))
            .bearer_auth(API_KEY)
            .json(&body)
            .send()
            .await
            .expect("the fake answers");
        response.json().await.unwrap_or(Value::Null)
    }

    /// Makes the fake answer `routes` with an empty 503 (`[]` lifts it).
    pub async fn outage(&self, routes: &[&str]) {
        let answer = self
            .post(
                "/_fake/simulate_workspace_outage",
                serde_json::json!({"workspace_id": WORKSPACE, "routes": routes}),
            )
            .await;
        assert_eq!(answer["ok"], true, "outage route failed: {answer}");
    }

    /// The fake's whole state (devices, action attempts, events …).
    pub async fn database(&self) -> Value {
        let response = self
            .http
            .get(format!("{}/_fake/database", self.url))
            .send()
            .await
            .expect("the fake answers");
        response.json().await.expect("database JSON")
    }

    /// The fake's request counter: it numbers every request it serves
    /// (`seam-request-id: requestN`), so the difference between two readings
    /// is the number of requests in between, plus one for the reading itself.
    pub async fn request_counter(&self) -> u64 {
        let response = self
            .http
            .get(format!("{}/_fake/default_seed", self.url))
            .send()
            .await
            .expect("the fake answers");
        let header = response.headers().get("seam-request-id").expect("seam-request-id");
        let text = header.to_str().expect("ascii");
        text.trim_start_matches("request").parse().expect("requestN")
    }

    /// Sets an attempt's status in the fake (`pending`, or `error` with a type and message).
    pub async fn set_attempt(&self, attempt_id: &str, status: &str) {
        let body = match status {
            "error" => serde_json::json!({"action_attempt_id": attempt_id, "status": "error",
                "error": {"type": "device_offline", "message": "Device went offline"}}),
            "success" => serde_json::json!({"action_attempt_id": attempt_id, "status": "success", "result": {}}),
            _ => serde_json::json!({"action_attempt_id": attempt_id, "status": status}),
        };
        let answer = self.post("/_fake/update_action_attempt", body).await;
        assert_eq!(answer["ok"], true, "update_action_attempt failed: {answer}");
    }

    /// How many action attempts the fake holds: one per lock command it received.
    pub async fn action_attempt_count(&self) -> usize {
        self.database().await["action_attempts"].as_array().map_or(0, Vec::len)
    }
}

/// A gateway serving on `127.0.0.1:0` in this process.
pub struct Gateway {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Gateway {
    /// With the seeded API key configured.
    pub async fn start(seam_endpoint: &str) -> Self {
        let mut config = Config::for_endpoint(seam_endpoint);
        config.seam_api_key = Some(API_KEY.to_owned().into());
        Self::start_with(config).await
    }

    pub async fn start_with(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = shutdown_rx.await;
            };
            seam_grpc_gateway::serve(config, listener, shutdown)
                .await
                .expect("gateway serves");
        });
        Self {
            addr,
            shutdown: Some(shutdown_tx),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("valid URL")
            .connect()
            .await
            .expect("connect to the gateway")
    }

    pub async fn locks(&self) -> pb::lock_service_client::LockServiceClient<Channel> {
        pb::lock_service_client::LockServiceClient::new(self.channel().await)
    }

    pub async fn devices(&self) -> pb::device_service_client::DeviceServiceClient<Channel> {
        pb::device_service_client::DeviceServiceClient::new(self.channel().await)
    }

    pub async fn action_attempts(&self) -> pb::action_attempt_service_client::ActionAttemptServiceClient<Channel> {
        pb::action_attempt_service_client::ActionAttemptServiceClient::new(self.channel().await)
    }

    pub async fn events(&self) -> pb::event_service_client::EventServiceClient<Channel> {
        pb::event_service_client::EventServiceClient::new(self.channel().await)
    }

    /// Asks the gateway to shut down and waits until `serve` returns.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("serve task");
        }
    }
}

/// The `ErrorInfo` every non-OK status must carry.
pub fn error_info(status: &tonic::Status) -> tonic_types::ErrorInfo {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("status without ErrorInfo: {status:?}"))
}

/// Every message of a stream until it ends, and how it ended (fails after 20 s of silence).
pub async fn drain<M>(stream: &mut tonic::Streaming<M>) -> (Vec<M>, Result<(), tonic::Status>) {
    let mut messages = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.message()).await {
            Ok(Ok(Some(message))) => messages.push(message),
            Ok(Ok(None)) => return (messages, Ok(())),
            Ok(Err(status)) => return (messages, Err(status)),
            Err(_) => panic!("the stream neither sent nor ended within 20 s"),
        }
    }
}

/// Locks `device_id` through the gateway and waits until the stream ended OK.
pub async fn lock_door_to_the_end(client: &mut pb::lock_service_client::LockServiceClient<Channel>, device_id: &str) {
    let mut stream = client
        .lock_door(pb::LockDoorRequest {
            device_id: device_id.into(),
            ..Default::default()
        })
        .await
        .expect("LockDoor")
        .into_inner();
    let (_, end) = drain(&mut stream).await;
    end.expect("the LockDoor stream ends OK");
}
