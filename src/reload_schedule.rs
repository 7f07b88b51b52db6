//! When files the gateway was given are read again: every `interval` (they
//! may be rewritten in place, as cert-manager and kubelet do) and at once on
//! SIGHUP (the binary bumps a counter), until shutdown. Used for the TLS
//! files and the policy file.

use std::time::Duration;

use tokio::sync::watch;

/// Calls `reload` with why ("the file changed" or "SIGHUP") on each occasion.
pub async fn reload_until_shutdown(
    interval: Duration,
    mut reload_requests: watch::Receiver<u64>,
    mut stopping: watch::Receiver<bool>,
    reload: impl Fn(&'static str),
) {
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut signals_open = true;
    loop {
        tokio::select! {
            _ = ticks.tick() => reload("the file changed"),
            changed = reload_requests.changed(), if signals_open => match changed {
                Ok(()) => reload("SIGHUP"),
                Err(_) => signals_open = false,
            },
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
    }
}
