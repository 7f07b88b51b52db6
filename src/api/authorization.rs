//! Every call of the API decided by the policies (`--policy`,
//! `policy::policy_set`): commands and single reads on the device they read,
//! lists filtered item by item. Without `--policy` everything is allowed.
//! Denied reads are audited here; command decisions in `locks`, before the
//! command is sent.

use std::collections::HashSet;

use crate::api::error::{ErrorKind, GatewayError};
use crate::api::gateway::Gateway;
use crate::audit::record::AuditRecord;
use crate::identity::caller::Caller;
use crate::policy::device_entity::DeviceFacts;
use crate::policy::policy_set::PolicyDecision;
use crate::seam::model::DeviceFields;
use crate::seam::{Credential, DeviceQuery};

/// Device ids per `/devices/list` call when deciding the events of a list.
const DEVICES_PER_LOOKUP: usize = 500;

/// The caller of a call, as the layer stack decided it (anonymous for calls
/// that did not pass it: the gateway's own tests of handlers).
pub(crate) fn caller_of<T>(request: &tonic::Request<T>) -> Caller {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_else(Caller::anonymous)
}

impl Gateway {
    /// A read allowed, or PERMISSION_DENIED (`POLICY_DENIED`) naming the
    /// caller, the action and the device (and audited).
    pub(crate) fn authorize(
        &self,
        caller: &Caller,
        action: &'static str,
        device: &DeviceFields,
    ) -> Result<(), GatewayError> {
        let decision = self.decide(caller, action, device);
        if decision.allowed {
            return Ok(());
        }
        if let Some(audit) = &self.audit {
            let mut record = AuditRecord::new(caller, action, "denied");
            record.device_id = Some(device.device_id.clone());
            record.policy_ids = decision.policy_ids;
            record.grpc_code = Some("PERMISSION_DENIED");
            audit.record_later(record);
        }
        Err(policy_denied(caller, action, &device.device_id))
    }

    /// Whether the policies allow `caller` `action` on `device` (list filtering).
    pub(crate) fn may(&self, caller: &Caller, action: &'static str, device: &DeviceFields) -> bool {
        self.decide(caller, action, device).allowed
    }

    /// The policies' decision; allowed, by no policy, when there are none.
    pub(crate) fn decide(&self, caller: &Caller, action: &'static str, device: &DeviceFields) -> PolicyDecision {
        let Some(policy) = &self.policy else {
            return PolicyDecision {
                allowed: true,
                policy_ids: Vec::new(),
            };
        };
        let decision = policy.decide(caller, action, &DeviceFacts::from(device), jiff::Timestamp::now());
        crate::observe::metrics::policy_decision(action, decision.allowed);
        if !decision.allowed {
            tracing::debug!(caller = %caller.principal.escape_debug(), action, device_id = %device.device_id.escape_debug(), "denied by the policies");
        }
        decision
    }

    /// Under `--policy`, a read of something that belongs to a device (an
    /// event, an action attempt) decided as a read of that device: Seam's
    /// device is read for its facts. Without a device to decide on, refused.
    pub(crate) async fn authorize_on_device(
        &self,
        caller: &Caller,
        action: &'static str,
        credential: &Credential,
        device_id: Option<&str>,
    ) -> Result<(), GatewayError> {
        if self.policy.is_none() {
            return Ok(());
        }
        let Some(device_id) = device_id.filter(|id| !id.is_empty()) else {
            return self.refuse_undecided(caller, action);
        };
        let device = self.seam.get_device(credential, device_id).await;
        let device = device.map_err(|e| GatewayError::from(e).with("device_id", device_id))?;
        self.authorize(caller, action, &device.body.typed)
    }

    /// Under `--policy`, the devices among `device_ids` that `caller` may read
    /// by `action` (one `/devices/list` call per 500); `None` when everything
    /// may be read (no policies).
    pub(crate) async fn readable_devices(
        &self,
        caller: &Caller,
        action: &'static str,
        credential: &Credential,
        device_ids: HashSet<String>,
    ) -> Result<Option<HashSet<String>>, GatewayError> {
        if self.policy.is_none() {
            return Ok(None);
        }
        let ids: Vec<String> = device_ids.into_iter().collect();
        let mut readable = HashSet::new();
        for chunk in ids.chunks(DEVICES_PER_LOOKUP) {
            let query = DeviceQuery {
                device_ids: chunk.to_vec(),
                ..DeviceQuery::default()
            };
            let answer = self.seam.list_devices(credential, &query, chunk.len(), None).await?;
            for device in answer.body.0 {
                if self.may(caller, action, &device.typed) {
                    readable.insert(device.typed.device_id);
                }
            }
        }
        Ok(Some(readable))
    }

    /// RPCs not yet decided device by device: refused under `--policy`
    /// (and audited as denied reads).
    pub(crate) fn refuse_undecided(&self, caller: &Caller, action: &'static str) -> Result<(), GatewayError> {
        if self.policy.is_none() {
            return Ok(());
        }
        if let Some(audit) = &self.audit {
            let mut record = AuditRecord::new(caller, action, "denied");
            record.grpc_code = Some("PERMISSION_DENIED");
            audit.record_later(record);
        }
        Err(GatewayError::new(ErrorKind::PolicyNotApplicable { action }))
    }
}

/// PERMISSION_DENIED (`POLICY_DENIED`) naming the caller, the action and the device.
pub(crate) fn policy_denied(caller: &Caller, action: &'static str, device_id: &str) -> GatewayError {
    GatewayError::new(ErrorKind::PolicyDenied {
        caller: caller.principal.to_string(),
        action,
        device_id: device_id.to_owned(),
    })
}
