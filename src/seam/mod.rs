//! Everything that speaks Seam's HTTP API: the client, Seam's JSON shapes, the
//! credentials it is called with and the ways a call can fail. Nothing here
//! knows about gRPC.

mod client;
mod complete_lists;
mod credential;
mod envelope;
mod error;
pub mod model;
mod queries;

pub use client::{SeamClient, SeamClientOptions, Upstreamed};
pub use credential::Credential;
pub use error::{ConnectFailure, UpstreamError, UpstreamFailure};
pub use queries::{DeviceQuery, EventQuery, EventRange, LockAction, LockQuery};
