//! The policies in force, indexed by the caller they name. A policy whose
//! scope is `principal == Seam::Caller::"x"` (or `principal in …"x"`: callers
//! have no parents, so that is the same) can only apply to `x`; Cedar would
//! still evaluate it for every call, at a few microseconds each. Each caller
//! named in a scope gets its own set (its policies and the general ones);
//! everyone else gets the general ones. Same decisions, fewer evaluations.
//! Each policy's name is also kept: reading an annotation runs Cedar's parser.

use std::collections::HashMap;

use cedar_policy::{Policy, PolicyId, PolicySet, PrincipalConstraint};

pub struct IndexedPolicies {
    /// Every policy, for counting and naming.
    pub all: PolicySet,
    general: PolicySet,
    by_caller: HashMap<String, PolicySet>,
    /// A policy's `@id("…")`, or Cedar's own id (`policy0`) without one.
    names: HashMap<PolicyId, String>,
}

impl IndexedPolicies {
    pub fn new(all: PolicySet) -> Result<Self, String> {
        let mut general = PolicySet::new();
        let mut named: HashMap<String, Vec<Policy>> = HashMap::new();
        for policy in all.policies() {
            match named_caller(policy) {
                Some(caller) => named.entry(caller).or_default().push(policy.clone()),
                None => general.add(policy.clone()).map_err(|e| e.to_string())?,
            }
        }
        let names = all
            .policies()
            .map(|policy| {
                let name = policy
                    .annotation("id")
                    .map_or_else(|| policy.id().to_string(), str::to_owned);
                (policy.id().clone(), name)
            })
            .collect();
        let mut by_caller = HashMap::new();
        for (caller, own) in named {
            let mut set = general.clone();
            for policy in own {
                set.add(policy).map_err(|e| e.to_string())?;
            }
            by_caller.insert(caller, set);
        }
        Ok(Self {
            all,
            general,
            by_caller,
            names,
        })
    }

    /// The name of a policy in force (audit records, logs).
    pub fn name(&self, id: &PolicyId) -> String {
        self.names.get(id).cloned().unwrap_or_else(|| id.to_string())
    }

    /// The policies that can apply to `caller`.
    pub fn for_caller(&self, caller: &str) -> &PolicySet {
        self.by_caller.get(caller).unwrap_or(&self.general)
    }
}

/// The one caller a policy's scope names, if it names one.
fn named_caller(policy: &Policy) -> Option<String> {
    let uid = match policy.principal_constraint() {
        PrincipalConstraint::Eq(uid) | PrincipalConstraint::In(uid) => uid,
        _ => return None,
    };
    (uid.type_name().to_string() == "Seam::Caller").then(|| uid.id().unescaped().to_owned())
}
