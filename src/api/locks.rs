use crate::api::attempt_audit::CommandAudit;
use crate::api::authorization::{caller_of, policy_denied};
use crate::audit::record::AuditRecord;
use crate::identity::caller::Caller;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::attempt_stream::{self, AttemptStream, FollowSpec};
use super::{SharedGateway, seam_credential};
use crate::api::error::{ErrorKind, GatewayError};
use crate::api::paging::{self, Position};
use crate::api::wait_budget::{answer_within, caller_deadline, wait_budget};
use crate::attempts::request_ids::{Claim, Claimed};
use crate::observe::trace_context::TraceContext;
use crate::pb;
use crate::pb::lock_service_server::LockService;
use crate::seam::{self, Credential, LockAction, LockQuery, Upstreamed};
use crate::wire::convert::parse_timestamp;
use tokio::sync::oneshot;

/// `seam.v1.LockService`.
#[derive(Debug, Clone)]
pub struct LockApi {
    gateway: SharedGateway,
}

impl LockApi {
    pub fn new(gateway: SharedGateway) -> Self {
        Self { gateway }
    }
}

#[tonic::async_trait]
impl LockService for LockApi {
    type LockDoorStream = AttemptStream<pb::LockDoorResponse>;
    type UnlockDoorStream = AttemptStream<pb::UnlockDoorResponse>;

    async fn get_lock(&self, request: Request<pb::GetLockRequest>) -> Result<Response<pb::GetLockResponse>, Status> {
        self.gateway
            .unary(async {
                let device_id = self
                    .gateway
                    .limits
                    .required_id("device_id", &request.get_ref().device_id)?;
                let credential = seam_credential(&request)?;
                let answer = self.gateway.seam.get_lock(&credential, device_id).await;
                let answer = answer.map_err(|e| GatewayError::from(e).with("device_id", device_id))?;
                self.gateway
                    .authorize(&caller_of(&request), "GetLock", &answer.body.typed)?;
                Ok(answer.map(|lock| pb::GetLockResponse {
                    lock: Some(lock.into()),
                }))
            })
            .await
    }

    async fn list_locks(
        &self,
        request: Request<pb::ListLocksRequest>,
    ) -> Result<Response<pb::ListLocksResponse>, Status> {
        self.gateway
            .unary(async {
                let credential = seam_credential(&request)?;
                let message = request.get_ref();
                let limits = &self.gateway.limits;
                let page_size = paging::page_size(message.page_size)?;
                limits.optional_id("connected_account_id", &message.connected_account_id)?;
                limits.filter("device_ids", &message.device_ids)?;
                let page_token = limits.page_token(&message.page_token)?;
                let query = LockQuery {
                    connected_account_id: Some(message.connected_account_id.clone()).filter(|id| !id.is_empty()),
                    device_ids: message.device_ids.clone(),
                };
                let fingerprint = paging::fingerprint(&query);
                let after: Option<Position> = paging::decode_token(page_token, fingerprint)?;
                // /locks/list has no pagination callers could resume with: the
                // gateway reads the whole (filtered) list and pages it by
                // (created_at, device_id).
                let answer = self.gateway.seam.list_locks(&credential, &query).await?;
                let request_id = answer.request_id;
                // Only the locks the caller may read by ListLocks, before paging.
                let caller = caller_of(&request);
                let mut readable = answer.body;
                readable.retain(|lock| self.gateway.may(&caller, "ListLocks", &lock.typed));
                let (page, next) = paging::page_after(readable, device_position, after.as_ref(), page_size);
                // Only the page is converted to protobuf.
                let positions: Vec<Position> = page.iter().map(device_position).collect();
                let mut locks: Vec<pb::Device> = page.into_iter().map(Into::into).collect();
                let next = match paging::fit_in_response(&mut locks)? {
                    Some(kept) => positions.into_iter().nth(kept - 1),
                    None => next,
                };
                Ok(Upstreamed {
                    body: pb::ListLocksResponse {
                        locks,
                        next_page_token: next
                            .map(|next| paging::encode_token(fingerprint, &next))
                            .unwrap_or_default(),
                    },
                    request_id,
                })
            })
            .await
    }

    async fn lock_door(&self, request: Request<pb::LockDoorRequest>) -> Result<Response<Self::LockDoorStream>, Status> {
        self.command_stream(request).await
    }

