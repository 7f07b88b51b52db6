//! Prometheus metrics, with the names operators rely on
//! (OPERATIONS_CONTRACT.md section 4): `grpc_server_*` recorded by the access
//! log layer for every call of the gateway's API, `seam_upstream_*` at the one
//! place every Seam request passes, `seam_gateway_*` for the gateway's own
//! state. Label values are bounded: RPC names from a fixed table, codes,
//! Seam routes (static paths) and HTTP statuses; never an id, a caller or a
//! credential.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tonic::Code;

/// Seconds: from 1 ms to a minute (a stream can wait that long).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once; later calls reuse it). `None` when
/// another recorder was installed first (an embedding program's).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets every
/// [`UPKEEP_INTERVAL`] until `stopping`. The recorder keeps every sample
/// until then, so without this a gateway that nobody scrapes would hold
/// every call's latency in memory.
pub async fn keep_up(stopping: tokio::sync::watch::Receiver<bool>) {
    if let Some(handle) = install() {
        run_upkeep_every(UPKEEP_INTERVAL, stopping, || handle.run_upkeep()).await;
    }
}

async fn run_upkeep_every(
    interval: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    mut run_upkeep: impl FnMut(),
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => run_upkeep(),
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
    }
}

/// The Prometheus text of every metric (empty without a recorder).
pub fn render() -> String {
    match install() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    }
}

/// The gateway's RPCs: (method, service, streams?). Anything else is labelled
/// `unknown`, so that a caller cannot create label values.
const RPCS: &[(&str, &str, bool)] = &[
    ("GetLock", "seam.v1.LockService", false),
    ("ListLocks", "seam.v1.LockService", false),
    ("LockDoor", "seam.v1.LockService", true),
    ("UnlockDoor", "seam.v1.LockService", true),
    ("GetDevice", "seam.v1.DeviceService", false),
    ("ListDevices", "seam.v1.DeviceService", false),
    ("GetActionAttempt", "seam.v1.ActionAttemptService", false),
    ("WatchActionAttempt", "seam.v1.ActionAttemptService", true),
    ("GetEvent", "seam.v1.EventService", false),
    ("ListEvents", "seam.v1.EventService", false),
    ("WatchEvents", "seam.v1.EventService", true),
];

/// The bounded labels of one call.
#[derive(Debug, Clone, Copy)]
pub struct RpcLabels {
    method: &'static str,
    service: &'static str,
    kind: &'static str,
    /// The RPC's place in [`RPCS`]; `RPCS.len()` for `unknown`.
    index: usize,
}

/// One RPC's metrics, registered with the recorder once. Looking a metric
/// up by name and labels (and building its key) is most of what recording
/// costs, and every call records three or four.
struct RpcHandles {
    started: Counter,
    handling: Histogram,
    open_streams: Gauge,
    /// By `Code as usize`, registered at a code's first call.
    handled: [OnceLock<Counter>; 17],
}

/// [`RpcHandles`] of every RPC and of `unknown`, by [`RpcLabels::index`],
/// registered at the first call after [`install`].
static RPC_HANDLES: OnceLock<Vec<RpcHandles>> = OnceLock::new();

/// Whether [`install`] ran: a recorder (the gateway's, or an embedding
/// program's installed before it) takes metrics. Until then (no
/// `--admin-listen`) there is nothing to record into.
fn recording() -> bool {
    HANDLE.get().is_some()
}

impl RpcLabels {
    pub fn of(method: &str) -> Self {
        match RPCS.iter().position(|(name, _, _)| *name == method) {
            Some(index) => {
                let (method, service, streams) = &RPCS[index];
                Self {
                    method,
                    service,
                    kind: if *streams { "server_stream" } else { "unary" },
                    index,
                }
            }
            None => Self {
                method: "unknown",
                service: "unknown",
                kind: "unknown",
                index: RPCS.len(),
            },
        }
    }

    /// This RPC's registered metrics, once a recorder is installed.
    fn handles(&self) -> Option<&'static RpcHandles> {
        if !recording() {
            return None;
        }
        let all = RPC_HANDLES.get_or_init(|| {
            let every_rpc = (0..=RPCS.len()).map(|index| {
                let labels = match RPCS.get(index) {
                    Some((method, _, _)) => RpcLabels::of(method),
                    None => RpcLabels::of(""),
                };
                RpcHandles {
                    started: counter!("grpc_server_started_total", "grpc_type" => labels.kind, "grpc_service" => labels.service, "grpc_method" => labels.method),
                    handling: histogram!("grpc_server_handling_seconds", "grpc_type" => labels.kind, "grpc_service" => labels.service, "grpc_method" => labels.method),
                    open_streams: gauge!("seam_gateway_open_streams", "grpc_method" => labels.method),
                    handled: std::array::from_fn(|_| OnceLock::new()),
                }
            });
            every_rpc.collect()
        });
        all.get(self.index)
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    pub fn method(&self) -> &'static str {
        self.method
    }

    pub fn is_stream(&self) -> bool {
        self.kind == "server_stream"
    }

    pub fn started(&self) {
        let Some(handles) = self.handles() else {
            return;
        };
        handles.started.increment(1);
        if self.is_stream() {
            handles.open_streams.increment(1.0);
        }
    }

    pub fn handled(&self, code: Code, took: Duration) {
        let Some(handles) = self.handles() else {
            return;
        };
        let handled = handles.handled[code as usize].get_or_init(|| {
            counter!("grpc_server_handled_total", "grpc_type" => self.kind, "grpc_service" => self.service, "grpc_method" => self.method, "grpc_code" => code_name(code))
        });
        handled.increment(1);
        handles.handling.record(took.as_secs_f64());
        if self.is_stream() {
            handles.open_streams.decrement(1.0);
        }
    }
}

