//! The resource of a decision: the device Seam described, as a
//! `Seam::Device` entity. Its attributes are Seam's (`device_type`,
//! `display_name`, `connected_account_id`, and `manufacturer`,
//! `location_name`, `time_zone` when Seam sends them); its tags are the
//! device's `custom_metadata`, every value as a string (booleans as
//! `"true"`/`"false"`).

use std::sync::LazyLock;

use cedar_policy::{Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use serde_json::Value;

use crate::seam::model::DeviceFields;

/// What a decision needs to know of a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DeviceFacts {
    pub device_id: String,
    pub device_type: String,
    pub display_name: String,
    pub connected_account_id: String,
    pub manufacturer: Option<String>,
    pub location_name: Option<String>,
    pub time_zone: Option<String>,
    pub tags: Vec<(String, String)>,
}

impl From<&DeviceFields> for DeviceFacts {
    fn from(device: &DeviceFields) -> Self {
        let tags = device
            .custom_metadata
            .iter()
            .filter_map(|(key, value)| {
                let text = match value {
                    Value::String(text) => text.clone(),
                    Value::Bool(flag) => flag.to_string(),
                    Value::Number(number) => number.to_string(),
                    _ => return None,
                };
                Some((key.clone(), text))
            })
            .collect();
        let location = device.location.as_ref();
        Self {
            device_id: device.device_id.clone(),
            device_type: device.device_type.clone(),
            display_name: device.display_name.clone(),
            connected_account_id: device.connected_account_id.clone(),
            manufacturer: device.properties.manufacturer.clone(),
            location_name: location.and_then(|l| l.location_name.clone()),
            time_zone: location.and_then(|l| l.zone()).map(str::to_owned),
            tags,
        }
    }
}

// Parsed once: parsing a type name runs Cedar's parser.
static DEVICE: LazyLock<EntityTypeName> = LazyLock::new(|| type_name("Seam::Device"));
static CALLER: LazyLock<EntityTypeName> = LazyLock::new(|| type_name("Seam::Caller"));
static ACTION: LazyLock<EntityTypeName> = LazyLock::new(|| type_name("Seam::Action"));

/// `Seam::Device::"<id>"`.
pub fn device_uid(device_id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(DEVICE.clone(), EntityId::new(device_id))
}

/// `Seam::Caller::"<identity>"`.
pub fn caller_uid(principal: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(CALLER.clone(), EntityId::new(principal))
}

/// `Seam::Action::"<name>"`.
pub fn action_uid(name: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ACTION.clone(), EntityId::new(name))
}

fn type_name(name: &str) -> EntityTypeName {
    name.parse()
        .unwrap_or_else(|_| unreachable!("a valid type name: {name}"))
}

impl DeviceFacts {
    /// The device as a Cedar entity.
    pub fn entity(&self) -> Result<Entity, String> {
        let string = |text: &str| RestrictedExpression::new_string(text.to_owned());
        let mut attributes = vec![
            ("device_type".to_owned(), string(&self.device_type)),
            ("display_name".to_owned(), string(&self.display_name)),
            ("connected_account_id".to_owned(), string(&self.connected_account_id)),
        ];
        for (name, value) in [
            ("manufacturer", &self.manufacturer),
            ("location_name", &self.location_name),
            ("time_zone", &self.time_zone),
        ] {
            if let Some(value) = value {
                attributes.push((name.to_owned(), string(value)));
            }
        }
        let tags = self.tags.iter().map(|(key, value)| (key.clone(), string(value)));
        Entity::new_with_tags(device_uid(&self.device_id), attributes, [], tags).map_err(|e| e.to_string())
    }
}
