use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{SharedGateway, required, unary};
use crate::error::GatewayError;
use crate::pb;
use crate::pb::action_attempt_service_server::ActionAttemptService;

/// `seam.v1.ActionAttemptService`.
#[derive(Debug, Clone)]
pub struct ActionAttemptApi {
    gateway: SharedGateway,
}

impl ActionAttemptApi {
    pub fn new(gateway: SharedGateway) -> Self {
        Self { gateway }
    }
}

#[tonic::async_trait]
impl ActionAttemptService for ActionAttemptApi {
    type WatchActionAttemptStream = ReceiverStream<Result<pb::WatchActionAttemptResponse, Status>>;

    async fn get_action_attempt(
        &self,
        request: Request<pb::GetActionAttemptRequest>,
    ) -> Result<Response<pb::GetActionAttemptResponse>, Status> {
        unary("GetActionAttempt", async {
            let attempt_id = required("action_attempt_id", &request.get_ref().action_attempt_id)?;
            let credential = self.gateway.credentials.resolve(request.metadata())?;
            let answer = self.gateway.seam.get_action_attempt(&credential, attempt_id).await;
            let answer = answer.map_err(|e| GatewayError::from(e).with("action_attempt_id", attempt_id))?;
            Ok(answer.map(|attempt| pb::GetActionAttemptResponse {
                action_attempt: Some(attempt.into()),
            }))
        })
        .await
    }

    async fn watch_action_attempt(
        &self,
        _request: Request<pb::WatchActionAttemptRequest>,
    ) -> Result<Response<Self::WatchActionAttemptStream>, Status> {
        Err(Status::unimplemented("WatchActionAttempt is not implemented yet"))
    }
}
