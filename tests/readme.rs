//! The grpcurl walkthroughs (docs/walkthrough.md), executed: every `$ grpcurl …`
//! line between a walkthrough's markers runs against a fresh gateway and Seam's
//! fake, and its output must be what the document shows (with times, Seam request
//! ids and page tokens written as <time>, <request-id> and <token>). The
//! document cannot drift. The mutual-TLS walkthrough runs `scripts/dev-certs`
//! first, as the document says, and serves with the certificates it made.
use crate::support;

use std::path::PathBuf;

use support::tools::tool;
use support::{FakeSeam, Gateway, repo_root};

const BEGIN: &str = "<!-- walkthrough:begin -->";
const END: &str = "<!-- walkthrough:end -->";
const MTLS_BEGIN: &str = "<!-- walkthrough-mtls:begin -->";
const MTLS_END: &str = "<!-- walkthrough-mtls:end -->";
const DOCUMENTED_ADDRESS: &str = "127.0.0.1:50051";
const DOCUMENTED_CERTS: &str = "target/dev-certs";

struct Step {
    command: String,
    expected: String,
}

fn walkthrough_steps(begin: &str, end: &str) -> Vec<Step> {
    let readme = std::fs::read_to_string(repo_root().join("docs/walkthrough.md")).expect("docs/walkthrough.md");
    let start = readme.find(begin).expect("the document has the walkthrough") + begin.len();
    let end = readme[start..].find(end).expect("the walkthrough ends") + start;
    let mut steps: Vec<Step> = Vec::new();
    let mut in_block = false;
    for line in readme[start..end].lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: command.to_owned(),
                expected: String::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            step.expected.push_str(line);
            step.expected.push('\n');
        }
    }
    steps
}

/// Replaces what differs from run to run.
fn normalize(output: &str) -> String {
    let mut normalized = String::with_capacity(output.len());
    for line in output.lines() {
        let mut line = replace_times(line.trim_end());
        line = replace_after(&line, "request", |c: char| c.is_ascii_digit(), "<request-id>");
        if let Some(index) = line.find("\"nextPageToken\": \"") {
            line = format!("{}\"nextPageToken\": \"<token>\"", &line[..index]);
        }
        normalized.push_str(&line);
        normalized.push('\n');
    }
    normalized
}

/// RFC 3339 times (`2026-11-25T21:30:05.611Z`) as `<time>`.
fn replace_times(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let looks_like_time = bytes.len() - i >= 20
            && bytes[i..i + 4].iter().all(u8::is_ascii_digit)
            && bytes[i + 4] == b'-'
            && bytes[i + 10] == b'T'
            && bytes[i + 13] == b':';
        if looks_like_time {
            let end = line[i..].find('Z').map(|z| i + z + 1).unwrap_or(bytes.len());
            out.push_str("<time>");
            i = end;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

/// `prefix` followed by one or more chars matching `rest`, as `replacement`.
fn replace_after(line: &str, prefix: &str, rest: impl Fn(char) -> bool, replacement: &str) -> String {
    let mut out = String::new();
    let mut remaining = line;
    while let Some(index) = remaining.find(prefix) {
        let after = &remaining[index + prefix.len()..];
        let digits = after.chars().take_while(|c| rest(*c)).count();
        out.push_str(&remaining[..index]);
        if digits > 0 {
            out.push_str(replacement);
        } else {
            out.push_str(prefix);
        }
        remaining = &after[digits..];
    }
    out.push_str(remaining);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_prints_what_the_readme_shows() {
    let steps = walkthrough_steps(BEGIN, END);
    assert!(steps.len() >= 7, "the walkthrough has its steps");
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    run_steps(&steps, &gateway.addr.to_string(), &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mutual_tls_walkthrough_prints_what_it_shows() {
    let steps = walkthrough_steps(MTLS_BEGIN, MTLS_END);
    assert!(steps.len() >= 3, "the walkthrough has its steps");
    let certs = support::pki::TempFiles::new("dev-certs");
    let made = tokio::process::Command::new(repo_root().join("scripts/dev-certs"))
        .arg(&certs.dir)
        .output()
        .await
        .expect("run scripts/dev-certs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let fake = FakeSeam::start().await;
    let mut config = seam_grpc_gateway::Config::for_endpoint(&fake.url);
    config.seam_api_key = Some(support::API_KEY.to_owned().into());
    config.tls_cert = Some(certs.dir.join("server.crt"));
    config.tls_key = Some(certs.dir.join("server.key"));
    config.tls_client_ca = Some(certs.dir.join("ca.crt"));
    let gateway = Gateway::start_with(config).await;
    let certs_dir = certs.dir.display().to_string();
    run_steps(&steps, &gateway.addr.to_string(), &[(DOCUMENTED_CERTS, &certs_dir)]).await;
}

/// Runs each grpcurl step against `address` (and with `replacements` made in
/// the command) and compares what it prints with what the document shows.
async fn run_steps(steps: &[Step], address: &str, replacements: &[(&str, &str)]) {
    let grpcurl_dir = tool("grpcurl")
        .parent()
        .map(PathBuf::from)
        .filter(|dir| !dir.as_os_str().is_empty());
    let path = match grpcurl_dir {
        Some(dir) => format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default()),
        None => std::env::var("PATH").unwrap_or_default(),
    };

    let mut mismatches = Vec::new();
    for step in steps {
        assert!(
            step.command.starts_with("grpcurl "),
            "only grpcurl commands: {}",
            step.command
        );
        let mut command = step.command.replace(DOCUMENTED_ADDRESS, address);
        for (documented, actual) in replacements {
            command = command.replace(documented, actual);
        }
        let output = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{command} 2>&1"))
            .env("PATH", &path)
            .output()
            .await
            .expect("run the step");
        let actual = normalize(&String::from_utf8_lossy(&output.stdout));
        if actual != step.expected {
            mismatches.push(format!(
                "$ {}\n--- docs/walkthrough.md shows:\n{}--- the gateway printed:\n{}",
                step.command, step.expected, actual
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "docs/walkthrough.md drifted:\n\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn normalize_hides_what_changes_between_runs() {
    let line = r#"  "createdAt": "2026-11-25T21:30:05.611Z", "seam_request_id":"request13", "nextPageToken": "eyJmIj""#;
    assert_eq!(
        normalize(line),
        "  \"createdAt\": \"<time>\", \"seam_request_id\":\"<request-id>\", \"nextPageToken\": \"<token>\"\n"
    );
}
