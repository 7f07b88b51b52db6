//! Events: one `/events/list` tail per credential shared by every WatchEvents
//! caller, and the (created_at, event_id) order they are delivered in.

pub mod order;
pub mod tail;
