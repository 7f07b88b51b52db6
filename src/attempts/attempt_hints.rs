//! Hints that an attempt changed: a webhook delivery naming an
//! `action_attempt_id` wakes that attempt's poller, which then reads the
//! attempt from Seam at once (the delivery is a hint; the attempt Seam
//! returns is the truth). A hint that comes before its poller started (Seam
//! can deliver before the command's answer reached the gateway) is kept for
//! the poller to find.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::webhooks::recent_ids::RecentIds;

/// Hints kept for pollers not started yet.
const EARLY_HINTS: usize = 1024;

#[derive(Debug)]
pub struct AttemptHints {
    inner: Mutex<Hints>,
}

#[derive(Debug)]
struct Hints {
    /// The pollers running, by attempt id (one per credential that watches it).
    waiting: HashMap<String, Vec<Arc<Notify>>>,
    early: RecentIds,
}

impl Default for AttemptHints {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Hints {
                waiting: HashMap::new(),
                early: RecentIds::new(EARLY_HINTS),
            }),
        }
    }
}

/// A poller's registration; dropping it unregisters.
pub struct HintListener {
    hints: Arc<AttemptHints>,
    attempt_id: String,
    pub notify: Arc<Notify>,
}

impl AttemptHints {
    fn lock(&self) -> std::sync::MutexGuard<'_, Hints> {
        self.inner.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Wakes the pollers of `attempt_id`; true when one was running.
    pub fn hint(&self, attempt_id: &str) -> bool {
        let mut hints = self.lock();
        match hints.waiting.get(attempt_id) {
            Some(pollers) => {
                // A permit is stored if the poller is busy reading: its next
                // wait ends at once.
                pollers.iter().for_each(|notify| notify.notify_one());
                true
            }
            None => {
                hints.early.insert(attempt_id);
                false
            }
        }
    }

    /// Registers a poller of `attempt_id`; a hint that came early is waiting in it.
    pub fn listen(self: &Arc<Self>, attempt_id: &str) -> HintListener {
        let notify = Arc::new(Notify::new());
        let mut hints = self.lock();
        if hints.early.contains(attempt_id) {
            notify.notify_one();
        }
        hints
            .waiting
            .entry(attempt_id.to_owned())
            .or_default()
            .push(notify.clone());
        HintListener {
            hints: self.clone(),
            attempt_id: attempt_id.to_owned(),
            notify,
        }
    }
}

impl Drop for HintListener {
    fn drop(&mut self) {
        let mut hints = self.hints.lock();
        if let Some(pollers) = hints.waiting.get_mut(&self.attempt_id) {
            pollers.retain(|notify| !Arc::ptr_eq(notify, &self.notify));
            if pollers.is_empty() {
                hints.waiting.remove(&self.attempt_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_hint_wakes_the_pollers_of_its_attempt_only() {
        let hints = Arc::new(AttemptHints::default());
        let first = hints.listen("a1");
        let other = hints.listen("a2");
        assert!(hints.hint("a1"));
        tokio::time::timeout(Duration::from_secs(1), first.notify.notified())
            .await
            .expect("the hinted poller wakes");
        let untouched = tokio::time::timeout(Duration::from_secs(1), other.notify.notified()).await;
        assert!(untouched.is_err(), "another attempt's poller sleeps on");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hint_before_the_poller_started_is_found_by_it() {
        let hints = Arc::new(AttemptHints::default());
        assert!(!hints.hint("early"), "no poller yet");
        let listener = hints.listen("early");
        tokio::time::timeout(Duration::from_secs(1), listener.notify.notified())
            .await
            .expect("the early hint is waiting");
    }

    #[test]
    fn a_finished_poller_unregisters() {
        let hints = Arc::new(AttemptHints::default());
        drop(hints.listen("a1"));
        assert!(!hints.hint("a1"));
        assert!(hints.lock().waiting.is_empty());
    }
}
