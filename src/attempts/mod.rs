//! Action attempts: one poller per (credential, attempt) shared by every
//! watcher, and the memory of lock commands' `request_id`s.

pub mod attempt_devices;
pub mod pollers;
pub mod request_ids;
