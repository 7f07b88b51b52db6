//! Finds the command-line tools a user would use (grpcurl, python), preferring
//! the ones `scripts/test` installs into the repository.

use std::path::PathBuf;

use super::repo_root;

/// `name` from `.venv/bin`, `node_modules/.bin`, or else the PATH.
pub fn tool(name: &str) -> PathBuf {
    for dir in [".venv/bin", "node_modules/.bin"] {
        let candidate = repo_root().join(dir).join(name);
        if candidate.exists() {
            return candidate;
        }
    }
    PathBuf::from(name)
}

/// Runs `program args…` to completion and returns (success, stdout, stderr).
pub async fn run(program: &PathBuf, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (scripts/test installs it)", program.display()));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
