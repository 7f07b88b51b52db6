//! The on-call engineer's files: the Prometheus alert rules pass `promtool
//! check rules`, and the Grafana dashboard is valid JSON whose panels query
//! only metrics the gateway exports (src/observe/metrics.rs).
use crate::support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::repo_root;
use support::tools::run;

/// Metric names in `text`: every word starting with one of the gateway's
/// prefixes, without a histogram's series suffix.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if ["grpc_server_", "seam_upstream_", "seam_gateway_"]
            .iter()
            .any(|p| word.starts_with(p))
        {
            let name = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word);
            names.insert(name.to_owned());
        }
    }
    names
}

/// The names the gateway records, from its source.
fn exported() -> BTreeSet<String> {
    let source = std::fs::read_to_string(repo_root().join("src/observe/metrics.rs")).unwrap();
    source
        .split('"')
        .filter(|literal| metric_names(literal).contains(*literal))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_alert_rules_pass_promtool() {
    let rules = repo_root().join("docs/monitoring/alerts.yml");
    let (ok, stdout, stderr) = run(&"promtool".into(), &["check", "rules", rules.to_str().unwrap()]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("SUCCESS"), "{stdout}");
    let text = std::fs::read_to_string(&rules).unwrap();
    for alert in [
        "SeamUnreachable",
        "ConfirmationSlow",
        "PollingBudgetExhausted",
        "AuditWriteFailures",
    ] {
        assert!(text.contains(&format!("alert: {alert}")), "{alert} is missing");
    }
    let exported = exported();
    // The audit trail (issue 13) will export its failure counter.
    let planned: BTreeSet<String> = ["seam_gateway_audit_write_failures_total".to_owned()].into();
    let unknown: Vec<_> = metric_names(&text)
        .into_iter()
        .filter(|name| !exported.contains(name) && !planned.contains(name))
        .collect();
    assert!(
        unknown.is_empty(),
        "rules query metrics the gateway does not export: {unknown:?}"
    );
}

#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let text = std::fs::read_to_string(repo_root().join("docs/monitoring/dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for wanted in [
        "by code",
        "Error ratio",
        "latency",
        "Seam error ratio",
        "Open streams",
        "Confirmation time",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no panel for {wanted}: {titles:?}"
        );
    }
    let exported = exported();
    for panel in panels {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            for name in metric_names(expr) {
                assert!(
                    exported.contains(&name),
                    "{} queries {name}, which is not exported",
                    panel["title"]
                );
            }
        }
    }
    assert!(exported.contains("grpc_server_handling_seconds"), "{exported:?}");
}
