//! The policies in force (`--policy`): parsed and validated against the
//! schema the project ships (`policy/seam.cedarschema`, strict mode) at
//! start, on SIGHUP and when the file changes. A new file that does not
//! parse or validate is refused whole: the policies in force stay, and the
//! errors are logged with their lines. Decisions are Cedar's: a call is
//! allowed when a `permit` applies and no `forbid` does; a policy that fails
//! to evaluate (e.g. reads a tag the device lacks without `hasTag`) applies
//! to nothing, so it never grants.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cedar_policy::{Authorizer, Decision, PolicySet, Request, Schema, ValidationMode, Validator};
use jiff::Timestamp;
use tokio::sync::watch;

use crate::reload_schedule::reload_until_shutdown;
use crate::reloadable::{Reloadable, Reloaded};

use super::call_context::{ContextCache, local_time};
use super::decision_cache::{CallKey, DecisionCache};
use super::device_entity::{DeviceFacts, action_uid, caller_uid};
use super::entity_store_cache::EntityStoreCache;
use super::indexed_policies::IndexedPolicies;
use super::source_position::describe;
use crate::identity::caller::Caller;

/// The schema policies are written against (`policy/seam.cedarschema`).
pub const SCHEMA: &str = include_str!("../../policy/seam.cedarschema");

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDecision {
    pub allowed: bool,
    /// The ids of the policies that decided (`policy0`, … or `@id("…")`).
    pub policy_ids: Vec<String>,
}

/// The policies in force and what decides with them.
pub struct PolicyEngine {
    path: PathBuf,
    schema: Schema,
    /// The action entities with each recent device, one store per device.
    entity_stores: EntityStoreCache,
    contexts: ContextCache,
    /// Decisions made, by their inputs, until the policies change.
    decisions: DecisionCache,
    authorizer: Authorizer,
    /// Whether each request and device is checked against the schema (tests).
    checked: bool,
    /// The policies in force, and the file's text they came from.
    current: Reloadable<IndexedPolicies, String>,
}

/// Parses and validates a policy file's text; the errors, one per line, as
/// `PATH:LINE:COLUMN: message`.
pub fn check(path: &str, text: &str) -> Result<PolicySet, String> {
    let schema = schema();
    let policies: PolicySet = text.parse().map_err(|e| describe(path, text, &e))?;
    let result = Validator::new(schema).validate(&policies, ValidationMode::Strict);
    if !result.validation_passed() {
        let errors: Vec<String> = result
            .validation_errors()
            .map(|error| describe(path, text, error))
            .collect();
        return Err(errors.join("\n"));
    }
    Ok(policies)
}

fn schema() -> Schema {
    let (schema, _warnings) =
        Schema::from_cedarschema_str(SCHEMA).unwrap_or_else(|e| unreachable!("the shipped schema parses: {e}"));
    schema
}

