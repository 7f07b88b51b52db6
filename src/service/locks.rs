use std::time::Instant;

use serde_json::json;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::attempt_stream::{self, AttemptStream, FollowSpec};
use super::{SharedGateway, required, unary};
use crate::budget::wait_budget;
use crate::convert::parse_timestamp;
use crate::error::{ErrorKind, GatewayError};
use crate::paging::{self, Position};
use crate::pb;
use crate::pb::lock_service_server::LockService;
use crate::seam::{self, Credential, LockAction, Upstreamed};

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
        unary("GetLock", async {
            let device_id = required("device_id", &request.get_ref().device_id)?;
            let credential = self.gateway.credentials.resolve(request.metadata())?;
            let answer = self.gateway.seam.get_lock(&credential, device_id).await;
            let answer = answer.map_err(|e| GatewayError::from(e).with("device_id", device_id))?;
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
        unary("ListLocks", async {
            let credential = self.gateway.credentials.resolve(request.metadata())?;
            let message = request.get_ref();
            let page_size = paging::page_size(message.page_size)?;
            let mut filters = json!({});
            if !message.connected_account_id.is_empty() {
                filters["connected_account_id"] = json!(message.connected_account_id);
            }
            if !message.device_ids.is_empty() {
                filters["device_ids"] = json!(message.device_ids);
            }
            let fingerprint = paging::fingerprint(&filters);
            let after: Option<Position> = paging::decode_token(&message.page_token, fingerprint)?;
            // /locks/list has no pagination of its own: the gateway reads the
            // whole (filtered) list and pages it by (created_at, device_id).
            let answer = self.gateway.seam.list_locks(&credential, filters).await?;
            Ok(answer.map(|locks| {
                // Only the page is converted to protobuf.
                let (page, next) = paging::page_after(locks, device_position, after.as_ref(), page_size);
                pb::ListLocksResponse {
                    locks: page.into_iter().map(Into::into).collect(),
                    next_page_token: next
                        .map(|next| paging::encode_token(fingerprint, &next))
                        .unwrap_or_default(),
                }
            }))
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
    const METHOD: &'static str;
    type Message: Send + 'static;
    fn command(&self) -> LockCommand<'_>;
    fn message(attempt: pb::ActionAttempt) -> Self::Message;
}

impl LockCommandRequest for pb::LockDoorRequest {
    const METHOD: &'static str = "LockDoor";
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
    const METHOD: &'static str = "UnlockDoor";
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
        let started = Instant::now();
        let spec = self
            .start(request.get_ref().command(), request.metadata(), R::message)
            .await;
        attempt_stream::open(&self.gateway, R::METHOD, started, spec)
    }

    /// Validates, checks the capability, sends the command (once per
    /// `request_id`) and says what the stream follows.
    async fn start<M>(
        &self,
        command: LockCommand<'_>,
        metadata: &MetadataMap,
        wrap: fn(pb::ActionAttempt) -> M,
    ) -> Result<FollowSpec<M>, GatewayError> {
        self.gateway.refuse_if_shutting_down()?;
        let device_id = required("device_id", command.device_id)?.to_owned();
        let credential = self.gateway.credentials.resolve(metadata)?;
        let budget = wait_budget(metadata, command.wait_timeout, self.gateway.max_wait)?;
        let deadline = tokio::time::Instant::now() + budget;
        // Spawned so that a caller who leaves mid-command cannot cut it in half:
        // the command completes and its request_id is remembered either way.
        let sent = tokio::spawn(send_once(
            self.gateway.clone(),
            credential.clone(),
            command.action,
            device_id.clone(),
            command.request_id.trim().to_owned(),
        ))
        .await
        .map_err(|_| GatewayError::new(ErrorKind::ShuttingDown).with("device_id", &device_id))??;
        Ok(FollowSpec {
            credential,
            attempt_id: sent.attempt_id,
            known: sent.accepted,
            deadline,
            seam_request_id: sent.seam_request_id,
            wrap,
        })
    }
}

/// The attempt a lock command created.
struct SentCommand {
    attempt_id: String,
    /// Seam's answer to the command; `None` when re-attaching by `request_id`.
    accepted: Option<pb::ActionAttempt>,
    /// Seam's request id of the command, when it was sent by this call.
    seam_request_id: Option<String>,
}

async fn send_once(
    gateway: SharedGateway,
    credential: Credential,
    action: LockAction,
    device_id: String,
    request_id: String,
) -> Result<SentCommand, GatewayError> {
    if request_id.is_empty() {
        let answer = send_command(&gateway, &credential, action, &device_id).await?;
        return Ok(SentCommand {
            attempt_id: answer.body.action_attempt_id.clone(),
            accepted: Some(answer.body),
            seam_request_id: answer.request_id,
        });
    }
    let mut slot = gateway
        .request_ids
        .claim(&credential, action, &device_id, &request_id)
        .await;
    if let Some(attempt_id) = slot.as_ref() {
        tracing::debug!(%device_id, %request_id, %attempt_id, "re-attaching to the attempt of a repeated request_id");
        return Ok(SentCommand {
            attempt_id: attempt_id.clone(),
            accepted: None,
            seam_request_id: None,
        });
    }
    let answer = send_command(&gateway, &credential, action, &device_id).await?;
    *slot = Some(answer.body.action_attempt_id.clone());
    Ok(SentCommand {
        attempt_id: answer.body.action_attempt_id.clone(),
        accepted: Some(answer.body),
        seam_request_id: answer.request_id,
    })
}

/// Seam's guide: confirm the capability first, then send the command. The
/// command itself is never retried.
async fn send_command(
    gateway: &SharedGateway,
    credential: &Credential,
    action: LockAction,
    device_id: &str,
) -> Result<Upstreamed<pb::ActionAttempt>, GatewayError> {
    let with_device = |e| GatewayError::from(e).with("device_id", device_id);
    let device = gateway
        .seam
        .get_lock(credential, device_id)
        .await
        .map_err(with_device)?
        .body
        .typed;
    let (capability, capable) = match action {
        LockAction::Lock => ("can_remotely_lock", device.can_remotely_lock),
        LockAction::Unlock => ("can_remotely_unlock", device.can_remotely_unlock),
    };
    let device_errors = || device.errors.iter().cloned().map(pb::DeviceIssue::from).collect();
    if capable != Some(true) {
        let kind = ErrorKind::CapabilityMissing {
            capability,
            device_errors: device_errors(),
        };
        return Err(GatewayError::new(kind).with("device_id", device_id));
    }
    if device.properties.online == Some(false) {
        let kind = ErrorKind::DeviceOffline {
            device_errors: device_errors(),
        };
        return Err(GatewayError::new(kind).with("device_id", device_id));
    }
    let answer = gateway.seam.start_lock_action(credential, action, device_id).await;
    Ok(answer.map_err(with_device)?.map(pb::ActionAttempt::from))
}

fn device_position(device: &seam::model::Device) -> Position {
    let created_at = device.typed.created_at.as_deref().and_then(parse_timestamp);
    Position::new(created_at.as_ref(), &device.typed.device_id)
}
