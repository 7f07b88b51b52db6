//! What an operator relies on when running the binary: the Seam key is read
//! from where it is safe and its source is stated truthfully, log lines cannot
//! be forged by what callers send, and SIGTERM answers every open call.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::pb;
use serde_json::json;
use support::API_KEY;
use support::process::GatewayProcess;
use support::scripted_upstream::{CannedResponse, ScriptedUpstream};
use tonic::Code;

fn ready_line(gateway: &GatewayProcess) -> serde_json::Value {
    gateway
        .lines()
        .into_iter()
        .find(|line| line["fields"]["message"] == "ready to serve gRPC")
        .expect("ready line")
}

fn warned_about_argv(gateway: &GatewayProcess) -> bool {
    gateway.lines().iter().any(|line| {
        line["level"] == "WARN"
            && line["fields"]["message"]
                .as_str()
                .is_some_and(|message| message.contains("command line"))
    })
}

#[tokio::test]
async fn a_key_on_the_command_line_is_warned_about_and_a_key_file_is_not() {
    let on_argv = GatewayProcess::start(
        &["--seam-api-key", API_KEY, "--seam-endpoint", "http://127.0.0.1:1"],
        &[],
    )
    .await;
    assert!(warned_about_argv(&on_argv), "{:#?}", on_argv.lines());
    assert_eq!(ready_line(&on_argv)["fields"]["pass_through"], false);

    let file = std::env::temp_dir().join(format!("seam-key-{}", std::process::id()));
    std::fs::write(&file, format!("{API_KEY}\n")).unwrap();
    let from_file = GatewayProcess::start(
        &["--seam-api-key-file", file.to_str().unwrap()],
        &[("SEAM_ENDPOINT", "http://127.0.0.1:1")],
    )
    .await;
    assert!(!warned_about_argv(&from_file));
    assert_eq!(ready_line(&from_file)["fields"]["pass_through"], false);
    std::fs::remove_file(&file).unwrap();

    let everything = format!("{:?}{:?}", on_argv.lines(), from_file.lines());
    assert!(!everything.contains(API_KEY), "the key reached a log line");
}

