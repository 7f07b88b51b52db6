//! What a verified delivery does: its event goes to the WatchEvents callers
//! of the gateway's own credential (the workspace whose key registered the
//! webhook; callers' pass-through credentials keep their polled tails), and an
//! `action_attempt_id` in it wakes that attempt's poller, whichever
//! credential it polls with: the poller then reads the attempt from Seam.

use std::sync::Arc;

use crate::api::Gateway;
use crate::attempts::attempt_hints::AttemptHints;
use crate::pb;
use crate::seam::{Credential, model};

#[derive(Clone)]
pub struct Dispatch {
    pub gateway: Arc<Gateway>,
    pub hints: Arc<AttemptHints>,
    /// The gateway's own key (`SEAM_API_KEY`); none in pass-through mode.
    pub credential: Option<Credential>,
}

impl Dispatch {
    /// A delivery's body as a Seam event (`None`: not a JSON object).
    pub fn parse(body: &[u8]) -> Option<pb::Event> {
        let event: model::Event = serde_json::from_slice(body).ok()?;
        Some(pb::Event::from(event))
    }

    /// Hands `event` on.
    pub fn deliver(&self, event: pb::Event) {
        if !event.action_attempt_id.is_empty() {
            let running = self.hints.hint(&event.action_attempt_id);
            tracing::debug!(
                action_attempt_id = %event.action_attempt_id.escape_debug(),
                running,
                "webhook names an attempt: its poller checks Seam now"
            );
        }
        // A test delivery (no event id) proves the path and carries nothing.
        if event.event_id.is_empty() {
            return;
        }
        if let Some(credential) = &self.credential {
            self.gateway.event_tails.push(credential, event);
        }
    }
}
