//! Everything that speaks Seam's HTTP API: the client, Seam's JSON shapes, the
//! credentials it is called with and the ways a call can fail. Nothing here
//! knows about gRPC.

mod client;
mod complete_lists;
mod credential;
mod error;
pub mod model;

pub use client::{
    DeviceQuery, EventQuery, EventRange, LockAction, LockQuery, SeamClient, SeamClientOptions, Upstreamed,
};
pub use credential::Credential;
pub use error::{ConnectFailure, UpstreamError, UpstreamFailure};
