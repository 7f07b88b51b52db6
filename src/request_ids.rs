//! Caller-chosen `request_id`s of lock commands, remembered for a while so that
//! a repeated call re-attaches to the first attempt instead of sending a second
//! command. Memory is bounded by a retention time and a capacity.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use tokio::time::Instant;

use crate::seam::{Credential, LockAction};

/// One remembered request: `None` until its command was accepted, then the
/// attempt id. Holding the lock means "this request is being sent".
pub type RequestSlot = Arc<AsyncMutex<Option<String>>>;

/// (credential, command, device id, request id): a request id names one command.
type RequestKey = (Credential, LockAction, String, String);

#[derive(Debug)]
pub struct RequestIds {
    retention: Duration,
    capacity: usize,
    inner: Mutex<Remembered>,
}

#[derive(Debug, Default)]
struct Remembered {
    slots: HashMap<RequestKey, (Instant, RequestSlot)>,
    /// Keys oldest first, for expiry and eviction.
    order: VecDeque<(Instant, RequestKey)>,
}

impl RequestIds {
    pub fn new(retention: Duration, capacity: usize) -> Self {
        Self {
            retention,
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    /// Waits until no other call is sending this request, then returns its
    /// slot, locked: `Some(attempt id)` if it was sent before, `None` if the
    /// caller must send it (and store the attempt id in the slot).
    pub async fn claim(
        &self,
        credential: &Credential,
        action: LockAction,
        device_id: &str,
        request_id: &str,
    ) -> OwnedMutexGuard<Option<String>> {
        let key = (credential.clone(), action, device_id.to_owned(), request_id.to_owned());
        let slot = self.slot(key);
        slot.lock_owned().await
    }

    fn slot(&self, key: RequestKey) -> RequestSlot {
        let now = Instant::now();
        let mut remembered = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        remembered.forget_older_than(now.checked_sub(self.retention));
        if let Some((_, slot)) = remembered.slots.get(&key) {
            return slot.clone();
        }
        while remembered.slots.len() >= self.capacity {
            if !remembered.forget_oldest() {
                break;
            }
        }
        let slot = RequestSlot::default();
        remembered.slots.insert(key.clone(), (now, slot.clone()));
        remembered.order.push_back((now, key));
        slot
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).slots.len()
    }
}

impl Remembered {
    fn forget_older_than(&mut self, cutoff: Option<Instant>) {
        let Some(cutoff) = cutoff else { return };
        while self.order.front().is_some_and(|(at, _)| *at <= cutoff) {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) -> bool {
        let Some((at, key)) = self.order.pop_front() else {
            return false;
        };
        // Only if the slot is the one queued at that time (keys are unique, but be exact).
        if self.slots.get(&key).is_some_and(|(inserted, _)| *inserted == at) {
            self.slots.remove(&key);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential() -> Credential {
        Credential::new("seam_test_key", None)
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_claim_sees_the_first_attempt() {
        let ids = RequestIds::new(Duration::from_secs(60), 10);
        let mut first = ids.claim(&credential(), LockAction::Lock, "d1", "r1").await;
        assert!(first.is_none());
        *first = Some("attempt1".into());
        drop(first);
        let second = ids.claim(&credential(), LockAction::Lock, "d1", "r1").await;
        assert_eq!(second.as_deref(), Some("attempt1"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_concurrent_claim_waits_for_the_first_to_finish() {
        let ids = Arc::new(RequestIds::new(Duration::from_secs(60), 10));
        let mut first = ids.claim(&credential(), LockAction::Lock, "d1", "r1").await;
        let waiter = {
            let ids = ids.clone();
            tokio::spawn(async move { ids.claim(&credential(), LockAction::Lock, "d1", "r1").await.clone() })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished(), "waits while the first call sends");
        *first = Some("attempt1".into());
        drop(first);
        assert_eq!(waiter.await.unwrap().as_deref(), Some("attempt1"));
    }

    #[tokio::test(start_paused = true)]
    async fn ids_are_scoped_by_credential_and_action() {
        let ids = RequestIds::new(Duration::from_secs(60), 10);
        *ids.claim(&credential(), LockAction::Lock, "d1", "r1").await = Some("attempt1".into());
        assert!(ids.claim(&credential(), LockAction::Unlock, "d1", "r1").await.is_none());
        let other = Credential::new("seam_other_key", None);
        assert!(ids.claim(&other, LockAction::Lock, "d1", "r1").await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn ids_are_forgotten_after_the_retention() {
        let ids = RequestIds::new(Duration::from_secs(60), 10);
        *ids.claim(&credential(), LockAction::Lock, "d1", "r1").await = Some("attempt1".into());
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert!(ids.claim(&credential(), LockAction::Lock, "d1", "r1").await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded_by_the_capacity() {
        let ids = RequestIds::new(Duration::from_secs(600), 3);
        for n in 0..10 {
            *ids.claim(&credential(), LockAction::Lock, "d1", &format!("r{n}")).await = Some(format!("a{n}"));
        }
        assert_eq!(ids.len(), 3);
        assert_eq!(
            ids.claim(&credential(), LockAction::Lock, "d1", "r9").await.as_deref(),
            Some("a9")
        );
        assert!(
            ids.claim(&credential(), LockAction::Lock, "d1", "r0").await.is_none(),
            "the oldest went first"
        );
    }
}
