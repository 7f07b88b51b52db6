use crate::api::authorization::caller_of;
use std::time::{Duration, SystemTime};

use prost_types::Timestamp;
use serde::Serialize;
use tonic::{Request, Response, Status};

use super::event_stream::{self, EventStream, WatchSpec};
use super::{SharedGateway, seam_credential};
use crate::api::error::{ErrorKind, GatewayError};
use crate::api::paging::{self, Position};
use crate::events::order::{earlier_by, later};
use crate::pb;
use crate::pb::event_service_server::EventService;
use crate::pb::watch_events_request::ResumeFrom;
use crate::seam::{Credential, EventQuery, EventRange, Upstreamed, model};
use crate::wire::convert::parse_timestamp;

/// How far back ListEvents looks when the caller gives no `start_time`.
const DEFAULT_EVENT_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// `seam.v1.EventService`.
#[derive(Debug, Clone)]
pub struct EventApi {
    gateway: SharedGateway,
}

impl EventApi {
    pub fn new(gateway: SharedGateway) -> Self {
        Self { gateway }
    }
}

/// The filters a ListEvents page token is bound to.
#[derive(Serialize)]
struct EventFilters<'a> {
    start: Option<(i64, i32)>,
    end: Option<(i64, i32)>,
    device_ids: &'a [String],
    event_types: &'a [String],
}

/// Where the next ListEvents page starts, and the range's end resolved on the
/// first page, so that "until now" does not move between pages.
#[derive(Serialize, serde::Deserialize)]
struct EventCursor {
    after: Position,
    end: (i64, i32),
}

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchEventsStream = EventStream;

    async fn get_event(&self, request: Request<pb::GetEventRequest>) -> Result<Response<pb::GetEventResponse>, Status> {
        self.gateway
            .unary(async {
                let event_id = self
                    .gateway
                    .limits
                    .required_id("event_id", &request.get_ref().event_id)?;
                let credential = seam_credential(&request)?;
                let answer = fetch_event(&self.gateway, &credential, event_id).await?;
                // Under --policy: a read of the event's device.
                self.gateway
                    .authorize_on_device(
                        &caller_of(&request),
                        "GetEvent",
                        &credential,
                        Some(&answer.body.device_id),
                    )
                    .await?;
                Ok(answer.map(|event| pb::GetEventResponse { event: Some(event) }))
            })
            .await
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        self.gateway
            .unary(async {
                let credential = seam_credential(&request)?;
                let message = request.get_ref();
                let limits = &self.gateway.limits;
                let page_size = paging::page_size(message.page_size)?;
                limits.filter("device_ids", &message.device_ids)?;
                limits.filter("event_types", &message.event_types)?;
                let page_token = limits.page_token(&message.page_token)?;
                let as_pair = |t: &Timestamp| (t.seconds, t.nanos);
                let filters = EventFilters {
                    start: message.start_time.as_ref().map(as_pair),
                    end: message.end_time.as_ref().map(as_pair),
                    device_ids: &message.device_ids,
                    event_types: &message.event_types,
                };
                let fingerprint = paging::fingerprint(&filters);
                let cursor: Option<EventCursor> = paging::decode_token(page_token, fingerprint)?;

                let end = match (&cursor, &message.end_time) {
                    (Some(cursor), _) => Timestamp {
                        seconds: cursor.end.0,
                        nanos: cursor.end.1,
                    },
                    (None, Some(end)) => *end,
                    (None, None) => Timestamp::from(SystemTime::now()),
                };
                let start = match &message.start_time {
                    Some(start) => *start,
                    None => earlier_by(&end, DEFAULT_EVENT_WINDOW),
                };
                if (start.seconds, start.nanos) >= (end.seconds, end.nanos) {
                    return Err(GatewayError::invalid_argument("start_time", "must be before end_time"));
                }
                // Later pages only need what lies at or after the last position seen.
                let from = match &cursor {
                    Some(cursor) => later(cursor.after.time(), start),
                    None => start,
                };
                let query = EventQuery {
                    range: EventRange::Between(rfc3339_before(&from), end.to_string()),
                    device_ids: message.device_ids.clone(),
                    event_types: message.event_types.clone(),
                };
                let answer = self.gateway.seam.list_events(&credential, &query).await?;
                let events: Vec<model::Event> = answer
                    .body
                    .into_iter()
                    .filter(|event| {
                        let device_id = event.typed.device_id.as_deref().unwrap_or_default();
                        message.device_ids.is_empty() || message.device_ids.iter().any(|id| id == device_id)
                    })
                    .filter(|event| {
                        message.event_types.is_empty() || message.event_types.contains(&event.typed.event_type)
                    })
                    .collect();
                // Under --policy, only the events of devices the caller may
                // read by ListEvents, before paging.
                let device_ids = events
                    .iter()
                    .filter_map(|event| event.typed.device_id.clone())
                    .collect();
                let readable = self
                    .gateway
                    .readable_devices(&caller_of(&request), "ListEvents", &credential, device_ids)
                    .await?;
                let events: Vec<model::Event> = match readable {
                    None => events,
                    Some(readable) => events
                        .into_iter()
                        .filter(|event| event.typed.device_id.as_ref().is_some_and(|id| readable.contains(id)))
                        .collect(),
                };
                let after = cursor.map(|cursor| cursor.after);
                let (page, next) = paging::page_after(events, seam_event_position, after.as_ref(), page_size);
                // Only the page is converted to protobuf.
                let positions: Vec<Position> = page.iter().map(seam_event_position).collect();
                let mut events: Vec<pb::Event> = page.into_iter().map(pb::Event::from).collect();
                let next = match paging::fit_in_response(&mut events)? {
                    Some(kept) => positions.into_iter().nth(kept - 1),
                    None => next,
                };
                let next_page_token = next
                    .map(|after| {
                        paging::encode_token(
                            fingerprint,
                            &EventCursor {
                                after,
                                end: as_pair(&end),
                            },
                        )
                    })
                    .unwrap_or_default();
                Ok(Upstreamed {
                    body: pb::ListEventsResponse {
                        events,
                        next_page_token,
                    },
                    request_id: answer.request_id,
                })
            })
            .await
    }

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let spec = self.watch_spec(&request).await?;
        Ok(event_stream::open(&self.gateway, spec, self.gateway.events_buffer))
    }
}

