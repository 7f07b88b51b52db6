//! The bodies of Seam's endpoints as typed values: Seam's JSON keys are
//! written here and nowhere else.

use serde::Serialize;

/// Which lock command to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockAction {
    Lock,
    Unlock,
}

impl LockAction {
    pub(super) fn path(self) -> &'static str {
        match self {
            LockAction::Lock => "/locks/lock_door",
            LockAction::Unlock => "/locks/unlock_door",
        }
    }
}

/// The filters of a ListLocks read (`/locks/list`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LockQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_account_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
}

/// The filters of a ListDevices read (`/devices/list`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_account_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_types: Vec<String>,
}

/// The body of one `/devices/list` page.
#[derive(Debug, Serialize)]
pub(super) struct DevicesPageBody<'a> {
    #[serde(flatten)]
    pub query: &'a DeviceQuery,
    pub limit: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_cursor: Option<&'a str>,
}

/// The body of one `/locks/list` page.
#[derive(Debug, Serialize)]
pub(super) struct LocksPageBody<'a> {
    #[serde(flatten)]
    pub query: &'a LockQuery,
    pub limit: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_cursor: Option<String>,
}

/// The body of one `/events/list` page.
#[derive(Debug, Serialize)]
pub(super) struct EventsPageBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub between: Option<[&'a str; 2]>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub device_ids: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub event_types: &'a [String],
    pub limit: usize,
}

/// The filters of one `/events/list` call.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub range: EventRange,
    pub device_ids: Vec<String>,
    pub event_types: Vec<String>,
}

/// The time range of an `/events/list` call (Seam requires one), RFC 3339.
#[derive(Debug, Clone)]
pub enum EventRange {
    /// Seam's `between`: both bounds excluded.
    Between(String, String),
    /// Seam's `since`.
    Since(String),
}

/// The body of `/webhooks/create`: no event types means every event.
#[derive(Serialize)]
pub(super) struct CreateWebhookBody<'a> {
    pub url: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub event_types: &'a [String],
}

/// The body of the calls that name one device.
#[derive(Serialize)]
pub(super) struct DeviceIdBody<'a> {
    pub device_id: &'a str,
}

/// The body of `/events/get`.
#[derive(Serialize)]
pub(super) struct EventIdBody<'a> {
    pub event_id: &'a str,
}

/// The body of `/action_attempts/get`.
#[derive(Serialize)]
pub(super) struct ActionAttemptIdBody<'a> {
    pub action_attempt_id: &'a str,
}
