//! JWT caller identity against the real binary: tokens signed by keys the
//! test made (RS256, ES256, EdDSA), the JWKS served over HTTP and from a file,
//! every refusal reason, key rotation (refetch on an unknown key id, rate
//! limited), the verified-token cache, pass-through mode's
//! `seam-authorization`, and mTLS + JWT together. No token reaches a log line
//! or an error.
use crate::support;

use std::time::Duration;

use jsonwebtoken::Algorithm;
use seam_grpc_gateway::pb;
use serde_json::{Value, json};
use support::jwt::{AUDIENCE, ISSUER, JwksServer, SigningKey, claims, now};
use support::pki::{ClientName, TempFiles, TestCa, tls_channel};
use support::process::GatewayProcess;
use support::{API_KEY, FakeSeam, LOCK_1};
use tonic::Code;
use tonic::transport::Channel;

async fn start_gateway(fake: &FakeSeam, jwks: &str, extra: &[&str], env: &[(&str, &str)]) -> GatewayProcess {
    let mut args = vec![
        "--seam-endpoint",
        &fake.url,
        "--jwt-jwks",
        jwks,
        "--jwt-issuer",
        ISSUER,
        "--jwt-audience",
        AUDIENCE,
    ];
    args.extend_from_slice(extra);
    GatewayProcess::start(&args, env).await
}

fn get_lock_request(authorization: Option<&str>) -> tonic::Request<pb::GetLockRequest> {
    let mut request = tonic::Request::new(pb::GetLockRequest {
        device_id: LOCK_1.into(),
    });
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().expect("ASCII metadata"));
    }
    request
}

async fn get_lock(channel: &Channel, authorization: Option<&str>) -> Result<pb::GetLockResponse, tonic::Status> {
    pb::lock_service_client::LockServiceClient::new(channel.clone())
        .get_lock(get_lock_request(authorization))
        .await
        .map(tonic::Response::into_inner)
}

async fn plaintext(gateway: &GatewayProcess) -> Channel {
    Channel::from_shared(gateway.url())
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_name_the_caller() {
    let fake = FakeSeam::start().await;
    let keys = [
        SigningKey::new("rsa-1", Algorithm::RS256),
        SigningKey::new("ec-1", Algorithm::ES256),
        SigningKey::new("ed-1", Algorithm::EdDSA),
    ];
    let jwks = JwksServer::start(&keys.iter().collect::<Vec<_>>()).await;
    let gateway = start_gateway(&fake, &jwks.url(), &[], &[("SEAM_API_KEY", API_KEY)]).await;
    let channel = plaintext(&gateway).await;
    for key in &keys {
        let subject = format!("system:serviceaccount:doors:{}", key.kid);
        let lock = get_lock(&channel, Some(&bearer(&key.token_for(&subject))))
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", key.algorithm));
        assert_eq!(lock.lock.expect("lock").device_id, LOCK_1);
        let line = gateway
            .wait_for_line("rpc", Duration::from_secs(5), |line| {
                line["fields"]["caller"] == subject.as_str()
            })
            .await;
        assert_eq!(line["fields"]["auth_method"], "jwt", "{line}");
    }
}

#[tokio::test]
async fn each_failed_check_has_its_reason_and_no_token_is_repeated() {
    let fake = FakeSeam::start().await;
    let key = SigningKey::new("ec-1", Algorithm::ES256);
    let impostor = SigningKey::new("ec-1", Algorithm::ES256); // same kid, other key
    let stranger = SigningKey::new("ec-unknown", Algorithm::ES256);
    let files = TempFiles::new("jwks");
    let jwks = files.write("jwks.json", &support::jwt::jwks_document(&[&key]));
    let gateway = start_gateway(&fake, &jwks, &[], &[("SEAM_API_KEY", API_KEY)]).await;
    let channel = plaintext(&gateway).await;

    let spoiled = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims("frontdesk");
        change(&mut claims);
        key.sign(&claims)
    };
    let hour_ago = now() - 3600;
    let cases: Vec<(&str, Option<String>)> = vec![
        ("TOKEN_MISSING", None),
        ("TOKEN_MALFORMED", Some("Bearer not-a-jwt".into())),
        ("TOKEN_MALFORMED", Some(format!("Basic {}", key.token_for("frontdesk")))),
        ("TOKEN_EXPIRED", Some(bearer(&spoiled(&|c| c["exp"] = json!(hour_ago))))),
        (
            "TOKEN_NOT_YET_VALID",
            Some(bearer(&spoiled(&|c| c["nbf"] = json!(now() + 600)))),
        ),
        (
            "TOKEN_WRONG_ISSUER",
            Some(bearer(&spoiled(&|c| c["iss"] = json!("https://evil.test")))),
        ),
        (
            "TOKEN_WRONG_AUDIENCE",
            Some(bearer(&spoiled(&|c| c["aud"] = json!("another-service")))),
        ),
        (
            "TOKEN_CLAIM_MISSING",
            Some(bearer(&spoiled(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }))),
        ),
        ("TOKEN_UNKNOWN_KEY", Some(bearer(&stranger.token_for("frontdesk")))),
        ("TOKEN_BAD_SIGNATURE", Some(bearer(&impostor.token_for("frontdesk")))),
    ];
    for (reason, authorization) in &cases {
        let refused = get_lock(&channel, authorization.as_deref()).await.expect_err(reason);
        assert_eq!(refused.code(), Code::Unauthenticated, "{reason}: {refused:?}");
        assert_eq!(support::error_info(&refused).reason, *reason, "{refused:?}");
        if let Some(authorization) = authorization {
            let token = authorization.rsplit(' ').next().unwrap();
            assert!(
                !refused.message().contains(token),
                "{reason}: the token is in the message"
            );
        }
    }
    // A skew within the allowance (30 s) is accepted.
    let barely_expired = spoiled(&|c| c["exp"] = json!(now() - 5));
    get_lock(&channel, Some(&bearer(&barely_expired)))
        .await
        .expect("within the clock-skew allowance");

    gateway
        .wait_for_line("rpc", Duration::from_secs(5), |line| {
            line["fields"]["reason"] == "TOKEN_BAD_SIGNATURE"
        })
        .await;
    let log = serde_json::to_string(&gateway.lines()).unwrap();
    for (_, authorization) in &cases {
        if let Some(authorization) = authorization {
            let token = authorization.rsplit(' ').next().unwrap();
            if token.len() > 20 {
                assert!(!log.contains(token), "a token reached the log");
            }
        }
    }
    // The health check needs no token.
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health is open");
}

