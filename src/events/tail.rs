//! One `/events/list` tail per credential, shared by every WatchEvents caller
//! of that credential: Seam is polled once per interval however many callers
//! watch, and the tail stops when nobody watches any more. Events pushed by
//! Seam's webhooks join the same channel; each event is given to watchers
//! once, whichever way it came first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use prost_types::Timestamp;
use tokio::sync::{broadcast, watch};

use crate::events::order::{Position, earlier_by};
use crate::observe::metrics;
use crate::pb;
use crate::polling::backoff::Backoff;
use crate::polling::budget::{PollBudget, PollBudgets, PollPriority};
use crate::polling::shared_producers::{Membership, Producers};
use crate::seam::{Credential, EventQuery, EventRange, SeamClient, UpstreamError};
use crate::webhooks::delivery_health::DeliveryHealth;
use crate::webhooks::recent_ids::RecentIds;

/// How far back each poll looks behind the newest event seen, so that an
/// event Seam lists a little late (with an earlier `created_at`) is still found.
const OVERLAP: Duration = Duration::from_secs(10);
/// The longest wait between polls while Seam is failing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Events held for callers whose stream task has not taken them yet.
const TAIL_CAPACITY: usize = 4096;
/// Event ids remembered per tail so that an event pushed by webhook is not
/// given again when the poll lists it (and the reverse): far more than the
/// events of one overlap window.
const DELIVERED_MEMORY: usize = 16_384;

/// What a tail tells its watchers.
#[derive(Debug, Clone)]
pub enum TailMessage {
    /// An event the tail had not seen before.
    Event(Arc<pb::Event>),
    /// Seam refused the tail (bad credential …); the tail has stopped.
    Failed(Arc<UpstreamError>),
}

/// What a tail's watchers subscribe to, and what pushes into it.
#[derive(Debug)]
pub struct TailChannel {
    events: broadcast::Sender<TailMessage>,
    /// The events given to watchers, by id, whichever way they came.
    delivered: Mutex<RecentIds>,
}

impl TailChannel {
    fn new() -> (Self, broadcast::Receiver<TailMessage>) {
        let (events, receiver) = broadcast::channel(TAIL_CAPACITY);
        let channel = Self {
            events,
            delivered: Mutex::new(RecentIds::new(DELIVERED_MEMORY)),
        };
        (channel, receiver)
    }

    /// Gives `event` to the watchers unless it was given already; false then.
    fn offer(&self, event: pb::Event) -> bool {
        let mut delivered = self.delivered.lock().unwrap_or_else(|poison| poison.into_inner());
        if !delivered.insert(&event.event_id) {
            return false;
        }
        // Sent under the lock: the webhook and the poll cannot both send it.
        // No receiver right now is fine: the next tick retires the tail.
        let _ = self.events.send(TailMessage::Event(Arc::new(event)));
        true
    }
}

type Tails = Producers<Credential, TailChannel>;

#[derive(Debug)]
pub struct EventTails {
    seam: SeamClient,
    interval: Duration,
    tails: Tails,
    /// Turns true when the gateway shuts down: tails stop, even mid-backoff.
    stopping: watch::Receiver<bool>,
    budgets: Arc<PollBudgets>,
    /// While webhook deliveries arrive, tails poll at the safety interval.
    health: Arc<DeliveryHealth>,
}

impl EventTails {
    pub fn new(
        seam: SeamClient,
        interval: Duration,
        stopping: watch::Receiver<bool>,
        budgets: Arc<PollBudgets>,
    ) -> Self {
        Self {
            seam,
            interval,
            tails: Tails::default(),
            stopping,
            budgets,
            health: Arc::new(DeliveryHealth::never()),
        }
    }

    /// Tails that poll at the safety interval while `health` says deliveries arrive.
    pub fn with_webhooks(mut self, health: Arc<DeliveryHealth>) -> Self {
        self.health = health;
        self
    }

