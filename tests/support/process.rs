//! The real `seam-grpc-gateway` binary as an operator runs it, with its JSON
//! log lines collected so that tests can look for the ones they expect.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BINARY: &str = env!("CARGO_BIN_EXE_seam-grpc-gateway");

/// A running gateway process, killed on drop.
pub struct GatewayProcess {
    pub address: String,
    pub child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl GatewayProcess {
    /// Starts `BINARY` (or `program` running it, e.g. a shell with a ulimit)
    /// listening on a free port with JSON logs, and waits for its ready line.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BINARY);
        command
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args);
        Self::spawn(command, env).await
    }

    /// Like [`GatewayProcess::start`] with text logs (lines kept as strings).
    pub async fn start_text(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BINARY);
        command
            .args(["--listen", "127.0.0.1:0", "--log-format", "text"])
            .args(args);
        Self::spawn(command, env).await
    }

    /// Like [`GatewayProcess::start`], under `ulimit -n open_files`.
    pub async fn start_with_open_files_limit(open_files: u32, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(format!("ulimit -n {open_files} && exec \"$0\" \"$@\""))
            .arg(BINARY)
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args);
        Self::spawn(command, env).await
    }

    async fn spawn(mut command: Command, env: &[(&str, &str)]) -> Self {
        command.env_remove("SEAM_API_KEY").env_remove("RUST_LOG");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the gateway");
        let mut reader = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        {
            let lines = lines.clone();
            tokio::spawn(async move {
                let mut ready_tx = Some(ready_tx);
                while let Ok(Some(line)) = reader.next_line().await {
                    let parsed = serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line.clone()));
                    let address = if parsed["fields"]["message"] == "ready to serve gRPC" {
                        parsed["fields"]["address"].as_str().map(str::to_owned)
                    } else if line.contains("ready to serve gRPC") {
                        line.split_whitespace()
                            .find_map(|word| word.strip_prefix("address="))
                            .map(str::to_owned)
                    } else {
                        None
                    };
                    if let Some(address) = address
                        && let Some(ready) = ready_tx.take()
                    {
                        let _ = ready.send(address);
                    }
                    lines.lock().unwrap().push(parsed);
                }
            });
        }
        let address = tokio::time::timeout(Duration::from_secs(20), ready_rx)
            .await
            .expect("the gateway is ready within 20 s")
            .expect("the gateway printed its ready line");
        Self { address, child, lines }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Every log line so far (JSON, or the raw text of a line that was not).
    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits up to `within` for a log line whose message is `message` and
    /// that `matches`; panics with every line seen otherwise.
    pub async fn wait_for_line(&self, message: &str, within: Duration, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(line) = self
                .lines()
                .into_iter()
                .find(|line| line["fields"]["message"] == message && matches(line))
            {
                return line;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("no `{message}` log line within {within:?}: {:#?}", self.lines());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The address of the admin listener (started with `--admin-listen`).
    pub async fn admin_address(&self) -> String {
        let line = self
            .wait_for_line(
                "admin listener ready (/metrics, /healthz, /readyz)",
                Duration::from_secs(5),
                |_| true,
            )
            .await;
        line["fields"]["address"].as_str().expect("address").to_owned()
    }

    /// The text of the admin listener's `/metrics` (started with `--admin-listen`).
    pub async fn metrics(&self) -> String {
        let admin = self.admin_address().await;
        let response = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .expect("the admin listener answers");
        response.text().await.expect("the metrics text")
    }

    /// The address of `--webhook-listen`, from its ready line.
    pub async fn webhook_address(&self) -> String {
        let line = self
            .wait_for_line("webhook listener ready", Duration::from_secs(5), |_| true)
            .await;
        line["fields"]["address"].as_str().expect("address").to_owned()
    }

    /// Sends `signal` (e.g. "TERM") to the process.
    pub async fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .await
            .expect("kill");
        assert!(status.success());
    }

    /// Resident memory (VmRSS) in bytes.
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("VmRSS");
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("VmRSS kB");
        kib * 1024
    }

    /// CPU time used so far (user + system), in clock ticks of 10 ms.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("/proc stat");
        // Fields after the command name, which is in parentheses.
        let after_name = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let utime: u64 = fields[11].parse().expect("utime");
        let stime: u64 = fields[12].parse().expect("stime");
        utime + stime
    }
}