#[tokio::test]
async fn a_new_key_is_fetched_on_its_first_token_at_most_once_per_interval() {
    let fake = FakeSeam::start().await;
    let old_key = SigningKey::new("2026-01", Algorithm::RS256);
    let new_key = SigningKey::new("2026-02", Algorithm::EdDSA);
    let jwks = JwksServer::start(&[&old_key]).await;
    let gateway = start_gateway(
        &fake,
        &jwks.url(),
        &["--jwt-jwks-min-refetch-interval", "1s"],
        &[("SEAM_API_KEY", API_KEY)],
    )
    .await;
    let channel = plaintext(&gateway).await;
    assert_eq!(jwks.fetches(), 1, "fetched at start");
    // The interval under test is real time in the real binary.
    let interval_passed = || tokio::time::sleep(Duration::from_millis(1100));
    interval_passed().await;

    // Made-up key ids do not hammer the issuer: one fetch for the burst.
    let stranger = SigningKey::new("made-up", Algorithm::ES256);
    let mut burst = Vec::new();
    for _ in 0..20 {
        let channel = channel.clone();
        let token = bearer(&stranger.token_for("intruder"));
        burst.push(tokio::spawn(async move { get_lock(&channel, Some(&token)).await }));
    }
    for call in burst {
        let refused = call.await.unwrap().expect_err("unknown key");
        assert_eq!(support::error_info(&refused).reason, "TOKEN_UNKNOWN_KEY");
    }
    assert_eq!(
        jwks.fetches(),
        2,
        "one refetch for twenty tokens with an unknown key id"
    );

    // The issuer rotates. Within the interval the new key is not fetched yet;
    // after it, the new key's first token makes the gateway fetch, and passes.
    jwks.publish(&[&old_key, &new_key]);
    let token = bearer(&new_key.token_for("frontdesk"));
    let refused = get_lock(&channel, Some(&token)).await.expect_err("too soon");
    assert_eq!(support::error_info(&refused).reason, "TOKEN_UNKNOWN_KEY");
    assert_eq!(jwks.fetches(), 2);
    interval_passed().await;
    get_lock(&channel, Some(&token))
        .await
        .expect("a token of the rotated-in key");
    assert_eq!(jwks.fetches(), 3);
    gateway
        .wait_for_line("JWT keys changed", Duration::from_secs(5), |line| {
            line["fields"]["keys"] == 2
        })
        .await;
}

