//! The reference hop: gRPC in, reqwest, serde_json, prost out, with tonic's
//! defaults and nothing else; served by this executable itself.

use seam_grpc_gateway::pb;
use tokio::net::TcpListener;

pub(crate) const MINIMAL_HOP_FLAG: &str = "--minimal-hop-serve";

/// The benchmarks issue's reference: gRPC in → reqwest (HTTP/1.1 keep-alive)
/// → serde_json → prost out, with tonic's defaults and nothing else: no
/// `seam_object`, no error details, no log line per call, no coalesced writes.
/// The same machine's floor for a hop, measured in the same run.
pub(crate) struct MinimalHop {
    pub(crate) http: reqwest::Client,
    pub(crate) url: String,
}

#[tonic::async_trait]
impl pb::lock_service_server::LockService for MinimalHop {
    type LockDoorStream = tokio_stream::Empty<Result<pb::LockDoorResponse, tonic::Status>>;
    type UnlockDoorStream = tokio_stream::Empty<Result<pb::UnlockDoorResponse, tonic::Status>>;

    async fn get_lock(
        &self,
        request: tonic::Request<pb::GetLockRequest>,
    ) -> Result<tonic::Response<pb::GetLockResponse>, tonic::Status> {
        let body = serde_json::json!({ "device_id": request.get_ref().device_id }).to_string();
        let lock = async {
            let response = self
                .http
                .post(&self.url)
                .header("authorization", "Bearer seam_bench_key")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .ok()?;
            let answer: serde_json::Value = serde_json::from_slice(&response.bytes().await.ok()?).ok()?;
            let lock = answer.get("lock")?;
            let text = |key: &str| lock.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            Some(pb::Device {
                device_id: text("device_id"),
                device_type: text("device_type"),
                display_name: text("display_name"),
                workspace_id: text("workspace_id"),
                connected_account_id: text("connected_account_id"),
                can_remotely_lock: lock.get("can_remotely_lock").and_then(|v| v.as_bool()),
                can_remotely_unlock: lock.get("can_remotely_unlock").and_then(|v| v.as_bool()),
                ..Default::default()
            })
        }
        .await;
        match lock {
            Some(lock) => Ok(tonic::Response::new(pb::GetLockResponse { lock: Some(lock) })),
            None => {
                println!(" rpc method=\"GetLock\" code=Internal ");
                Err(tonic::Status::internal("upstream"))
            }
        }
    }

    async fn list_locks(
        &self,
        _: tonic::Request<pb::ListLocksRequest>,
    ) -> Result<tonic::Response<pb::ListLocksResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("minimal hop"))
    }

    async fn lock_door(
        &self,
        _: tonic::Request<pb::LockDoorRequest>,
    ) -> Result<tonic::Response<Self::LockDoorStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("minimal hop"))
    }

    async fn unlock_door(
        &self,
        _: tonic::Request<pb::UnlockDoorRequest>,
    ) -> Result<tonic::Response<Self::UnlockDoorStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("minimal hop"))
    }
}

/// Serves the minimal hop on one worker thread, like the gateway in the unary runs.
pub(crate) fn serve_minimal_hop(listen: &str, upstream: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind(listen).await.expect("bind");
        let hop = MinimalHop {
            http: reqwest::Client::builder().tcp_nodelay(true).build().expect("client"),
            url: format!("http://{upstream}/locks/get"),
        };
        tonic::transport::Server::builder()
            .add_service(pb::lock_service_server::LockServiceServer::new(hop))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)))
            .await
            .expect("serve");
    });
}