/// gRPC's own names of the codes, as the grpc-ecosystem metrics spell them.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// One request to Seam: its route (a static path), and its HTTP status or
/// `timeout` / `connect_error` / `transport_error`.
pub fn upstream_request(route: &'static str, status: &str, took: Duration) {
    if !recording() {
        return;
    }
    counter!("seam_upstream_requests_total", "route" => route, "status" => status.to_owned()).increment(1);
    histogram!("seam_upstream_request_duration_seconds", "route" => route).record(took.as_secs_f64());
}

/// A caller connection opened (+1) or closed (-1).
pub fn connections(change: f64) {
    gauge!("seam_gateway_connections").increment(change);
}

/// An attempt poller started (+1) or stopped (-1).
pub fn attempt_pollers(change: f64) {
    gauge!("seam_gateway_attempt_pollers").increment(change);
}

/// An event tail started (+1) or stopped (-1).
pub fn event_tails(change: f64) {
    gauge!("seam_gateway_event_tails").increment(change);
}

/// A poll waits for its turn in a budget (+1) or stopped waiting (-1).
pub fn polls_waiting(change: f64) {
    gauge!("seam_gateway_polling_budget_waiting").increment(change);
}

/// A budget handed out a poll.
pub fn poll_granted() {
    counter!("seam_gateway_polling_budget_granted_total").increment(1);
}

/// A lock command's attempt reached its final status, `took` after Seam accepted it.
pub fn confirmation(took: Duration) {
    histogram!("seam_gateway_confirmation_seconds").record(took.as_secs_f64());
}

/// A TLS handshake the gateway refused or that failed: `untrusted_certificate`
/// (a client certificate not signed by --tls-client-ca) or `other`.
pub fn tls_handshake_refused(reason: &'static str) {
    counter!("seam_gateway_tls_handshake_failures_total", "reason" => reason).increment(1);
}

/// A call of the API refused for want of a valid identity, by `ErrorInfo`
/// reason (a fixed set; never the token or the caller).
pub fn caller_refused(reason: &'static str) {
    counter!("seam_gateway_unauthenticated_calls_total", "reason" => reason).increment(1);
}

/// A JWT accepted: `cached` (remembered from an earlier check) or
/// `verified` (its signature and claims checked now).
pub fn jwt_accepted(how: &'static str) {
    counter!("seam_gateway_jwt_accepted_total", "check" => how).increment(1);
}

/// An audit record that could not be written (the alert
/// `AuditWriteFailures` watches it; commands are refused meanwhile).
pub fn audit_write_failure() {
    counter!("seam_gateway_audit_write_failures_total").increment(1);
}

/// A policy decision (`--policy`): `allow` or `deny`, by RPC (bounded: the
/// API's RPC names). Never the caller or the device.
pub fn policy_decision(rpc: &str, allowed: bool) {
    let rpc = RpcLabels::of(rpc).method();
    counter!("seam_gateway_policy_decisions_total", "grpc_method" => rpc, "decision" => if allowed { "allow" } else { "deny" })
        .increment(1);
}

/// A webhook delivery and what became of it: `accepted`, `replayed` (an id
/// already taken), `refused` (401: `reason` says why), `too_large`, `malformed`.
pub fn webhook_delivery(outcome: &'static str, reason: &'static str) {
    counter!("seam_gateway_webhook_deliveries_total", "outcome" => outcome, "reason" => reason).increment(1);
}

/// Whether webhook deliveries are arriving (1: polling is the safety net).
pub fn webhook_deliveries_live(live: bool) {
    gauge!("seam_gateway_webhook_deliveries_live").set(if live { 1.0 } else { 0.0 });
}

/// An attempt poller checked Seam at once because a delivery named its attempt.
pub fn webhook_attempt_hint() {
    counter!("seam_gateway_webhook_attempt_hints_total").increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn upkeep_runs_every_interval_until_shutdown() {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = runs.clone();
        let task = tokio::spawn(run_upkeep_every(Duration::from_secs(5), stopping, move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        tokio::time::sleep(Duration::from_millis(4_900)).await;
        assert_eq!(
            runs.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "not before the first interval"
        );
        tokio::time::sleep(Duration::from_millis(10_200)).await;
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3, "at 5, 10 and 15 s");
        stop.send(true).unwrap();
        task.await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3, "none after shutdown");
    }

    #[test]
    fn unknown_methods_do_not_become_label_values() {
        let labels = RpcLabels::of("../../etc/passwd");
        assert_eq!(
            (labels.method, labels.service, labels.kind, labels.index),
            ("unknown", "unknown", "unknown", RPCS.len())
        );
        let lock_door = RpcLabels::of("LockDoor");
        assert!(lock_door.is_stream());
        assert_eq!(lock_door.service, "seam.v1.LockService");
    }
}
