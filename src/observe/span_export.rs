//! Spans exported with OTLP over gRPC when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set: one server span per call of the API (`observe::access_log`) and one
//! client span per request to Seam made for it (`seam::client`), with the ids
//! `observe::trace_context` already gave them, so that the exported trace is
//! the one the caller and Seam saw in `traceparent`.
//!
//! The spans are handed to the OpenTelemetry SDK's batch processor (its own
//! thread, a bounded queue that drops rather than blocks; `OTEL_BSP_*`
//! settings apply) and exported by its OTLP exporter (tonic). Without the
//! endpoint nothing is built, and recording a span costs one atomic load.
//! `OTEL_SERVICE_NAME` names the service (default `seam-grpc-gateway`). Spans
//! of callers whose `traceparent` says "not sampled" are not exported.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanData, SpanEvents, SpanLinks, SpanProcessor};

use super::metrics::{RpcLabels, code_name};
use super::trace_context::TraceContext;
use tonic::Code;

static PROCESSOR: OnceLock<BatchSpanProcessor> = OnceLock::new();

const DEFAULT_SERVICE_NAME: &str = "seam-grpc-gateway";

/// Starts exporting when the environment asks for it; `Ok(None)` when it
/// does not, else the endpoint. Must run inside the Tokio runtime (the
/// exporter's gRPC channel lives there).
pub fn start_from_environment() -> Result<Option<String>, String> {
    let endpoint = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.trim().is_empty()));
    let Some(endpoint) = endpoint else {
        return Ok(None);
    };
    for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        if let Ok(protocol) = std::env::var(name)
            && protocol.trim() != "grpc"
            && !protocol.trim().is_empty()
        {
            return Err(format!(
                "{name}={protocol}: this gateway exports OTLP over gRPC only (grpc)"
            ));
        }
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|e| format!("cannot build the OTLP exporter for {endpoint}: {e}"))?;
    let service_name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    let mut processor = BatchSpanProcessor::builder(exporter).build();
    processor.set_resource(&Resource::builder().with_service_name(service_name).build());
    PROCESSOR
        .set(processor)
        .map_err(|_| "span export was started twice".to_owned())?;
    Ok(Some(endpoint))
}

/// Whether spans are exported (to skip building them when not).
pub fn enabled() -> bool {
    PROCESSOR.get().is_some()
}

/// A span that has ended.
pub struct FinishedSpan {
    /// The span's own ids (and its parent's).
    pub context: TraceContext,
    pub kind: SpanKind,
    pub name: Cow<'static, str>,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<KeyValue>,
    /// Set for failures: the span's status becomes Error with this description.
    pub error: Option<Cow<'static, str>>,
}

/// Hands a finished span to the exporter (when exporting and sampled).
pub fn export(span: FinishedSpan) {
    let Some(processor) = PROCESSOR.get() else {
        return;
    };
    if !span.context.sampled {
        return;
    }
    let span_context = SpanContext::new(
        TraceId::from(span.context.trace_id),
        SpanId::from(span.context.span_id),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    processor.on_end(SpanData {
        span_context,
        parent_span_id: SpanId::from(span.context.parent_span_id),
        parent_span_is_remote: span.context.parent_is_remote,
        span_kind: span.kind,
        name: span.name,
        start_time: span.start,
        end_time: span.end,
        attributes: span.attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: match span.error {
            Some(description) => Status::error(description),
            None => Status::Unset,
        },
        instrumentation_scope: scope().clone(),
    });
}

/// A call's server span (OpenTelemetry's RPC conventions), ending now.
pub fn export_rpc(context: TraceContext, labels: &RpcLabels, took: Duration, code: Code) {
    let end = SystemTime::now();
    // Server spans are errors for the codes that mean the server failed.
    let failed = matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    );
    export(FinishedSpan {
        context,
        kind: SpanKind::Server,
        name: Cow::Owned(format!("{}/{}", labels.service(), labels.method())),
        start: end.checked_sub(took).unwrap_or(end),
        end,
        attributes: vec![
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", labels.service()),
            KeyValue::new("rpc.method", labels.method()),
            KeyValue::new("rpc.grpc.status_code", code as i64),
        ],
        error: failed.then(|| Cow::Borrowed(code_name(code))),
    });
}

/// A request to Seam's client span, ending now: `route` (a static path), its
/// HTTP status or failure.
pub fn export_upstream(context: TraceContext, route: &'static str, took: Duration, outcome: &str, failed: bool) {
    let end = SystemTime::now();
    let mut attributes = vec![
        KeyValue::new("http.request.method", "POST"),
        KeyValue::new("url.path", route),
    ];
    match outcome.parse::<i64>() {
        Ok(status) => attributes.push(KeyValue::new("http.response.status_code", status)),
        Err(_) => attributes.push(KeyValue::new("error.type", outcome.to_owned())),
    }
    export(FinishedSpan {
        context,
        kind: SpanKind::Client,
        name: Cow::Owned(format!("POST {route}")),
        start: end.checked_sub(took).unwrap_or(end),
        end,
        attributes,
        error: failed.then(|| Cow::Owned(outcome.to_owned())),
    });
}

fn scope() -> &'static InstrumentationScope {
    static SCOPE: OnceLock<InstrumentationScope> = OnceLock::new();
    SCOPE.get_or_init(|| {
        InstrumentationScope::builder(DEFAULT_SERVICE_NAME)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build()
    })
}

/// Exports what is queued and stops; at shutdown. Blocking work is done off
/// the runtime's workers, which the exporter needs meanwhile.
pub async fn flush() {
    if PROCESSOR.get().is_none() {
        return;
    }
    let flushed = tokio::task::spawn_blocking(|| {
        if let Some(processor) = PROCESSOR.get()
            && let Err(e) = processor.force_flush()
        {
            tracing::warn!(error = %e, "cannot export the last spans");
        }
    });
    let _ = flushed.await;
}
