//! One upstream budget per Seam credential for background polling: attempt
//! pollers and event tails together spend at most `--max-polls-per-second`
//! requests of a credential. Seam rate-limits a workspace, and its 429s would
//! otherwise refuse the commands too. Commands and unary reads never ask this
//! budget: they are the caller's, and must not wait behind polls.
//!
//! When more polls wait than the budget covers, they go in a fair order:
//! the first checks of an attempt (those of its first seconds, when most
//! actions complete and its caller waits with nothing in hand) before later
//! ones; among equals, the one checked least recently first. "First" is by
//! the attempt's age, not by how often it was checked: under a tight budget
//! an old attempt is checked rarely, and must not pass for a new one.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::observe::metrics;
use crate::seam::Credential;

/// How long an attempt's checks count as its "first" ones: with the default
/// schedule, six checks.
const FIRST_CHECKS_FOR: Duration = Duration::from_millis(2500);

/// Where a poll stands in the queue: lower goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PollPriority {
    /// 0 for an attempt's very first check, 1 for its other first checks,
    /// 2 for later ones and event tails.
    tier: u8,
    /// When the poller last checked (or started): the oldest goes first.
    since: Instant,
}

impl PollPriority {
    /// An attempt poller that started at `started` and last checked at
    /// `since` (`None`: never yet).
    pub fn attempt(started: Instant, since: Option<Instant>) -> Self {
        let tier = match since {
            None => 0,
            Some(_) if started.elapsed() < FIRST_CHECKS_FOR => 1,
            Some(_) => 2,
        };
        Self {
            tier,
            since: since.unwrap_or(started),
        }
    }

    /// An event tail that last polled at `since`.
    pub fn tail(since: Instant) -> Self {
        Self { tier: 2, since }
    }
}

/// The budgets of every credential that polls now.
#[derive(Debug)]
pub struct PollBudgets {
    per_second: f64,
    budgets: Mutex<HashMap<Credential, Weak<PollBudget>>>,
}

impl PollBudgets {
    pub fn new(per_second: f64) -> Self {
        Self {
            per_second,
            budgets: Mutex::default(),
        }
    }

    /// The budget of `credential`, shared while anyone holds it.
    pub fn of(&self, credential: &Credential) -> Arc<PollBudget> {
        let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(budget) = budgets.get(credential).and_then(Weak::upgrade) {
            return budget;
        }
        budgets.retain(|_, budget| budget.strong_count() > 0);
        let budget = PollBudget::start(self.per_second);
        budgets.insert(credential.clone(), Arc::downgrade(&budget));
        budget
    }
}

/// One credential's budget: a token bucket of `per_second` polls, at most one
/// second's worth saved up, handed out by priority.
#[derive(Debug)]
pub struct PollBudget {
    queue: Mutex<Queue>,
    arrived: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: BinaryHeap<Reverse<(PollPriority, u64)>>,
    grants: HashMap<u64, oneshot::Sender<()>>,
    next_ticket: u64,
}

impl PollBudget {
    fn start(per_second: f64) -> Arc<Self> {
        let budget = Arc::new(Self {
            queue: Mutex::default(),
            arrived: Notify::new(),
        });
        tokio::spawn(hand_out(Arc::downgrade(&budget), per_second));
        budget
    }

    /// Waits for this poll's turn. Dropping the future gives the place up.
    pub async fn turn(&self, priority: PollPriority) {
        let (granted, grant) = oneshot::channel();
        {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.waiting.push(Reverse((priority, ticket)));
            queue.grants.insert(ticket, granted);
        }
        self.arrived.notify_one();
        let _waiting = Waiting::start();
        // The sender is only dropped with the budget, which this caller holds.
        let _ = grant.await;
    }

    /// Hands the next turn to the best waiter still waiting; false if none.
    fn grant_next(&self) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(Reverse((_, ticket))) = queue.waiting.pop() {
            if let Some(granted) = queue.grants.remove(&ticket)
                && granted.send(()).is_ok()
            {
                metrics::poll_granted();
                return true;
            }
        }
        false
    }

    fn has_waiters(&self) -> bool {
        !self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting
            .is_empty()
    }
}

/// A poll waiting for its turn, in the `seam_gateway_polling_budget_waiting` gauge.
struct Waiting;

