use serde_json::json;
use tonic::{Request, Response, Status};

use super::SharedGateway;
use crate::paging;
use crate::pb;
use crate::pb::device_service_server::DeviceService;

/// `seam.v1.DeviceService`.
#[derive(Debug, Clone)]
pub struct DeviceApi {
    gateway: SharedGateway,
}

impl DeviceApi {
    pub fn new(gateway: SharedGateway) -> Self {
        Self { gateway }
    }
}

#[tonic::async_trait]
impl DeviceService for DeviceApi {
    async fn get_device(
        &self,
        request: Request<pb::GetDeviceRequest>,
    ) -> Result<Response<pb::GetDeviceResponse>, Status> {
        self.gateway
            .unary("GetDevice", async {
                let device_id = self
                    .gateway
                    .limits
                    .required_id("device_id", &request.get_ref().device_id)?;
                let credential = self.gateway.credentials.resolve(request.metadata())?;
                let answer = self.gateway.seam.get_device(&credential, device_id).await;
                let answer = answer.map_err(|e| crate::error::GatewayError::from(e).with("device_id", device_id))?;
                Ok(answer.map(|device| pb::GetDeviceResponse {
                    device: Some(device.into()),
                }))
            })
            .await
    }

    async fn list_devices(
        &self,
        request: Request<pb::ListDevicesRequest>,
    ) -> Result<Response<pb::ListDevicesResponse>, Status> {
        self.gateway
            .unary("ListDevices", async {
                let credential = self.gateway.credentials.resolve(request.metadata())?;
                let message = request.get_ref();
                let limits = &self.gateway.limits;
                let page_size = paging::page_size(message.page_size)?;
                limits.optional_id("connected_account_id", &message.connected_account_id)?;
                limits.filter("device_ids", &message.device_ids)?;
                limits.filter("device_types", &message.device_types)?;
                let page_token = limits.page_token(&message.page_token)?;
                let mut filters = json!({});
                if !message.connected_account_id.is_empty() {
                    filters["connected_account_id"] = json!(message.connected_account_id);
                }
                if !message.device_ids.is_empty() {
                    filters["device_ids"] = json!(message.device_ids);
                }
                if !message.device_types.is_empty() {
                    filters["device_types"] = json!(message.device_types);
                }
                let fingerprint = paging::fingerprint(&filters);
                // Seam pages /devices/list itself; the token wraps its cursor.
                let seam_cursor: Option<String> = paging::decode_token(page_token, fingerprint)?;
                let mut body = filters;
                body["limit"] = json!(page_size);
                if let Some(cursor) = seam_cursor {
                    body["page_cursor"] = json!(cursor);
                }
                let answer = self.gateway.seam.list_devices(&credential, body).await?;
                Ok(answer.map(|(devices, pagination)| {
                    let next_page_token = pagination
                        .filter(|p| p.has_next_page)
                        .and_then(|p| p.next_page_cursor)
                        .map(|cursor| paging::encode_token(fingerprint, &cursor))
                        .unwrap_or_default();
                    pb::ListDevicesResponse {
                        devices: devices.into_iter().map(Into::into).collect(),
                        next_page_token,
                    }
                }))
            })
            .await
    }
}
