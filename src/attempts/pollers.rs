//! Following action attempts until they complete: one upstream poller per
//! (credential, attempt) serves every watcher of that attempt, backs off from a
//! quick first check to a cap, and stops as soon as the last watcher leaves.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::attempts::attempt_hints::AttemptHints;
use crate::observe::metrics;
use crate::pb;
use crate::pb::action_attempt::Status as AttemptStatus;
use crate::polling::backoff::Backoff;
use crate::polling::budget::{PollBudget, PollBudgets, PollPriority};
use crate::polling::shared_producers::{Membership, Producers};
use crate::seam::{Credential, SeamClient, UpstreamError, Upstreamed, model};
use crate::webhooks::delivery_health::DeliveryHealth;

/// Where attempts are read from: Seam in production, a script in unit tests.
pub trait AttemptSource: Send + Sync + 'static {
    fn fetch(
        &self,
        credential: &Credential,
        attempt_id: &str,
    ) -> impl Future<Output = Result<Upstreamed<model::ActionAttempt>, UpstreamError>> + Send;
}

impl AttemptSource for SeamClient {
    fn fetch(
        &self,
        credential: &Credential,
        attempt_id: &str,
    ) -> impl Future<Output = Result<Upstreamed<model::ActionAttempt>, UpstreamError>> + Send {
        self.get_action_attempt(credential, attempt_id)
    }
}

/// When to check a pending attempt: `initial` after it was accepted, then each
/// delay `multiplier` times the previous one, never more than `max` (the
/// gateway's one backoff).
pub type PollSchedule = Backoff;

/// What watchers of one attempt see.
#[derive(Debug, Clone, Default)]
pub struct AttemptView {
    /// The newest snapshot read from Seam (or handed in by the lock command).
    pub attempt: Option<pb::ActionAttempt>,
    /// The last check failed in a way that may pass (outage, time-out, 429);
    /// cleared by the next successful check.
    pub outage: Option<UpstreamError>,
    /// A check failed in a way that will not pass (not found, unauthorized);
    /// polling has stopped.
    pub fatal: Option<UpstreamError>,
}

impl AttemptView {
    /// Whether nothing more will change: the attempt completed or cannot be read.
    pub fn is_final(&self) -> bool {
        self.fatal.is_some() || self.attempt.as_ref().is_some_and(is_completed)
    }
}

/// Whether the attempt reached `STATUS_SUCCESS` or `STATUS_ERROR`.
pub fn is_completed(attempt: &pb::ActionAttempt) -> bool {
    matches!(attempt.status(), AttemptStatus::Success | AttemptStatus::Error)
}

type PollerKey = (Credential, String);
type Pollers = Producers<PollerKey, watch::Sender<AttemptView>>;

/// The registry of running pollers.
#[derive(Debug)]
pub struct AttemptWatcher<S> {
    source: Arc<S>,
    schedule: PollSchedule,
    pollers: Pollers,
    budgets: Arc<PollBudgets>,
    /// Webhook deliveries naming an attempt wake its poller.
    hints: Arc<AttemptHints>,
    /// While deliveries arrive, polling is the safety net.
    health: Arc<DeliveryHealth>,
}

impl<S: AttemptSource> AttemptWatcher<S> {
    pub fn new(source: Arc<S>, schedule: PollSchedule, budgets: Arc<PollBudgets>) -> Self {
        Self {
            source,
            schedule,
            pollers: Pollers::default(),
            budgets,
            hints: Arc::default(),
            health: Arc::new(DeliveryHealth::never()),
        }
    }

    /// Pollers woken by `hints` and slowed while `health` says deliveries arrive.
    pub fn with_webhooks(mut self, hints: Arc<AttemptHints>, health: Arc<DeliveryHealth>) -> Self {
        self.hints = hints;
        self.health = health;
        self
    }

