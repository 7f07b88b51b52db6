//! Who may do what to which door: Cedar policies (`--policy`) decided for
//! every call of the API, in the vocabulary of `policy/seam.cedarschema`
//! (docs/policy.md). `policy_set` loads, validates and reloads the policies
//! and decides; `device_entity` turns the device Seam described into the
//! request's resource; `call_context` computes the context (the hour and day
//! in the device's time zone).

pub mod call_context;
pub mod decision_cache;
pub mod device_entity;
pub mod entity_store_cache;
pub mod indexed_policies;
pub mod policy_set;
pub mod source_position;

pub use policy_set::check;
