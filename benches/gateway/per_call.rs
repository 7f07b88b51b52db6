//! The gateway's own work per call for caller identity and for metrics and
//! trace context, in this process (`--per-call-only`): no network, no HTTP/2,
//! no gateway around it. Through a whole gateway these costs are a few µs
//! among 50–200 µs of CPU per call, within the noise of one run on this VM;
//! here each is timed alone, over many calls. What this cannot see (h2's
//! decoding of a longer `authorization` header, for one) the identity and
//! hop tables measure through the gateway.

use std::sync::Arc;
use std::time::{Duration, Instant};

use seam_grpc_gateway::identity::caller_layer::IdentityMethods;
use seam_grpc_gateway::identity::client_certificate::ClientCertificate;
use seam_grpc_gateway::identity::jwks::JwksLocation;
use seam_grpc_gateway::identity::jwt::{JwtSettings, JwtVerifier};
use seam_grpc_gateway::observe::metrics::{self, RpcLabels};
use seam_grpc_gateway::observe::trace_context::TraceContext;

use crate::identity::{AUDIENCE, Credentials, ISSUER};

pub(crate) const PER_CALL_BEGIN: &str = "<!-- per-call:begin -->";
pub(crate) const PER_CALL_END: &str = "<!-- per-call:end -->";

/// The section of the report: a table of [`per_call_costs`].
pub(crate) async fn per_call_report(rounds: usize, run_for: Duration) -> Vec<String> {
    let costs = per_call_costs(rounds, run_for).await;
    let mut report = vec![
        format!(
            "Generated {} by `cargo bench --bench gateway -- --per-call-only` on {} with {} cores: each figure \
             the median of {rounds} rounds of {:.1} s, in the benchmark's process (no network, no HTTP/2).",
            crate::today(),
            std::env::consts::ARCH,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            run_for.as_secs_f64(),
        ),
        String::new(),
        "| the gateway's own work per call | time |".into(),
        "|---|---|".into(),
    ];
    for cost in &costs {
        report.push(format!(
            "| {} | {:.2} µs |",
            cost.label,
            cost.per_call.as_secs_f64() * 1e6
        ));
    }
    report
}

/// One figure: what it measures, and the median time per call.
pub(crate) struct PerCallCost {
    pub(crate) label: &'static str,
    pub(crate) per_call: Duration,
}

/// A caller's `traceparent`, as an instrumented client sends it.
const CALLERS_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Every figure, each the median of `rounds` rounds of `run_for`.
pub(crate) async fn per_call_costs(rounds: usize, run_for: Duration) -> Vec<PerCallCost> {
    let credentials = Credentials::make();
    let jwt = JwtVerifier::start(JwtSettings {
        jwks: JwksLocation::parse(&credentials.path("jwks.json")),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        clock_skew: Duration::from_secs(30),
        min_refetch_interval: Duration::from_secs(5),
        refresh_interval: Duration::from_secs(3600),
        cache_entries: 10_000,
    })
    .await
    .expect("the benchmark's JWKS loads");
    let no_method = IdentityMethods::default();
    let mutual_tls = IdentityMethods {
        mutual_tls: true,
        jwt: None,
    };
    let with_jwt = IdentityMethods {
        mutual_tls: false,
        jwt: Some(jwt),
    };
    let certificate = ClientCertificate {
        identity: Arc::from("spiffe://bench.test/ns/doors/sa/frontdesk"),
    };
    let plain_headers = http::HeaderMap::new();
    let mut token_headers = http::HeaderMap::new();
    token_headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {}", credentials.token).parse().expect("ASCII"),
    );
    // The first call checks the signature; every later one is a cache hit.
    with_jwt
        .authenticate(&token_headers, None)
        .await
        .expect("the benchmark's token is valid");

    let mut costs = Vec::new();
    let callers = [
        (
            "caller, no identity method (TLS alone): anonymous",
            &no_method,
            &plain_headers,
            None,
        ),
        (
            "caller from the connection's client certificate (mutual TLS)",
            &mutual_tls,
            &plain_headers,
            Some(&certificate),
        ),
        (
            "caller from a cached JWT (header, SHA-256, cache lookup)",
            &with_jwt,
            &token_headers,
            None,
        ),
    ];
    for (label, methods, headers, certificate) in callers {
        let per_call = median_async(rounds, run_for, async || {
            methods.authenticate(headers, certificate).await.is_ok()
        })
        .await;
        costs.push(PerCallCost { label, per_call });
    }
    costs.push(PerCallCost {
        label: "trace context: the caller's traceparent read, a child for the Seam request, trace_id for the log",
        per_call: median(rounds, run_for, || {
            let call =
                TraceContext::parse(CALLERS_TRACEPARENT).map_or_else(TraceContext::new_trace, |caller| caller.child());
            let upstream = call.child().traceparent();
            let logged = call.trace_id();
            upstream.len() + logged.len() == 87
        }),
    });
    // A unary call's metrics: started, handled with its latency, and its one
    // Seam request. Without a recorder first (as with no --admin-listen):
    // once installed, a recorder stays for the life of the process.
    let unary_call_metrics = || {
        let labels = RpcLabels::of("GetLock");
        labels.started();
        metrics::upstream_request("/locks/get", "200", Duration::from_micros(120));
        labels.handled(tonic::Code::Ok, Duration::from_micros(180));
        !labels.is_stream()
    };
    costs.push(PerCallCost {
        label: "metrics of a unary call, no recorder (no --admin-listen)",
        per_call: median(rounds, run_for, unary_call_metrics),
    });
    assert!(metrics::install().is_some(), "no other recorder in this process");
    costs.push(PerCallCost {
        label: "metrics of a unary call, recorded for /metrics (--admin-listen)",
        per_call: median(rounds, run_for, unary_call_metrics),
    });
    assert!(
        metrics::render().contains("grpc_server_handled_total"),
        "the calls were recorded"
    );
    costs
}

/// The median over `rounds` of the time per call of `call`, which must
/// return true (a check that the work was done and not optimised away).
fn median(rounds: usize, run_for: Duration, mut call: impl FnMut() -> bool) -> Duration {
    let mut per_round: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let mut calls = 0u32;
            while started.elapsed() < run_for {
                for _ in 0..1000 {
                    assert!(std::hint::black_box(call()), "the measured work failed");
                }
                calls += 1000;
            }
            started.elapsed() / calls
        })
        .collect();
    per_round.sort();
    per_round[per_round.len() / 2]
}

/// [`median`] of an async call (one that never waits: a cached answer).
async fn median_async(rounds: usize, run_for: Duration, mut call: impl AsyncFnMut() -> bool) -> Duration {
    let mut per_round = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let mut calls = 0u32;
        while started.elapsed() < run_for {
            for _ in 0..1000 {
                assert!(std::hint::black_box(call().await), "the measured work failed");
            }
            calls += 1000;
        }
        per_round.push(started.elapsed() / calls);
    }
    per_round.sort();
    per_round[per_round.len() / 2]
}
