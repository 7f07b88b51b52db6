//! Load runs: h2load over HTTP/2 (the hops) and HTTP/1.1 (the upstream
//! directly), and what the report shows of them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::process::GatewayProcess;
use crate::streams::median;
use crate::upstream::Upstream;
use seam_grpc_gateway::pb;

/// One load-generator run: what h2load reported, and every call's latency.
pub(crate) struct Run {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) elapsed: Duration,
    pub(crate) latencies_us: Vec<u32>,
}

impl Run {
    pub(crate) fn percentile(&self, q: f64) -> f64 {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return f64::NAN;
        }
        sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64
    }

    pub(crate) fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// What the report shows of one run, or the median of several.
pub(crate) struct Figures {
    pub(crate) rate: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) failures: u64,
    pub(crate) cpu_per_call: Option<f64>,
}

impl Figures {
    pub(crate) fn of(run: &Run, cpu_per_call: Option<f64>) -> Self {
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
    pub(crate) fn median(rounds: &[Figures]) -> Figures {
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

/// The CPU per call that `rows` cost above `base`, run in the same rounds:
/// the median of each round's difference. Slow drifts of the machine, which
/// move both figures of a round together, cancel out.
pub(crate) fn cpu_above(rows: &[Figures], base: &[Figures]) -> f64 {
    let differences: Vec<f64> = rows
        .iter()
        .zip(base)
        .map(|(row, base)| row.cpu_per_call.unwrap_or(f64::NAN) - base.cpu_per_call.unwrap_or(f64::NAN))
        .collect();
    median(differences)
}

/// One h2load run of `concurrency` requests in flight, POSTing `body`.
///
/// HTTP/1.1 cannot multiplex (h2load sends one request at a time per
/// connection when it posts a body), so there every request in flight has its
/// own connection; over HTTP/2 the requests share at most four connections,
/// as a client's channel pool would.
pub(crate) async fn h2load(
    url: &str,
    http1: bool,
    headers: &[&str],
    body: &[u8],
    concurrency: usize,
    run_for: Duration,
) -> Run {
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
pub(crate) fn bench_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seam-gateway-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub(crate) async fn direct_run(upstream: SocketAddr, concurrency: usize, run_for: Duration) -> Run {
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

/// The request every hop run sends.
fn get_lock_request() -> pb::GetLockRequest {
    pb::GetLockRequest {
        device_id: "august_device_1".into(),
    }
}

/// `GetLock` through a hop (the gateway or the minimal hop): the run, and the
/// hop's CPU time per call over every call it served (the upstream counts them,
/// h2load's warm-up included). h2load checks only the HTTP status, and a failed
/// gRPC call is an HTTP 200 too: the hop's log (a line per call with its code;
/// the minimal hop logs failures only) tells how many failed.
pub(crate) async fn hop_run(
    gateway: &GatewayProcess,
    upstream: &Upstream,
    concurrency: usize,
    run_for: Duration,
) -> (Run, Duration) {
    let warm = pb::lock_service_client::LockServiceClient::new(gateway.channel().await)
        .get_lock(get_lock_request())
        .await;
    assert!(warm.is_ok(), "GetLock through the gateway failed: {warm:?}");
    hop_run_over("http", None, gateway, upstream, concurrency, run_for).await
}

/// [`hop_run`] over `scheme` (`https`: h2load over TLS, without checking the
/// certificate), with `authorization` on every call if given, and no warm-up
/// call of its own.
pub(crate) async fn hop_run_over(
    scheme: &str,
    authorization: Option<&str>,
    gateway: &GatewayProcess,
    upstream: &Upstream,
    concurrency: usize,
    run_for: Duration,
) -> (Run, Duration) {
    // A gRPC message on the wire: uncompressed flag, length, protobuf.
    let message = prost::Message::encode_to_vec(&get_lock_request());
    let mut body = vec![0_u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(&message);
    let before = gateway.calls_logged();
    let served_before = upstream.lock_gets.load(Ordering::SeqCst);
    let cpu_before = gateway.cpu_time();
    let authorization = authorization.map(|value| format!("authorization: {value}"));
    let mut headers = vec!["content-type: application/grpc", "te: trailers"];
    headers.extend(authorization.as_deref());
    let mut run = h2load(
        &format!("{scheme}://{}/seam.v1.LockService/GetLock", gateway.addr),
        false,
        &headers,
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

/// `call` one after the other for `run_for`, after a warm-up (a fifth of it,
/// at most 1 s): its latencies, and the gateway's CPU per call. `call` says
/// whether the call succeeded.
pub(crate) async fn one_after_another(
    gateway: &GatewayProcess,
    run_for: Duration,
    mut call: impl AsyncFnMut() -> bool,
) -> Figures {
    let warm_up = Instant::now();
    while warm_up.elapsed() < (run_for / 5).min(Duration::from_secs(1)) {
        assert!(call().await, "a warm-up call failed");
    }
    let cpu_before = gateway.cpu_time();
    let started = Instant::now();
    let mut run = Run {
        calls: 0,
        failures: 0,
        elapsed: run_for,
        latencies_us: Vec::new(),
    };
    while started.elapsed() < run_for {
        let began = Instant::now();
        if call().await {
            run.calls += 1;
        } else {
            run.failures += 1;
        }
        run.latencies_us.push(began.elapsed().as_micros() as u32);
    }
    run.elapsed = started.elapsed();
    let cpu = gateway.cpu_time().saturating_sub(cpu_before);
    let cpu_per_call_us = cpu.as_secs_f64() * 1e6 / (run.calls + run.failures).max(1) as f64;
    Figures::of(&run, Some(cpu_per_call_us))
}
