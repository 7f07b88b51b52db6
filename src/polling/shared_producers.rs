//! One producer per key, shared by every watcher of that key: the attempt
//! pollers (key: credential and attempt) and the event tails (key:
//! credential). The first watcher starts the producer; later ones join it; the
//! producer leaves the registry itself, when it is done or nobody watches.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

/// The running producers, by key; `S` is the sender their watchers subscribe to.
#[derive(Debug)]
pub struct Producers<K, S> {
    entries: Arc<Mutex<HashMap<K, Arc<S>>>>,
}

impl<K, S> Default for Producers<K, S> {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
        }
    }
}

/// A producer's place in the registry, held by the producer.
#[derive(Debug)]
pub struct Membership<K: Eq + Hash, S> {
    entries: Arc<Mutex<HashMap<K, Arc<S>>>>,
    pub key: K,
    pub sender: Arc<S>,
}

impl<K: Eq + Hash + Clone, S> Producers<K, S> {
    /// Subscribes to the producer of `key`. If there is none, `create` makes
    /// its sender and first receiver, and the new producer's membership is
    /// returned so that the caller starts it.
    pub fn join<R>(
        &self,
        key: &K,
        subscribe: impl FnOnce(&S) -> R,
        create: impl FnOnce() -> (S, R),
    ) -> (R, Option<Membership<K, S>>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = entries.get(key) {
            return (subscribe(sender), None);
        }
        let (sender, receiver) = create();
        let sender = Arc::new(sender);
        entries.insert(key.clone(), sender.clone());
        let membership = Membership {
            entries: self.entries.clone(),
            key: key.clone(),
            sender,
        };
        (receiver, Some(membership))
    }

    /// The sender of `key`'s producer, if one runs.
    pub fn get(&self, key: &K) -> Option<Arc<S>> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// How many producers are running.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl<K: Eq + Hash, S> Membership<K, S> {
    /// Leaves the registry: the next watcher of the key starts a new producer.
    pub fn leave(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        self.remove_self(&mut entries);
    }

    /// Leaves the registry unless `watched` says someone still watches; checked
    /// under the registry's lock, so nobody can join in between.
    pub fn leave_if_unwatched(&self, watched: impl FnOnce(&S) -> bool) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if watched(&self.sender) {
            return false;
        }
        self.remove_self(&mut entries);
        true
    }

    fn remove_self(&self, entries: &mut HashMap<K, Arc<S>>) {
        if entries
            .get(&self.key)
            .is_some_and(|sender| Arc::ptr_eq(sender, &self.sender))
        {
            entries.remove(&self.key);
        }
    }
}