#[tokio::test]
async fn a_repeated_token_is_checked_once_and_forgotten_when_its_key_is_withdrawn() {
    let fake = FakeSeam::start().await;
    let key = SigningKey::new("k1", Algorithm::ES256);
    let successor = SigningKey::new("k2", Algorithm::ES256);
    let jwks = JwksServer::start(&[&key]).await;
    let gateway = start_gateway(
        &fake,
        &jwks.url(),
        &["--admin-listen", "127.0.0.1:0", "--jwt-jwks-refresh-interval", "1s"],
        &[("SEAM_API_KEY", API_KEY)],
    )
    .await;
    let channel = plaintext(&gateway).await;
    let token = bearer(&key.token_for("frontdesk"));
    for _ in 0..5 {
        get_lock(&channel, Some(&token)).await.expect("a valid token");
    }
    let metrics = gateway.metrics().await;
    assert!(
        metrics.contains(r#"seam_gateway_jwt_accepted_total{check="verified"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"seam_gateway_jwt_accepted_total{check="cached"} 4"#),
        "{metrics}"
    );
    assert!(!metrics.contains("frontdesk"), "no caller in any label");

    // The issuer withdraws the key: within a refresh, its tokens stop working
    // even though they were remembered.
    jwks.publish(&[&successor]);
    gateway
        .wait_for_line("JWT keys changed", Duration::from_secs(5), |_| true)
        .await;
    let refused = get_lock(&channel, Some(&token)).await.expect_err("withdrawn key");
    assert_eq!(support::error_info(&refused).reason, "TOKEN_UNKNOWN_KEY");
}

#[tokio::test]
async fn in_pass_through_mode_the_seam_credential_moves_to_seam_authorization() {
    let fake = FakeSeam::start().await;
    let key = SigningKey::new("k1", Algorithm::ES256);
    let jwks = JwksServer::start(&[&key]).await;
    let gateway = start_gateway(&fake, &jwks.url(), &[], &[]).await;
    let channel = plaintext(&gateway).await;
    let token = bearer(&key.token_for("frontdesk"));

    let mut request = get_lock_request(Some(&token));
    request
        .metadata_mut()
        .insert("seam-authorization", bearer(API_KEY).parse().unwrap());
    pb::lock_service_client::LockServiceClient::new(channel.clone())
        .get_lock(request)
        .await
        .expect("JWT in authorization, Seam key in seam-authorization");

    let refused = get_lock(&channel, Some(&token)).await.expect_err("no Seam credential");
    assert_eq!(support::error_info(&refused).reason, "MISSING_CREDENTIAL");
    assert!(refused.message().contains("seam-authorization"), "{refused:?}");

    let refused = get_lock(&channel, Some(&bearer(API_KEY)))
        .await
        .expect_err("a Seam key is not a JWT");
    assert_eq!(support::error_info(&refused).reason, "TOKEN_MALFORMED");
}

#[tokio::test]
async fn with_mutual_tls_and_jwt_both_are_required_and_the_token_names_the_caller() {
    let fake = FakeSeam::start().await;
    let key = SigningKey::new("k1", Algorithm::ES256);
    let jwks = JwksServer::start(&[&key]).await;
    let ca = TestCa::new("mesh CA");
    let files = TempFiles::new("mtls-jwt");
    let server = ca.server();
    let cert = files.write("tls.crt", &server.certificate);
    let tls_key = files.write("tls.key", &server.key);
    let client_ca = files.write("ca.crt", &ca.certificate);
    let gateway = start_gateway(
        &fake,
        &jwks.url(),
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &tls_key,
            "--tls-client-ca",
            &client_ca,
        ],
        &[("SEAM_API_KEY", API_KEY)],
    )
    .await;
    let address = gateway.address.clone();
    let workload = ca.client(ClientName::Uri("spiffe://acme.test/ns/doors/sa/frontdesk"));
    let token = bearer(&key.token_for("frontdesk-user"));

    let with_certificate = tls_channel(&address, &ca.certificate, Some(&workload)).await.unwrap();
    let refused = get_lock(&with_certificate, None)
        .await
        .expect_err("a token is required too");
    assert_eq!(support::error_info(&refused).reason, "TOKEN_MISSING");
    get_lock(&with_certificate, Some(&token))
        .await
        .expect("certificate and token");
    let line = gateway
        .wait_for_line("rpc", Duration::from_secs(5), |line| line["fields"]["code"] == "Ok")
        .await;
    assert_eq!(line["fields"]["caller"], "frontdesk-user", "{line}");
    assert_eq!(line["fields"]["auth_method"], "jwt", "{line}");

    let without_certificate = tls_channel(&address, &ca.certificate, None).await.unwrap();
    let refused = get_lock(&without_certificate, Some(&token))
        .await
        .expect_err("a certificate is required too");
    assert_eq!(support::error_info(&refused).reason, "CLIENT_CERTIFICATE_MISSING");
}

#[tokio::test]
async fn a_jwks_that_cannot_be_read_stops_the_start() {
    let files = TempFiles::new("bad-jwks");
    let broken = files.write("jwks.json", "{\"keys\": \"nope\"}");
    for jwks in [
        broken.as_str(),
        "/nonexistent/jwks.json",
        "http://127.0.0.1:9/jwks.json",
    ] {
        let output = tokio::process::Command::new(support::process::BINARY)
            .args([
                "--seam-api-key",
                "k",
                "--jwt-jwks",
                jwks,
                "--jwt-issuer",
                ISSUER,
                "--jwt-audience",
                AUDIENCE,
            ])
            .output()
            .await
            .expect("run");
        assert!(!output.status.success(), "{jwks}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("cannot read the JWKS"), "{jwks}: {stdout}");
    }
}
