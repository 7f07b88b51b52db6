//! Whether Seam's deliveries are arriving. While they are (a verified
//! delivery less than `--webhook-live-for` ago, a test delivery included),
//! pushes carry confirmations and events, and polling is only the safety net:
//! attempt pollers and event tails wait at least `--webhook-safety-poll-interval`
//! between checks. When deliveries stop, polling returns to its normal
//! schedule. Both changes are logged and exported
//! (`seam_gateway_webhook_deliveries_live`).

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::observe::metrics;

#[derive(Debug)]
pub struct DeliveryHealth {
    live_for: Duration,
    safety_interval: Duration,
    last_delivery: Mutex<Option<Instant>>,
    delivered: Notify,
    /// The state `report_changes` last reported (logged and exported).
    reported: watch::Sender<bool>,
}

impl DeliveryHealth {
    pub fn new(live_for: Duration, safety_interval: Duration) -> Self {
        Self {
            live_for,
            safety_interval,
            last_delivery: Mutex::new(None),
            delivered: Notify::new(),
            reported: watch::Sender::new(false),
        }
    }

    /// Without webhooks: never live, polling keeps its schedule.
    pub fn never() -> Self {
        Self::new(Duration::ZERO, Duration::ZERO)
    }

    /// A verified delivery arrived.
    pub fn delivered(&self) {
        *self.lock() = Some(Instant::now());
        self.delivered.notify_one();
    }

    /// Whether deliveries are arriving now.
    pub fn is_live(&self) -> bool {
        self.lock()
            .is_some_and(|last| !self.live_for.is_zero() && last.elapsed() < self.live_for)
    }

    /// The least wait between two polls: the safety interval while deliveries
    /// arrive, nothing otherwise.
    pub fn poll_floor(&self) -> Duration {
        if self.is_live() {
            self.safety_interval
        } else {
            Duration::ZERO
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.last_delivery.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Logs and exports each change of state, until shutdown.
    pub async fn report_changes(&self, mut stopping: watch::Receiver<bool>) {
        loop {
            if until_shutdown(&mut stopping, self.delivered.notified()).await.is_none() {
                return;
            }
            // A wake-up stored by a delivery of the live period just ended.
            if !self.is_live() {
                continue;
            }
            tracing::info!(
                safety_poll_interval = ?self.safety_interval,
                "webhook deliveries arriving: polling slows to the safety schedule"
            );
            metrics::webhook_deliveries_live(true);
            self.reported.send_replace(true);
            // Until no delivery came for `live_for`.
            loop {
                let last = self.lock().unwrap_or_else(Instant::now);
                let expiry = last + self.live_for;
                if until_shutdown(&mut stopping, tokio::time::sleep_until(expiry))
                    .await
                    .is_none()
                {
                    return;
                }
                if !self.is_live() {
                    break;
                }
            }
            tracing::warn!(
                live_for = ?self.live_for,
                "no webhook delivery for a while: polling returns to its normal schedule"
            );
            metrics::webhook_deliveries_live(false);
            self.reported.send_replace(false);
        }
    }
}

/// What `wait` gives, or `None` once shutdown began.
async fn until_shutdown<T>(stopping: &mut watch::Receiver<bool>, wait: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        outcome = wait => Some(outcome),
        _ = stopping.wait_for(|stopping| *stopping) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deliveries_keep_the_safety_floor_until_they_stop() {
        let health = DeliveryHealth::new(Duration::from_secs(600), Duration::from_secs(30));
        assert_eq!(health.poll_floor(), Duration::ZERO, "no delivery yet");
        health.delivered();
        assert_eq!(health.poll_floor(), Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(599)).await;
        assert!(health.is_live());
        health.delivered();
        tokio::time::advance(Duration::from_secs(599)).await;
        assert!(health.is_live(), "each delivery extends the window");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!health.is_live());
        assert_eq!(health.poll_floor(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_state_is_reported_when_deliveries_start_and_when_they_stop() {
        let health = Arc::new(DeliveryHealth::new(Duration::from_secs(600), Duration::from_secs(30)));
        let mut reported = health.reported.subscribe();
        let (_stop, stopping) = watch::channel(false);
        tokio::spawn({
            let health = health.clone();
            async move { health.report_changes(stopping).await }
        });
        health.delivered();
        reported.wait_for(|live| *live).await.unwrap();
        let start = Instant::now();
        // More deliveries in the window keep it live, and leave wake-ups behind.
        tokio::time::sleep(Duration::from_secs(300)).await;
        health.delivered();
        health.delivered();
        reported.wait_for(|live| !*live).await.unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(900),
            "600 s after the last delivery"
        );
        // The wake-ups left by the live period do not report it live again.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!*reported.borrow(), "no delivery, not live");
        assert!(!reported.has_changed().unwrap());
    }

    #[test]
    fn without_webhooks_polling_is_never_slowed() {
        let health = DeliveryHealth::never();
        health.delivered();
        assert_eq!(health.poll_floor(), Duration::ZERO);
    }
}
