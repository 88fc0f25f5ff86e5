//! [`serve`]: accept client connections within a budget and serve each
//! with hyper until it finishes, expires, or the server shuts down.

use std::convert::Infallible;
use std::future::Future;
use std::io::{ErrorKind, Result as IoResult};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use poem::Endpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;

use super::registry::Registry;
use super::tracked_body::TrackedBody;
use super::tracked_io::TrackedIo;
use super::tracker::{Expiry, Timeouts, Tracker};

/// How long an idle connection closed gracefully may take to go.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Pause after an `accept` error other than a vanished client (out of file
/// descriptors, say): retrying at once would spin without progress.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// At most one log line per this interval about failing accepts or a full
/// connection budget.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// While every slot is taken and no connection is idle, look again for an
/// idle one this often.
const EVICT_RETRY: Duration = Duration::from_secs(1);

/// What a connection is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Header and idle timeouts.
    pub timeouts: Timeouts,
}

/// The server's life, as its connections see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Finish the requests in flight, take no new ones.
    Draining,
    /// The grace period is over: close everything.
    Closing,
}

/// Accept connections on `listener` and serve `app` on them until
/// `shutdown` resolves; then let requests in flight finish for up to
/// `grace`.
///
/// Each connection takes one of `limits.max_connections` slots for as long
/// as its socket is open. When none is free, the connection idle the
/// longest is closed; when none is idle, the accepted connection waits
/// (and later ones wait in the listen queue, holding no descriptor) until
/// one closes. Connections that are slow to send a request head, or idle
/// too long, are closed by their [`Tracker`].
pub async fn serve<E>(
    listener: TcpListener,
    app: E,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> IoResult<()>
where
    E: Endpoint + 'static,
{
    let local_addr = LocalAddr(listener.local_addr()?.into());
    let app = Arc::new(app);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let registry = Arc::new(Registry::default());
    let (phase_tx, phase_rx) = watch::channel(Phase::Serving);
    // Every connection task holds a sender: `recv` ends when all are gone.
    let (alive_tx, mut alive_rx) = mpsc::channel::<Infallible>(1);
    let mut last_log: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e, &mut last_log).await;
                    continue;
                }
            },
        };
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = free_slot(&slots, &registry, &mut last_log) => slot,
        };
        // With Nagle on, a response whose last segment is small (the tail
        // of a streamed blob or CAR) waits ~40 ms for the client's delayed
        // ACK. A socket that refuses the option still serves, only slower.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let connection = Connection {
            app: app.clone(),
            local_addr: local_addr.clone(),
            remote,
            timeouts: limits.timeouts,
            registry: registry.clone(),
            phase: phase_rx.clone(),
        };
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            connection.serve(stream, slot).await;
            drop(alive);
        });
    }
    // Stop accepting: new clients are refused rather than queued.
    drop(listener);
    let _ = phase_tx.send(Phase::Draining);
    drop(alive_tx);
    if tokio::time::timeout(grace, alive_rx.recv()).await.is_err() {
        tracing::info!(grace_seconds = grace.as_secs(), "closing the connections still open after the grace period");
        let _ = phase_tx.send(Phase::Closing);
        alive_rx.recv().await;
    }
    Ok(())
}

/// A slot for the next connection: a free one, else the one of the
/// connection idle the longest, else the first one released.
async fn free_slot(
    slots: &Arc<Semaphore>,
    registry: &Registry,
    last_log: &mut Option<Instant>,
) -> OwnedSemaphorePermit {
    loop {
        // The semaphore is never closed: acquiring fails only then.
        if let Ok(slot) = slots.clone().try_acquire_owned() {
            return slot;
        }
        if !registry.evict_longest_idle() && should_log(last_log) {
            tracing::warn!(
                open = registry.len(),
                "connection limit reached and no connection idle: new connections wait"
            );
        }
        if let Ok(Ok(slot)) = tokio::time::timeout(EVICT_RETRY, slots.clone().acquire_owned()).await {
            return slot;
        }
    }
}

/// Log (at most every [`LOG_INTERVAL`]) and pause after a failed `accept`.
async fn accept_failed(error: &std::io::Error, last_log: &mut Option<Instant>) {
    // The client went away between connecting and being accepted.
    if matches!(error.kind(), ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset) {
        return;
    }
    if should_log(last_log) {
        tracing::warn!(error = %error, "accepting a connection failed; pausing");
    }
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

fn should_log(last_log: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last_log.is_some_and(|at| now.duration_since(at) < LOG_INTERVAL) {
        return false;
    }
    *last_log = Some(now);
    true
}

/// What serving one connection needs.
struct Connection<E> {
    app: Arc<E>,
    local_addr: LocalAddr,
    remote: SocketAddr,
    timeouts: Timeouts,
    registry: Arc<Registry>,
    phase: watch::Receiver<Phase>,
}

impl<E: Endpoint + 'static> Connection<E> {
    /// Serve HTTP/1 or HTTP/2 on `stream` until the client closes it, its
    /// tracker expires it, or the server shuts down.
    async fn serve(mut self, stream: TcpStream, slot: OwnedSemaphorePermit) {
        let tracker = Arc::new(Tracker::new(self.timeouts));
        let _registration = self.registry.register(tracker.clone());
        let io = TokioIo::new(TrackedIo::new(stream, tracker.clone(), slot));
        let service = hyper::service::service_fn({
            let tracker = tracker.clone();
            let app = self.app.clone();
            let local_addr = self.local_addr.clone();
            let remote_addr = RemoteAddr(self.remote.into());
            move |request: hyper::Request<Incoming>| {
                let guard = tracker.request_started();
                let app = app.clone();
                let request = (request, local_addr.clone(), remote_addr.clone(), Scheme::HTTP).into();
                async move {
                    let response: hyper::Response<_> = app.get_response(request).await.into();
                    Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, guard)))
                }
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // poem's settings: at most 20 streams reset before GOAWAY, 16 KiB of headers.
        builder.http2().max_pending_accept_reset_streams(20).max_header_list_size(16384);
        let conn = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(conn);
        let expiry = tokio::select! {
            // Done, failed, or handed over to an upgrade (a WebSocket keeps the slot).
            _ = conn.as_mut() => return,
            expiry = tracker.expired() => Some(expiry),
            _ = self.phase.wait_for(|p| *p != Phase::Serving) => None,
        };
        match expiry {
            Some(Expiry::HeaderTimeout) => {
                // No request in flight: drop the socket.
                tracing::debug!(remote = %self.remote, "request head not received in time: closing");
            }
            Some(Expiry::Idle) => {
                tracing::debug!(remote = %self.remote, "idle connection: closing");
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
            }
            None => {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    _ = conn => {}
                    _ = tracker.expired() => {}
                    _ = self.phase.wait_for(|p| *p == Phase::Closing) => {}
                }
            }
        }
    }
}
