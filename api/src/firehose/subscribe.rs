//! `GET /xrpc/com.atproto.sync.subscribeRepos`: the WebSocket (a plain
//! poem route beside the OpenAPI service, which cannot describe it).
//!
//! Per connection two tasks share a [queue](super::queue) bounded in events
//! ([`Firehose::buffer`](super::Firehose::buffer)) and in bytes
//! ([`Firehose::subscriber_bytes`](super::Firehose::subscriber_bytes)):
//! - the *feeder* sends replayed events (from the log, `seq > cursor`, in
//!   pages of at most [`REPLAY_PAGE`] events and a quarter of the byte
//!   budget, waiting for room in the queue: a replaying client sets its own
//!   pace) and then live events from the node's broadcast without ever
//!   waiting: when the queue is full the subscriber is too slow, gets
//!   `ConsumerTooSlow` and is closed. Writers and other subscribers never
//!   wait for it.
//! - the *writer* takes frames from the queue and writes them to the
//!   socket, one at a time (each write flushed before the next, so the
//!   socket buffers at most one frame); a write that takes longer than
//!   [`SEND_TIMEOUT`] (a client that stopped reading) ends the connection.
//!
//! So a subscriber holds at most its byte budget of queued frames, one
//! replay page and the frame being written, whatever it does.
//!
//! Cutover without gap or duplicate: the feeder subscribes to the
//! broadcast *before* reading the last replay page, so any event not in
//! that page (committed after the read) is in the broadcast; live events
//! with `seq` at or below the last sent are skipped. If the broadcast
//! overflowed while replaying, the feeder replays again from the log.
//!
//! Cursor rules (specs/event-stream.md): no cursor → live only; a cursor
//! above the head `seq` → error `FutureCursor`, close; a cursor at or below
//! the highest pruned `seq` → `#info OutdatedCursor`, then everything kept.
//!
//! Each client IP (as the rate limits see it) may hold
//! `firehoseSubscribersPerIp` connections; one more is refused with 429
//! before the upgrade.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use poem::http::StatusCode;
use poem::web::Data;
use poem::web::websocket::{Message, WebSocket, WebSocketConfig};
use poem::{IntoResponse, Request, Response, handler};
use primal_pds_engine::firehose::{MAX_FRAME_BYTES, error_frame, info_frame};
use primal_pds_storage::EventLog;
use tokio::sync::broadcast;

use super::queue::{Out, QueueSender, Refused};
use crate::auth::rate_limit::RateSlot;
use crate::error::XrpcError;
use crate::state::AppState;

/// Events read from the log per replay query.
pub const REPLAY_PAGE: usize = 500;
/// A write to the socket that takes longer than this ends the connection.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest message accepted from a client (whose messages are ignored).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// tungstenite's own write buffer: what it holds before writing to the socket.
const WRITE_BUFFER: usize = 128 * 1024;

/// The WebSocket settings: tiny incoming messages, and a write buffer that
/// can never hold more than one frame beyond [`WRITE_BUFFER`] (the writer
/// flushes each frame before queueing the next).
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_CLIENT_MESSAGE))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE))
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(WRITE_BUFFER + MAX_FRAME_BYTES + 1024)
}

/// The `cursor` query parameter: absent, or a non-negative integer.
fn cursor_param(req: &Request) -> Result<Option<i64>, XrpcError> {
    let query = req.uri().query().unwrap_or_default();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name == "cursor" {
            return match value.parse::<i64>() {
                Ok(n) if n >= 0 => Ok(Some(n)),
                _ => Err(XrpcError::invalid_request("cursor must be a non-negative integer")),
            };
        }
    }
    Ok(None)
}

/// The WebSocket endpoint.
#[handler]
pub async fn subscribe_repos(req: &Request, ws: WebSocket, Data(state): Data<&Arc<AppState>>) -> Response {
    let cursor = match cursor_param(req) {
        Ok(cursor) => cursor,
        Err(e) => return e.into_response(),
    };
    let limited = req.extensions().get::<RateSlot>().is_some_and(RateSlot::applies);
    let slot = match state.rate_limiter.client_ip(req) {
        Some(ip) if limited => match state.firehose.take_ip_slot(ip) {
            Some(slot) => Some(slot),
            None => {
                return XrpcError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RateLimitExceeded",
                    "Too many firehose subscriptions from this address",
                )
                .into_response();
            }
        },
        _ => None,
    };
    let state = state.clone();
    let ws = ws.config(socket_config());
    ws.on_upgrade(move |socket| async move {
        // Held until the connection ends.
        let _slot = slot;
        let (mut sink, mut incoming) = socket.split();
        let (queue, mut frames) = state.firehose.subscriber_queue();
        let closed = Arc::new(AtomicBool::new(false));
        let too_slow = Arc::new(AtomicBool::new(false));
        let feeder = tokio::spawn(feed(state.clone(), cursor, queue, closed.clone(), too_slow.clone()));
        // Frames from the client are ignored; reading them notices a close.
        let reader_closed = closed.clone();
        let (gone_tx, mut gone) = tokio::sync::oneshot::channel::<()>();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = incoming.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
            reader_closed.store(true, Ordering::Release);
            let _ = gone_tx.send(());
        });
        loop {
            let out = tokio::select! {
                out = frames.recv() => out,
                // The client went away while nothing was being sent.
                _ = &mut gone => None,
            };
            let Some(out) = out else { break };
            let (bytes, last) = match &out {
                // Cut off: what is still queued is dropped, the error goes next.
                Out::Frame(_) if too_slow.load(Ordering::Acquire) => continue,
                Out::Frame(queued) => (queued.bytes().to_vec(), false),
                Out::Fatal(bytes) => (bytes.to_vec(), true),
            };
            let sent = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Binary(bytes))).await;
            // The frame keeps its share of the budget until written.
            drop(out);
            if last || !matches!(sent, Ok(Ok(()))) || closed.load(Ordering::Acquire) {
                break;
            }
        }
        closed.store(true, Ordering::Release);
        // What is still queued goes now, not when the feeder notices.
        drop(frames);
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::close())).await;
        feeder.abort();
        reader.abort();
        state.firehose.subscriber_left();
    })
    .into_response()
}

