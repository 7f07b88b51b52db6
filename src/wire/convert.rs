//! Seam's JSON objects (`seam::model`) into `seam.v1` messages. The one place
//! where the two vocabularies meet.

use std::str::FromStr;

use prost_types::Timestamp;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::pb;
use crate::seam::model;
use crate::wire::encoded_struct::EncodedStruct;

impl From<model::Device> for pb::Device {
    fn from(device: model::Device) -> Self {
        let model::WithRaw { typed, raw } = device;
        pb::Device {
            device_id: typed.device_id,
            device_type: typed.device_type,
            display_name: typed.display_name,
            workspace_id: typed.workspace_id,
            connected_account_id: typed.connected_account_id,
            created_at: typed.created_at.as_deref().and_then(parse_timestamp),
            can_remotely_lock: typed.can_remotely_lock,
            can_remotely_unlock: typed.can_remotely_unlock,
            capabilities_supported: typed.capabilities_supported,
            properties: Some(typed.properties.into()),
            errors: typed.errors.into_iter().map(Into::into).collect(),
            warnings: typed.warnings.into_iter().map(Into::into).collect(),
            custom_metadata: custom_metadata(typed.custom_metadata),
            nickname: typed.nickname.unwrap_or_default(),
            seam_object: seam_object(&raw),
            location: typed.location.map(|location| pb::DeviceLocation {
                time_zone: location.zone().unwrap_or_default().to_owned(),
                location_name: location.location_name.unwrap_or_default(),
            }),
        }
    }
}

impl From<model::DeviceProperties> for pb::DeviceProperties {
    fn from(properties: model::DeviceProperties) -> Self {
        pb::DeviceProperties {
            locked: properties.locked,
            online: properties.online,
            door_open: properties.door_open,
            battery_level: properties.battery_level,
            battery: properties.battery.map(|battery| pb::Battery {
                level: battery.level,
                status: battery.status,
            }),
            manufacturer: properties.manufacturer.unwrap_or_default(),
            name: properties.name.unwrap_or_default(),
            model: properties.model.map(|model| pb::DeviceModel {
                display_name: model.display_name,
                manufacturer_display_name: model.manufacturer_display_name,
            }),
        }
    }
}

impl From<model::DeviceIssue> for pb::DeviceIssue {
    fn from(issue: model::DeviceIssue) -> Self {
        pb::DeviceIssue {
            code: issue.error_code,
            message: issue.message,
            created_at: issue.created_at.as_deref().and_then(parse_timestamp),
        }
    }
}

impl From<model::ActionAttempt> for pb::ActionAttempt {
    fn from(attempt: model::ActionAttempt) -> Self {
        let model::WithRaw { typed, raw } = attempt;
        let status = attempt_status(&typed.status);
        // The contract promises `result` on success; Seam's fake sends `null`
        // there, so an empty Struct stands in (the original is in seam_object).
        let result = match (status, typed.result) {
            (pb::action_attempt::Status::Success, Some(result)) => {
                Some(EncodedStruct::from_value(&result).unwrap_or_default())
            }
            (pb::action_attempt::Status::Success, None) => Some(EncodedStruct::default()),
            _ => None,
        };
        pb::ActionAttempt {
            action_attempt_id: typed.action_attempt_id,
            action_type: typed.action_type,
            status: status.into(),
            result,
            error: typed.error.map(|error| pb::ActionAttemptError {
                r#type: error.error_type,
                message: error.message,
            }),
            seam_object: seam_object(&raw),
        }
    }
}

/// Seam's status word as the enum; an unknown word is `STATUS_UNSPECIFIED`.
pub fn attempt_status(status: &str) -> pb::action_attempt::Status {
    match status {
        "pending" => pb::action_attempt::Status::Pending,
        "success" => pb::action_attempt::Status::Success,
        "error" => pb::action_attempt::Status::Error,
        _ => pb::action_attempt::Status::Unspecified,
    }
}

impl From<model::Event> for pb::Event {
    fn from(event: model::Event) -> Self {
        let model::WithRaw { typed, raw } = event;
        pb::Event {
            event_id: typed.event_id,
            event_type: typed.event_type,
            workspace_id: typed.workspace_id,
            device_id: typed.device_id.unwrap_or_default(),
            connected_account_id: typed.connected_account_id.unwrap_or_default(),
            action_attempt_id: typed.action_attempt_id.unwrap_or_default(),
            method: typed.method.unwrap_or_default(),
            created_at: typed.created_at.as_deref().and_then(parse_timestamp),
            occurred_at: typed.occurred_at.as_deref().and_then(parse_timestamp),
            event_description: typed.event_description.unwrap_or_default(),
            seam_object: seam_object(&raw),
        }
    }
}

