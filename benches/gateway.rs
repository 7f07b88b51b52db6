//! What a gateway hop costs, and how many streams one gateway process holds.
//!
//! `cargo bench --bench gateway -- [--smoke] [--write BENCHMARKS.md]` (scripts/bench runs it).
//!
//! - A minimal Seam-shaped upstream runs in this process: HTTP/1.1 keep-alive,
//!   one pre-built answer per route.
//! - The gateway runs as its own process (the release binary), so its CPU time
//!   and resident memory are read from /proc for it alone.
//! - Unary hop: `GetLock` through the gateway (h2load over HTTP/2, with the
//!   gateway's log telling failed gRPC statuses) against the same request sent
//!   straight to the upstream (h2load over HTTP/1.1 keep-alive), at
//!   concurrency 1, 16 and 64.
//! - Open streams: 10,000 `WatchActionAttempt` streams over a few HTTP/2
//!   connections on one pending attempt; memory per stream, idle CPU, upstream
//!   polls; then the attempt completes and every caller's final message is timed
//!   from the moment the upstream first answered "success".

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use seam_grpc_gateway::pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::Channel;

const BEGIN: &str = "<!-- gateway:begin -->";
const END: &str = "<!-- gateway:end -->";

struct Settings {
    smoke: bool,
    write: Option<PathBuf>,
    gateway: PathBuf,
    run_for: Duration,
    concurrencies: Vec<usize>,
    streams: usize,
    connections: usize,
    /// Each measurement is repeated this many times; the report gives medians.
    rounds: usize,
}

fn settings() -> Settings {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Settings {
        smoke,
        write: value_of("--write").map(PathBuf::from),
        gateway: value_of("--gateway")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release/seam-grpc-gateway")),
        run_for: if smoke {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(5)
        },
        // `--streams-only`: skip the unary hop (for profiling the streams).
        concurrencies: if args.iter().any(|a| a == "--streams-only") {
            vec![]
        } else if smoke {
            vec![1, 4]
        } else {
            vec![1, 16, 64]
        },
        streams: if smoke { 200 } else { 10_000 },
        connections: if smoke { 2 } else { 8 },
        rounds: if smoke { 1 } else { 3 },
    }
}

// ------------------------------------------------------------------ upstream

const DEVICE: &str = r#"{"device_id":"august_device_1","device_type":"august_lock","display_name":"Front Door","workspace_id":"w","connected_account_id":"c","created_at":"2026-01-01T00:00:00.000Z","capabilities_supported":["lock","access_code"],"can_remotely_lock":true,"can_remotely_unlock":true,"properties":{"online":true,"locked":true,"manufacturer":"august","name":"Front Door","appearance":{"name":"Front Door"},"model":{"display_name":"Lock","manufacturer_display_name":"August"},"battery":{"level":1,"status":"full"},"battery_level":1},"errors":[],"warnings":[],"custom_metadata":{},"space_ids":[],"is_managed":true}"#;

/// The minimal Seam-shaped upstream.
struct Upstream {
    addr: SocketAddr,
    attempt_done: AtomicBool,
    attempt_polls: AtomicU64,
    /// `/locks/get` requests served: one per call through a hop.
    lock_gets: AtomicU64,
    first_success_at: Mutex<Option<Instant>>,
}

fn http_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nseam-request-id: bench\r\ncontent-length: {}\r\n\r\n{}",
        body.len(),
        body
    )
    .into_bytes()
}