    async fn unlock_door(
        &self,
        request: Request<pb::UnlockDoorRequest>,
    ) -> Result<Response<Self::UnlockDoorStream>, Status> {
        self.command_stream(request).await
    }
}

/// The fields LockDoorRequest and UnlockDoorRequest share.
struct LockCommand<'a> {
    action: LockAction,
    device_id: &'a str,
    request_id: &'a str,
    wait_timeout: Option<&'a prost_types::Duration>,
}

/// A LockDoor or UnlockDoor request, and the messages of its stream.
trait LockCommandRequest {
    type Message: Send + 'static;
    fn command(&self) -> LockCommand<'_>;
    fn message(attempt: pb::ActionAttempt) -> Self::Message;
}

impl LockCommandRequest for pb::LockDoorRequest {
    type Message = pb::LockDoorResponse;

    fn command(&self) -> LockCommand<'_> {
        LockCommand {
            action: LockAction::Lock,
            device_id: &self.device_id,
            request_id: &self.request_id,
            wait_timeout: self.wait_timeout.as_ref(),
        }
    }

    fn message(attempt: pb::ActionAttempt) -> Self::Message {
        pb::LockDoorResponse {
            action_attempt: Some(attempt),
        }
    }
}

impl LockCommandRequest for pb::UnlockDoorRequest {
    type Message = pb::UnlockDoorResponse;

    fn command(&self) -> LockCommand<'_> {
        LockCommand {
            action: LockAction::Unlock,
            device_id: &self.device_id,
            request_id: &self.request_id,
            wait_timeout: self.wait_timeout.as_ref(),
        }
    }

    fn message(attempt: pb::ActionAttempt) -> Self::Message {
        pb::UnlockDoorResponse {
            action_attempt: Some(attempt),
        }
    }
}

impl LockApi {
    /// LockDoor and UnlockDoor: send the command, then stream its attempt.
    async fn command_stream<R: LockCommandRequest>(
        &self,
        request: Request<R>,
    ) -> Result<Response<AttemptStream<R::Message>>, Status> {
        let caller = caller_of(&request);
        let spec = match seam_credential(&request) {
            Ok(credential) => {
                self.start(
                    credential,
                    &caller,
                    request.get_ref().command(),
                    request.metadata(),
                    R::message,
                )
                .await
            }
            Err(error) => Err(error),
        };
        attempt_stream::open(&self.gateway, spec)
    }