impl Waiting {
    fn start() -> Self {
        metrics::polls_waiting(1.0);
        Self
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::polls_waiting(-1.0);
    }
}

/// The budget's dispenser: one turn per token, while the budget is alive.
async fn hand_out(budget: Weak<PollBudget>, per_second: f64) {
    let interval = Duration::from_secs_f64(1.0 / per_second.max(f64::MIN_POSITIVE)).max(Duration::from_micros(1));
    let burst = per_second.max(1.0);
    let mut tokens = burst;
    let mut refilled = Instant::now();
    loop {
        let Some(strong) = budget.upgrade() else { return };
        if !strong.has_waiters() {
            // Wakes for a waiter, or now and then to notice the budget is gone.
            let _ = tokio::time::timeout(Duration::from_secs(1), strong.arrived.notified()).await;
            continue;
        }
        let now = Instant::now();
        tokens = (tokens + now.duration_since(refilled).as_secs_f64() * per_second).min(burst);
        refilled = now;
        if tokens >= 1.0 {
            if strong.grant_next() {
                tokens -= 1.0;
            }
            continue;
        }
        drop(strong);
        tokio::time::sleep(interval.mul_f64(1.0 - tokens)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential() -> Credential {
        Credential::new("seam_test_key", None)
    }

    #[tokio::test(start_paused = true)]
    async fn polls_are_spread_to_the_rate() {
        let budgets = PollBudgets::new(10.0);
        let budget = budgets.of(&credential());
        let granted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Instant::now();
        for _ in 0..100 {
            let budget = budget.clone();
            let granted = granted.clone();
            tokio::spawn(async move {
                budget.turn(PollPriority::tail(start)).await;
                granted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        tokio::time::sleep(Duration::from_millis(2050)).await;
        let in_two_seconds = granted.load(std::sync::atomic::Ordering::SeqCst);
        // One second's worth at once, then ten a second.
        assert!((29..=31).contains(&in_two_seconds), "{in_two_seconds} polls in 2 s");
    }

    #[tokio::test(start_paused = true)]
    async fn new_attempts_go_first_then_the_least_recently_checked() {
        let budgets = PollBudgets::new(1.0);
        let budget = budgets.of(&credential());
        // Use up the saved token so that everything below queues.
        budget.turn(PollPriority::tail(Instant::now())).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        tokio::time::sleep(Duration::from_secs(10)).await;
        let now = Instant::now();
        let long_ago = now - Duration::from_secs(9);
        let a_while_ago = now - Duration::from_secs(2);
        let entries = [
            (
                "old attempt, checked recently",
                PollPriority::attempt(long_ago, Some(now)),
            ),
            (
                "old attempt, checked long ago",
                PollPriority::attempt(long_ago, Some(long_ago)),
            ),
            (
                "new attempt, second check",
                PollPriority::attempt(a_while_ago, Some(now)),
            ),
            ("new attempt, first check", PollPriority::attempt(now, None)),
        ];
        for (name, priority) in entries {
            let budget = budget.clone();
            let order = order.clone();
            tokio::spawn(async move {
                budget.turn(priority).await;
                order.lock().unwrap().push(name);
            });
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            *order.lock().unwrap(),
            [
                "new attempt, first check",
                "new attempt, second check",
                "old attempt, checked long ago",
                "old attempt, checked recently"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_poller_that_leaves_does_not_spend_a_turn() {
        let budgets = PollBudgets::new(1.0);
        let budget = budgets.of(&credential());
        budget.turn(PollPriority::tail(Instant::now())).await;
        let gone = tokio::spawn({
            let budget = budget.clone();
            async move { budget.turn(PollPriority::attempt(Instant::now(), None)).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        gone.abort();
        let start = Instant::now();
        budget.turn(PollPriority::tail(Instant::now())).await;
        assert!(start.elapsed() <= Duration::from_millis(1001), "{:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn credentials_have_budgets_of_their_own() {
        let budgets = PollBudgets::new(1.0);
        let mine = budgets.of(&credential());
        let theirs = budgets.of(&Credential::new("seam_other_key", None));
        mine.turn(PollPriority::tail(Instant::now())).await;
        let start = Instant::now();
        theirs.turn(PollPriority::tail(Instant::now())).await;
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the other credential's token was not spent"
        );
        assert!(Arc::ptr_eq(&mine, &budgets.of(&credential())), "shared while held");
    }
}
