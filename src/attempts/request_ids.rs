//! Caller-chosen `request_id`s of lock commands, remembered for a while so that
//! a repeated call re-attaches to the first attempt instead of sending a second
//! command.
//!
//! Only commands Seam accepted are remembered, and the memory they take is
//! bounded three ways: a retention time, a count and a number of bytes. A
//! request being sent right now is held separately (one entry per call in
//! flight) so that a concurrent repeat waits for it rather than sending too.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use tokio::time::Instant;

use crate::seam::{Credential, LockAction};

/// (credential, command, device id, request id): a request id names one command.
type RequestKey = (Credential, LockAction, String, String);

/// What one remembered entry costs beyond its strings: the map and queue
/// slots, the key's and value's headers, the allocator's rounding.
const ENTRY_OVERHEAD_BYTES: usize = 192;

#[derive(Debug)]
pub struct RequestIds {
    retention: Duration,
    capacity: usize,
    max_bytes: usize,
    inner: Arc<Mutex<Remembered>>,
}

#[derive(Debug, Default)]
struct Remembered {
    /// Commands Seam accepted: the attempt each created, and when.
    accepted: HashMap<RequestKey, (Instant, String)>,
    /// Accepted keys oldest first, for expiry and eviction.
    order: VecDeque<(Instant, RequestKey)>,
    /// What `accepted` holds, by [`entry_bytes`].
    bytes: usize,
    /// Requests being sent now; holding the lock means "sending".
    in_flight: HashMap<RequestKey, Arc<AsyncMutex<()>>>,
}

/// What a claim found.
#[derive(Debug)]
pub enum Claimed {
    /// The request was sent before: its attempt.
    Sent(String),
    /// The caller must send it, then record the attempt with [`Claim::accepted`].
    Send(Claim),
}

/// The right to send one request; concurrent repeats wait until it is dropped.
#[derive(Debug)]
pub struct Claim {
    key: RequestKey,
    slot: Arc<AsyncMutex<()>>,
    guard: Option<OwnedMutexGuard<()>>,
    ids: Arc<Mutex<Remembered>>,
    retention: Duration,
    capacity: usize,
    max_bytes: usize,
}

impl RequestIds {
    pub fn new(retention: Duration, capacity: usize, max_bytes: usize) -> Self {
        Self {
            retention,
            capacity: capacity.max(1),
            max_bytes,
            inner: Arc::default(),
        }
    }

    /// Waits until no other call is sending this request, then says whether it
    /// was sent before or must be sent now.
    pub async fn claim(
        &self,
        credential: &Credential,
        action: LockAction,
        device_id: &str,
        request_id: &str,
    ) -> Claimed {
        let key = (credential.clone(), action, device_id.to_owned(), request_id.to_owned());
        let slot = {
            let mut remembered = self.lock();
            remembered.forget_older_than(Instant::now().checked_sub(self.retention));
            if let Some((_, attempt_id)) = remembered.accepted.get(&key) {
                return Claimed::Sent(attempt_id.clone());
            }
            remembered.in_flight.entry(key.clone()).or_default().clone()
        };
        let guard = slot.clone().lock_owned().await;
        let claim = Claim {
            key,
            slot,
            guard: Some(guard),
            ids: self.inner.clone(),
            retention: self.retention,
            capacity: self.capacity,
            max_bytes: self.max_bytes,
        };
        // The call this one waited for may have been accepted meanwhile.
        if let Some((_, attempt_id)) = self.lock().accepted.get(&claim.key) {
            return Claimed::Sent(attempt_id.clone());
        }
        Claimed::Send(claim)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().accepted.len()
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }

    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.lock().in_flight.len()
    }
}

impl Claim {
    /// Seam accepted the command: remember its attempt for the request id.
    pub fn accepted(self, attempt_id: &str) {
        let now = Instant::now();
        let mut remembered = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        remembered.forget_older_than(now.checked_sub(self.retention));
        let bytes = entry_bytes(&self.key, attempt_id);
        if bytes > self.max_bytes {
            return;
        }
        while remembered.accepted.len() >= self.capacity || remembered.bytes + bytes > self.max_bytes {
            if !remembered.forget_oldest() {
                break;
            }
        }
        if let Some((_, previous)) = remembered
            .accepted
            .insert(self.key.clone(), (now, attempt_id.to_owned()))
        {
            remembered.bytes -= entry_bytes(&self.key, &previous);
        }
        remembered.bytes += bytes;
        remembered.order.push_back((now, self.key.clone()));
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Unlock first, so that a waiter can go on; then forget the in-flight
        // entry once nobody else holds or waits for it.
        drop(self.guard.take());
        let mut remembered = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        // The map's reference and this claim's: nobody else.
        if Arc::strong_count(&self.slot) <= 2 {
            remembered.in_flight.remove(&self.key);
        }
    }
}