#[tokio::test]
async fn an_empty_key_is_pass_through_and_says_so() {
    let upstream = ScriptedUpstream::start(CannedResponse::json(&json!({"ok": true}))).await;
    let gateway = GatewayProcess::start(&[], &[("SEAM_ENDPOINT", &upstream.url), ("SEAM_API_KEY", "")]).await;
    assert_eq!(ready_line(&gateway)["fields"]["pass_through"], true);
    let mut client = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .expect("connect");
    let status = client
        .get_lock(pb::GetLockRequest { device_id: "d1".into() })
        .await
        .expect_err("no credential");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(support::error_info(&status).reason, "MISSING_CREDENTIAL");
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn caller_text_cannot_forge_or_colour_a_text_log_line() {
    let upstream = ScriptedUpstream::scripted(|request| match request.path.as_str() {
        "/locks/get" => CannedResponse::json(&json!({"lock": {"device_id": "d1",
            "can_remotely_lock": true, "properties": {"online": true}}, "ok": true})),
        _ => CannedResponse::json(&json!({"action_attempt": {"action_attempt_id": "a1",
            "action_type": "LOCK_DOOR", "status": "success", "result": {}}, "ok": true})),
    })
    .await;
    let gateway = GatewayProcess::start_text(
        &[],
        &[
            ("SEAM_ENDPOINT", &upstream.url),
            ("SEAM_API_KEY", API_KEY),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let mut client = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .expect("connect");
    let hostile = "r1\nFORGED level=INFO rpc code=Ok \u{1b}[31mred\u{1b}[0m";
    for _ in 0..2 {
        // The second call re-attaches by request_id: a debug line names it too.
        let mut stream = client
            .lock_door(pb::LockDoorRequest {
                device_id: format!("d1\nFORGED device {hostile}"),
                request_id: hostile.into(),
                ..Default::default()
            })
            .await
            .expect("LockDoor")
            .into_inner();
        while stream.message().await.expect("stream").is_some() {}
    }
    // Lines are written when the gateway's workers go idle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text: Vec<String> = gateway
        .lines()
        .into_iter()
        .map(|line| line.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        text.iter().any(|line| line.contains("re-attaching")),
        "the request_id reached a debug line: {text:#?}"
    );
    for line in &text {
        assert!(!line.starts_with("FORGED"), "a forged line: {text:#?}");
        assert!(!line.contains('\u{1b}'), "an escape code reached the log: {line:?}");
    }
}

#[tokio::test]
async fn sigterm_during_a_slow_unary_call_answers_it_unavailable_and_logs_it() {
    let upstream = ScriptedUpstream::start(
        CannedResponse::json(&json!({"lock": {"device_id": "d1"}, "ok": true})).after(Duration::from_secs(30)),
    )
    .await;
    let gateway = GatewayProcess::start(
        &["--shutdown-grace", "500ms"],
        &[("SEAM_ENDPOINT", &upstream.url), ("SEAM_API_KEY", API_KEY)],
    )
    .await;
    let mut client = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .expect("connect");
    let call = tokio::spawn(async move { client.get_lock(pb::GetLockRequest { device_id: "d1".into() }).await });
    while upstream.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gateway.signal("TERM").await;
    let status = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("answered within the grace period and a second")
        .expect("task")
        .expect_err("the call cannot finish");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(support::error_info(&status).reason, "SHUTTING_DOWN");
    let line = gateway
        .wait_for_line("rpc", Duration::from_secs(5), |line| {
            line["fields"]["method"] == "GetLock"
        })
        .await;
    assert_eq!(line["fields"]["code"], "Unavailable");
}

#[tokio::test]
async fn help_documents_every_limit_with_its_environment_name() {
    let output = tokio::process::Command::new(support::process::BINARY)
        .arg("--help")
        .output()
        .await
        .expect("run --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for (flag, env) in [
        ("--seam-api-key-file", "SEAM_GATEWAY_SEAM_API_KEY_FILE"),
        ("--admin-listen", "SEAM_GATEWAY_ADMIN_LISTEN"),
        (
            "--allow-unauthenticated-callers",
            "SEAM_GATEWAY_ALLOW_UNAUTHENTICATED_CALLERS",
        ),
        ("--max-upstream-body-bytes", "SEAM_GATEWAY_MAX_UPSTREAM_BODY_BYTES"),
        ("--max-retry-after", "SEAM_GATEWAY_MAX_RETRY_AFTER"),
        ("--max-id-bytes", "SEAM_GATEWAY_MAX_ID_BYTES"),
        ("--max-page-token-bytes", "SEAM_GATEWAY_MAX_PAGE_TOKEN_BYTES"),
        ("--max-filter-values", "SEAM_GATEWAY_MAX_FILTER_VALUES"),
        ("--max-polls-per-second", "SEAM_GATEWAY_MAX_POLLS_PER_SECOND"),
        ("--request-id-memory-bytes", "SEAM_GATEWAY_REQUEST_ID_MEMORY_BYTES"),
        ("--max-connections", "SEAM_GATEWAY_MAX_CONNECTIONS"),
        ("--handshake-timeout", "SEAM_GATEWAY_HANDSHAKE_TIMEOUT"),
        ("--idle-timeout", "SEAM_GATEWAY_IDLE_TIMEOUT"),
        ("--max-connection-age", "SEAM_GATEWAY_MAX_CONNECTION_AGE"),
        ("--max-connection-age-grace", "SEAM_GATEWAY_MAX_CONNECTION_AGE_GRACE"),
        ("--tls-cert", "SEAM_GATEWAY_TLS_CERT"),
        ("--tls-key", "SEAM_GATEWAY_TLS_KEY"),
        ("--tls-client-ca", "SEAM_GATEWAY_TLS_CLIENT_CA"),
        ("--tls-reload-interval", "SEAM_GATEWAY_TLS_RELOAD_INTERVAL"),
        ("--jwt-jwks", "SEAM_GATEWAY_JWT_JWKS"),
        ("--jwt-issuer", "SEAM_GATEWAY_JWT_ISSUER"),
        ("--jwt-audience", "SEAM_GATEWAY_JWT_AUDIENCE"),
        ("--jwt-clock-skew", "SEAM_GATEWAY_JWT_CLOCK_SKEW"),
        (
            "--jwt-jwks-min-refetch-interval",
            "SEAM_GATEWAY_JWT_JWKS_MIN_REFETCH_INTERVAL",
        ),
        ("--jwt-jwks-refresh-interval", "SEAM_GATEWAY_JWT_JWKS_REFRESH_INTERVAL"),
        ("--jwt-cache-entries", "SEAM_GATEWAY_JWT_CACHE_ENTRIES"),
        ("--policy", "SEAM_GATEWAY_POLICY"),
        ("--audit-log", "SEAM_GATEWAY_AUDIT_LOG"),
        ("--command-rate-limit", "SEAM_GATEWAY_COMMAND_RATE_LIMIT"),
        ("--policy-reload-interval", "SEAM_GATEWAY_POLICY_RELOAD_INTERVAL"),
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
        assert!(help.contains(env), "--help lacks {env}");
    }
    // Where --help mentions listening on every interface, it says what that takes.
    let listen_help = help
        .split("--listen <LISTEN>")
        .nth(1)
        .and_then(|rest| rest.split("\n      --").next())
        .expect("--listen is documented");
    if listen_help.contains("0.0.0.0") {
        for needed in ["--tls-client-ca", "--jwt-jwks", "--allow-unauthenticated-callers"] {
            assert!(
                listen_help.contains(needed),
                "--listen's help lacks {needed}: {listen_help}"
            );
        }
    }
}

#[tokio::test]
async fn a_key_beyond_loopback_without_caller_authentication_refuses_to_start() {
    let output = tokio::process::Command::new(support::process::BINARY)
        .args(["--listen", "0.0.0.0:0", "--log-format", "json"])
        .env("SEAM_API_KEY", API_KEY)
        .env("SEAM_ENDPOINT", "http://127.0.0.1:1")
        .env_remove("SEAM_GATEWAY_ALLOW_UNAUTHENTICATED_CALLERS")
        .output()
        .await
        .expect("run the gateway");
    assert!(!output.status.success(), "it must not start");
    let printed = String::from_utf8_lossy(&output.stdout);
    for names in ["--allow-unauthenticated-callers", "--tls-client-ca", "--jwt-jwks"] {
        assert!(printed.contains(names), "the refusal names {names}: {printed}");
    }
    assert!(!printed.contains(API_KEY));

    // Said on purpose, it starts, and warns.
    let mut allowed = tokio::process::Command::new(support::process::BINARY)
        .args([
            "--listen",
            "0.0.0.0:0",
            "--log-format",
            "json",
            "--allow-unauthenticated-callers",
        ])
        .env("SEAM_API_KEY", API_KEY)
        .env("SEAM_ENDPOINT", "http://127.0.0.1:1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the gateway");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(allowed.stdout.take().unwrap()));
    let (mut warned, mut ready) = (false, false);
    while !ready {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("a log line within 20 s")
            .expect("read")
            .expect("the gateway runs");
        warned |= line.contains("no caller authentication");
        ready |= line.contains("ready to serve gRPC");
    }
    assert!(warned, "the risk is stated in the log");
}
