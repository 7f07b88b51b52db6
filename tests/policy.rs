//! Cedar policies against Seam's fake, through a real gateway with JWT
//! callers: commands and reads decided on the device (tags from its
//! custom_metadata), denied commands never reach Seam, lists filtered,
//! undecided RPCs refused, reload (valid and invalid), `policy validate`, and
//! a gateway started with an invalid policy. The time-window examples are
//! decided with an injected clock in `src/policy/policy_set.rs`.
use crate::support;

use std::time::Duration;

use jsonwebtoken::Algorithm;
use seam_grpc_gateway::{Config, pb};
use support::jwt::{AUDIENCE, ISSUER, SigningKey, jwks_document};
use support::pki::TempFiles;
use support::{API_KEY, FakeSeam, Gateway};
use tonic::Code;
use tonic::transport::Channel;

/// The walkthrough's policies without the office-hours rule, which the
/// unit tests decide at chosen times.
fn policies_without_hours() -> String {
    let examples = std::fs::read_to_string(support::repo_root().join("policy/examples/acme.cedar")).unwrap();
    let start = examples.find("// 3. A time window").unwrap();
    let end = examples.find("// 4. One device").unwrap();
    format!("{}{}", &examples[..start], &examples[end..])
}

struct PolicyGateway {
    gateway: Gateway,
    fake: FakeSeam,
    key: SigningKey,
    files: TempFiles,
}

async fn start(policies: &str) -> PolicyGateway {
    let fake = FakeSeam::start_with_policy_devices().await;
    let files = TempFiles::new("policy");
    let key = SigningKey::new("k1", Algorithm::ES256);
    let mut config = Config::for_endpoint(&fake.url);
    config.seam_api_key = Some(API_KEY.to_owned().into());
    config.jwt_jwks = Some(files.write("jwks.json", &jwks_document(&[&key])));
    config.jwt_issuer = Some(ISSUER.into());
    config.jwt_audience = Some(AUDIENCE.into());
    config.policy = Some(files.write("policy.cedar", policies).into());
    config.policy_reload_interval = Duration::from_millis(100);
    config.events_poll_interval = Duration::from_millis(100);
    let gateway = Gateway::start_with(config).await;
    PolicyGateway {
        gateway,
        fake,
        key,
        files,
    }
}

fn as_caller<T>(key: &SigningKey, caller: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let bearer = format!("Bearer {}", key.token_for(caller));
    request.metadata_mut().insert("authorization", bearer.parse().unwrap());
    request
}

impl PolicyGateway {
    async fn channel(&self) -> Channel {
        self.gateway.channel().await
    }

