//! The stream behind WatchEvents: an optional replay from Seam's history, then
//! the credential's shared live tail, filtered per caller, in (created_at,
//! event_id) order, each event once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::pin::Pin;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Response, Status};

use super::{SharedGateway, shutting_down};
use crate::api::error::{ErrorKind, GatewayError};
use crate::events::order::Position;
use crate::events::tail::TailMessage;
use crate::identity::caller::Caller;
use crate::pb;
use crate::polling::backoff::Backoff;
use crate::seam::model::DeviceFields;
use crate::seam::{Credential, EventQuery, EventRange};

pub type EventStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEventsResponse, Status>> + Send>>;

/// What the stream task sends: boxed, because a `Status` makes the unboxed
/// result large and the channel holds `--events-buffer` of them.
type Outgoing = Box<Result<pb::WatchEventsResponse, Status>>;

/// Longest wait between replay attempts while Seam is failing.
const REPLAY_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What one WatchEvents stream delivers.
pub(crate) struct WatchSpec {
    pub credential: Credential,
    pub device_ids: Vec<String>,
    pub event_types: Vec<String>,
    /// Deliver only events after this position.
    pub after: Position,
    /// The id of the event at `after`, when the caller resumed from one.
    pub after_event_id: String,
    /// Read Seam's history from this position before going live.
    pub replay: bool,
    /// Under `--policy`, only events of devices this caller may read by
    /// WatchEvents are delivered.
    pub caller: Caller,
}

/// How long a stream decides on the device facts it read (tags, time zone)
/// before reading them again. The decision itself is made per event, at the
/// event's delivery time.
const DEVICE_FACTS_FRESH_FOR: Duration = Duration::from_secs(60);

impl WatchSpec {
    fn wants(&self, event: &pb::Event) -> bool {
        (self.device_ids.is_empty() || self.device_ids.contains(&event.device_id))
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
    }
}

/// Opens the stream; the caller's buffer holds `buffer` events.
pub(crate) fn open(gateway: &SharedGateway, spec: WatchSpec, buffer: usize) -> Response<EventStream> {
    // Subscribe before the replay, so that nothing falls between the two.
    let live = gateway.event_tails.subscribe(&spec.credential);
    // One slot more than the buffer: the last one is kept for the final status.
    let (sender, receiver) = mpsc::channel::<Outgoing>(buffer + 1);
    let gateway = gateway.clone();
    tokio::spawn(async move {
        let mut stream = Watcher {
            last_position: spec.after.clone(),
            last_event_id: spec.after_event_id.clone(),
            spec,
            sender,
            device_facts: HashMap::new(),
        };
        // The code is the access log's to state, from the stream's trailers.
        let _ = stream.run(&gateway, live).await;
    });
    Response::new(Box::pin(ReceiverStream::new(receiver).map(|item| *item)))
}

struct Watcher {
    spec: WatchSpec,
    sender: mpsc::Sender<Outgoing>,
    last_position: Position,
    last_event_id: String,
    /// Under `--policy`: the devices read for decisions, and when.
    device_facts: HashMap<String, (DeviceFields, Instant)>,
}

/// The caller's buffer is full.
struct Overflow;

