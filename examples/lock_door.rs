//! A Rust service using the gateway through this crate's generated client:
//! locks a door and prints each streamed status, then reads the ErrorInfo of a
//! failed call.
//!
//! ```sh
//! cargo run --example lock_door -- http://127.0.0.1:50051 august_device_1
//! ```
//!
//! Other Rust services depend on this crate (`seam-grpc-gateway`) and use
//! `seam_grpc_gateway::pb` the same way; no proto tooling is needed on their side.

use seam_grpc_gateway::pb;
use seam_grpc_gateway::pb::lock_service_client::LockServiceClient;
use tonic_types::StatusExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let device_id = args.next().unwrap_or_else(|| "august_device_1".to_owned());

    let mut locks = LockServiceClient::connect(target).await?;
    let mut stream = locks
        .lock_door(pb::LockDoorRequest {
            device_id: device_id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    while let Some(message) = stream.message().await? {
        let attempt = message.action_attempt.unwrap_or_default();
        println!(
            "LockDoor {device_id}: {} {}",
            attempt.status().as_str_name(),
            attempt.action_attempt_id
        );
    }

    let missing = "no_such_lock";
    match locks
        .get_lock(pb::GetLockRequest {
            device_id: missing.to_owned(),
        })
        .await
    {
        Ok(_) => println!("GetLock {missing}: unexpectedly found"),
        Err(status) => {
            let reason = status
                .get_details_error_info()
                .map(|info| info.reason)
                .unwrap_or_default();
            println!("GetLock {missing}: {:?} reason={reason}", status.code());
        }
    }
    Ok(())
}
