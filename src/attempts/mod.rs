//! Action attempts: one poller per (credential, attempt) shared by every
//! watcher (woken early by webhook hints), and the memory of lock commands'
//! `request_id`s.

pub mod attempt_devices;
pub mod attempt_hints;
pub mod pollers;
pub mod request_ids;
