//! A bounded memory of ids: the webhook ids already taken (a replayed
//! delivery is acknowledged and ignored) and the events already given to
//! WatchEvents callers (an event arrives once, by webhook or by the tail).
//! The oldest id is forgotten first, so memory stays at `capacity` ids.

use std::collections::{HashSet, VecDeque};

#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    order: VecDeque<String>,
    known: HashSet<String>,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            known: HashSet::new(),
        }
    }

    /// Remembers `id`; false when it was already known.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.known.contains(id) {
            return false;
        }
        if self.order.len() >= self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.known.remove(&oldest);
        }
        self.order.push_back(id.to_owned());
        self.known.insert(id.to_owned());
        true
    }

    pub fn contains(&self, id: &str) -> bool {
        self.known.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_known_once_and_the_oldest_is_forgotten_first() {
        let mut ids = RecentIds::new(2);
        assert!(ids.insert("a"));
        assert!(!ids.insert("a"), "a repeat is known");
        assert!(ids.insert("b"));
        assert!(ids.insert("c"), "a third id pushes out the oldest");
        assert!(!ids.contains("a"));
        assert!(ids.contains("b") && ids.contains("c"));
        assert!(ids.insert("a"), "a forgotten id is new again");
    }
}
