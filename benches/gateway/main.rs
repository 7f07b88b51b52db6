//! What a gateway hop costs, and how many streams one gateway process holds.
//!
//! `cargo bench --bench gateway -- [--smoke] [--write BENCHMARKS.md]` (scripts/bench runs it;
//! `--identity-only` prints just the caller-identity table, `--gateway PATH` picks the binary).
//!
//! - A minimal Seam-shaped upstream runs in this process: HTTP/1.1 keep-alive,
//!   one pre-built answer per route.
//! - The gateway runs as its own process (the release binary), so its CPU time
//!   and resident memory are read from /proc for it alone.
//! - Unary hop: `GetLock` through the gateway (h2load over HTTP/2, with the
//!   gateway's log telling failed gRPC statuses) against the same request sent
//!   straight to the upstream (h2load over HTTP/1.1 keep-alive), at
//!   concurrency 1, 16 and 64.
//! - Caller identity (`identity.rs`): `GetLock` at concurrency 1 over
//!   plaintext, TLS, mutual TLS and TLS + JWT, and the cost of a handshake.
//! - Open streams: 10,000 `WatchActionAttempt` streams over a few HTTP/2
//!   connections on one pending attempt; memory per stream, idle CPU, upstream
//!   polls; then the attempt completes and every caller's final message is timed
//!   from the moment the upstream first answered "success".

mod decision;
mod identity;
mod load;
mod minimal_hop;
mod otlp_sink;
mod per_call;
mod policy;
mod process;
mod streams;
mod upstream;

use std::path::PathBuf;
use std::time::Duration;

pub(crate) use load::*;
pub(crate) use minimal_hop::*;
pub(crate) use process::*;
pub(crate) use streams::*;
pub(crate) use upstream::*;

pub(crate) const BEGIN: &str = "<!-- gateway:begin -->";
pub(crate) const END: &str = "<!-- gateway:end -->";

pub(crate) struct Settings {
    pub(crate) smoke: bool,
    pub(crate) write: Option<PathBuf>,
    pub(crate) gateway: PathBuf,
    pub(crate) run_for: Duration,
    pub(crate) concurrencies: Vec<usize>,
    pub(crate) streams: usize,
    pub(crate) connections: usize,
    /// Each measurement is repeated this many times; the report gives medians.
    pub(crate) rounds: usize,
}

pub(crate) fn settings() -> Settings {
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
        } else if let Some(concurrency) = value_of("--concurrency").and_then(|c| c.parse().ok()) {
            vec![concurrency]
        } else if smoke {
            vec![1, 4]
        } else {
            vec![1, 16, 64]
        },
        streams: if smoke { 200 } else { 10_000 },
        connections: if smoke { 2 } else { 8 },
        rounds: value_of("--rounds")
            .and_then(|rounds| rounds.parse().ok())
            .unwrap_or(if smoke { 1 } else { 3 }),
    }
}

pub(crate) fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == MINIMAL_HOP_FLAG) {
        let (listen, upstream) = (&args[at + 1], &args[at + 2]);
        serve_minimal_hop(listen, upstream);
        return;
    }
    tokio::runtime::Runtime::new().expect("runtime").block_on(bench());
}

