//! Decisions already made. A decision depends only on the policies in force,
//! the caller, the action, the device's facts and the context (the device's
//! local hour and day, the caller's authentication method): the same inputs
//! give the same answer, so it is remembered and a repeated call costs a
//! lookup instead of an evaluation. A reload of the policies forgets every
//! decision; a device whose facts change is a new key. Errors are never kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::device_entity::DeviceFacts;
use super::indexed_policies::IndexedPolicies;
use super::policy_set::PolicyDecision;
use crate::identity::caller::AuthMethod;

/// Decisions kept at most; all are forgotten when full (a gateway sees a few
/// thousand devices and callers, and an evaluation is a few microseconds).
const CAPACITY: usize = 16_384;

/// Everything about a call that a decision depends on, besides the device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallKey {
    pub principal: Arc<str>,
    pub action: &'static str,
    pub local_hour: i64,
    pub weekday: &'static str,
    pub auth_method: AuthMethod,
}

#[derive(Default)]
pub struct DecisionCache {
    memory: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    /// The policies the decisions were made with.
    policies: Option<Arc<IndexedPolicies>>,
    by_device: HashMap<DeviceFacts, HashMap<CallKey, PolicyDecision>>,
    decisions: usize,
}

impl DecisionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The decision made for these inputs under `policies`, if any.
    pub fn recall(
        &self,
        policies: &Arc<IndexedPolicies>,
        device: &DeviceFacts,
        call: &CallKey,
    ) -> Option<PolicyDecision> {
        let memory = self.lock();
        if !memory.policies.as_ref().is_some_and(|kept| Arc::ptr_eq(kept, policies)) {
            return None;
        }
        memory.by_device.get(device)?.get(call).cloned()
    }

    /// Keeps a decision made under `policies`.
    pub fn remember(
        &self,
        policies: &Arc<IndexedPolicies>,
        device: &DeviceFacts,
        call: CallKey,
        decision: PolicyDecision,
    ) {
        let mut memory = self.lock();
        let same_policies = memory.policies.as_ref().is_some_and(|kept| Arc::ptr_eq(kept, policies));
        if !same_policies || memory.decisions >= CAPACITY {
            memory.by_device.clear();
            memory.decisions = 0;
            memory.policies = Some(policies.clone());
        }
        let calls = match memory.by_device.get_mut(device) {
            Some(calls) => calls,
            None => memory.by_device.entry(device.clone()).or_default(),
        };
        if calls.insert(call, decision).is_none() {
            memory.decisions += 1;
        }
    }
}
