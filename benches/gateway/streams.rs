//! 10,000 open WatchActionAttempt streams: memory, idle CPU, upstream polls,
//! and the completion timed at every caller.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::Settings;
use crate::process::GatewayProcess;
use crate::upstream::Upstream;
use seam_grpc_gateway::pb;

pub(crate) struct StreamsResult {
    pub(crate) rss_per_stream: f64,
    pub(crate) idle_cpu_percent: f64,
    pub(crate) polls_per_second: f64,
    pub(crate) polls_per_second_one_stream: f64,
    pub(crate) final_p50_ms: f64,
    pub(crate) final_p99_ms: f64,
    pub(crate) final_max_ms: f64,
    pub(crate) worst_p99_ms: f64,
    pub(crate) failures: usize,
}

pub(crate) async fn open_streams(
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

pub(crate) async fn polls_per_second(upstream: &Upstream, window: Duration) -> f64 {
    let before = upstream.attempt_polls.load(Ordering::SeqCst);
    tokio::time::sleep(window).await;
    (upstream.attempt_polls.load(Ordering::SeqCst) - before) as f64 / window.as_secs_f64()
}

pub(crate) async fn streams_run(
    settings: &Settings,
    upstream: Arc<Upstream>,
    worker_threads: Option<usize>,
) -> StreamsResult {
    upstream.attempt_done.store(false, Ordering::SeqCst);
    *upstream.first_success_at.lock().unwrap() = None;
    let gateway = GatewayProcess::start(&settings.gateway, upstream.addr, worker_threads, &[]).await;
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
pub(crate) struct Completion {
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) failures: usize,
}

/// Lets the upstream answer "success" and times each stream's final message
/// from the upstream's first "success" answer.
pub(crate) async fn complete(
    upstream: &Upstream,
    streams: Vec<tonic::Streaming<pb::WatchActionAttemptResponse>>,
) -> Completion {
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
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(f64::NAN)
}