    /// Starts watching an attempt. `known` is a snapshot the caller already
    /// holds (the lock command's answer): the first check then waits
    /// `schedule.initial`; without it the first check is immediate. Dropping
    /// the receiver is how a watcher leaves.
    pub fn watch(
        &self,
        credential: &Credential,
        attempt_id: &str,
        known: Option<pb::ActionAttempt>,
    ) -> watch::Receiver<AttemptView> {
        let key = (credential.clone(), attempt_id.to_owned());
        let first_check = if known.is_some() {
            self.schedule.initial
        } else {
            Duration::ZERO
        };
        let (receiver, started) = self.pollers.join(&key, watch::Sender::subscribe, || {
            watch::channel(AttemptView {
                attempt: known,
                ..AttemptView::default()
            })
        });
        if let Some(membership) = started {
            let poller = Poller {
                source: self.source.clone(),
                budget: self.budgets.of(credential),
                hints: self.hints.clone(),
                health: self.health.clone(),
                membership,
            };
            tokio::spawn(poller.run(first_check, self.schedule));
        }
        receiver
    }

    /// How many attempts are being polled now.
    #[cfg(test)]
    fn active_pollers(&self) -> usize {
        self.pollers.len()
    }
}

struct Poller<S> {
    source: Arc<S>,
    /// The credential's polling budget: each check waits for its turn.
    budget: Arc<PollBudget>,
    hints: Arc<AttemptHints>,
    health: Arc<DeliveryHealth>,
    membership: Membership<PollerKey, watch::Sender<AttemptView>>,
}

impl<S: AttemptSource> Poller<S> {
    async fn run(self, first_check: Duration, schedule: PollSchedule) {
        metrics::attempt_pollers(1.0);
        self.poll(first_check, schedule).await;
        metrics::attempt_pollers(-1.0);
    }

