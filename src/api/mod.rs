//! One file per gRPC service (validate, call Seam, convert), the stream
//! openers, and what they share: the gateway's state, request limits, paging,
//! wait budgets and the one mapping of failures onto gRPC statuses.

mod action_attempts;
mod attempt_audit;
mod attempt_stream;
mod authorization;
mod command_rate;
mod devices;
pub mod error;
mod event_stream;
mod events;
mod gateway;
mod locks;
pub mod paging;
mod request_limits;
pub mod wait_budget;

pub use command_rate::{CommandRate, CommandRateLimiter, parse_command_rate};

pub use action_attempts::ActionAttemptApi;
pub use devices::DeviceApi;
pub use events::EventApi;
pub use gateway::{Gateway, SEAM_REQUEST_ID, SharedGateway, shutting_down};
pub use locks::LockApi;
pub use request_limits::RequestLimits;

use crate::api::error::GatewayError;
use crate::seam::Credential;

/// The Seam credential the call acts with, put into the request by the
/// server's layer stack (`identity::seam_credential_layer`).
pub(crate) fn seam_credential<T>(request: &tonic::Request<T>) -> Result<Credential, GatewayError> {
    request.extensions().get::<Credential>().cloned().ok_or_else(|| {
        GatewayError::new(crate::api::error::ErrorKind::MissingCredential {
            header: crate::identity::seam_credential::AUTHORIZATION,
        })
    })
}
