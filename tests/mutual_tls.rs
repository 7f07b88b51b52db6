//! TLS and mutual TLS against the real binary: the caller's identity from its
//! client certificate (URI SAN, then DNS SAN, then CN) in the log line; no
//! certificate → health and reflection only; an untrusted certificate refused
//! at the handshake; certificate reload (file change and SIGHUP) with a
//! stream open across it; a broken new pair refused.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::pb;
use serde_json::Value;
use support::pki::{ClientName, Pair, TempFiles, TestCa, tls_channel};
use support::process::GatewayProcess;
use support::{API_KEY, FakeSeam, LOCK_1};
use tonic::Code;
use tonic::transport::Channel;

const FRONTDESK: &str = "spiffe://acme.test/ns/doors/sa/frontdesk";

struct MutualTlsGateway {
    gateway: GatewayProcess,
    ca: TestCa,
    files: TempFiles,
    _fake: FakeSeam,
}

async fn start(extra: &[&str]) -> MutualTlsGateway {
    let fake = FakeSeam::start().await;
    let ca = TestCa::new("callers and gateway CA");
    let files = TempFiles::new("mtls");
    let server = ca.server();
    let cert = files.write("tls.crt", &server.certificate);
    let key = files.write("tls.key", &server.key);
    let client_ca = files.write("ca.crt", &ca.certificate);
    let mut args = vec![
        "--seam-endpoint",
        &fake.url,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-client-ca",
        &client_ca,
    ];
    args.extend_from_slice(extra);
    let gateway = GatewayProcess::start(&args, &[("SEAM_API_KEY", API_KEY)]).await;
    MutualTlsGateway {
        gateway,
        ca,
        files,
        _fake: fake,
    }
}