/// An RFC 3339 time from Seam; `None` for text that is not one (the original
/// stays in `seam_object`).
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    Timestamp::from_str(text).ok()
}

fn custom_metadata(metadata: Map<String, Value>) -> std::collections::HashMap<String, pb::CustomMetadataValue> {
    use pb::custom_metadata_value::Kind as MetadataKind;
    metadata
        .into_iter()
        .filter_map(|(key, value)| {
            let kind = match value {
                Value::String(text) => MetadataKind::StringValue(text),
                Value::Bool(flag) => MetadataKind::BoolValue(flag),
                // Seam allows only strings and booleans; anything else is still
                // readable in seam_object.
                _ => return None,
            };
            Some((key, pb::CustomMetadataValue { kind: Some(kind) }))
        })
        .collect()
}

/// The complete Seam object, as Seam sent it. Its text was checked to be a
/// JSON object when it was read, so it always encodes.
fn seam_object(raw: &RawValue) -> Option<EncodedStruct> {
    EncodedStruct::from_json(raw.get()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::value::Kind;

    fn device(json: &str) -> pb::Device {
        serde_json::from_str::<model::Device>(json)
            .expect("valid device JSON")
            .into()
    }

    const DOCS_LOCK: &str = r#"{"can_program_online_access_codes":true,"can_remotely_lock":true,"can_remotely_unlock":true,
        "capabilities_supported":["access_code","lock"],"connected_account_id":"8e3a4f1b","created_at":"2025-03-27T02:08:16.418Z",
        "space_ids":[],"custom_metadata":{"id":"internalId1","vip":true},"device_id":"a69569e1","device_type":"schlage_lock",
        "display_name":"FRONT DOOR","errors":[],"is_managed":true,
        "location":{"location_name":"Front Door","timezone":"America/New_York"},"nickname":"Front Door",
        "properties":{"appearance":{"name":"FRONT DOOR"},"battery":{"level":0.48,"status":"good"},"battery_level":0.48,
          "door_open":false,"locked":false,"manufacturer":"schlage","model":{"display_name":"Encode","manufacturer_display_name":"Schlage"},
          "name":"FRONT DOOR","online":true,"schlage_metadata":{"device_id":"s1","device_name":"FRONT DOOR","model":"Encode"},
          "serial_number":"34000000000531e0","supported_code_lengths":[4,5,6,7,8]},
        "warnings":[{"warning_code":"power_saving_mode","message":"Saving power","created_at":"2025-03-28T00:00:00Z"}],
        "workspace_id":"5d7f2e1a"}"#;

    #[test]
    fn docs_lock_converts_with_every_typed_field() {
        let lock = device(DOCS_LOCK);
        assert_eq!(lock.device_id, "a69569e1");
        assert_eq!(lock.device_type, "schlage_lock");
        assert_eq!(lock.can_remotely_lock, Some(true));
        assert_eq!(
            lock.created_at,
            Some(Timestamp {
                seconds: 1_743_041_296,
                nanos: 418_000_000
            })
        );
        let properties = lock.properties.expect("properties");
        assert_eq!(properties.door_open, Some(false));
        assert_eq!(properties.battery_level, Some(0.48));
        assert_eq!(properties.battery.expect("battery").status, "good");
        assert_eq!(properties.model.expect("model").manufacturer_display_name, "Schlage");
        assert_eq!(lock.warnings[0].code, "power_saving_mode");
        assert_eq!(
            lock.custom_metadata["vip"].kind,
            Some(pb::custom_metadata_value::Kind::BoolValue(true))
        );
    }

    #[test]
    fn fields_without_a_typed_home_stay_in_seam_object() {
        let lock = device(DOCS_LOCK);
        let seam_object = lock.seam_object.expect("seam_object").to_struct();
        let Some(Kind::StructValue(properties)) = &seam_object.fields["properties"].kind else {
            panic!("properties is not a struct");
        };
        assert_eq!(
            properties.fields["serial_number"].kind,
            Some(Kind::StringValue("34000000000531e0".into()))
        );
        assert!(seam_object.fields.contains_key("location"));
    }

    #[test]
    fn absent_capability_flags_stay_absent_not_false() {
        let lock = device(r#"{"device_id":"d","properties":{"online":true}}"#);
        assert_eq!(lock.can_remotely_lock, None);
        assert_eq!(lock.can_remotely_unlock, None);
        let properties = lock.properties.expect("properties");
        assert_eq!(properties.locked, None);
        assert_eq!(properties.door_open, None);
    }

    #[test]
    fn device_errors_keep_code_message_and_time() {
        let lock = device(
            r#"{"device_id":"d","errors":[{"error_code":"device_offline","message":"Device is offline","is_device_error":true,"created_at":"2026-01-02T03:04:05Z"}]}"#,
        );
        assert_eq!(lock.errors[0].code, "device_offline");
        assert_eq!(lock.errors[0].message, "Device is offline");
        assert_eq!(
            lock.errors[0].created_at,
            Some(Timestamp {
                seconds: 1_767_323_045,
                nanos: 0
            })
        );
    }

    fn attempt(json: &str) -> pb::ActionAttempt {
        serde_json::from_str::<model::ActionAttempt>(json)
            .expect("valid attempt JSON")
            .into()
    }

    #[test]
    fn pending_attempt_has_neither_result_nor_error() {
        let a = attempt(
            r#"{"action_attempt_id":"a1","action_type":"LOCK_DOOR","status":"pending","result":null,"error":null}"#,
        );
        assert_eq!(a.status(), pb::action_attempt::Status::Pending);
        assert!(a.result.is_none());
        assert!(a.error.is_none());
    }

    #[test]
    fn successful_attempt_always_has_a_result() {
        let confirmed = attempt(
            r#"{"action_attempt_id":"a1","action_type":"LOCK_DOOR","status":"success","result":{"was_confirmed_by_device":true},"error":null}"#,
        );
        let result = confirmed.result.expect("result").to_struct();
        assert_eq!(
            result.fields["was_confirmed_by_device"].kind,
            Some(Kind::BoolValue(true))
        );
        let from_fake = attempt(
            r#"{"action_attempt_id":"a1","action_type":"LOCK_DOOR","status":"success","result":null,"error":null}"#,
        );
        assert_eq!(
            from_fake.result.map(|r| r.to_struct()),
            Some(prost_types::Struct::default())
        );
    }

    #[test]
    fn failed_attempt_carries_type_and_message() {
        let a = attempt(
            r#"{"action_attempt_id":"a1","action_type":"UNLOCK_DOOR","status":"error","result":null,"error":{"type":"device_offline","message":"Device is offline"}}"#,
        );
        assert_eq!(a.status(), pb::action_attempt::Status::Error);
        let error = a.error.expect("error");
        assert_eq!(
            (error.r#type.as_str(), error.message.as_str()),
            ("device_offline", "Device is offline")
        );
    }

    #[test]
    fn unknown_status_is_unspecified_and_kept_verbatim() {
        let a = attempt(r#"{"action_attempt_id":"a1","action_type":"LOCK_DOOR","status":"queued"}"#);
        assert_eq!(a.status(), pb::action_attempt::Status::Unspecified);
        let seam_object = a.seam_object.expect("seam_object").to_struct();
        assert_eq!(
            seam_object.fields["status"].kind,
            Some(Kind::StringValue("queued".into()))
        );
    }

    #[test]
    fn lock_event_converts_with_optional_fields() {
        let event: pb::Event = serde_json::from_str::<model::Event>(
            r#"{"event_id":"e1","event_type":"lock.locked","workspace_id":"w","device_id":"d","connected_account_id":"c",
               "action_attempt_id":"a1","method":"remote","created_at":"2026-01-01T00:00:00.5Z","occurred_at":"2026-01-01T00:00:00Z",
               "access_code_id":"ac1"}"#,
        )
        .expect("valid event JSON")
        .into();
        assert_eq!(event.method, "remote");
        assert_eq!(event.action_attempt_id, "a1");
        assert_eq!(
            event.created_at,
            Some(Timestamp {
                seconds: 1_767_225_600,
                nanos: 500_000_000
            })
        );
        let seam_object = event.seam_object.expect("seam_object").to_struct();
        assert_eq!(
            seam_object.fields["access_code_id"].kind,
            Some(Kind::StringValue("ac1".into()))
        );
    }

    #[test]
    fn a_timestamp_that_is_not_rfc3339_is_left_unset() {
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