    async fn poll(self, first_check: Duration, schedule: PollSchedule) {
        let mut delays = schedule.delays();
        if !first_check.is_zero() {
            // The first check already waited `initial`; the next waits initial × multiplier.
            delays.next();
        }
        let mut next_check = first_check;
        let started = tokio::time::Instant::now();
        let mut last_checked = None;
        let hint = self.hints.listen(&self.membership.key.1);
        loop {
            // While webhook deliveries arrive, a check waits at least the
            // safety interval, unless a delivery names this attempt. A first
            // read with no snapshot yet (WatchActionAttempt) is not delayed.
            let wait = if next_check.is_zero() {
                next_check
            } else {
                next_check.max(self.health.poll_floor())
            };
            let turn = async {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = hint.notify.notified() => metrics::webhook_attempt_hint(),
                }
                self.budget.turn(PollPriority::attempt(started, last_checked)).await;
            };
            tokio::select! {
                () = turn => {}
                _ = self.membership.sender.closed() => {
                    if self.membership.leave_if_unwatched(|sender| sender.receiver_count() > 0) {
                        return;
                    }
                    // Someone subscribed while the last one left: keep going.
                    continue;
                }
            }
            let (credential, attempt_id) = &self.membership.key;
            last_checked = Some(tokio::time::Instant::now());
            match self.source.fetch(credential, attempt_id).await {
                Ok(answer) => {
                    let attempt = pb::ActionAttempt::from(answer.body);
                    let completed = is_completed(&attempt);
                    // Watchers are woken for a new status (or the end of an
                    // outage) only: a check that finds the attempt still
                    // pending would otherwise wake every one of thousands of
                    // streams each second for nothing. The newest snapshot is
                    // stored all the same.
                    self.membership.sender.send_if_modified(|view| {
                        let status_changed = view.attempt.as_ref().map(|a| a.status) != Some(attempt.status);
                        let outage_ended = view.outage.take().is_some();
                        view.attempt = Some(attempt);
                        status_changed || outage_ended
                    });
                    if completed {
                        self.membership.leave();
                        return;
                    }
                    next_check = delays.next_delay();
                }
                Err(error) if error.is_transient() => {
                    next_check = delays.after_failure(&error);
                    // Woken when an outage begins, not at every failed retry.
                    self.membership
                        .sender
                        .send_if_modified(|view| view.outage.replace(error).is_none());
                }
                Err(error) => {
                    self.membership.sender.send_modify(|view| view.fatal = Some(error));
                    self.membership.leave();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::time::Instant;

    use super::*;
    use crate::seam::UpstreamFailure;

    /// Answers from a script, one entry per check (the last one repeats), and
    /// records when each check happened.
    struct ScriptedSource {
        answers: Vec<&'static str>,
        checks: Mutex<Vec<Instant>>,
        count: AtomicUsize,
    }

    impl ScriptedSource {
        fn new(answers: Vec<&'static str>) -> Arc<Self> {
            Arc::new(Self {
                answers,
                checks: Mutex::default(),
                count: AtomicUsize::new(0),
            })
        }

        fn check_times(&self) -> Vec<Instant> {
            self.checks.lock().unwrap().clone()
        }
    }

    impl AttemptSource for ScriptedSource {
        fn fetch(
            &self,
            _credential: &Credential,
            attempt_id: &str,
        ) -> impl Future<Output = Result<Upstreamed<model::ActionAttempt>, UpstreamError>> + Send {
            self.checks.lock().unwrap().push(Instant::now());
            let n = self.count.fetch_add(1, Ordering::SeqCst);
            let answer = self.answers[n.min(self.answers.len() - 1)];
            let result = match answer {
                "outage" => Err(UpstreamError {
                    failure: Box::new(UpstreamFailure::Status {
                        http_status: 503,
                        retry_after: None,
                    }),
                    request_id: None,
                    path: "/action_attempts/get",
                }),
                "not_found" => Err(UpstreamError {
                    failure: Box::new(UpstreamFailure::Api {
                        http_status: 404,
                        error_type: "action_attempt_not_found".into(),
                        message: "not found".into(),
                        validation_errors: None,
                        retry_after: None,
                    }),
                    request_id: None,
                    path: "/action_attempts/get",
                }),
                status => Ok(Upstreamed {
                    body: serde_json::from_str(
                        &serde_json::json!({
                            "action_attempt_id": attempt_id, "action_type": "LOCK_DOOR", "status": status,
                        })
                        .to_string(),
                    )
                    .unwrap(),
                    request_id: None,
                }),
            };
            std::future::ready(result)
        }
    }

    const SCHEDULE: PollSchedule = PollSchedule {
        initial: Duration::from_millis(50),
        multiplier: 2.0,
        max: Duration::from_millis(400),
    };

    fn credential() -> Credential {
        Credential::new("seam_test_key", None)
    }

    fn pending_snapshot() -> pb::ActionAttempt {
        pb::ActionAttempt {
            action_attempt_id: "a1".into(),
            status: AttemptStatus::Pending.into(),
            ..Default::default()
        }
    }

    async fn wait_final(receiver: &mut watch::Receiver<AttemptView>) -> AttemptView {
        receiver
            .wait_for(AttemptView::is_final)
            .await
            .map(|view| view.clone())
            .unwrap_or_else(|_| receiver.borrow().clone())
    }

    #[test]
    fn delays_grow_to_the_cap() {
        let delays: Vec<u64> = SCHEDULE.delays().take(6).map(|d| d.as_millis() as u64).collect();
        assert_eq!(delays, [50, 100, 200, 400, 400, 400]);
    }

    #[tokio::test(start_paused = true)]
    async fn first_check_follows_acceptance_then_backs_off() {
        let source = ScriptedSource::new(vec!["pending", "pending", "pending", "pending", "success"]);
        let watcher = AttemptWatcher::new(source.clone(), SCHEDULE, Arc::new(PollBudgets::new(1000.0)));
        let start = Instant::now();
        let mut receiver = watcher.watch(&credential(), "a1", Some(pending_snapshot()));
        let view = wait_final(&mut receiver).await;
        assert_eq!(view.attempt.unwrap().status(), AttemptStatus::Success);
        let offsets: Vec<u128> = source.check_times().iter().map(|t| (*t - start).as_millis()).collect();
        // 50 after acceptance, then +100, +200, +400 and the cap, +400.
        assert_eq!(offsets, [50, 150, 350, 750, 1150]);
        assert_eq!(
            watcher.active_pollers(),
            0,
            "the poller retires once the attempt completed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_known_snapshot_the_first_check_is_immediate() {
        let source = ScriptedSource::new(vec!["pending", "pending", "success"]);
        let watcher = AttemptWatcher::new(source.clone(), SCHEDULE, Arc::new(PollBudgets::new(1000.0)));
        let start = Instant::now();
        let mut receiver = watcher.watch(&credential(), "a1", None);
        wait_final(&mut receiver).await;
        let offsets: Vec<u128> = source.check_times().iter().map(|t| (*t - start).as_millis()).collect();
        assert_eq!(offsets, [0, 50, 150]);
    }

    #[tokio::test(start_paused = true)]
    async fn many_watchers_share_one_poller() {
        let source = ScriptedSource::new(vec!["pending", "pending", "pending", "success"]);
        let watcher = AttemptWatcher::new(source.clone(), SCHEDULE, Arc::new(PollBudgets::new(1000.0)));
        let mut receivers: Vec<_> = (0..100).map(|_| watcher.watch(&credential(), "a1", None)).collect();
        assert_eq!(watcher.active_pollers(), 1);
        for receiver in &mut receivers {
            let view = wait_final(receiver).await;
            assert_eq!(view.attempt.unwrap().status(), AttemptStatus::Success);
        }
        assert_eq!(
            source.check_times().len(),
            4,
            "one check per tick, whatever the number of watchers"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn polling_stops_when_the_last_watcher_leaves() {
        let source = ScriptedSource::new(vec!["pending"]);
        let watcher = AttemptWatcher::new(source.clone(), SCHEDULE, Arc::new(PollBudgets::new(1000.0)));
        let first = watcher.watch(&credential(), "a1", None);
        let second = watcher.watch(&credential(), "a1", None);
        tokio::time::sleep(Duration::from_millis(120)).await;
        drop(first);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let checks_with_one_watcher = source.check_times().len();
        assert!(checks_with_one_watcher >= 3);
        drop(second);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(watcher.active_pollers(), 0);
        let checks_when_left = source.check_times().len();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(
            source.check_times().len(),
            checks_when_left,
            "no check after the last watcher left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn watchers_are_woken_by_a_new_status_only() {
        let source = ScriptedSource::new(vec!["pending", "pending", "pending", "success"]);
        let watcher = AttemptWatcher::new(source.clone(), SCHEDULE, Arc::new(PollBudgets::new(1000.0)));
        let mut receiver = watcher.watch(&credential(), "a1", Some(pending_snapshot()));
        receiver.borrow_and_update();
        // Checks at 50, 150 and 350 ms all find it pending.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(source.check_times().len(), 3);
        assert!(!receiver.has_changed().unwrap(), "no wake-up for the same status");
        let view = wait_final(&mut receiver).await;
        assert_eq!(view.attempt.unwrap().status(), AttemptStatus::Success);
    }

    #[tokio::test(start_paused = true)]
    async fn outages_are_retried_and_reported_until_seam_answers() {
        let source = ScriptedSource::new(vec!["outage", "outage", "success"]);
        let watcher = AttemptWatcher::new(source.clone(), SCHEDULE, Arc::new(PollBudgets::new(1000.0)));
        let mut receiver = watcher.watch(&credential(), "a1", None);
        let during = receiver.wait_for(|view| view.outage.is_some()).await.unwrap().clone();
        assert!(during.attempt.is_none() && !during.is_final());
        let view = wait_final(&mut receiver).await;
        assert!(view.outage.is_none(), "cleared by the successful check");
        assert_eq!(view.attempt.unwrap().status(), AttemptStatus::Success);
        assert_eq!(source.check_times().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_failure_ends_polling() {
        let source = ScriptedSource::new(vec!["not_found"]);
        let watcher = AttemptWatcher::new(source.clone(), SCHEDULE, Arc::new(PollBudgets::new(1000.0)));
        let mut receiver = watcher.watch(&credential(), "a1", None);
        let view = wait_final(&mut receiver).await;
        assert!(view.fatal.is_some());
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(source.check_times().len(), 1);
        assert_eq!(watcher.active_pollers(), 0);
    }
}
