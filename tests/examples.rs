//! The client examples in other languages, generated from proto/ and run the
//! way their README says, against the gateway and Seam's fake.
use crate::support;

use std::path::PathBuf;

use support::tools::{run, tool};
use support::{FakeSeam, Gateway, repo_root};

/// What every example prints for the seeded fake, in order, after the lock list.
fn assert_lock_and_error_lines(output: &str, locked_true: &str) {
    let lines: Vec<&str> = output.lines().collect();
    let locks: Vec<&&str> = lines.iter().filter(|l| l.starts_with("lock ")).collect();
    assert!(
        locks
            .iter()
            .any(|l| **l == format!("lock august_device_1 type=august_lock locked={locked_true}")),
        "{output}"
    );
    assert!(
        locks.iter().any(|l| l.starts_with("lock offline_lock ")),
        "every page was read: {output}"
    );
    let statuses: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("LockDoor august_device_1: "))
        .map(|l| l.split_whitespace().nth(2).unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["STATUS_PENDING", "STATUS_SUCCESS"], "{output}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("GetLock no_such_lock: NOT_FOUND reason=DEVICE_NOT_FOUND device_id=no_such_lock")),
        "{output}"
    );
}

/// Runs examples/python/generate.sh once for this test binary: it replaces
/// the stubs, so tests running it at the same time would see none.
async fn generate_python_stubs() {
    static GENERATED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    GENERATED
        .get_or_init(|| async {
            let output = tokio::process::Command::new("bash")
                .arg(repo_root().join("examples/python/generate.sh"))
                .env("PYTHON", tool("python"))
                .output()
                .await
                .expect("run generate.sh");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_from_generated_stubs() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let python = tool("python");
    generate_python_stubs().await;

    let client = repo_root().join("examples/python/client.py");
    let addr = gateway.addr.to_string();
    let (ok, printed, stderr) = run(&python, &[client.to_str().expect("utf-8 path"), "--target", &addr]).await;
    assert!(ok, "the Python client failed: {stderr}");
    assert_lock_and_error_lines(&printed, "True");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_with_grpc_js() {
    assert!(
        repo_root().join("examples/node/node_modules/@grpc/grpc-js").exists(),
        "run `npm ci --prefix examples/node` (scripts/test does)"
    );
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let client = repo_root().join("examples/node/client.js");
    let addr = gateway.addr.to_string();
    let (ok, printed, stderr) = run(&PathBuf::from("node"), &[client.to_str().expect("utf-8 path"), &addr]).await;
    assert!(ok, "the Node client failed: {stderr}");
    assert_lock_and_error_lines(&printed, "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_from_the_crate() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let url = gateway.url();
    let cargo = PathBuf::from(env!("CARGO"));
    let manifest = repo_root().join("Cargo.toml");
    let (ok, printed, stderr) = run(
        &cargo,
        &[
            "run",
            "--quiet",
            "--manifest-path",
            manifest.to_str().expect("utf-8 path"),
            "--example",
            "lock_door",
            "--",
            &url,
            "august_device_1",
        ],
    )
    .await;
    assert!(ok, "the Rust example failed: {stderr}");
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 3, "{printed}");
    assert!(
        lines[0].starts_with("LockDoor august_device_1: STATUS_PENDING "),
        "{printed}"
    );
    assert!(
        lines[1].starts_with("LockDoor august_device_1: STATUS_SUCCESS "),
        "{printed}"
    );
    assert_eq!(lines[2], "GetLock no_such_lock: NotFound reason=DEVICE_NOT_FOUND");
}

/// The Python and Node examples over TLS with a client certificate (mutual
/// TLS), and over TLS with a JWT read from a file: against gateways that
/// refuse calls without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_node_clients_over_mutual_tls_and_with_a_jwt() {
    use support::jwt::{AUDIENCE, ISSUER, SigningKey, jwks_document};
    use support::pki::{ClientName, TempFiles, TestCa};

    assert!(
        repo_root().join("examples/node/node_modules/@grpc/grpc-js").exists(),
        "run `npm ci --prefix examples/node` (scripts/test does)"
    );
    let python = tool("python");
    generate_python_stubs().await;

    let fake = FakeSeam::start().await;
    let ca = TestCa::new("examples CA");
    let files = TempFiles::new("examples-identity");
    let server = ca.server();
    let client = ca.client(ClientName::Uri("spiffe://acme.test/ns/doors/sa/frontdesk"));
    let key = SigningKey::new("examples", jsonwebtoken::Algorithm::ES256);
    let ca_cert = files.write("ca.crt", &ca.certificate);
    let client_cert = files.write("frontdesk.crt", &client.certificate);
    let client_key = files.write("frontdesk.key", &client.key);
    let token_file = files.write("token.jwt", &key.token_for("frontdesk"));
    let jwks = files.write("jwks.json", &jwks_document(&[&key]));

    let tls_config = || {
        let mut config = seam_grpc_gateway::Config::for_endpoint(&fake.url);
        config.seam_api_key = Some(support::API_KEY.to_owned().into());
        config.tls_cert = Some(files.write("server.crt", &server.certificate).into());
        config.tls_key = Some(files.write("server.key", &server.key).into());
        config
    };
    let mut mutual_tls = tls_config();
    mutual_tls.tls_client_ca = Some(ca_cert.clone().into());
    let mut jwt = tls_config();
    jwt.jwt_jwks = Some(jwks);
    jwt.jwt_issuer = Some(ISSUER.into());
    jwt.jwt_audience = Some(AUDIENCE.into());

    let python_client = repo_root().join("examples/python/client.py");
    let node_client = repo_root().join("examples/node/client.js");
    for (config, options) in [
        (
            mutual_tls,
            vec![
                "--ca-cert",
                &ca_cert,
                "--client-cert",
                &client_cert,
                "--client-key",
                &client_key,
            ],
        ),
        (jwt, vec!["--ca-cert", &ca_cert, "--token-file", &token_file]),
    ] {
        let gateway = Gateway::start_with(config).await;
        let addr = gateway.addr.to_string();

        let mut python_args = vec![python_client.to_str().expect("utf-8 path"), "--target", &addr];
        python_args.extend(&options);
        let (ok, printed, stderr) = run(&python, &python_args).await;
        assert!(ok, "the Python client with {options:?} failed: {stderr}");
        assert_lock_and_error_lines(&printed, "True");

        let mut node_args = vec![node_client.to_str().expect("utf-8 path"), &addr];
        node_args.extend(&options);
        let (ok, printed, stderr) = run(&PathBuf::from("node"), &node_args).await;
        assert!(ok, "the Node client with {options:?} failed: {stderr}");
        assert_lock_and_error_lines(&printed, "true");

        // Without them, the same client is refused.
        let (ok, _, stderr) = run(
            &python,
            &[
                python_client.to_str().unwrap(),
                "--target",
                &addr,
                "--ca-cert",
                &ca_cert,
            ],
        )
        .await;
        assert!(!ok && stderr.contains("UNAUTHENTICATED"), "{stderr}");
        gateway.stop().await;
    }
}