/// Fill the queue: replay, then live (see the module docs).
async fn feed(
    state: Arc<AppState>,
    cursor: Option<i64>,
    queue: QueueSender,
    closed: Arc<AtomicBool>,
    too_slow: Arc<AtomicBool>,
) {
    let mut last = match cursor {
        None => i64::MAX,
        Some(cursor) => {
            let head = match state.backend.head_seq().await {
                Ok(head) => head,
                Err(e) => {
                    tracing::warn!(error = %e, "firehose: cannot read the head seq");
                    queue.fatal(error_frame("InternalServerError", "Internal Server Error")).await;
                    return;
                }
            };
            if cursor > head {
                queue.fatal(error_frame("FutureCursor", "Cursor in the future.")).await;
                return;
            }
            let pruned = state.backend.pruned_through().await.unwrap_or(0);
            if cursor < pruned {
                let info = info_frame("OutdatedCursor", "Requested cursor exceeded limit. Possibly missing events");
                if queue.send(info).await.is_err() {
                    return;
                }
            }
            cursor
        }
    };
    let mut live = state.firehose.subscribe();
    if last == i64::MAX {
        // Live only: from whatever is broadcast next.
        last = 0;
    } else {
        // Overflow of `live` meanwhile shows as `Lagged` below: replayed again.
        if replay(&state, &mut last, &queue, &closed).await.is_err() {
            return;
        }
    }
    loop {
        match live.recv().await {
            Ok(event) if event.seq <= last => {}
            Ok(event) => {
                last = event.seq;
                match queue.try_send(event.frame) {
                    Ok(()) => {}
                    Err(Refused::Full) => {
                        // The writer sends this after what it is sending now.
                        too_slow.store(true, Ordering::Release);
                        queue.fatal(error_frame("ConsumerTooSlow", "Stream consumer too slow")).await;
                        return;
                    }
                    Err(Refused::Closed) => return,
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // This task fell behind the broadcast (not the client): read the log.
                live = state.firehose.subscribe();
                if replay(&state, &mut last, &queue, &closed).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Send every logged event after `last`, waiting for room in the queue.
/// `Err` when the connection is gone.
async fn replay(state: &AppState, last: &mut i64, queue: &QueueSender, closed: &AtomicBool) -> Result<(), ()> {
    let page_bytes = state.firehose.subscriber_bytes() / 4;
    loop {
        if closed.load(Ordering::Acquire) {
            return Err(());
        }
        let page = match state.backend.read_events(*last, REPLAY_PAGE, page_bytes).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "firehose: replay read failed");
                queue.fatal(error_frame("InternalServerError", "Internal Server Error")).await;
                return Err(());
            }
        };
        // A page may end early at the byte bound: only an empty one is the end.
        if page.is_empty() {
            return Ok(());
        }
        for event in page {
            *last = event.seq;
            if queue.send(event.frame).await.is_err() {
                return Err(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(uri: &str) -> Result<Option<i64>, u16> {
        let req = Request::builder().uri(uri.parse().expect("uri")).finish();
        cursor_param(&req).map_err(|e| e.status().as_u16())
    }

    #[test]
    fn the_cursor_parameter() {
        let base = "/xrpc/com.atproto.sync.subscribeRepos";
        assert_eq!(cursor(base), Ok(None));
        assert_eq!(cursor(&format!("{base}?cursor=0")), Ok(Some(0)));
        assert_eq!(cursor(&format!("{base}?x=1&cursor=42")), Ok(Some(42)));
        for bad in ["-1", "abc", "", "1.5", "99999999999999999999"] {
            assert_eq!(cursor(&format!("{base}?cursor={bad}")), Err(400), "{bad:?}");
        }
    }
}
