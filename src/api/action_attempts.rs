use crate::api::authorization::caller_of;
use tonic::{Request, Response, Status};

use super::attempt_stream::{self, AttemptStream, FollowSpec};
use super::{SharedGateway, seam_credential};
use crate::api::error::GatewayError;
use crate::api::wait_budget::wait_budget;
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
    type WatchActionAttemptStream = AttemptStream<pb::WatchActionAttemptResponse>;

    async fn get_action_attempt(
        &self,
        request: Request<pb::GetActionAttemptRequest>,
    ) -> Result<Response<pb::GetActionAttemptResponse>, Status> {
        self.gateway
            .unary(async {
                let attempt_id = self
                    .gateway
                    .limits
                    .required_id("action_attempt_id", &request.get_ref().action_attempt_id)?;
                let credential = seam_credential(&request)?;
                // Under --policy: a read of the device of an attempt this gateway started.
                let device_id = self.gateway.attempt_devices.device_of(attempt_id);
                self.gateway
                    .authorize_on_device(
                        &caller_of(&request),
                        "GetActionAttempt",
                        &credential,
                        device_id.as_deref(),
                    )
                    .await?;
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
        request: Request<pb::WatchActionAttemptRequest>,
    ) -> Result<Response<Self::WatchActionAttemptStream>, Status> {
        let spec = async {
            self.gateway.refuse_if_shutting_down()?;
            let message = request.get_ref();
            let attempt_id = self
                .gateway
                .limits
                .required_id("action_attempt_id", &message.action_attempt_id)?;
            let credential = seam_credential(&request)?;
            // Under --policy: a read of the device of an attempt this gateway started.
            let device_id = self.gateway.attempt_devices.device_of(attempt_id);
            self.gateway
                .authorize_on_device(
                    &caller_of(&request),
                    "WatchActionAttempt",
                    &credential,
                    device_id.as_deref(),
                )
                .await?;
            let budget = wait_budget(request.metadata(), message.wait_timeout.as_ref(), self.gateway.max_wait)?;
            Ok(FollowSpec {
                credential,
                attempt_id: attempt_id.to_owned(),
                known: None,
                deadline: tokio::time::Instant::now() + budget,
                seam_request_id: None,
                wrap: |attempt| pb::WatchActionAttemptResponse {
                    action_attempt: Some(attempt),
                },
                audit: None,
            })
        }
        .await;
        attempt_stream::open(&self.gateway, spec)
    }
}