    async fn get_lock(&self, caller: &str, device_id: &str) -> Result<pb::GetLockResponse, tonic::Status> {
        pb::lock_service_client::LockServiceClient::new(self.channel().await)
            .get_lock(as_caller(
                &self.key,
                caller,
                pb::GetLockRequest {
                    device_id: device_id.into(),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// UnlockDoor to the end: the final status, or the error.
    async fn unlock(&self, caller: &str, device_id: &str) -> Result<i32, tonic::Status> {
        let request = pb::UnlockDoorRequest {
            device_id: device_id.into(),
            ..Default::default()
        };
        let mut stream = pb::lock_service_client::LockServiceClient::new(self.channel().await)
            .unlock_door(as_caller(&self.key, caller, request))
            .await?
            .into_inner();
        let mut last = None;
        while let Some(message) = stream.message().await? {
            last = message.action_attempt.map(|attempt| attempt.status);
        }
        Ok(last.expect("a status"))
    }

    async fn list_locks(&self, caller: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = pb::ListLocksRequest {
                page_size: 2,
                page_token: page_token.clone(),
                ..Default::default()
            };
            let page = pb::lock_service_client::LockServiceClient::new(self.channel().await)
                .list_locks(as_caller(&self.key, caller, request))
                .await
                .expect("ListLocks")
                .into_inner();
            ids.extend(page.locks.into_iter().map(|lock| lock.device_id));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        ids.sort();
        ids
    }
}

fn assert_denied(status: &tonic::Status, caller: &str, action: &str, device_id: &str) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let info = support::error_info(status);
    assert_eq!(info.reason, "POLICY_DENIED");
    assert_eq!(info.metadata.get("caller").map(String::as_str), Some(caller));
    assert_eq!(info.metadata.get("action").map(String::as_str), Some(action));
    assert_eq!(info.metadata.get("device_id").map(String::as_str), Some(device_id));
}

const SUCCESS: i32 = pb::action_attempt::Status::Success as i32;

#[tokio::test]
async fn commands_are_decided_on_the_device_and_a_denied_one_never_reaches_seam() {
    let policy = start(&policies_without_hours()).await;
    let attempts_before = policy.fake.action_attempt_count().await;

    // Read-only: billing reads, and its unlock is denied before Seam hears of it.
    policy
        .get_lock("billing", "hq_front_door")
        .await
        .expect("billing reads");
    let denied = policy.unlock("billing", "hq_front_door").await.unwrap_err();
    assert_denied(&denied, "billing", "UnlockDoor", "hq_front_door");

    // By tag: the front desk opens HQ's front door, not the annex's.
    assert_eq!(policy.unlock("frontdesk", "hq_front_door").await.unwrap(), SUCCESS);
    let denied = policy.unlock("frontdesk", "annex_door").await.unwrap_err();
    assert_denied(&denied, "frontdesk", "UnlockDoor", "annex_door");
    let denied = policy.get_lock("frontdesk", "annex_door").await.unwrap_err();
    assert_denied(&denied, "frontdesk", "GetLock", "annex_door");

    // One device for one caller.
    assert_eq!(policy.unlock("courier", "annex_door").await.unwrap(), SUCCESS);
    let denied = policy.unlock("courier", "hq_front_door").await.unwrap_err();
    assert_denied(&denied, "courier", "UnlockDoor", "hq_front_door");

    // The server room: only ops, though the front desk may open HQ's doors.
    let denied = policy.unlock("frontdesk", "hq_server_room").await.unwrap_err();
    assert_denied(&denied, "frontdesk", "UnlockDoor", "hq_server_room");
    assert_eq!(policy.unlock("ops-oncall", "hq_server_room").await.unwrap(), SUCCESS);

    // Nobody else: no permit names them.
    let denied = policy.get_lock("stranger", "august_device_1").await.unwrap_err();
    assert_denied(&denied, "stranger", "GetLock", "august_device_1");

    assert_eq!(
        policy.fake.action_attempt_count().await,
        attempts_before + 3,
        "only the three allowed unlocks reached Seam"
    );
}

#[tokio::test]
async fn lists_and_events_hold_only_what_the_caller_may_read() {
    let policy = start(&policies_without_hours()).await;
    assert_eq!(
        policy.list_locks("frontdesk").await,
        ["hq_front_door", "hq_server_room"],
        "HQ's locks, over pages of two"
    );
    assert!(
        policy.list_locks("courier").await.is_empty(),
        "the courier reads nothing"
    );
    let everything = policy.list_locks("ops-oncall").await;
    assert!(
        everything.len() > 3 && everything.contains(&"annex_door".to_owned()),
        "{everything:?}"
    );

    // Events: only those of devices the caller may read.
    assert_eq!(policy.unlock("frontdesk", "hq_front_door").await.unwrap(), SUCCESS);
    assert_eq!(policy.unlock("courier", "annex_door").await.unwrap(), SUCCESS);
    let events_of = |caller: &'static str| {
        let request = as_caller(&policy.key, caller, pb::ListEventsRequest::default());
        async {
            let mut client = pb::event_service_client::EventServiceClient::new(policy.channel().await);
            let events = client
                .list_events(request)
                .await
                .expect("ListEvents")
                .into_inner()
                .events;
            let mut devices: Vec<String> = events.into_iter().map(|event| event.device_id).collect();
            devices.sort();
            devices.dedup();
            devices
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let everything = loop {
        let everything = events_of("ops-oncall").await;
        if everything.contains(&"annex_door".to_owned()) && everything.contains(&"hq_front_door".to_owned()) {
            break everything;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "both unlocks' events: {everything:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(everything.len() >= 2);
    assert_eq!(events_of("frontdesk").await, ["hq_front_door"]);
    assert!(events_of("courier").await.is_empty());
}

#[tokio::test]
async fn watch_events_delivers_only_events_of_devices_the_caller_may_read() {
    let policy = start(&policies_without_hours()).await;
    let request = as_caller(&policy.key, "frontdesk", pb::WatchEventsRequest::default());
    let mut events = pb::event_service_client::EventServiceClient::new(policy.channel().await)
        .watch_events(request)
        .await
        .expect("WatchEvents")
        .into_inner();
    // The annex's event comes first, and is not the front desk's to see.
    assert_eq!(policy.unlock("courier", "annex_door").await.unwrap(), SUCCESS);
    assert_eq!(policy.unlock("frontdesk", "hq_front_door").await.unwrap(), SUCCESS);
    let first = tokio::time::timeout(Duration::from_secs(20), events.message())
        .await
        .expect("an event within 20 s")
        .expect("a healthy stream")
        .expect("open")
        .event
        .expect("event");
    assert_eq!(first.device_id, "hq_front_door");
}

#[tokio::test]
async fn an_attempt_is_read_as_a_read_of_the_device_its_command_was_for() {
    let policy = start(&policies_without_hours()).await;
    let request = pb::UnlockDoorRequest {
        device_id: "hq_front_door".into(),
        ..Default::default()
    };
    let mut stream = pb::lock_service_client::LockServiceClient::new(policy.channel().await)
        .unlock_door(as_caller(&policy.key, "frontdesk", request))
        .await
        .unwrap()
        .into_inner();
    let attempt_id = stream
        .message()
        .await
        .unwrap()
        .unwrap()
        .action_attempt
        .unwrap()
        .action_attempt_id;
    while stream.message().await.unwrap().is_some() {}

    let read = |caller: &'static str, attempt_id: String| {
        let request = as_caller(
            &policy.key,
            caller,
            pb::GetActionAttemptRequest {
                action_attempt_id: attempt_id,
            },
        );
        async {
            pb::action_attempt_service_client::ActionAttemptServiceClient::new(policy.channel().await)
                .get_action_attempt(request)
                .await
        }
    };
    read("frontdesk", attempt_id.clone()).await.expect("its own attempt");
    read("billing", attempt_id.clone())
        .await
        .expect("billing reads every device");
    let denied = read("courier", attempt_id.clone()).await.unwrap_err();
    assert_denied(&denied, "courier", "GetActionAttempt", "hq_front_door");
    let unknown = read("ops-oncall", "an_attempt_this_gateway_did_not_start".into())
        .await
        .unwrap_err();
    assert_eq!(support::error_info(&unknown).reason, "POLICY_NOT_APPLICABLE");
}

#[tokio::test]
async fn a_changed_policy_file_is_taken_and_an_invalid_one_refused_whole() {
    let policy = start("@id(\"nobody\")\nforbid(principal, action, resource);").await;
    let denied = policy.get_lock("billing", "hq_front_door").await.unwrap_err();
    assert_denied(&denied, "billing", "GetLock", "hq_front_door");

    policy.files.write("policy.cedar", &policies_without_hours());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while policy.get_lock("billing", "hq_front_door").await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new policies are in force within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Half a file: refused whole, the policies in force stay.
    let broken = policies_without_hours().replace(
        "permit (\n  principal == Seam::Caller::\"billing\"",
        "permit (\n  principal ==",
    );
    policy.files.write("policy.cedar", &broken);
    tokio::time::sleep(Duration::from_millis(500)).await;
    policy
        .get_lock("billing", "hq_front_door")
        .await
        .expect("the old policies stay");
    let denied = policy.unlock("billing", "hq_front_door").await.unwrap_err();
    assert_denied(&denied, "billing", "UnlockDoor", "hq_front_door");
}

#[tokio::test]
async fn policy_validate_and_an_invalid_policy_at_start_exit_non_zero() {
    let files = TempFiles::new("policy-validate");
    let examples = support::repo_root().join("policy/examples/acme.cedar");
    let output = tokio::process::Command::new(support::process::BINARY)
        .args(["policy", "validate"])
        .arg(&examples)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("6 policies, valid"));

    let invalid = files.write(
        "bad.cedar",
        "permit(principal, action, resource)\nwhen { resource.colour == \"red\" };\n",
    );
    let output = tokio::process::Command::new(support::process::BINARY)
        .args(["policy", "validate", &invalid])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        errors.contains(&format!("{invalid}:2:")),
        "the error names its line: {errors}"
    );

    let output = tokio::process::Command::new(support::process::BINARY)
        .args(["--seam-api-key", "k", "--policy", &invalid, "--log-format", "json"])
        .output()
        .await
        .unwrap();
    assert!(
        !output.status.success(),
        "a gateway with an invalid policy does not start"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("invalid policy file"));
}

#[test]
fn docs_policy_md_shows_the_schema_and_the_examples_as_they_are() {
    let guide = std::fs::read_to_string(support::repo_root().join("docs/policy.md")).unwrap();
    for file in ["policy/seam.cedarschema", "policy/examples/acme.cedar"] {
        let content = std::fs::read_to_string(support::repo_root().join(file)).unwrap();
        assert!(guide.contains(&content), "docs/policy.md does not show {file} as it is");
    }
}

#[tokio::test]
async fn decisions_are_counted_by_rpc_and_outcome_without_callers_or_devices() {
    let fake = FakeSeam::start().await;
    let files = TempFiles::new("policy-metrics");
    let policy = files.write(
        "policy.cedar",
        "permit(principal, action == Seam::Action::\"GetLock\", resource) when { resource.device_type == \"august_lock\" };",
    );
    let gateway = support::process::GatewayProcess::start(
        &[
            "--seam-endpoint",
            &fake.url,
            "--policy",
            &policy,
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[("SEAM_API_KEY", API_KEY)],
    )
    .await;
    let mut locks = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .unwrap();
    locks
        .get_lock(pb::GetLockRequest {
            device_id: "august_device_1".into(),
        })
        .await
        .expect("allowed");
    let denied = locks
        .get_lock(pb::GetLockRequest {
            device_id: "schlage_device_id".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let metrics = gateway.metrics().await;
    let count = |decision: &str| {
        metrics
            .lines()
            .find(|line| {
                line.starts_with("seam_gateway_policy_decisions_total{")
                    && line.contains("grpc_method=\"GetLock\"")
                    && line.contains(&format!("decision=\"{decision}\""))
            })
            .and_then(|line| line.rsplit(' ').next())
            .map(str::to_owned)
    };
    assert_eq!(count("allow").as_deref(), Some("1"), "{metrics}");
    assert_eq!(count("deny").as_deref(), Some("1"), "{metrics}");
    assert!(!metrics.contains("schlage_device_id") && !metrics.contains("anonymous"));
}

#[tokio::test]
async fn sighup_takes_a_rewritten_policy_file_at_once() {
    let fake = FakeSeam::start().await;
    let files = TempFiles::new("policy-sighup");
    let policy = files.write("policy.cedar", "forbid(principal, action, resource);");
    let gateway = support::process::GatewayProcess::start(
        &[
            "--seam-endpoint",
            &fake.url,
            "--policy",
            &policy,
            "--policy-reload-interval",
            "1h",
        ],
        &[("SEAM_API_KEY", API_KEY)],
    )
    .await;
    let mut locks = pb::lock_service_client::LockServiceClient::connect(gateway.url())
        .await
        .unwrap();
    let get_lock = pb::GetLockRequest {
        device_id: "august_device_1".into(),
    };
    files.write(
        "policy.cedar",
        "permit(principal, action == Seam::Action::\"GetLock\", resource);",
    );
    let denied = locks.get_lock(get_lock.clone()).await.unwrap_err();
    assert_eq!(
        denied.code(),
        Code::PermissionDenied,
        "not re-read before the hour or a SIGHUP"
    );
    gateway.signal("HUP").await;
    gateway
        .wait_for_line("policies reloaded", Duration::from_secs(5), |line| {
            line["fields"]["why"] == "SIGHUP"
        })
        .await;
    locks
        .get_lock(get_lock)
        .await
        .expect("the rewritten policy is in force");
}
