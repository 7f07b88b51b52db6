//! The client examples in other languages, generated from proto/ and run the
//! way their README says, against the gateway and Seam's fake.
mod support;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_from_generated_stubs() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let python = tool("python");
    let generate = repo_root().join("examples/python/generate.sh");
    let output = tokio::process::Command::new("bash")
        .arg(&generate)
        .env("PYTHON", &python)
        .output()
        .await
        .expect("run generate.sh");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

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