    /// An event Seam pushed (webhook) for `credential`'s workspace: given at
    /// once to the tail's watchers unless the tail gave it already. Without
    /// watchers there is no tail and nothing to give; false then.
    pub fn push(&self, credential: &Credential, event: pb::Event) -> bool {
        self.tails.get(credential).is_some_and(|channel| channel.offer(event))
    }

    /// Every event the credential's tail finds from now on.
    pub fn subscribe(&self, credential: &Credential) -> broadcast::Receiver<TailMessage> {
        let (receiver, started) = self
            .tails
            .join(credential, |channel| channel.events.subscribe(), TailChannel::new);
        if let Some(membership) = started {
            let tail = Tail {
                seam: self.seam.clone(),
                interval: self.interval,
                budget: self.budgets.of(credential),
                membership,
                stopping: self.stopping.clone(),
                health: self.health.clone(),
            };
            tokio::spawn(tail.run());
        }
        receiver
    }
}

struct Tail {
    seam: SeamClient,
    interval: Duration,
    membership: Membership<Credential, TailChannel>,
    stopping: watch::Receiver<bool>,
    /// The credential's polling budget, shared with its attempt pollers.
    budget: Arc<PollBudget>,
    health: Arc<DeliveryHealth>,
}

impl Tail {
    async fn run(self) {
        metrics::event_tails(1.0);
        self.follow().await;
        metrics::event_tails(-1.0);
    }

    async fn follow(self) {
        let mut watermark = earlier_by(&Timestamp::from(SystemTime::now()), OVERLAP);
        // Events this tail listed whose time is still inside the overlap (the
        // watermark follows polled events only: a pushed event must not move
        // it past events Seam has not listed yet).
        let mut seen: HashMap<String, Position> = HashMap::new();
        let mut next_poll = Duration::ZERO;
        // While Seam fails: twice the interval, doubling up to MAX_BACKOFF.
        let mut retries = Backoff::doubling(self.interval.saturating_mul(2), MAX_BACKOFF).delays();
        let mut last_polled = tokio::time::Instant::now();
        loop {
            let mut stopping = self.stopping.clone();
            let turn = async {
                tokio::time::sleep(next_poll).await;
                self.budget.turn(PollPriority::tail(last_polled)).await;
            };
            tokio::select! {
                () = turn => {}
                _ = stopping.wait_for(|stopping| *stopping) => {
                    self.membership.leave();
                    return;
                }
            }
            if self
                .membership
                .leave_if_unwatched(|channel| channel.events.receiver_count() > 0)
            {
                return;
            }
            let query = EventQuery {
                range: EventRange::Since(watermark.to_string()),
                device_ids: Vec::new(),
                event_types: Vec::new(),
            };
            last_polled = tokio::time::Instant::now();
            match self.seam.list_events(&self.membership.key, &query).await {
                Ok(answer) => {
                    retries.reset();
                    next_poll = self.interval.max(self.health.poll_floor());
                    let mut fresh: Vec<pb::Event> = answer
                        .body
                        .into_iter()
                        .map(pb::Event::from)
                        .filter(|event| !seen.contains_key(&event.event_id))
                        .collect();
                    fresh.sort_by_cached_key(Position::of);
                    for event in fresh {
                        seen.insert(event.event_id.clone(), Position::of(&event));
                        self.membership.sender.offer(event);
                    }
                    if let Some(newest) = seen.values().max() {
                        let candidate = earlier_by(&newest.time(), OVERLAP);
                        if (candidate.seconds, candidate.nanos) > (watermark.seconds, watermark.nanos) {
                            watermark = candidate;
                        }
                    }
                    let kept_from = Position::at(&watermark);
                    seen.retain(|_, position| *position >= kept_from);
                }
                Err(error) if error.is_transient() => {
                    next_poll = retries.after_failure(&error);
                    tracing::warn!(error = %error, retry_in = ?next_poll, "event tail: Seam failed; retrying");
                }
                Err(error) => {
                    tracing::warn!(error = %error, "event tail: Seam refused; ending the watchers' streams");
                    let _ = self.membership.sender.events.send(TailMessage::Failed(Arc::new(error)));
                    self.membership.leave();
                    return;
                }
            }
        }
    }
}