impl Watcher {
    async fn run(&mut self, gateway: &SharedGateway, mut live: broadcast::Receiver<TailMessage>) -> Code {
        let mut shutdown = gateway.shutdown.clone();
        if self.spec.replay {
            let sender = self.sender.clone();
            let replayed = tokio::select! {
                outcome = self.replay(gateway) => Some(outcome),
                _ = sender.closed() => Some(Err(Code::Cancelled)),
                _ = shutting_down(&mut shutdown) => None,
            };
            match replayed {
                Some(Ok(())) => {}
                Some(Err(code)) => return code,
                None => return self.end(GatewayError::new(ErrorKind::ShuttingDown)),
            }
        }
        loop {
            tokio::select! {
                message = live.recv() => match message {
                    Ok(TailMessage::Event(event)) => {
                        match self.may_read(gateway, &event).await {
                            Ok(false) => {}
                            Ok(true) => {
                                if self.deliver(&event).is_err() {
                                    return self.end(GatewayError::new(ErrorKind::WatcherTooSlow));
                                }
                            }
                            Err(error) => return self.end(error),
                        }
                    }
                    Ok(TailMessage::Failed(error)) => return self.end(GatewayError::from((*error).clone())),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return self.end(GatewayError::new(ErrorKind::WatcherTooSlow));
                    }
                    // The tail retired between two of its checks: follow a new one.
                    Err(broadcast::error::RecvError::Closed) => live = gateway.event_tails.subscribe(&self.spec.credential),
                },
                _ = self.sender.closed() => return Code::Cancelled,
                _ = shutting_down(&mut shutdown) => return self.end(GatewayError::new(ErrorKind::ShuttingDown)),
            }
        }
    }

    /// Delivers Seam's history after the resume point, retrying through outages.
    async fn replay(&mut self, gateway: &SharedGateway) -> Result<(), Code> {
        let query = EventQuery {
            range: EventRange::Since(
                crate::events::order::earlier_by(&self.last_position.time(), Duration::from_millis(1)).to_string(),
            ),
            device_ids: self.spec.device_ids.clone(),
            event_types: self.spec.event_types.clone(),
        };
        let mut retries = Backoff::doubling(gateway.events_poll_interval, REPLAY_MAX_BACKOFF).delays();
        let events = loop {
            match gateway.seam.list_events(&self.spec.credential, &query).await {
                Ok(answer) => break answer.body,
                Err(error) if error.is_transient() => {
                    tokio::time::sleep(retries.after_failure(&error)).await;
                }
                Err(error) => return Err(self.end(GatewayError::from(error))),
            }
        };
        let mut events: Vec<pb::Event> = events.into_iter().map(pb::Event::from).collect();
        events.sort_by_cached_key(Position::of);
        // History does not run away: the replay waits for the caller to read
        // (the live tail cannot, and cuts a slow caller off instead). Two
        // free slots, so that one stays free for the final status.
        for event in &events {
            match self.may_read(gateway, event).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => return Err(self.end(error)),
            }
            match self.sender.reserve_many(2).await {
                Ok(permits) => drop(permits),
                Err(_) => return Err(Code::Cancelled),
            }
            if self.deliver(event).is_err() {
                return Err(self.end(GatewayError::new(ErrorKind::WatcherTooSlow)));
            }
        }
        Ok(())
    }

    /// Under `--policy`, whether the caller may read `event` by WatchEvents:
    /// decided on its device (read from Seam, then reused for a minute).
    /// An event without a device is not delivered. A device that cannot be
    /// read ends the stream with the error and its resume point, so that
    /// nothing is lost.
    async fn may_read(&mut self, gateway: &SharedGateway, event: &pb::Event) -> Result<bool, GatewayError> {
        if gateway.policy.is_none() || !self.spec.wants(event) {
            return Ok(true);
        }
        if event.device_id.is_empty() {
            return Ok(false);
        }
        let fresh = self
            .device_facts
            .get(&event.device_id)
            .is_some_and(|(_, read_at)| read_at.elapsed() < DEVICE_FACTS_FRESH_FOR);
        if !fresh {
            let device = gateway
                .seam
                .get_device(&self.spec.credential, &event.device_id)
                .await
                .map_err(|e| GatewayError::from(e).with("device_id", &event.device_id))?;
            self.device_facts
                .insert(event.device_id.clone(), (device.body.typed, Instant::now()));
        }
        let (device, _) = &self.device_facts[&event.device_id];
        Ok(gateway.may(&self.spec.caller, "WatchEvents", device))
    }

    /// Sends `event` if the caller wants it and has not had it.
    fn deliver(&mut self, event: &pb::Event) -> Result<(), Overflow> {
        let position = Position::of(event);
        if position <= self.last_position || !self.spec.wants(event) {
            return Ok(());
        }
        // Keep the last slot for the final status.
        if self.sender.capacity() <= 1 {
            return Err(Overflow);
        }
        let message = pb::WatchEventsResponse {
            event: Some(event.clone()),
        };
        if self.sender.try_send(Box::new(Ok(message))).is_err() {
            return Err(Overflow);
        }
        self.last_position = position;
        self.last_event_id = event.event_id.clone();
        Ok(())
    }

    /// Ends the stream with `error`, naming where to resume.
    fn end(&self, error: GatewayError) -> Code {
        let error = if self.last_event_id.is_empty() {
            error.with("start_time", self.last_position.time().to_string())
        } else {
            error.with("after_event_id", self.last_event_id.clone())
        };
        let status = Status::from(error);
        let code = status.code();
        // The reserved slot makes room for this unless the caller is gone.
        let _ = self.sender.try_send(Box::new(Err(status)));
        code
    }
}
