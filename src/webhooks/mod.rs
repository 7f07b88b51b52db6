//! Seam's webhooks (`--webhook-listen`, docs/webhooks.md): deliveries pushed
//! by Seam through Svix, verified (`signature`), acknowledged at once
//! (`intake`), and handed to WatchEvents callers and attempt pollers
//! (`dispatch`); while they arrive, polling is only the safety net
//! (`delivery_health`). `registration` is the `webhooks register` command.

pub mod delivery_health;
pub mod dispatch;
pub mod intake;
pub mod recent_ids;
pub mod registration;
pub mod signature;