/// The bytes an accepted entry holds, counted generously.
fn entry_bytes(key: &RequestKey, attempt_id: &str) -> usize {
    let (credential, _, device_id, request_id) = key;
    ENTRY_OVERHEAD_BYTES + credential.approximate_bytes() + device_id.len() + request_id.len() + attempt_id.len()
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
        // Only if the entry is the one queued at that time (it may have been
        // replaced by a newer acceptance, queued again).
        if self.accepted.get(&key).is_some_and(|(inserted, _)| *inserted == at)
            && let Some((_, attempt_id)) = self.accepted.remove(&key)
        {
            self.bytes -= entry_bytes(&key, &attempt_id);
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

    const MIB: usize = 1024 * 1024;

    async fn send(ids: &RequestIds, request_id: &str, attempt_id: &str) {
        match ids.claim(&credential(), LockAction::Lock, "d1", request_id).await {
            Claimed::Send(claim) => claim.accepted(attempt_id),
            Claimed::Sent(previous) => panic!("{request_id} was already sent as {previous}"),
        }
    }

    async fn sent_as(ids: &RequestIds, action: LockAction, request_id: &str) -> Option<String> {
        match ids.claim(&credential(), action, "d1", request_id).await {
            Claimed::Sent(attempt_id) => Some(attempt_id),
            Claimed::Send(_) => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_claim_sees_the_first_attempt() {
        let ids = RequestIds::new(Duration::from_secs(60), 10, MIB);
        send(&ids, "r1", "attempt1").await;
        assert_eq!(sent_as(&ids, LockAction::Lock, "r1").await.as_deref(), Some("attempt1"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_concurrent_claim_waits_for_the_first_to_finish() {
        let ids = Arc::new(RequestIds::new(Duration::from_secs(60), 10, MIB));
        let Claimed::Send(first) = ids.claim(&credential(), LockAction::Lock, "d1", "r1").await else {
            panic!("the first claim sends");
        };
        let waiter = {
            let ids = ids.clone();
            tokio::spawn(async move { sent_as(&ids, LockAction::Lock, "r1").await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished(), "waits while the first call sends");
        first.accepted("attempt1");
        assert_eq!(waiter.await.unwrap().as_deref(), Some("attempt1"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_seam_did_not_accept_is_not_remembered() {
        let ids = RequestIds::new(Duration::from_secs(60), 10, MIB);
        let Claimed::Send(claim) = ids.claim(&credential(), LockAction::Lock, "d1", "r1").await else {
            panic!("the first claim sends");
        };
        drop(claim);
        assert_eq!(ids.len(), 0);
        assert_eq!(ids.in_flight(), 0, "nothing of the failed request stays");
        assert!(
            sent_as(&ids, LockAction::Lock, "r1").await.is_none(),
            "a repeat may send"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn ids_are_scoped_by_credential_and_action() {
        let ids = RequestIds::new(Duration::from_secs(60), 10, MIB);
        send(&ids, "r1", "attempt1").await;
        assert!(sent_as(&ids, LockAction::Unlock, "r1").await.is_none());
        let other = Credential::new("seam_other_key", None);
        assert!(matches!(
            ids.claim(&other, LockAction::Lock, "d1", "r1").await,
            Claimed::Send(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn ids_are_forgotten_after_the_retention() {
        let ids = RequestIds::new(Duration::from_secs(60), 10, MIB);
        send(&ids, "r1", "attempt1").await;
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert!(sent_as(&ids, LockAction::Lock, "r1").await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded_by_the_capacity() {
        let ids = RequestIds::new(Duration::from_secs(600), 3, MIB);
        for n in 0..10 {
            send(&ids, &format!("r{n}"), &format!("a{n}")).await;
        }
        assert_eq!(ids.len(), 3);
        assert_eq!(sent_as(&ids, LockAction::Lock, "r9").await.as_deref(), Some("a9"));
        assert!(
            sent_as(&ids, LockAction::Lock, "r0").await.is_none(),
            "the oldest went first"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded_in_bytes() {
        let budget = 64 * 1024;
        let ids = RequestIds::new(Duration::from_secs(600), 1_000_000, budget);
        let long_request_id = "r".repeat(1000);
        for n in 0..1000 {
            send(&ids, &format!("{long_request_id}{n}"), &format!("a{n}")).await;
        }
        assert!(ids.bytes() <= budget, "{} bytes held", ids.bytes());
        assert!(ids.len() < 100, "{} entries held", ids.len());
        assert_eq!(
            sent_as(&ids, LockAction::Lock, &format!("{long_request_id}999"))
                .await
                .as_deref(),
            Some("a999"),
            "the newest is kept"
        );
    }
}