pub(crate) async fn bench() {
    let settings = settings();
    let upstream = Upstream::start().await;
    // `--identity-only`: just the caller-identity table, printed (for
    // comparing two gateway binaries with `--gateway`).
    // `--hop-only`: just the unary hop table, printed; with `--concurrency N`
    // one concurrency, with `--rounds N` more rounds.
    // `--policy-only`: just the policies-and-audit section (written with --write).
    if std::env::args().any(|a| a == "--policy-only") {
        let (section, ok) = policy::policy_report(&settings, &upstream).await;
        publish(&settings, policy::POLICY_BEGIN, policy::POLICY_END, &section);
        assert!(
            ok,
            "every call and command succeeded, with and without policies and audit"
        );
        return;
    }
    if std::env::args().any(|a| a == "--decision-only") {
        let (first_time, repeated) = decision::decision_times(settings.rounds, settings.run_for);
        println!(
            "one decision, 50 policies: {:.2} µs for a new device, {:.2} µs repeated",
            first_time.as_secs_f64() * 1e6,
            repeated.as_secs_f64() * 1e6
        );
        return;
    }
    if std::env::args().any(|a| a == "--per-call-only") {
        let section = per_call::per_call_report(settings.rounds, settings.run_for).await;
        publish(&settings, per_call::PER_CALL_BEGIN, per_call::PER_CALL_END, &section);
        return;
    }
    if std::env::args().any(|a| a == "--identity-only") {
        let (identity, identity_ok) = identity::identity_report(&settings, &upstream).await;
        println!("{}", identity.join("\n"));
        assert!(identity_ok, "every call succeeded over every transport");
        return;
    }
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
    let mut observability_costs = Vec::new();
    let mut unary_ok = true;
    let spans_exported;
    {
        // One worker each: the load generator and the upstream need the other core.
        let gateway = GatewayProcess::start(&settings.gateway, upstream.addr, Some(1), &[]).await;
        // The same with Prometheus metrics recorded (the admin listener on).
        let measured = GatewayProcess::start(
            &settings.gateway,
            upstream.addr,
            Some(1),
            &[("SEAM_GATEWAY_ADMIN_LISTEN", "127.0.0.1:0")],
        )
        .await;
        // And with spans exported over OTLP as well (a receiver in this process).
        let (otlp_address, otlp) = otlp_sink::OtlpSink::start().await;
        let otlp_endpoint = format!("http://{otlp_address}");
        let traced = GatewayProcess::start(
            &settings.gateway,
            upstream.addr,
            Some(1),
            &[
                ("SEAM_GATEWAY_ADMIN_LISTEN", "127.0.0.1:0"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_endpoint.as_str()),
            ],
        )
        .await;
        let minimal = GatewayProcess::start_minimal_hop(upstream.addr).await;
        for &concurrency in &settings.concurrencies {
            let mut direct = Vec::new();
            let mut reference = Vec::new();
            let mut through = Vec::new();
            let mut with_metrics = Vec::new();
            let mut with_spans = Vec::new();
            for round in 0..settings.rounds {
                let run = direct_run(upstream.addr, concurrency, settings.run_for).await;
                direct.push(Figures::of(&run, None));
                let (run, cpu_per_call) = hop_run(&minimal, &upstream, concurrency, settings.run_for).await;
                reference.push(Figures::of(&run, Some(cpu_per_call.as_secs_f64() * 1e6)));
                // The three gateways take turns going first, so that the order
                // of the runs biases none of the differences between them.
                for turn in 0..3 {
                    let (process, figures) = match (round + turn) % 3 {
                        0 => (&gateway, &mut through),
                        1 => (&measured, &mut with_metrics),
                        _ => (&traced, &mut with_spans),
                    };
                    let (run, cpu_per_call) = hop_run(process, &upstream, concurrency, settings.run_for).await;
                    figures.push(Figures::of(&run, Some(cpu_per_call.as_secs_f64() * 1e6)));
                }
            }
            observability_costs.push((
                concurrency,
                cpu_above(&with_metrics, &through),
                cpu_above(&with_spans, &with_metrics),
            ));
            let direct = Figures::median(&direct);
            let reference = Figures::median(&reference);
            let through = Figures::median(&through);
            let with_metrics = Figures::median(&with_metrics);
            let with_spans = Figures::median(&with_spans);
            for (label, figures) in [
                ("direct", &direct),
                ("minimal hop", &reference),
                ("**gateway**", &through),
                ("gateway + metrics (`--admin-listen`)", &with_metrics),
                ("gateway + metrics + OTLP span export", &with_spans),
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
            for figures in [&direct, &reference, &through, &with_metrics, &with_spans] {
                unary_ok &= figures.failures == 0 && figures.rate > 0.0;
            }
            added.push((
                concurrency,
                [reference.p50 - direct.p50, reference.p99 - direct.p99],
                [through.p50 - direct.p50, through.p99 - direct.p99],
            ));
        }
        // Give the batch processor its scheduled delay to send the last spans.
        tokio::time::sleep(Duration::from_secs(6)).await;
        spans_exported = otlp.spans.load(std::sync::atomic::Ordering::Relaxed);
    }
    report.push(String::new());
    for (concurrency, [minimal_p50, minimal_p99], [p50, p99]) in &added {
        report.push(format!(
            "- concurrency {concurrency}: the gateway adds {p50:.0} µs at p50 and {p99:.0} µs at p99 \
             (the minimal hop: {minimal_p50:.0} µs and {minimal_p99:.0} µs)."
        ));
    }

    for (concurrency, metrics, spans) in &observability_costs {
        report.push(format!(
            "- concurrency {concurrency}: metrics recorded (`--admin-listen`) cost {metrics:+.1} µs of CPU per call \
             over the gateway without; OTLP span export {spans:+.1} µs more (medians of the rounds' differences)."
        ));
    }
    report.push(format!(
        "- With OTLP export on, the receiver got {spans_exported} spans (a server span per call and a client span \
         per Seam request; the SDK's queue drops spans it cannot send in time rather than slowing calls)."
    ));
    if std::env::args().any(|a| a == "--hop-only") {
        println!("{}", report.join("\n"));
        assert!(unary_ok, "every unary call succeeded, both ways");
        return;
    }
    let (identity, identity_ok) = identity::identity_report(&settings, &upstream).await;
    report.extend(identity);

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

    let (policy_section, policy_ok) = policy::policy_report(&settings, &upstream).await;
    // Last: it installs a metrics recorder in this process.
    let per_call_section = per_call::per_call_report(settings.rounds, settings.run_for).await;
    let _ = std::fs::remove_dir_all(bench_dir());
    publish(&settings, BEGIN, END, &report);
    publish(&settings, policy::POLICY_BEGIN, policy::POLICY_END, &policy_section);
    publish(
        &settings,
        per_call::PER_CALL_BEGIN,
        per_call::PER_CALL_END,
        &per_call_section,
    );
    assert!(
        policy_ok,
        "every call and command succeeded, with and without policies and audit"
    );
    assert!(unary_ok, "every unary call succeeded, both ways");
    assert!(identity_ok, "every call succeeded over every transport");
    assert!(spans_exported > 0, "spans reached the OTLP receiver");
    assert!(
        all_streams.iter().all(|r| r.failures == 0),
        "every stream got its final message"
    );
}

/// Prints a generated section and, with `--write`, puts it between its
/// markers in the report file (at the end when they are not there yet).
fn publish(settings: &Settings, begin: &str, end: &str, lines: &[String]) {
    let section = format!("{begin}\n{}\n{end}", lines.join("\n"));
    println!("{section}");
    if let Some(path) = &settings.write {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let updated = match (text.find(begin), text.find(end)) {
            (Some(at), Some(until)) => format!("{}{}{}", &text[..at], section, &text[until + end.len()..]),
            _ => format!("{text}\n{section}\n"),
        };
        std::fs::write(path, updated).expect("write the report");
    }
}

pub(crate) fn today() -> String {
    let output = std::process::Command::new("date").arg("+%Y-%m-%d").output();
    output.map_or_else(
        |_| "today".to_owned(),
        |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
    )
}
