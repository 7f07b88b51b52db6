//! The entity stores of recently decided devices. A decision needs the
//! action hierarchy and the device as one Cedar `Entities`; building it
//! (copying the actions, turning the device's facts into Cedar values,
//! recomputing the hierarchy) cost more than the evaluation itself
//! (BENCHMARKS.md, one decision alone). A store depends only on the device's
//! facts, so it is kept by them: a device whose facts change gets a new store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cedar_policy::{Entities, Schema};

use super::device_entity::DeviceFacts;

/// Stores kept at most; the map is emptied when full (a gateway decides on a
/// few thousand devices at most, and a rebuild is a few microseconds).
const CAPACITY: usize = 4096;

pub struct EntityStoreCache {
    /// The action entities with their hierarchy (`LockDoor in "command"` …).
    actions: Entities,
    stores: Mutex<HashMap<DeviceFacts, Arc<Entities>>>,
}

impl EntityStoreCache {
    pub fn new(actions: Entities) -> Self {
        Self {
            actions,
            stores: Mutex::new(HashMap::new()),
        }
    }

    /// The actions and `device`; `schema` checks the device when given (tests).
    pub fn store_for(&self, device: &DeviceFacts, schema: Option<&Schema>) -> Result<Arc<Entities>, String> {
        if let Some(store) = self.lock().get(device) {
            return Ok(store.clone());
        }
        let store = Arc::new(
            self.actions
                .clone()
                .add_entities([device.entity()?], schema)
                .map_err(|e| e.to_string())?,
        );
        let mut stores = self.lock();
        if stores.len() >= CAPACITY {
            stores.clear();
        }
        stores.insert(device.clone(), store.clone());
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceFacts, Arc<Entities>>> {
        // A panic while holding the lock leaves a map of complete stores.
        self.stores.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