impl Upstream {
    async fn start() -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let upstream = Arc::new(Upstream {
            addr: listener.local_addr().expect("addr"),
            attempt_done: AtomicBool::new(false),
            attempt_polls: AtomicU64::new(0),
            lock_gets: AtomicU64::new(0),
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

    async fn serve(self: Arc<Self>, mut socket: TcpStream, lock: Arc<Vec<u8>>) {
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ------------------------------------------------------------------ gateway process

struct GatewayProcess {
    child: tokio::process::Child,
    addr: SocketAddr,
    /// The gateway's standard output: its log, one line per call.
    log: PathBuf,
}

/// Calls the gateway has logged so far, by outcome.
#[derive(Clone, Copy)]
struct CallsLogged {
    ok: u64,
    failed: u64,
}

impl GatewayProcess {
    /// `worker_threads`: `None` runs the gateway as deployed (one per core).
    async fn start(binary: &PathBuf, upstream: SocketAddr, worker_threads: Option<usize>) -> Self {
        let mut command = tokio::process::Command::new(binary);
        command.env_remove("SEAM_GATEWAY_WORKER_THREADS");
        if let Some(threads) = worker_threads {
            command.env("SEAM_GATEWAY_WORKER_THREADS", threads.to_string());
        }
        command
            .env("SEAM_ENDPOINT", format!("http://{upstream}"))
            .env("SEAM_API_KEY", "seam_bench_key");
        Self::spawn(command, |command, addr| {
            command.env("SEAM_GATEWAY_LISTEN", addr.to_string());
        })
        .await
    }

    /// The minimal hop of the benchmarks issue, in its own process: this
    /// benchmark's executable again, with `--minimal-hop-serve`.
    async fn start_minimal_hop(upstream: SocketAddr) -> Self {
        let mut command = tokio::process::Command::new(std::env::current_exe().expect("this executable"));
        command.arg(MINIMAL_HOP_FLAG);
        Self::spawn(command, |command, addr| {
            command.arg(addr.to_string()).arg(upstream.to_string());
        })
        .await
    }

    async fn spawn(
        mut command: tokio::process::Command,
        listen_on: impl FnOnce(&mut tokio::process::Command, SocketAddr),
    ) -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr").port()
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        listen_on(&mut command, addr);
        let log = bench_dir().join(format!("gateway-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("the gateway's log file");
        let mut child = command
            .stdout(log_file)
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e} (cargo build --release)"));
        for _ in 0..200 {
            if TcpStream::connect(addr).await.is_ok() {
                return Self { child, addr, log };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{command:?} exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway did not start");
    }

    fn calls_logged(&self) -> CallsLogged {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut calls = CallsLogged { ok: 0, failed: 0 };
        for line in log.lines().filter(|line| line.contains(" rpc method=")) {
            if line.contains(" code=Ok ") {
                calls.ok += 1;
            } else {
                calls.failed += 1;
            }
        }
        calls
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// User + system CPU time so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("/proc stat");
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        // After the command name: state is field 3, utime 14, stime 15 (1-based).
        let ticks: u64 = fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
        Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
    }

    /// Resident memory in bytes.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

fn clock_ticks_per_second() -> f64 {
    // Linux reports utime/stime in USER_HZ, which is 100 on every common kernel build.
    100.0
}

// ------------------------------------------------------------------ measurements

/// One load-generator run: what h2load reported, and every call's latency.
struct Run {
    calls: u64,
    failures: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Run {
    fn percentile(&self, q: f64) -> f64 {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return f64::NAN;
        }
        sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64
    }

    fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// What the report shows of one run, or the median of several.
struct Figures {
    rate: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    failures: u64,
    cpu_per_call: Option<f64>,
}

impl Figures {
    fn of(run: &Run, cpu_per_call: Option<f64>) -> Self {
        Figures {
            rate: run.rate(),
            p50: run.percentile(0.5),
            p90: run.percentile(0.9),
            p99: run.percentile(0.99),
            failures: run.failures,
            cpu_per_call,
        }
    }

    /// Each figure's median over the rounds; failures are added up.
    fn median(rounds: &[Figures]) -> Figures {
        let of = |figure: fn(&Figures) -> f64| median(rounds.iter().map(figure).collect());
        Figures {
            rate: of(|f| f.rate),
            p50: of(|f| f.p50),
            p90: of(|f| f.p90),
            p99: of(|f| f.p99),
            failures: rounds.iter().map(|f| f.failures).sum(),
            cpu_per_call: rounds
                .iter()
                .all(|f| f.cpu_per_call.is_some())
                .then(|| of(|f| f.cpu_per_call.unwrap_or(f64::NAN))),
        }
    }
}

/// One h2load run of `concurrency` requests in flight, POSTing `body`.
///
/// HTTP/1.1 cannot multiplex (h2load sends one request at a time per
/// connection when it posts a body), so there every request in flight has its
/// own connection; over HTTP/2 the requests share at most four connections,
/// as a client's channel pool would.
async fn h2load(url: &str, http1: bool, headers: &[&str], body: &[u8], concurrency: usize, run_for: Duration) -> Run {
    let warm_up = (run_for / 5).min(Duration::from_secs(1));
    let dir = bench_dir();
    let body_path = dir.join("body");
    let log_path = dir.join("requests.tsv");
    std::fs::write(&body_path, body).expect("body");
    let _ = std::fs::remove_file(&log_path);
    let (clients, streams_per_client) = if http1 {
        (concurrency, 1)
    } else {
        let clients = concurrency.clamp(1, 4);
        (clients, concurrency / clients)
    };
    let mut command = tokio::process::Command::new("h2load");
    command
        .arg(format!("--clients={clients}"))
        .arg(format!("--max-concurrent-streams={streams_per_client}"))
        .arg(format!("--duration={}ms", run_for.as_millis()))
        .arg(format!("--warm-up-time={}ms", warm_up.as_millis()))
        .arg(format!("--data={}", body_path.display()))
        .arg(format!("--log-file={}", log_path.display()));
    if http1 {
        command.arg("--h1");
    }
    for header in headers {
        command.arg(format!("--header={header}"));
    }
    let output = command
        .arg(url)
        .output()
        .await
        .expect("h2load (Debian's nghttp2-client) must be installed: scripts/bench installs it");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "h2load failed: {report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // "requests: 100 total, 100 started, 100 done, 98 succeeded, 2 failed, 0 errored, 0 timeout"
    let requests = report
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no requests line in h2load's report: {report}"));
    let count = |word: &str| -> u64 {
        let words: Vec<&str> = requests.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        words
            .windows(2)
            .find(|pair| pair[1] == word)
            .and_then(|pair| pair[0].parse().ok())
            .unwrap_or(0)
    };
    // Columns: start (µs since the epoch), HTTP status, µs until the end of the response.
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let latencies_us: Vec<u32> = log
        .lines()
        .filter_map(|line| line.split('\t').nth(2)?.trim().parse().ok())
        .collect();
    Run {
        calls: count("succeeded"),
        failures: count("failed") + count("errored") + count("timeout"),
        elapsed: run_for,
        latencies_us,
    }
}

/// Scratch files of this run (h2load's body and log), removed at the end.
fn bench_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seam-gateway-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

async fn direct_run(upstream: SocketAddr, concurrency: usize, run_for: Duration) -> Run {
    h2load(
        &format!("http://{upstream}/locks/get"),
        true,
        &["content-type: application/json", "authorization: Bearer seam_bench_key"],
        br#"{"device_id":"august_device_1"}"#,
        concurrency,
        run_for,
    )
    .await
}

/// `GetLock` through a hop (the gateway or the minimal hop): the run, and the
/// hop's CPU time per call over every call it served (the upstream counts them,
/// h2load's warm-up included). h2load checks only the HTTP status, and a failed
/// gRPC call is an HTTP 200 too: the hop's log (a line per call with its code;
/// the minimal hop logs failures only) tells how many failed.
async fn hop_run(
    gateway: &GatewayProcess,
    upstream: &Upstream,
    concurrency: usize,
    run_for: Duration,
) -> (Run, Duration) {
    let request = pb::GetLockRequest {
        device_id: "august_device_1".into(),
    };
    let warm = pb::lock_service_client::LockServiceClient::new(gateway.channel().await)
        .get_lock(request.clone())
        .await;
    assert!(warm.is_ok(), "GetLock through the gateway failed: {warm:?}");
    // A gRPC message on the wire: uncompressed flag, length, protobuf.
    let message = prost::Message::encode_to_vec(&request);
    let mut body = vec![0_u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(&message);
    let before = gateway.calls_logged();
    let served_before = upstream.lock_gets.load(Ordering::SeqCst);
    let cpu_before = gateway.cpu_time();
    let mut run = h2load(
        &format!("http://{}/seam.v1.LockService/GetLock", gateway.addr),
        false,
        &["content-type: application/grpc", "te: trailers"],
        &body,
        concurrency,
        run_for,
    )
    .await;
    let cpu = gateway.cpu_time().saturating_sub(cpu_before);
    let after = gateway.calls_logged();
    let failed = after.failed - before.failed;
    run.failures += failed;
    run.calls = run.calls.saturating_sub(failed);
    let calls_served = upstream.lock_gets.load(Ordering::SeqCst) - served_before;
    (run, cpu / calls_served.max(1) as u32)
}

struct StreamsResult {
    rss_per_stream: f64,
    idle_cpu_percent: f64,
    polls_per_second: f64,
    polls_per_second_one_stream: f64,
    final_p50_ms: f64,
    final_p99_ms: f64,
    final_max_ms: f64,
    worst_p99_ms: f64,
    failures: usize,
}

async fn open_streams(
    gateway: &GatewayProcess,
    count: usize,
    connections: usize,
) -> Vec<tonic::Streaming<pb::WatchActionAttemptResponse>> {
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(gateway.channel().await);
    }
    let mut opening = Vec::new();
    for n in 0..count {
        let mut client =
            pb::action_attempt_service_client::ActionAttemptServiceClient::new(channels[n % connections].clone());
        opening.push(tokio::spawn(async move {
            let mut stream = client
                .watch_action_attempt(pb::WatchActionAttemptRequest {
                    action_attempt_id: "bench_attempt".into(),
                    wait_timeout: Some(prost_types::Duration { seconds: 600, nanos: 0 }),
                })
                .await
                .expect("WatchActionAttempt")
                .into_inner();
            let first = stream.message().await.expect("first").expect("a message");
            assert_eq!(
                first.action_attempt.expect("attempt").status(),
                pb::action_attempt::Status::Pending
            );
            stream
        }));
    }
    let mut streams = Vec::with_capacity(count);
    for task in opening {
        streams.push(task.await.expect("open"));
    }
    streams
}

async fn polls_per_second(upstream: &Upstream, window: Duration) -> f64 {
    let before = upstream.attempt_polls.load(Ordering::SeqCst);
    tokio::time::sleep(window).await;
    (upstream.attempt_polls.load(Ordering::SeqCst) - before) as f64 / window.as_secs_f64()
}

async fn streams_run(settings: &Settings, upstream: Arc<Upstream>, worker_threads: Option<usize>) -> StreamsResult {
    upstream.attempt_done.store(false, Ordering::SeqCst);
    *upstream.first_success_at.lock().unwrap() = None;
    let gateway = GatewayProcess::start(&settings.gateway, upstream.addr, worker_threads).await;
    let window = if settings.smoke {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };

    let single = open_streams(&gateway, 1, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // past the poller's quick first checks
    let polls_one = polls_per_second(&upstream, window).await;
    drop(single);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let rss_before = gateway.rss();
    let streams = open_streams(&gateway, settings.streams, settings.connections).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_after = gateway.rss();
    let cpu_before = gateway.cpu_time();
    let polls_many = polls_per_second(&upstream, window).await;
    let idle_cpu = gateway.cpu_time().saturating_sub(cpu_before);

    let mut completions = vec![complete(&upstream, streams).await];
    for _ in 1..settings.rounds {
        upstream.attempt_done.store(false, Ordering::SeqCst);
        *upstream.first_success_at.lock().unwrap() = None;
        let streams = open_streams(&gateway, settings.streams, settings.connections).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        completions.push(complete(&upstream, streams).await);
    }
    let median_of = |value: fn(&Completion) -> f64| median(completions.iter().map(value).collect());
    StreamsResult {
        rss_per_stream: rss_after.saturating_sub(rss_before) as f64 / settings.streams as f64,
        idle_cpu_percent: idle_cpu.as_secs_f64() / window.as_secs_f64() * 100.0,
        polls_per_second: polls_many,
        polls_per_second_one_stream: polls_one,
        final_p50_ms: median_of(|c| c.p50_ms),
        final_p99_ms: median_of(|c| c.p99_ms),
        final_max_ms: median_of(|c| c.max_ms),
        worst_p99_ms: completions.iter().map(|c| c.p99_ms).fold(0.0, f64::max),
        failures: completions.iter().map(|c| c.failures).sum(),
    }
}

/// One completion of the attempt, timed at every caller.
struct Completion {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    failures: usize,
}

/// Lets the upstream answer "success" and times each stream's final message
/// from the upstream's first "success" answer.
async fn complete(upstream: &Upstream, streams: Vec<tonic::Streaming<pb::WatchActionAttemptResponse>>) -> Completion {
    let (arrived_tx, mut arrived_rx) = tokio::sync::mpsc::unbounded_channel();
    for mut stream in streams {
        let arrived = arrived_tx.clone();
        tokio::spawn(async move {
            let outcome = match stream.message().await {
                Ok(Some(message)) => {
                    let status = message.action_attempt.expect("attempt").status();
                    (status == pb::action_attempt::Status::Success).then(Instant::now)
                }
                _ => None,
            };
            let _ = arrived.send(outcome);
        });
    }
    drop(arrived_tx);
    upstream.attempt_done.store(true, Ordering::SeqCst);
    let mut arrivals = Vec::new();
    let mut failures = 0;
    while let Some(outcome) = arrived_rx.recv().await {
        match outcome {
            Some(at) => arrivals.push(at),
            None => failures += 1,
        }
    }
    let seen = upstream
        .first_success_at
        .lock()
        .unwrap()
        .expect("the gateway saw the success");
    let mut delays_ms: Vec<f64> = arrivals
        .iter()
        .map(|at| at.saturating_duration_since(seen).as_secs_f64() * 1000.0)
        .collect();
    delays_ms.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        delays_ms
            .get(((delays_ms.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Completion {
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        max_ms: pick(1.0),
        failures,
    }
}

/// The median of some figures (the lower middle one for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(f64::NAN)
}

// ------------------------------------------------------------------ minimal hop

const MINIMAL_HOP_FLAG: &str = "--minimal-hop-serve";

/// The benchmarks issue's reference: gRPC in → reqwest (HTTP/1.1 keep-alive)
/// → serde_json → prost out, with tonic's defaults and nothing else: no
/// `seam_object`, no error details, no log line per call, no coalesced writes.
/// The same machine's floor for a hop, measured in the same run.
struct MinimalHop {
    http: reqwest::Client,
    url: String,
}

#[tonic::async_trait]
impl pb::lock_service_server::LockService for MinimalHop {
    type LockDoorStream = tokio_stream::Empty<Result<pb::LockDoorResponse, tonic::Status>>;
    type UnlockDoorStream = tokio_stream::Empty<Result<pb::UnlockDoorResponse, tonic::Status>>;

    async fn get_lock(
        &self,
        request: tonic::Request<pb::GetLockRequest>,
    ) -> Result<tonic::Response<pb::GetLockResponse>, tonic::Status> {
        let body = serde_json::json!({ "device_id": request.get_ref().device_id }).to_string();
        let lock = async {
            let response = self
                .http
                .post(&self.url)
                .header("authorization", "Bearer seam_bench_key")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .ok()?;
            let answer: serde_json::Value = serde_json::from_slice(&response.bytes().await.ok()?).ok()?;
            let lock = answer.get("lock")?;
            let text = |key: &str| lock.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            Some(pb::Device {
                device_id: text("device_id"),
                device_type: text("device_type"),
                display_name: text("display_name"),
                workspace_id: text("workspace_id"),
                connected_account_id: text("connected_account_id"),
                can_remotely_lock: lock.get("can_remotely_lock").and_then(|v| v.as_bool()),
                can_remotely_unlock: lock.get("can_remotely_unlock").and_then(|v| v.as_bool()),
                ..Default::default()
            })
        }
        .await;
        match lock {
            Some(lock) => Ok(tonic::Response::new(pb::GetLockResponse { lock: Some(lock) })),
            None => {
                println!(" rpc method=\"GetLock\" code=Internal ");
                Err(tonic::Status::internal("upstream"))
            }
        }
    }

    async fn list_locks(
        &self,
        _: tonic::Request<pb::ListLocksRequest>,
    ) -> Result<tonic::Response<pb::ListLocksResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("minimal hop"))
    }

    async fn lock_door(
        &self,
        _: tonic::Request<pb::LockDoorRequest>,
    ) -> Result<tonic::Response<Self::LockDoorStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("minimal hop"))
    }

    async fn unlock_door(
        &self,
        _: tonic::Request<pb::UnlockDoorRequest>,
    ) -> Result<tonic::Response<Self::UnlockDoorStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("minimal hop"))
    }
}

/// Serves the minimal hop on one worker thread, like the gateway in the unary runs.
fn serve_minimal_hop(listen: &str, upstream: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind(listen).await.expect("bind");
        let hop = MinimalHop {
            http: reqwest::Client::builder().tcp_nodelay(true).build().expect("client"),
            url: format!("http://{upstream}/locks/get"),
        };
        tonic::transport::Server::builder()
            .add_service(pb::lock_service_server::LockServiceServer::new(hop))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)))
            .await
            .expect("serve");
    });
}

