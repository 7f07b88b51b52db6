//! One policy decision alone, in this process (`--decision-only`): the
//! 50-policy set of the policy section, the caller the set names, no network,
//! no gateway around it. Two figures: a decision for a device seen for the
//! first time (its entity store built, Cedar evaluating), and the same
//! decision repeated (remembered by its inputs). They tell what a decision
//! costs of the CPU per call that the policy section measures through a
//! whole gateway.

use std::time::{Duration, Instant};

use seam_grpc_gateway::policy::device_entity::DeviceFacts;
use seam_grpc_gateway::policy::policy_set::PolicyEngine;
use seam_grpc_gateway::{AuthMethod, Caller};

use crate::load::bench_dir;
use crate::policy::fifty_policies;

/// Median times of one decision over `rounds`: (a new device each time, the same device).
pub(crate) fn decision_times(rounds: usize, run_for: Duration) -> (Duration, Duration) {
    let path = bench_dir().join("decision.cedar");
    std::fs::write(&path, fifty_policies()).expect("write the policy file");
    let engine = PolicyEngine::load(&path).expect("the benchmark's policies load");
    let caller = Caller {
        principal: "anonymous".into(),
        auth_method: AuthMethod::None,
        certificate_identity: None,
    };
    let device = |id: String| DeviceFacts {
        device_id: id,
        device_type: "august_lock".into(),
        display_name: "FRONT DOOR".into(),
        connected_account_id: "account-1".into(),
        manufacturer: Some("august".into()),
        time_zone: Some("America/New_York".into()),
        ..DeviceFacts::default()
    };
    let mut new_devices = 0u64;
    let first_time = median(
        rounds,
        run_for,
        || {
            new_devices += 1;
            device(format!("lock-{new_devices}"))
        },
        &engine,
        &caller,
    );
    let same = device("lock-0".into());
    let repeated = median(rounds, run_for, || same.clone(), &engine, &caller);
    (first_time, repeated)
}

fn median(
    rounds: usize,
    run_for: Duration,
    mut next_device: impl FnMut() -> DeviceFacts,
    engine: &PolicyEngine,
    caller: &Caller,
) -> Duration {
    let mut per_round: Vec<Duration> = (0..rounds)
        .map(|_| {
            let mut spent = Duration::ZERO;
            let mut decisions = 0u32;
            while spent < run_for {
                // The device is made outside the timing: only the decision counts.
                let devices: Vec<DeviceFacts> = (0..1000).map(|_| next_device()).collect();
                let started = Instant::now();
                for device in &devices {
                    let decision = engine.decide(caller, "GetLock", device, jiff::Timestamp::now());
                    assert!(decision.allowed, "the benchmark's caller may read the device");
                }
                spent += started.elapsed();
                decisions += 1000;
            }
            spent / decisions
        })
        .collect();
    per_round.sort();
    per_round[per_round.len() / 2]
}
