//! Seam's JSON objects as serde types. Every field is lenient (`default`):
//! Seam sends only what a provider knows, and its schema grows monthly. Each
//! object also keeps the JSON text it came from ([`WithRaw`]), so nothing is lost.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A typed view of a Seam object together with the object's JSON text.
///
/// The text is kept rather than a parsed tree: the typed view reads it once,
/// and the conversion to protobuf reads it once more straight into the
/// encoded `google.protobuf.Struct` (`crate::wire::encoded_struct`), with no
/// intermediate tree on the hot path.
/// Deserialize it from JSON text (`serde_json::from_str`/`from_slice`).
#[derive(Debug, Clone)]
pub struct WithRaw<T> {
    pub typed: T,
    pub raw: Box<RawValue>,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for WithRaw<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if !raw.get().trim_start().starts_with('{') {
            return Err(D::Error::custom("expected a JSON object"));
        }
        let typed = serde_json::from_str::<T>(raw.get()).map_err(D::Error::custom)?;
        Ok(Self { typed, raw })
    }
}

/// A Seam device (`/devices/get`, `/locks/get` …).
pub type Device = WithRaw<DeviceFields>;
/// A Seam action attempt.
pub type ActionAttempt = WithRaw<ActionAttemptFields>;
/// A Seam event.
pub type Event = WithRaw<EventFields>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeviceFields {
    pub device_id: String,
    pub device_type: String,
    pub display_name: String,
    pub nickname: Option<String>,
    pub workspace_id: String,
    pub connected_account_id: String,
    pub created_at: Option<String>,
    pub can_remotely_lock: Option<bool>,
    pub can_remotely_unlock: Option<bool>,
    pub capabilities_supported: Vec<String>,
    pub properties: DeviceProperties,
    pub errors: Vec<DeviceIssue>,
    pub warnings: Vec<DeviceIssue>,
    pub custom_metadata: serde_json::Map<String, Value>,
    pub location: Option<DeviceLocation>,
}

/// Where a device is. Seam spelled the zone `timezone` before `time_zone`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeviceLocation {
    pub location_name: Option<String>,
    pub time_zone: Option<String>,
    pub timezone: Option<String>,
}

impl DeviceLocation {
    /// The IANA time zone, whichever way Seam spelled it.
    pub fn zone(&self) -> Option<&str> {
        self.time_zone.as_deref().or(self.timezone.as_deref())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeviceProperties {
    pub locked: Option<bool>,
    pub online: Option<bool>,
    pub door_open: Option<bool>,
    pub battery_level: Option<f64>,
    pub battery: Option<Battery>,
    pub manufacturer: Option<String>,
    pub name: Option<String>,
    pub model: Option<DeviceModel>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Battery {
    pub level: f64,
    pub status: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeviceModel {
    pub display_name: String,
    pub manufacturer_display_name: String,
}

/// An entry of a device's `errors` (keyed `error_code`) or `warnings`
/// (keyed `warning_code`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeviceIssue {
    #[serde(alias = "warning_code")]
    pub error_code: String,
    pub message: String,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ActionAttemptFields {
    pub action_attempt_id: String,
    pub action_type: String,
    /// `pending`, `success` or `error`; kept as text since Seam may add more.
    pub status: String,
    pub result: Option<Value>,
    pub error: Option<ActionAttemptError>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ActionAttemptError {
    #[serde(rename = "type")]
    pub error_type: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EventFields {
    pub event_id: String,
    pub event_type: String,
    pub workspace_id: String,
    pub device_id: Option<String>,
    pub connected_account_id: Option<String>,
    pub action_attempt_id: Option<String>,
    pub method: Option<String>,
    pub created_at: Option<String>,
    pub occurred_at: Option<String>,
    pub event_description: Option<String>,
}

/// A webhook Seam delivers to (`/webhooks/create`); `secret` signs its deliveries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Webhook {
    pub webhook_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub secret: Option<String>,
}

/// Seam's `pagination` object on paginated list endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Pagination {
    pub has_next_page: bool,
    pub next_page_cursor: Option<String>,
}

/// Seam's error body: `{"error": {"type", "message", "validation_errors"?}}`.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
pub(super) struct ErrorDetail {
    #[serde(rename = "type")]
    pub error_type: String,
    pub message: String,
    #[serde(default)]
    pub validation_errors: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_fields_the_typed_view_does_not_model() {
        let json = r#"{"device_id":"d1","properties":{"locked":true,"schlage_metadata":{"model":"Encode"}},"location":{"time_zone":"UTC"}}"#;
        let device: Device = serde_json::from_str(json).expect("valid device");
        assert_eq!(device.typed.device_id, "d1");
        assert_eq!(device.typed.properties.locked, Some(true));
        let raw: Value = serde_json::from_str(device.raw.get()).expect("raw JSON");
        assert_eq!(raw["location"]["time_zone"], "UTC");
        assert_eq!(raw["properties"]["schlage_metadata"]["model"], "Encode");
    }

    #[test]
    fn warnings_are_read_from_warning_code() {
        let json = r#"{"device_id":"d1","warnings":[{"warning_code":"power_saving_mode","message":"m","created_at":"2026-01-01T00:00:00Z"}]}"#;
        let device: Device = serde_json::from_str(json).expect("valid device");
        assert_eq!(device.typed.warnings[0].error_code, "power_saving_mode");
    }

    #[test]
    fn an_object_is_required() {
        assert!(serde_json::from_str::<Device>("[1, 2]").is_err());
        assert!(serde_json::from_str::<Device>("null").is_err());
    }

    #[test]
    fn a_field_of_the_wrong_type_is_an_error_not_a_panic() {
        let json = r#"{"device_id":"d1","properties":{"locked":"yes"}}"#;
        assert!(serde_json::from_str::<Device>(json).is_err());
    }
}
