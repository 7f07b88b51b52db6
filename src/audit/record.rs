//! One audit record, with the field names of the operators' contract
//! (OPERATIONS_CONTRACT.md section 3). Absent values are left out, never
//! invented. Serialized as one JSON line: serde_json escapes every control
//! character, so a record is one line whatever its fields hold.

use serde::Serialize;

use crate::identity::caller::Caller;

#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// RFC 3339, UTC.
    pub time: String,
    pub caller: String,
    pub auth_method: &'static str,
    /// The full gRPC path, e.g. `/seam.v1.LockService/UnlockDoor`.
    pub rpc_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    pub authorized: bool,
    pub policy_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_attempt_id: Option<String>,
    /// `allowed`, `denied`, `sent`, `success`, `error`, `still_pending`,
    /// `failed_before_seam`, `command_failed`, `caller_left`, `unobservable`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seam_request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl AuditRecord {
    /// A record about `caller` calling the RPC `rpc` (e.g. `UnlockDoor`),
    /// now, in the current trace.
    pub fn new(caller: &Caller, rpc: &str, outcome: &'static str) -> Self {
        let labels = crate::observe::metrics::RpcLabels::of(rpc);
        Self {
            time: jiff::Timestamp::now().to_string(),
            caller: caller.principal.to_string(),
            auth_method: caller.auth_method.as_str(),
            rpc_method: format!("/{}/{}", labels.service(), labels.method()),
            device_id: None,
            authorized: false,
            policy_ids: Vec::new(),
            request_id: None,
            action_attempt_id: None,
            outcome,
            grpc_code: None,
            seam_request_id: None,
            trace_id: crate::observe::trace_context::TraceContext::current().map(|trace| trace.trace_id()),
        }
    }

    /// The record as one line, with its newline.
    pub fn line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_line_whatever_its_fields_hold() {
        let mut caller = Caller::anonymous();
        caller.principal = std::sync::Arc::from("evil\ncaller\r\u{1b}[31m");
        let mut record = AuditRecord::new(&caller, "UnlockDoor", "denied");
        record.device_id = Some("door\n{\"authorized\":true}".into());
        let line = record.line();
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        let parsed: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed["caller"], "evil\ncaller\r\u{1b}[31m");
        assert_eq!(parsed["authorized"], false);
        assert!(parsed.get("action_attempt_id").is_none(), "absent, not invented");
        assert!(parsed["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(parsed["rpc_method"], "/seam.v1.LockService/UnlockDoor");
    }
}
