use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{SharedGateway, required, unary};
use crate::error::GatewayError;
use crate::paging::{self, Position};
use crate::pb;
use crate::pb::lock_service_server::LockService;

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
    type LockDoorStream = ReceiverStream<Result<pb::LockDoorResponse, Status>>;
    type UnlockDoorStream = ReceiverStream<Result<pb::UnlockDoorResponse, Status>>;

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
                let locks: Vec<pb::Device> = locks.into_iter().map(Into::into).collect();
                let (page, next) = paging::page_after(locks, device_position, after.as_ref(), page_size);
                pb::ListLocksResponse {
                    locks: page,
                    next_page_token: next
                        .map(|next| paging::encode_token(fingerprint, &next))
                        .unwrap_or_default(),
                }
            }))
        })
        .await
    }

    async fn lock_door(
        &self,
        _request: Request<pb::LockDoorRequest>,
    ) -> Result<Response<Self::LockDoorStream>, Status> {
        Err(Status::unimplemented("LockDoor is not implemented yet"))
    }

    async fn unlock_door(
        &self,
        _request: Request<pb::UnlockDoorRequest>,
    ) -> Result<Response<Self::UnlockDoorStream>, Status> {
        Err(Status::unimplemented("UnlockDoor is not implemented yet"))
    }
}

fn device_position(device: &pb::Device) -> Position {
    Position::new(device.created_at.as_ref(), &device.device_id)
}