async fn get_lock(channel: Channel) -> Result<pb::GetLockResponse, tonic::Status> {
    pb::lock_service_client::LockServiceClient::new(channel)
        .get_lock(pb::GetLockRequest {
            device_id: LOCK_1.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn rpc_line(gateway: &GatewayProcess, caller: &str) -> Value {
    gateway
        .wait_for_line("rpc", Duration::from_secs(5), |line| {
            line["fields"]["method"] == "GetLock" && line["fields"]["caller"] == caller
        })
        .await
}

#[tokio::test]
async fn the_caller_is_named_by_its_certificate_uri_then_dns_then_cn() {
    let tls = start(&[]).await;
    let address = &tls.gateway.address;
    let cases = [
        (tls.ca.client(ClientName::Uri(FRONTDESK)), FRONTDESK),
        (
            tls.ca.client(ClientName::Dns("frontdesk.doors.svc")),
            "frontdesk.doors.svc",
        ),
        (tls.ca.client(ClientName::CommonName("frontdesk-cn")), "frontdesk-cn"),
    ];
    for (client, identity) in &cases {
        let channel = tls_channel(address, &tls.ca.certificate, Some(client))
            .await
            .expect("a trusted client certificate connects");
        let lock = get_lock(channel).await.expect("GetLock with a client certificate");
        assert_eq!(lock.lock.expect("lock").device_id, LOCK_1);
        let line = rpc_line(&tls.gateway, identity).await;
        assert_eq!(line["fields"]["auth_method"], "mtls", "{line}");
        assert_eq!(line["fields"]["code"], "Ok", "{line}");
    }
}

#[tokio::test]
async fn without_a_certificate_only_health_and_reflection_answer() {
    let tls = start(&[]).await;
    let channel = tls_channel(&tls.gateway.address, &tls.ca.certificate, None)
        .await
        .expect("TLS without a client certificate connects");
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health answers without a certificate")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let refused = get_lock(channel).await.expect_err("GetLock needs a certificate");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(support::error_info(&refused).reason, "CLIENT_CERTIFICATE_MISSING");
    let line = rpc_line(&tls.gateway, "-").await;
    assert_eq!(line["fields"]["reason"], "CLIENT_CERTIFICATE_MISSING", "{line}");

    // grpcurl, as an operator would explore: list works, a call is refused.
    let grpcurl = support::tools::tool("grpcurl");
    let ca = tls.files.path("ca.crt");
    let (listed, services, stderr) = support::tools::run(
        &grpcurl,
        &["-cacert", &ca, "-authority", "localhost", &tls.gateway.address, "list"],
    )
    .await;
    assert!(
        listed && services.contains("seam.v1.LockService"),
        "{services} {stderr}"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_and_plaintext_are_refused() {
    let tls = start(&[]).await;
    let stranger = TestCa::new("someone else's CA").client(ClientName::Uri(FRONTDESK));
    let refused = match tls_channel(&tls.gateway.address, &tls.ca.certificate, Some(&stranger)).await {
        Err(_) => None,
        // TLS 1.3: the client learns of the refusal on its first call.
        Ok(channel) => Some(
            get_lock(channel)
                .await
                .expect_err("an untrusted certificate is refused"),
        ),
    };
    if let Some(status) = &refused {
        // The connection is torn down (the alert, a broken pipe when the
        // alert loses the race, or a closed connection cancelling the call):
        // never an answer of the gateway, whose errors all carry ErrorInfo.
        let torn_down = status.message().contains("transport error")
            || (status.code() == Code::Cancelled && format!("{status:?}").contains("connection closed"));
        assert!(torn_down && status.details().is_empty(), "{status:?}");
    }
    tls.gateway
        .wait_for_line(
            "refused a TLS handshake: untrusted client certificate",
            Duration::from_secs(5),
            |_| true,
        )
        .await;

    let plaintext = Channel::from_shared(tls.gateway.url()).unwrap().connect().await;
    let refused = match plaintext {
        Err(_) => true,
        Ok(channel) => get_lock(channel).await.is_err(),
    };
    assert!(refused, "plaintext HTTP/2 on the TLS port gets nothing");
}

/// The issuer of the certificate a new connection is served: the TLS client
/// trusting only `ca` connects, or not.
async fn serves_certificate_of(address: &str, ca: &TestCa, client: &Pair) -> bool {
    match tls_channel(address, &ca.certificate, Some(client)).await {
        Err(_) => false,
        Ok(channel) => get_lock(channel).await.is_ok(),
    }
}

#[tokio::test]
async fn a_rewritten_certificate_is_served_to_new_connections_while_open_streams_go_on() {
    let tls = start(&["--tls-reload-interval", "200ms"]).await;
    let client = tls.ca.client(ClientName::Uri(FRONTDESK));
    let old_channel = tls_channel(&tls.gateway.address, &tls.ca.certificate, Some(&client))
        .await
        .expect("connect");
    let mut events = pb::event_service_client::EventServiceClient::new(old_channel.clone())
        .watch_events(pb::WatchEventsRequest {
            device_ids: vec![LOCK_1.into()],
            ..Default::default()
        })
        .await
        .expect("WatchEvents")
        .into_inner();

    // cert-manager renews: a certificate from a new CA (the client CA stays).
    let renewing_ca = TestCa::new("renewing server CA");
    let renewed = renewing_ca.server();
    tls.files.write("tls.key", &renewed.key);
    tls.files.write("tls.crt", &renewed.certificate);
    tls.gateway
        .wait_for_line(
            "TLS certificate reloaded; new connections use it",
            Duration::from_secs(10),
            |_| true,
        )
        .await;
    assert!(serves_certificate_of(&tls.gateway.address, &renewing_ca, &client).await);
    assert!(!serves_certificate_of(&tls.gateway.address, &tls.ca, &client).await);

    // The stream opened before the reload still delivers.
    let mut locks = pb::lock_service_client::LockServiceClient::new(old_channel);
    let mut stream = locks
        .lock_door(pb::LockDoorRequest {
            device_id: LOCK_1.into(),
            ..Default::default()
        })
        .await
        .expect("LockDoor on the old connection")
        .into_inner();
    while stream.message().await.expect("LockDoor stream").is_some() {}
    let event = tokio::time::timeout(Duration::from_secs(20), events.message())
        .await
        .expect("an event within 20 s")
        .expect("the stream opened before the reload is healthy")
        .expect("open");
    assert_eq!(event.event.expect("event").device_id, LOCK_1);

    // A key that does not match the certificate: refused, the renewed pair stays.
    let stray = renewing_ca.server();
    tls.files.write("tls.key", &stray.key);
    tls.gateway
        .wait_for_line(
            "refusing the new TLS files; keeping the certificate in use",
            Duration::from_secs(10),
            |_| true,
        )
        .await;
    assert!(serves_certificate_of(&tls.gateway.address, &renewing_ca, &client).await);
}

#[tokio::test]
async fn sighup_reloads_the_certificate_at_once() {
    let tls = start(&["--tls-reload-interval", "1h"]).await;
    let client = tls.ca.client(ClientName::Uri(FRONTDESK));
    let renewing_ca = TestCa::new("renewing server CA");
    let renewed = renewing_ca.server();
    tls.files.write("tls.key", &renewed.key);
    tls.files.write("tls.crt", &renewed.certificate);
    assert!(
        serves_certificate_of(&tls.gateway.address, &tls.ca, &client).await,
        "not re-read before the hour or a SIGHUP"
    );
    tls.gateway.signal("HUP").await;
    tls.gateway
        .wait_for_line(
            "TLS certificate reloaded; new connections use it",
            Duration::from_secs(10),
            |line| line["fields"]["why"] == "SIGHUP",
        )
        .await;
    assert!(serves_certificate_of(&tls.gateway.address, &renewing_ca, &client).await);
}
