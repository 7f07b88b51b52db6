//! The deployment files in deploy/ are valid for the tools that read them, and
//! docs/operations.md shows them as they are.
use crate::support;

use support::repo_root;
use support::tools::{run, tool};

#[tokio::test]
async fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(repo_root().join("deploy/systemd/seam-grpc-gateway.service")).unwrap();
    // systemd checks that ExecStart exists: point it at the binary under test.
    let checked = unit.replace(
        "/usr/local/bin/seam-grpc-gateway",
        env!("CARGO_BIN_EXE_seam-grpc-gateway"),
    );
    let dir = std::env::temp_dir().join(format!("seam-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seam-grpc-gateway.service");
    std::fs::write(&path, checked).unwrap();
    let (ok, stdout, stderr) = run(&"systemd-analyze".into(), &["verify", path.to_str().unwrap()]).await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(ok, "{stdout}{stderr}");
    assert!(stderr.trim().is_empty(), "systemd-analyze warned: {stderr}");
}

#[tokio::test]
async fn the_kubernetes_manifests_pass_a_strict_schema_check() {
    let manifests = repo_root().join("deploy/kubernetes/gateway.yaml");
    let (ok, stdout, stderr) = run(&tool("kubernetes-validate"), &["--strict", manifests.to_str().unwrap()]).await;
    assert!(ok, "{stdout}{stderr}");
    for kind in ["deployment", "service", "poddisruptionbudget"] {
        assert!(stdout.contains(&format!("passed for resource {kind}/")), "{stdout}");
    }
}

#[test]
fn the_operations_guide_shows_the_files_as_they_are() {
    let guide = std::fs::read_to_string(repo_root().join("docs/operations.md")).unwrap();
    for file in [
        "deploy/systemd/seam-grpc-gateway.service",
        "deploy/kubernetes/gateway.yaml",
    ] {
        let content = std::fs::read_to_string(repo_root().join(file)).unwrap();
        assert!(
            guide.contains(&content),
            "docs/operations.md does not show {file} as it is"
        );
    }
}