    /// Validates, checks the capability, sends the command (once per
    /// `request_id`) and says what the stream follows.
    ///
    /// Everything before the command runs in the caller's call: if the caller
    /// leaves, it stops there, and nothing is sent. The command is sent only
    /// while the caller still waits and its deadline has not passed; once on
    /// the wire it completes (Seam may have acted) and is logged either way.
    async fn start<M>(
        &self,
        credential: Credential,
        caller: &Caller,
        command: LockCommand<'_>,
        metadata: &MetadataMap,
        wrap: fn(pb::ActionAttempt) -> M,
    ) -> Result<FollowSpec<M>, GatewayError> {
        self.gateway.refuse_if_shutting_down()?;
        let limits = &self.gateway.limits;
        let device_id = limits.required_id("device_id", command.device_id)?.to_owned();
        let request_id = limits.optional_id("request_id", command.request_id)?.to_owned();
        let budget = wait_budget(metadata, command.wait_timeout, self.gateway.max_wait)?;
        let now = tokio::time::Instant::now();
        let deadline = now + budget;
        // The command must leave before the caller's deadline, and early
        // enough for the caller to still hear the gateway's answer.
        let caller_deadline = caller_deadline(metadata).map(|timeout| now + answer_within(timeout));
        let before_deadline = async {
            // One read of the device serves the policy decision and the
            // capability check; a denied command goes no further.
            let device = self.gateway.seam.get_lock(&credential, &device_id).await?.body.typed;
            let rpc = rpc_name(command.action);
            let decision = self.gateway.decide(caller, rpc, &device);
            // Within the policies, the caller's command budget.
            let rate_limited = match (&self.gateway.command_rate, decision.allowed) {
                (Some(limiter), true) => limiter.check(&caller.principal).err(),
                _ => None,
            };
            let allowed = decision.allowed && rate_limited.is_none();
            // No unaudited command: the decision is on disk before anything
            // is sent, or nothing is.
            if let Some(audit) = &self.gateway.audit {
                let mut record = AuditRecord::new(caller, rpc, if allowed { "allowed" } else { "denied" });
                record.device_id = Some(device_id.clone());
                record.authorized = allowed;
                record.policy_ids = decision.policy_ids.clone();
                record.request_id = Some(request_id.clone()).filter(|id| !id.is_empty());
                record.grpc_code = match (decision.allowed, rate_limited) {
                    (false, _) => Some("PERMISSION_DENIED"),
                    (true, Some(_)) => Some("RESOURCE_EXHAUSTED"),
                    (true, None) => None,
                };
                audit
                    .record_durably(record)
                    .await
                    .map_err(|_| GatewayError::new(ErrorKind::AuditUnavailable))?;
            }
            if !decision.allowed {
                return Err(policy_denied(caller, rpc, &device_id));
            }
            if let Some(retry_after) = rate_limited {
                return Err(GatewayError::new(ErrorKind::CommandRateLimited { retry_after }));
            }
            let claim = if request_id.is_empty() {
                None
            } else {
                match self
                    .gateway
                    .request_ids
                    .claim(&credential, command.action, &device_id, &request_id)
                    .await
                {
                    Claimed::Sent(attempt_id) => {
                        tracing::debug!(device_id = %device_id.escape_debug(), request_id = %request_id.escape_debug(), attempt_id = %attempt_id.escape_debug(), "re-attaching to the attempt of a repeated request_id");
                        return Ok(Err(attempt_id));
                    }
                    Claimed::Send(claim) => Some(claim),
                }
            };
            check_capability(command.action, &device)?;
            Ok(Ok(claim))
        };
        let prepared = match caller_deadline {
            Some(at) => tokio::time::timeout_at(at, before_deadline)
                .await
                .unwrap_or_else(|_| Err(GatewayError::new(ErrorKind::DeadlineBeforeCommand))),
            None => before_deadline.await,
        };
        let claim = match prepared.map_err(|e| e.with("device_id", &device_id))? {
            Ok(claim) => claim,
            Err(attempt_id) => {
                let audit = self.gateway.audit.as_ref().map(|trail| {
                    let mut record = AuditRecord::new(caller, rpc_name(command.action), "reattached");
                    record.device_id = Some(device_id.clone());
                    record.authorized = true;
                    record.request_id = Some(command.request_id.to_owned()).filter(|id| !id.is_empty());
                    record.action_attempt_id = Some(attempt_id.clone());
                    CommandAudit {
                        trail: trail.clone(),
                        record,
                    }
                });
                return Ok(FollowSpec {
                    credential,
                    attempt_id,
                    known: None,
                    deadline,
                    seam_request_id: None,
                    wrap,
                    audit,
                });
            }
        };
        if caller_deadline.is_some_and(|at| tokio::time::Instant::now() >= at) {
            return Err(GatewayError::new(ErrorKind::DeadlineBeforeCommand).with("device_id", &device_id));
        }
        // From here the command is on its way to Seam and must not be cut in
        // half by the caller leaving: a task of its own finishes it, records
        // the request_id and logs what became of it and of its caller.
        let (answer_tx, answer) = oneshot::channel();
        let sending = send_command(
            self.gateway.clone(),
            SentCommand {
                credential: credential.clone(),
                action: command.action,
                device_id: device_id.clone(),
                request_id,
                claim,
                caller_deadline,
            },
            answer_tx,
        );
        // The command's request to Seam stays in the call's trace.
        match TraceContext::current() {
            Some(trace) => tokio::spawn(trace.scope(sending)),
            None => tokio::spawn(sending),
        };
        let sent = answer
            .await
            .map_err(|_| GatewayError::new(ErrorKind::ShuttingDown).with("device_id", &device_id))?;
        let audit = self.gateway.audit.as_ref().map(|trail| {
            let mut record = AuditRecord::new(caller, rpc_name(command.action), "sent");
            record.device_id = Some(device_id.clone());
            record.authorized = true;
            record.request_id = Some(command.request_id.to_owned()).filter(|id| !id.is_empty());
            CommandAudit {
                trail: trail.clone(),
                record,
            }
        });
        let sent = match sent {
            Ok(sent) => sent,
            Err(error) => {
                if let Some(audit) = audit {
                    audit.after_command_failed();
                }
                return Err(error);
            }
        };
        self.gateway
            .attempt_devices
            .remember(&sent.body.action_attempt_id, &device_id);
        let audit = audit.map(|audit| audit.sent(&sent.body.action_attempt_id, sent.request_id.as_deref()));
        Ok(FollowSpec {
            credential,
            attempt_id: sent.body.action_attempt_id.clone(),
            seam_request_id: sent.request_id,
            known: Some(sent.body),
            deadline,
            wrap,
            audit,
        })
    }
}

