//! OTLP span export: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the gateway
//! exports a server span per call and a client span per request to Seam, in
//! the caller's trace, to an OTLP receiver (a tonic server for
//! opentelemetry-proto's trace service, inside the test).
use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use seam_grpc_gateway::pb;
use support::process::GatewayProcess;
use support::{API_KEY, FakeSeam, LOCK_1};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// What the receiver got: each span with its resource's service.name.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| string_attribute(&resource.attributes, "service.name"))
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    self.0.lock().unwrap().push((service.clone(), span));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(value) => Some(value.clone()),
            AnyValue::IntValue(value) => Some(value.to_string()),
            _ => None,
        })
}

async fn start_receiver() -> (SocketAddr, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received = Received::default();
    let service = TraceServiceServer::new(received.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (address, received)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn calls_and_their_seam_requests_are_exported_in_the_callers_trace() {
    let fake = FakeSeam::start().await;
    let (receiver, received) = start_receiver().await;
    let endpoint = format!("http://{receiver}");
    let gateway = GatewayProcess::start(
        &["--seam-endpoint", &fake.url],
        &[
            ("SEAM_API_KEY", API_KEY),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    gateway
        .wait_for_line("exporting spans with OTLP over gRPC", Duration::from_secs(5), |_| true)
        .await;
    let mut locks = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .unwrap();
    let mut request = tonic::Request::new(pb::GetLockRequest {
        device_id: LOCK_1.into(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01").parse().unwrap(),
    );
    locks.get_lock(request).await.expect("GetLock");
    // Not sampled by the caller: not exported.
    let mut unsampled = tonic::Request::new(pb::GetLockRequest {
        device_id: LOCK_1.into(),
    });
    unsampled.metadata_mut().insert(
        "traceparent",
        "00-11111111111111111111111111111111-2222222222222222-00"
            .parse()
            .unwrap(),
    );
    locks.get_lock(unsampled).await.expect("GetLock");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (server, client) = loop {
        let spans = received.0.lock().unwrap().clone();
        let server = spans
            .iter()
            .find(|(_, span)| span.kind == SpanKind::Server as i32)
            .cloned();
        let client = spans
            .iter()
            .find(|(_, span)| span.kind == SpanKind::Client as i32)
            .cloned();
        if let (Some(server), Some(client)) = (server, client) {
            break (server, client);
        }
        assert!(tokio::time::Instant::now() < deadline, "spans within 10 s: {spans:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (service, server) = server;
    assert_eq!(service, "seam-grpc-gateway");
    assert_eq!(server.name, "seam.v1.LockService/GetLock");
    assert_eq!(hex(&server.trace_id), CALLER_TRACE, "the caller's trace");
    assert_eq!(hex(&server.parent_span_id), CALLER_SPAN, "a child of the caller's span");
    assert_eq!(
        string_attribute(&server.attributes, "rpc.grpc.status_code").as_deref(),
        Some("0")
    );
    assert!(server.end_time_unix_nano >= server.start_time_unix_nano);

    let (_, client) = client;
    assert_eq!(client.name, "POST /locks/get");
    assert_eq!(hex(&client.trace_id), CALLER_TRACE);
    assert_eq!(
        client.parent_span_id, server.span_id,
        "the Seam request is a child of the call's span"
    );
    assert_eq!(
        string_attribute(&client.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    let spans = received.0.lock().unwrap().clone();
    assert!(
        spans
            .iter()
            .all(|(_, span)| hex(&span.trace_id) != "11111111111111111111111111111111"),
        "an unsampled call is not exported"
    );
}

#[tokio::test]
async fn an_unsupported_otlp_protocol_stops_the_start() {
    let output = tokio::process::Command::new(support::process::BINARY)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .args(["--log-format", "json"])
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("OTLP over gRPC only"));
}