impl EventApi {
    /// Validates a WatchEvents request and finds its resume point.
    async fn watch_spec(&self, request: &Request<pb::WatchEventsRequest>) -> Result<WatchSpec, GatewayError> {
        self.gateway.refuse_if_shutting_down()?;
        let message = request.get_ref();
        self.gateway.limits.filter("device_ids", &message.device_ids)?;
        self.gateway.limits.filter("event_types", &message.event_types)?;
        let credential = seam_credential(request)?;
        let (after, after_event_id, replay) = match &message.resume_from {
            Some(ResumeFrom::AfterEventId(event_id)) => {
                let event_id = self.gateway.limits.required_id("after_event_id", event_id)?;
                let event = fetch_event(&self.gateway, &credential, event_id).await?.body;
                (Position::of(&event), event.event_id, true)
            }
            Some(ResumeFrom::StartTime(start)) => (Position::at(start), String::new(), true),
            None => (Position::at(&Timestamp::from(SystemTime::now())), String::new(), false),
        };
        Ok(WatchSpec {
            credential,
            device_ids: message.device_ids.clone(),
            event_types: message.event_types.clone(),
            after,
            after_event_id,
            replay,
            caller: caller_of(request),
        })
    }
}

/// One event by id; Seam may answer OK without one, which is a not-found too.
async fn fetch_event(
    gateway: &SharedGateway,
    credential: &Credential,
    event_id: &str,
) -> Result<Upstreamed<pb::Event>, GatewayError> {
    let answer = gateway.seam.get_event(credential, event_id).await;
    let answer = answer.map_err(|e| GatewayError::from(e).with("event_id", event_id))?;
    let Some(event) = answer.body else {
        let error = GatewayError::new(ErrorKind::NotFound { what: "event" }).with("event_id", event_id);
        return Err(match answer.request_id {
            Some(request_id) => error.with("seam_request_id", request_id),
            None => error,
        });
    };
    Ok(Upstreamed {
        body: event.into(),
        request_id: answer.request_id,
    })
}

/// An event's place in the order, read from Seam's object (same as `Position::of`).
fn seam_event_position(event: &model::Event) -> Position {
    let created_at = event.typed.created_at.as_deref().and_then(parse_timestamp);
    Position::new(created_at.as_ref(), &event.typed.event_id)
}

/// Seam's `between` excludes its bounds; one millisecond earlier includes `time`.
fn rfc3339_before(time: &Timestamp) -> String {
    earlier_by(time, Duration::from_millis(1)).to_string()
}
