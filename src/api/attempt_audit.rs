//! The audit records after a command's decision: `sent` (Seam accepted it,
//! with its `action_attempt_id`), `command_failed` (it did not), and one when
//! its stream ends: `success` / `error` (the attempt's final status),
//! `still_pending` (the wait budget ran out), `unobservable` (Seam stayed
//! unreachable), `shutting_down`, or `caller_left` (the caller closed the
//! stream first; the attempt goes on at Seam). Written in the background: the
//! decision record is the one that must be on disk before the command goes.

use std::sync::Arc;

use crate::audit::record::AuditRecord;
use crate::audit::trail::AuditTrail;

/// A command's audit, carried by its stream.
pub(crate) struct CommandAudit {
    pub trail: Arc<AuditTrail>,
    /// The command's fields (caller, RPC, device, request id, attempt id).
    pub record: AuditRecord,
}

impl CommandAudit {
    /// Seam did not accept the command.
    pub fn after_command_failed(self) {
        self.write("command_failed", None);
    }

    /// Seam accepted the command: `sent`, and the attempt to follow.
    pub fn sent(mut self, attempt_id: &str, seam_request_id: Option<&str>) -> Self {
        self.record.action_attempt_id = Some(attempt_id.to_owned());
        self.record.seam_request_id = seam_request_id.map(str::to_owned);
        let mut sent = self.record.clone();
        sent.time = jiff::Timestamp::now().to_string();
        sent.outcome = "sent";
        self.trail.record_later(sent);
        self
    }

    /// The stream ended with `outcome` and the gRPC code the caller got.
    pub fn finish(self, outcome: &'static str, grpc_code: &'static str) {
        self.write(outcome, Some(grpc_code));
    }

    fn write(mut self, outcome: &'static str, grpc_code: Option<&'static str>) {
        self.record.time = jiff::Timestamp::now().to_string();
        self.record.outcome = outcome;
        self.record.grpc_code = grpc_code;
        self.trail.record_later(self.record);
    }
}
