//! One policy decision alone, in this process (`--decision-only`): the
//! 50-policy set of the policy section, the benchmark's device, the caller
//! the set names; nanoseconds per `PolicyEngine::decide`, no network, no
//! gateway around it. It tells what the decision costs of the CPU per call
//! that the policy section measures through a whole gateway.

use std::time::{Duration, Instant};

use seam_grpc_gateway::policy::device_entity::DeviceFacts;
use seam_grpc_gateway::policy::policy_set::PolicyEngine;
use seam_grpc_gateway::{AuthMethod, Caller};

use crate::load::bench_dir;
use crate::policy::fifty_policies;

/// The median, over `rounds`, of the time one decision takes.
pub(crate) fn decision_time(rounds: usize, run_for: Duration) -> Duration {
    let path = bench_dir().join("decision.cedar");
    std::fs::write(&path, fifty_policies()).expect("write the policy file");
    let engine = PolicyEngine::load(&path).expect("the benchmark's policies load");
    let caller = Caller {
        principal: "anonymous".into(),
        auth_method: AuthMethod::None,
        certificate_identity: None,
    };
    let device = DeviceFacts {
        device_id: "lock-1".into(),
        device_type: "august_lock".into(),
        display_name: "FRONT DOOR".into(),
        connected_account_id: "account-1".into(),
        manufacturer: Some("august".into()),
        time_zone: Some("America/New_York".into()),
        ..DeviceFacts::default()
    };
    let mut per_round: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let mut decisions = 0u32;
            while started.elapsed() < run_for {
                for _ in 0..1000 {
                    let decision = engine.decide(&caller, "GetLock", &device, jiff::Timestamp::now());
                    assert!(decision.allowed, "the benchmark's caller may read the device");
                }
                decisions += 1000;
            }
            started.elapsed() / decisions
        })
        .collect();
    per_round.sort();
    per_round[per_round.len() / 2]
}