// ------------------------------------------------------------------ report

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == MINIMAL_HOP_FLAG) {
        let (listen, upstream) = (&args[at + 1], &args[at + 2]);
        serve_minimal_hop(listen, upstream);
        return;
    }
    tokio::runtime::Runtime::new().expect("runtime").block_on(bench());
}

async fn bench() {
    let settings = settings();
    let upstream = Upstream::start().await;
    let mut report = Vec::new();
    report.push(format!(
        "Generated {} by `scripts/bench` (`cargo bench --bench gateway`) on {} with {} cores; {} s per point \
         after 1 s of warm-up, each figure the median of {} rounds; the load generator (h2load), the upstream and \
         the gateway share the machine.",
        today(),
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        settings.run_for.as_secs_f64(),
        settings.rounds
    ));
    report.push(String::new());
    report.push(
        "**Unary hop**: `GetLock` through the gateway and through the minimal hop, vs. the same request \
         straight to the upstream."
            .into(),
    );
    report.push(String::new());
    report.push("| concurrency | path | calls/s | p50 | p90 | p99 | failed | hop's CPU per call |".into());
    report.push("|---|---|---|---|---|---|---|---|".into());
    let mut added = Vec::new();
    let mut unary_ok = true;
    {
        // One worker each: the load generator and the upstream need the other core.
        let gateway = GatewayProcess::start(&settings.gateway, upstream.addr, Some(1)).await;
        let minimal = GatewayProcess::start_minimal_hop(upstream.addr).await;
        for &concurrency in &settings.concurrencies {
            let mut direct = Vec::new();
            let mut reference = Vec::new();
            let mut through = Vec::new();
            for _ in 0..settings.rounds {
                let run = direct_run(upstream.addr, concurrency, settings.run_for).await;
                direct.push(Figures::of(&run, None));
                let (run, cpu_per_call) = hop_run(&minimal, &upstream, concurrency, settings.run_for).await;
                reference.push(Figures::of(&run, Some(cpu_per_call.as_secs_f64() * 1e6)));
                let (run, cpu_per_call) = hop_run(&gateway, &upstream, concurrency, settings.run_for).await;
                through.push(Figures::of(&run, Some(cpu_per_call.as_secs_f64() * 1e6)));
            }
            let direct = Figures::median(&direct);
            let reference = Figures::median(&reference);
            let through = Figures::median(&through);
            for (label, figures) in [
                ("direct", &direct),
                ("minimal hop", &reference),
                ("**gateway**", &through),
            ] {
                report.push(format!(
                    "| {concurrency} | {label} | {:.0} | {:.0} µs | {:.0} µs | {:.0} µs | {} | {} |",
                    figures.rate,
                    figures.p50,
                    figures.p90,
                    figures.p99,
                    figures.failures,
                    figures.cpu_per_call.map_or("".to_owned(), |c| format!("{c:.1} µs")),
                ));
            }
            for figures in [&direct, &reference, &through] {
                unary_ok &= figures.failures == 0 && figures.rate > 0.0;
            }
            added.push((
                concurrency,
                [reference.p50 - direct.p50, reference.p99 - direct.p99],
                [through.p50 - direct.p50, through.p99 - direct.p99],
            ));
        }
    }
    report.push(String::new());
    for (concurrency, [minimal_p50, minimal_p99], [p50, p99]) in &added {
        report.push(format!(
            "- concurrency {concurrency}: the gateway adds {p50:.0} µs at p50 and {p99:.0} µs at p99 \
             (the minimal hop: {minimal_p50:.0} µs and {minimal_p99:.0} µs)."
        ));
    }

    let mut all_streams = Vec::new();
    for worker_threads in [Some(1), None] {
        all_streams.push(streams_run(&settings, upstream.clone(), worker_threads).await);
    }
    report.push(String::new());
    report.push(format!(
        "**Open streams**: {} `WatchActionAttempt` streams over {} HTTP/2 connections on one pending attempt, \
         with the gateway on one worker thread and as deployed (one per core).",
        settings.streams, settings.connections
    ));
    report.push(String::new());
    report.push("| measure | 1 worker | 1 per core |".into());
    report.push("|---|---|---|".into());
    let row = |label: &str, value: &dyn Fn(&StreamsResult) -> String| {
        let cells: Vec<String> = all_streams.iter().map(value).collect();
        format!("| {label} | {} |", cells.join(" | "))
    };
    report.push(row("gateway resident memory per open stream", &|r| {
        format!("{:.1} KB", r.rss_per_stream / 1024.0)
    }));
    report.push(row("gateway CPU while the streams wait", &|r| {
        format!("{:.1} % of one core", r.idle_cpu_percent)
    }));
    report.push(row("upstream polls per second (with 1 stream)", &|r| {
        format!("{:.2} ({:.2})", r.polls_per_second, r.polls_per_second_one_stream)
    }));
    report.push(row(
        "upstream success seen → final message at the callers: p50 / p99 / last",
        &|r| {
            format!(
                "{:.0} / {:.0} / {:.0} ms",
                r.final_p50_ms, r.final_p99_ms, r.final_max_ms
            )
        },
    ));
    report.push(row("worst round's p99", &|r| format!("{:.0} ms", r.worst_p99_ms)));
    report.push(row("streams that did not end with the final message", &|r| {
        r.failures.to_string()
    }));

    let _ = std::fs::remove_dir_all(bench_dir());
    let section = format!("{BEGIN}\n{}\n{END}", report.join("\n"));
    println!("{section}");
    if let Some(path) = &settings.write {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let updated = match (text.find(BEGIN), text.find(END)) {
            (Some(begin), Some(end)) => format!("{}{}{}", &text[..begin], section, &text[end + END.len()..]),
            _ => format!("{text}\n{section}\n"),
        };
        std::fs::write(path, updated).expect("write the report");
    }
    assert!(unary_ok, "every unary call succeeded, both ways");
    assert!(
        all_streams.iter().all(|r| r.failures == 0),
        "every stream got its final message"
    );
}

fn today() -> String {
    let output = std::process::Command::new("date").arg("+%Y-%m-%d").output();
    output.map_or_else(
        |_| "today".to_owned(),
        |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
    )
}
