//! Which device each action attempt this gateway started is for, so that
//! under `--policy` reading an attempt (GetActionAttempt,
//! WatchActionAttempt) is decided as a read of its device. Seam's action
//! attempt does not name its device; an attempt this gateway did not start
//! (or has forgotten) cannot be decided, and is refused. Bounded: the
//! oldest are forgotten first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

#[derive(Debug)]
pub struct AttemptDevices {
    capacity: usize,
    known: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl AttemptDevices {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            known: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    pub fn remember(&self, attempt_id: &str, device_id: &str) {
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (devices, order) = &mut *known;
        if devices.insert(attempt_id.to_owned(), device_id.to_owned()).is_none() {
            order.push_back(attempt_id.to_owned());
        }
        while order.len() > self.capacity {
            if let Some(oldest) = order.pop_front() {
                devices.remove(&oldest);
            }
        }
    }

    pub fn device_of(&self, attempt_id: &str) -> Option<String> {
        let known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        known.0.get(attempt_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_remembered_up_to_the_capacity() {
        let devices = AttemptDevices::new(2);
        devices.remember("a1", "d1");
        devices.remember("a2", "d2");
        devices.remember("a3", "d3");
        assert_eq!(devices.device_of("a1"), None, "the oldest is forgotten");
        assert_eq!(devices.device_of("a2").as_deref(), Some("d2"));
        assert_eq!(devices.device_of("a3").as_deref(), Some("d3"));
    }
}
