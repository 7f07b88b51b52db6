use std::time::{Duration, SystemTime};

use prost_types::Timestamp;
use serde::Serialize;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{SharedGateway, required, unary};
use crate::error::{ErrorKind, GatewayError};
use crate::paging::{self, Position};
use crate::pb;
use crate::pb::event_service_server::EventService;
use crate::seam::{EventQuery, Upstreamed};

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
    type WatchEventsStream = ReceiverStream<Result<pb::WatchEventsResponse, Status>>;

    async fn get_event(&self, request: Request<pb::GetEventRequest>) -> Result<Response<pb::GetEventResponse>, Status> {
        unary("GetEvent", async {
            let event_id = required("event_id", &request.get_ref().event_id)?;
            let credential = self.gateway.credentials.resolve(request.metadata())?;
            let answer = self.gateway.seam.get_event(&credential, event_id).await;
            let answer = answer.map_err(|e| GatewayError::from(e).with("event_id", event_id))?;
            let Some(event) = answer.body else {
                // Seam may answer OK with no event; for callers that is a not-found.
                let error = GatewayError::new(ErrorKind::NotFound { what: "event" }).with("event_id", event_id);
                return Err(match answer.request_id {
                    Some(request_id) => error.with("seam_request_id", request_id),
                    None => error,
                });
            };
            Ok(Upstreamed {
                body: pb::GetEventResponse {
                    event: Some(event.into()),
                },
                request_id: answer.request_id,
            })
        })
        .await
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        unary("ListEvents", async {
            let credential = self.gateway.credentials.resolve(request.metadata())?;
            let message = request.get_ref();
            let page_size = paging::page_size(message.page_size)?;
            let as_pair = |t: &Timestamp| (t.seconds, t.nanos);
            let filters = EventFilters {
                start: message.start_time.as_ref().map(as_pair),
                end: message.end_time.as_ref().map(as_pair),
                device_ids: &message.device_ids,
                event_types: &message.event_types,
            };
            let fingerprint = paging::fingerprint(&filters);
            let cursor: Option<EventCursor> = paging::decode_token(&message.page_token, fingerprint)?;

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
                Some(cursor) => later(
                    Timestamp {
                        seconds: cursor.after.seconds,
                        nanos: cursor.after.nanos,
                    },
                    start,
                ),
                None => start,
            };
            let query = EventQuery {
                between: (rfc3339_before(&from), end.to_string()),
                device_ids: message.device_ids.clone(),
                event_types: message.event_types.clone(),
            };
            let answer = self.gateway.seam.list_events(&credential, &query).await?;
            let events: Vec<pb::Event> = answer
                .body
                .into_iter()
                .map(pb::Event::from)
                .filter(|event| message.device_ids.is_empty() || message.device_ids.contains(&event.device_id))
                .filter(|event| message.event_types.is_empty() || message.event_types.contains(&event.event_type))
                .collect();
            let after = cursor.map(|cursor| cursor.after);
            let (page, next) = paging::page_after(events, event_position, after.as_ref(), page_size);
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
                    events: page,
                    next_page_token,
                },
                request_id: answer.request_id,
            })
        })
        .await
    }

    async fn watch_events(
        &self,
        _request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        Err(Status::unimplemented("WatchEvents is not implemented yet"))
    }
}

fn event_position(event: &pb::Event) -> Position {
    Position::new(event.created_at.as_ref(), &event.event_id)
}

/// Seam's `between` excludes its bounds; one millisecond earlier includes `time`.
fn rfc3339_before(time: &Timestamp) -> String {
    earlier_by(time, Duration::from_millis(1)).to_string()
}

fn earlier_by(time: &Timestamp, by: Duration) -> Timestamp {
    let nanos = i128::from(time.seconds) * 1_000_000_000 + i128::from(time.nanos) - by.as_nanos() as i128;
    Timestamp {
        seconds: nanos.div_euclid(1_000_000_000) as i64,
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

fn later(a: Timestamp, b: Timestamp) -> Timestamp {
    if (a.seconds, a.nanos) >= (b.seconds, b.nanos) {
        a
    } else {
        b
    }
}
