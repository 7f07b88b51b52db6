use crate::api::authorization::caller_of;
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use super::{SharedGateway, seam_credential};
use crate::api::paging;
use crate::pb;
use crate::pb::device_service_server::DeviceService;
use crate::seam::{DeviceQuery, Upstreamed};

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
            .unary(async {
                let device_id = self
                    .gateway
                    .limits
                    .required_id("device_id", &request.get_ref().device_id)?;
                let credential = seam_credential(&request)?;
                let answer = self.gateway.seam.get_device(&credential, device_id).await;
                let answer =
                    answer.map_err(|e| crate::api::error::GatewayError::from(e).with("device_id", device_id))?;
                self.gateway
                    .authorize(&caller_of(&request), "GetDevice", &answer.body.typed)?;
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
            .unary(async {
                let credential = seam_credential(&request)?;
                let message = request.get_ref();
                let limits = &self.gateway.limits;
                let page_size = paging::page_size(message.page_size)?;
                limits.optional_id("connected_account_id", &message.connected_account_id)?;
                limits.filter("device_ids", &message.device_ids)?;
                limits.filter("device_types", &message.device_types)?;
                let page_token = limits.page_token(&message.page_token)?;
                let query = DeviceQuery {
                    connected_account_id: Some(message.connected_account_id.clone()).filter(|id| !id.is_empty()),
                    device_ids: message.device_ids.clone(),
                    device_types: message.device_types.clone(),
                };
                let fingerprint = paging::fingerprint(&query);
                // Seam pages /devices/list itself; the token wraps its cursor,
                // and how many of that page a cut response already returned.
                let cursor: DevicesCursor = paging::decode_token(page_token, fingerprint)?.unwrap_or_default();
                let answer = self
                    .gateway
                    .seam
                    .list_devices(&credential, &query, cursor.skip + page_size, cursor.seam.as_deref())
                    .await?;
                let request_id = answer.request_id;
                let (devices, pagination) = answer.body;
                // Only the devices the caller may read by ListDevices; a page
                // can come out shorter than page_size (docs/policy.md).
                let caller = caller_of(&request);
                let readable: Vec<(usize, _)> = devices
                    .into_iter()
                    .enumerate()
                    .skip(cursor.skip)
                    .filter(|(_, device)| self.gateway.may(&caller, "ListDevices", &device.typed))
                    .collect();
                let indices: Vec<usize> = readable.iter().map(|(index, _)| *index).collect();
                let mut devices: Vec<pb::Device> = readable.into_iter().map(|(_, device)| device.into()).collect();
                let next = match paging::fit_in_response(&mut devices)? {
                    Some(kept) => Some(DevicesCursor {
                        seam: cursor.seam,
                        skip: indices[kept - 1] + 1,
                    }),
                    None => pagination
                        .filter(|p| p.has_next_page)
                        .and_then(|p| p.next_page_cursor)
                        .map(|seam| DevicesCursor {
                            seam: Some(seam),
                            skip: 0,
                        }),
                };
                Ok(Upstreamed {
                    body: pb::ListDevicesResponse {
                        devices,
                        next_page_token: next
                            .map(|next| paging::encode_token(fingerprint, &next))
                            .unwrap_or_default(),
                    },
                    request_id,
                })
            })
            .await
    }
}

/// Where the next ListDevices page starts: Seam's cursor of the page, and how
/// many of its devices were already returned (when a response was cut to fit).
#[derive(Debug, Default, Serialize, Deserialize)]
struct DevicesCursor {
    seam: Option<String>,
    skip: usize,
}