impl PolicyEngine {
    /// Loads `path`; the gateway does not start with a policy file that does
    /// not parse or validate.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = read(path)?;
        let policies = check(&path.display().to_string(), &text)?;
        let schema = schema();
        let actions = schema.action_entities().map_err(|e| e.to_string())?;
        Ok(Self {
            path: path.to_owned(),
            schema,
            entity_stores: EntityStoreCache::new(actions),
            contexts: ContextCache::default(),
            decisions: DecisionCache::default(),
            authorizer: Authorizer::new(),
            checked: cfg!(test),
            current: Reloadable::new(IndexedPolicies::new(policies)?, text),
        })
    }

    /// How many policies are in force.
    pub fn policy_count(&self) -> usize {
        self.current.get().all.policies().count()
    }

    /// Decides whether `caller` may do `action` (an RPC name) to `device` at `now`.
    /// An error (a device whose facts do not fit the schema) is a denial.
    pub fn decide(
        &self,
        caller: &Caller,
        action: &'static str,
        device: &DeviceFacts,
        now: Timestamp,
    ) -> PolicyDecision {
        let (local_hour, weekday) = local_time(now, device.time_zone.as_deref());
        let policies = self.current.get();
        let call = CallKey {
            principal: caller.principal.clone(),
            action,
            local_hour,
            weekday,
            auth_method: caller.auth_method,
        };
        if let Some(decision) = self.decisions.recall(&policies, device, &call) {
            return decision;
        }
        match self.evaluate(&policies, &call, device) {
            Ok(decision) => {
                self.decisions.remember(&policies, device, call, decision.clone());
                decision
            }
            Err(e) => {
                tracing::error!(error = %e, action, "cannot decide; denying");
                PolicyDecision {
                    allowed: false,
                    policy_ids: Vec::new(),
                }
            }
        }
    }

    /// Cedar's decision for `call` on `device` under `indexed`.
    fn evaluate(
        &self,
        indexed: &IndexedPolicies,
        call: &CallKey,
        device: &DeviceFacts,
    ) -> Result<PolicyDecision, String> {
        let context = self.contexts.context(call.local_hour, call.weekday, call.auth_method)?;
        // The request and the device are built here to the schema's shape
        // (types, attributes, context): checking them again on every call
        // would cost more than the decision (BENCHMARKS.md). The unit tests
        // decide with the schema checks on.
        let schema = self.checked.then_some(&self.schema);
        let request = Request::new(
            caller_uid(&call.principal),
            action_uid(call.action),
            super::device_entity::device_uid(&device.device_id),
            context,
            schema,
        )
        .map_err(|e| e.to_string())?;
        let entities = self.entity_stores.store_for(device, schema)?;
        let policies = indexed.for_caller(&call.principal);
        let response = self.authorizer.is_authorized(&request, policies, &entities);
        Ok(PolicyDecision {
            allowed: response.decision() == Decision::Allow,
            policy_ids: response.diagnostics().reason().map(|id| indexed.name(id)).collect(),
        })
    }

    /// Reads the file again; takes it when it changed and is valid.
    pub fn reload(&self, why: &str) {
        let text = match read(&self.path) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(error = %e, why, "cannot read the policy file; keeping the policies in force");
                return;
            }
        };
        let path = self.path.display().to_string();
        match self
            .current
            .replace_if_changed(text, |text| check(&path, text).and_then(IndexedPolicies::new))
        {
            Reloaded::Unchanged => {}
            Reloaded::Replaced => {
                tracing::info!(policies = self.policy_count(), why, "policies reloaded");
            }
            Reloaded::Refused(errors) => {
                tracing::error!(errors = %errors, why, "refusing the new policy file; keeping the policies in force");
            }
        }
    }

    /// Reloads every `interval` and on SIGHUP (`reload_requests`), until shutdown.
    pub async fn watch(
        self: Arc<Self>,
        interval: Duration,
        reload_requests: watch::Receiver<u64>,
        stopping: watch::Receiver<bool>,
    ) {
        reload_until_shutdown(interval, reload_requests, stopping, |why| self.reload(why)).await;
    }
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("path", &self.path)
            .field("policies", &self.policy_count())
            .finish()
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::identity::caller::AuthMethod;

    const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policy/examples/acme.cedar");

    fn engine() -> PolicyEngine {
        PolicyEngine::load(Path::new(EXAMPLES)).expect("the examples load")
    }

    fn caller(name: &str) -> Caller {
        Caller {
            principal: Arc::from(name),
            auth_method: AuthMethod::Jwt,
            certificate_identity: None,
        }
    }

    fn device(id: &str, tags: &[(&str, &str)], time_zone: Option<&str>) -> DeviceFacts {
        DeviceFacts {
            device_id: id.into(),
            device_type: "august_lock".into(),
            display_name: id.into(),
            connected_account_id: "account".into(),
            time_zone: time_zone.map(str::to_owned),
            tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            ..DeviceFacts::default()
        }
    }

    /// A Friday, 10:00 in Paris (09:00 UTC).
    fn office_hours() -> Timestamp {
        "2026-11-27T09:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_read_only_service_reads_and_never_commands() {
        let engine = engine();
        let door = device("hq_front_door", &[("building", "hq")], Some("Europe/Paris"));
        let billing = caller("billing");
        assert!(engine.decide(&billing, "GetLock", &door, office_hours()).allowed);
        assert!(engine.decide(&billing, "ListDevices", &door, office_hours()).allowed);
        let denied = engine.decide(&billing, "UnlockDoor", &door, office_hours());
        assert!(!denied.allowed);
        let allowed = engine.decide(&billing, "GetLock", &door, office_hours());
        assert_eq!(allowed.policy_ids, ["billing-reads"]);
    }

    #[test]
    fn the_front_desk_operates_hq_doors_by_tag() {
        let engine = engine();
        let frontdesk = caller("frontdesk");
        let hq = device("hq_front_door", &[("building", "hq")], Some("Europe/Paris"));
        let annex = device("annex_door", &[("building", "annex")], None);
        let untagged = device("august_device_1", &[], None);
        assert!(engine.decide(&frontdesk, "UnlockDoor", &hq, office_hours()).allowed);
        assert!(!engine.decide(&frontdesk, "UnlockDoor", &annex, office_hours()).allowed);
        assert!(!engine.decide(&frontdesk, "GetLock", &untagged, office_hours()).allowed);
    }

    #[test]
    fn a_device_whose_facts_change_is_decided_on_its_new_facts() {
        // Entity stores and contexts are reused between decisions: keyed by
        // the device's facts and the local time, never by the id alone.
        let engine = engine();
        let frontdesk = caller("frontdesk");
        let hq = device("moved_door", &[("building", "hq")], Some("Europe/Paris"));
        let moved = device("moved_door", &[("building", "annex")], Some("Europe/Paris"));
        assert!(engine.decide(&frontdesk, "UnlockDoor", &hq, office_hours()).allowed);
        assert!(!engine.decide(&frontdesk, "UnlockDoor", &moved, office_hours()).allowed);
        assert!(engine.decide(&frontdesk, "UnlockDoor", &hq, office_hours()).allowed);
        let saturday: Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
        assert!(!engine.decide(&frontdesk, "UnlockDoor", &hq, saturday).allowed);
    }

    #[test]
    fn the_time_window_is_the_devices_local_time() {
        let engine = engine();
        let frontdesk = caller("frontdesk");
        let paris = device("hq_front_door", &[("building", "hq")], Some("Europe/Paris"));
        let new_york = device("hq_ny_door", &[("building", "hq")], Some("America/New_York"));
        let at = |text: &str| -> Timestamp { text.parse().unwrap() };
        // Friday 06:30 UTC: 07:30 in Paris (open), 01:30 in New York (closed).
        assert!(
            engine
                .decide(&frontdesk, "UnlockDoor", &paris, at("2026-11-27T06:30:00Z"))
                .allowed
        );
        assert!(
            !engine
                .decide(&frontdesk, "UnlockDoor", &new_york, at("2026-11-27T06:30:00Z"))
                .allowed
        );
        // Friday 18:30 UTC: 19:30 in Paris (closed), 13:30 in New York (open).
        assert!(
            !engine
                .decide(&frontdesk, "UnlockDoor", &paris, at("2026-11-27T18:30:00Z"))
                .allowed
        );
        assert!(
            engine
                .decide(&frontdesk, "UnlockDoor", &new_york, at("2026-11-27T18:30:00Z"))
                .allowed
        );
        // Saturday 10:00 in Paris: closed. Reads are not commands: allowed.
        assert!(
            !engine
                .decide(&frontdesk, "LockDoor", &paris, at("2026-11-28T09:00:00Z"))
                .allowed
        );
        assert!(
            engine
                .decide(&frontdesk, "GetLock", &paris, at("2026-11-28T09:00:00Z"))
                .allowed
        );
        let denied = engine.decide(&frontdesk, "LockDoor", &paris, at("2026-11-28T09:00:00Z"));
        assert_eq!(denied.policy_ids, ["frontdesk-office-hours"]);
    }

    #[test]
    fn one_device_for_one_caller() {
        let engine = engine();
        let courier = caller("courier");
        let annex = device("annex_door", &[("building", "annex")], None);
        let hq = device("hq_front_door", &[("building", "hq")], None);
        assert!(engine.decide(&courier, "UnlockDoor", &annex, office_hours()).allowed);
        assert!(!engine.decide(&courier, "LockDoor", &annex, office_hours()).allowed);
        assert!(!engine.decide(&courier, "UnlockDoor", &hq, office_hours()).allowed);
        assert!(!engine.decide(&courier, "GetLock", &annex, office_hours()).allowed);
    }

    #[test]
    fn break_glass_and_the_server_room() {
        let engine = engine();
        let server_room = device("hq_server_room", &[("building", "hq"), ("room", "server")], None);
        let sunday_night: Timestamp = "2026-11-29T23:00:00Z".parse().unwrap();
        assert!(
            engine
                .decide(&caller("ops-oncall"), "UnlockDoor", &server_room, sunday_night)
                .allowed
        );
        assert!(
            !engine
                .decide(&caller("frontdesk"), "UnlockDoor", &server_room, office_hours())
                .allowed
        );
        assert!(
            engine
                .decide(&caller("frontdesk"), "GetLock", &server_room, office_hours())
                .allowed
        );
        assert!(
            !engine
                .decide(&Caller::anonymous(), "GetLock", &server_room, office_hours())
                .allowed
        );
    }

    #[test]
    fn invalid_policies_are_refused_with_their_line() {
        let unknown_attribute = "permit(principal, action, resource)\nwhen { resource.colour == \"red\" };";
        let errors = check("p.cedar", unknown_attribute).unwrap_err();
        assert!(errors.starts_with("p.cedar:2:"), "{errors}");
        let syntax = "permit(principal, action resource);";
        let errors = check("p.cedar", syntax).unwrap_err();
        assert!(errors.starts_with("p.cedar:1:"), "{errors}");
        let unknown_action = "permit(principal, action == Seam::Action::\"OpenAllDoors\", resource);";
        assert!(check("p.cedar", unknown_action).is_err());
        assert!(check("p.cedar", "").is_ok(), "no policies: everything denied");
    }
}
