//! What policies and the audit trail cost: `GetLock` through a gateway with
//! no policy and through one with a 50-policy set (h2load, CPU per call), and
//! LockDoor commands one after the other without and with `--audit-log`
//! (whose decision record is synced to disk before each command).

use std::time::Duration;

use seam_grpc_gateway::pb;

use crate::Settings;
use crate::load::{Figures, bench_dir, hop_run, one_after_another};
use crate::process::GatewayProcess;
use crate::upstream::Upstream;

pub(crate) const POLICY_BEGIN: &str = "<!-- policy:begin -->";
pub(crate) const POLICY_END: &str = "<!-- policy:end -->";

/// 50 policies: 48 per-service tag rules that do not match the benchmark's
/// device, the rule that lets the (anonymous) benchmark read and operate
/// August locks, and a server-room forbid; all evaluated on every call.
pub(crate) fn fifty_policies() -> String {
    let mut text = String::new();
    for i in 0..48 {
        text.push_str(&format!(
            "permit(principal == Seam::Caller::\"service-{i}\", action in Seam::Action::\"read\", resource)\n\
             when {{ resource.hasTag(\"building\") && resource.getTag(\"building\") == \"b{i}\" }};\n"
        ));
    }
    text.push_str(
        "permit(principal == Seam::Caller::\"anonymous\", action in [Seam::Action::\"read\", Seam::Action::\"command\"], resource)\n\
         when { resource.device_type == \"august_lock\" };\n\
         forbid(principal, action in Seam::Action::\"command\", resource)\n\
         when { resource.hasTag(\"room\") && resource.getTag(\"room\") == \"server\" };\n",
    );
    text
}

/// LockDoor one after the other for `run_for`: latencies, and gateway CPU per command.
async fn sequential_commands(gateway: &GatewayProcess, run_for: Duration) -> Figures {
    let mut client = pb::lock_service_client::LockServiceClient::new(gateway.channel().await);
    let command = || pb::LockDoorRequest {
        device_id: "august_device_1".into(),
        ..Default::default()
    };
    let lock = async |client: &mut pb::lock_service_client::LockServiceClient<tonic::transport::Channel>| {
        let mut stream = client.lock_door(command()).await?.into_inner();
        while stream.message().await?.is_some() {}
        Ok::<(), tonic::Status>(())
    };
    one_after_another(gateway, run_for, async || lock(&mut client).await.is_ok()).await
}

/// The policy and audit section of the report.
pub(crate) async fn policy_report(settings: &Settings, upstream: &Upstream) -> (Vec<String>, bool) {
    let dir = bench_dir().join("policy");
    std::fs::create_dir_all(&dir).expect("dir");
    let policy_path = dir.join("fifty.cedar");
    std::fs::write(&policy_path, fifty_policies()).expect("policy file");
    let audit_path = dir.join("audit.jsonl");
    let policy = policy_path.display().to_string();
    let audit = audit_path.display().to_string();
    let open = GatewayProcess::start(&settings.gateway, upstream.addr, Some(1), &[]).await;
    let decided = GatewayProcess::start(
        &settings.gateway,
        upstream.addr,
        Some(1),
        &[("SEAM_GATEWAY_POLICY", &policy)],
    )
    .await;
    let audited = GatewayProcess::start(
        &settings.gateway,
        upstream.addr,
        Some(1),
        &[("SEAM_GATEWAY_AUDIT_LOG", &audit)],
    )
    .await;

    let concurrencies: &[usize] = if settings.smoke { &[1, 4] } else { &[1, 16] };
    let mut rows = Vec::new();
    let mut ok = true;
    for &concurrency in concurrencies {
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for round in 0..settings.rounds {
            // Take turns going first.
            let order: [&GatewayProcess; 2] = if round % 2 == 0 {
                [&open, &decided]
            } else {
                [&decided, &open]
            };
            for gateway in order {
                let (run, cpu) = hop_run(gateway, upstream, concurrency, settings.run_for).await;
                let figures = Figures::of(&run, Some(cpu.as_secs_f64() * 1e6));
                if std::ptr::eq(gateway, &open) {
                    without.push(figures)
                } else {
                    with.push(figures)
                }
            }
        }
        let (without, with) = (Figures::median(&without), Figures::median(&with));
        ok &= without.failures == 0 && with.failures == 0 && without.rate > 0.0 && with.rate > 0.0;
        rows.push((format!("GetLock, concurrency {concurrency}"), without, with));
    }
    let (mut plain, mut synced) = (Vec::new(), Vec::new());
    for round in 0..settings.rounds {
        let order: [&GatewayProcess; 2] = if round % 2 == 0 {
            [&open, &audited]
        } else {
            [&audited, &open]
        };
        for gateway in order {
            let figures = sequential_commands(gateway, settings.run_for).await;
            if std::ptr::eq(gateway, &open) {
                plain.push(figures)
            } else {
                synced.push(figures)
            }
        }
    }
    let (plain, synced) = (Figures::median(&plain), Figures::median(&synced));
    ok &= plain.failures == 0 && synced.failures == 0;
    let audit_records = std::fs::read_to_string(&audit_path).map_or(0, |text| text.lines().count());

    let mut report = vec![
        format!(
            "**Policies and audit**: one gateway process (1 worker) each: no policy; a 50-policy set \
             (`--policy`: 48 per-service rules, the rule naming the benchmark's caller, a forbid for everyone); `--audit-log` on a file in {}. Medians of {} rounds, \
             taking turns going first.",
            std::env::temp_dir().display(),
            settings.rounds
        ),
        String::new(),
        "| measure | without | with | difference |".into(),
        "|---|---|---|---|".into(),
    ];
    for (label, without, with) in &rows {
        let (a, b) = (
            without.cpu_per_call.unwrap_or(f64::NAN),
            with.cpu_per_call.unwrap_or(f64::NAN),
        );
        report.push(format!(
            "| {label}: gateway CPU per call, 50 policies | {a:.1} µs | {b:.1} µs | {:+.1} µs |",
            b - a
        ));
        report.push(format!(
            "| {label}: calls/s, 50 policies | {:.0} | {:.0} | {:+.1} % |",
            without.rate,
            with.rate,
            (with.rate / without.rate - 1.0) * 100.0
        ));
    }
    let (a, b) = (
        plain.cpu_per_call.unwrap_or(f64::NAN),
        synced.cpu_per_call.unwrap_or(f64::NAN),
    );
    report.push(format!(
        "| LockDoor one after the other: latency p50 / p99, audit log | {:.0} / {:.0} µs | {:.0} / {:.0} µs | {:+.0} µs at p50 |",
        plain.p50, plain.p99, synced.p50, synced.p99, synced.p50 - plain.p50
    ));
    report.push(format!(
        "| LockDoor one after the other: gateway CPU per command, audit log | {a:.1} µs | {b:.1} µs | {:+.1} µs |",
        b - a
    ));
    let (first_time, repeated) = crate::decision::decision_times(settings.rounds, settings.run_for);
    report.push(format!(
        "| One decision alone, in the benchmark's process (`PolicyEngine::decide`, 50 policies): a device seen for the first time / the same call again | | {:.2} / {:.2} µs | |",
        first_time.as_secs_f64() * 1e6,
        repeated.as_secs_f64() * 1e6
    ));
    report.push(String::new());
    report.push(format!(
        "- The audited gateway wrote {audit_records} records (a decision, `sent` and the outcome per command)."
    ));
    (report, ok && audit_records > 0)
}
