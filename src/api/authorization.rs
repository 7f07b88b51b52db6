//! Every call of the API decided by the policies (`--policy`,
//! `policy::policy_set`): commands and single reads on the device they read,
//! lists filtered item by item. Without `--policy` everything is allowed.

use crate::api::error::{ErrorKind, GatewayError};
use crate::api::gateway::Gateway;
use crate::identity::caller::Caller;
use crate::policy::device_entity::DeviceFacts;
use crate::seam::model::DeviceFields;

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
    /// Allowed, or PERMISSION_DENIED (`POLICY_DENIED`) naming the caller, the
    /// action and the device.
    pub(crate) fn authorize(
        &self,
        caller: &Caller,
        action: &'static str,
        device: &DeviceFields,
    ) -> Result<(), GatewayError> {
        if self.may(caller, action, device) {
            return Ok(());
        }
        Err(GatewayError::new(ErrorKind::PolicyDenied {
            caller: caller.principal.to_string(),
            action,
            device_id: device.device_id.clone(),
        }))
    }

    /// Whether the policies allow `caller` `action` on `device` (list filtering).
    pub(crate) fn may(&self, caller: &Caller, action: &'static str, device: &DeviceFields) -> bool {
        let Some(policy) = &self.policy else {
            return true;
        };
        let decision = policy.decide(caller, action, &DeviceFacts::from(device), jiff::Timestamp::now());
        if !decision.allowed {
            tracing::debug!(caller = %caller.principal.escape_debug(), action, device_id = %device.device_id.escape_debug(), "denied by the policies");
        }
        decision.allowed
    }

    /// RPCs not yet decided device by device: refused under `--policy`.
    pub(crate) fn refuse_undecided(&self, action: &'static str) -> Result<(), GatewayError> {
        if self.policy.is_some() {
            return Err(GatewayError::new(ErrorKind::PolicyNotApplicable { action }));
        }
        Ok(())
    }
}