/// A lock command about to be sent.
struct SentCommand {
    credential: Credential,
    action: LockAction,
    device_id: String,
    request_id: String,
    /// The request_id's claim: recorded once Seam accepts the command.
    claim: Option<Claim>,
    caller_deadline: Option<tokio::time::Instant>,
}

/// Sends the command once (never retried), records its request_id if Seam
/// accepted it, hands the answer to the caller if it still waits, and logs
/// one line whatever happened.
async fn send_command(
    gateway: SharedGateway,
    command: SentCommand,
    answer_tx: oneshot::Sender<Result<Upstreamed<pb::ActionAttempt>, GatewayError>>,
) {
    let SentCommand {
        credential,
        action,
        device_id,
        request_id,
        claim,
        caller_deadline,
    } = command;
    let answer = gateway.seam.start_lock_action(&credential, action, &device_id).await;
    let (attempt_id, seam_request_id, failure) = match &answer {
        Ok(answer) => (
            Some(answer.body.typed.action_attempt_id.clone()),
            answer.request_id.clone(),
            None,
        ),
        Err(error) => (None, error.request_id.clone(), Some(error.to_string())),
    };
    if let (Some(claim), Some(attempt_id)) = (claim, &attempt_id) {
        claim.accepted(attempt_id);
    }
    let answer = answer
        .map(|answer| answer.map(pb::ActionAttempt::from))
        .map_err(|e| GatewayError::from(e).with("device_id", &device_id));
    let caller = match answer_tx.send(answer) {
        Ok(()) => "waiting",
        Err(_) if caller_deadline.is_some_and(|at| tokio::time::Instant::now() >= at) => "deadline",
        Err(_) => "cancelled",
    };
    let action = match action {
        LockAction::Lock => "lock_door",
        LockAction::Unlock => "unlock_door",
    };
    // Caller-supplied text (and Seam's, which may echo it) is escaped: a
    // newline or a terminal escape must not forge or colour a log line.
    let request_id = (!request_id.is_empty()).then(|| request_id.escape_debug().to_string());
    let device_id = device_id.escape_debug().to_string();
    let failure = failure.map(|failure| failure.escape_debug().to_string());
    match (attempt_id, failure) {
        (Some(action_attempt_id), _) => tracing::info!(
            action,
            %device_id,
            request_id,
            action_attempt_id = %action_attempt_id.escape_debug(),
            seam_request_id,
            caller,
            "lock command accepted by Seam"
        ),
        (None, failure) => tracing::warn!(
            action,
            %device_id,
            request_id,
            failure,
            seam_request_id,
            caller,
            "lock command failed"
        ),
    }
}

/// Seam's guide: confirm the capability first, then send the command.
fn check_capability(action: LockAction, device: &seam::model::DeviceFields) -> Result<(), GatewayError> {
    let (capability, capable) = match action {
        LockAction::Lock => ("can_remotely_lock", device.can_remotely_lock),
        LockAction::Unlock => ("can_remotely_unlock", device.can_remotely_unlock),
    };
    let device_errors = || device.errors.iter().cloned().map(pb::DeviceIssue::from).collect();
    if capable != Some(true) {
        return Err(GatewayError::new(ErrorKind::CapabilityMissing {
            capability,
            device_errors: device_errors(),
        }));
    }
    if device.properties.online == Some(false) {
        return Err(GatewayError::new(ErrorKind::DeviceOffline {
            device_errors: device_errors(),
        }));
    }
    Ok(())
}

/// The RPC (and policy action) of a lock command.
fn rpc_name(action: LockAction) -> &'static str {
    match action {
        LockAction::Lock => "LockDoor",
        LockAction::Unlock => "UnlockDoor",
    }
}

fn device_position(device: &seam::model::Device) -> Position {
    let created_at = device.typed.created_at.as_deref().and_then(parse_timestamp);
    Position::new(created_at.as_ref(), &device.typed.device_id)
}
