//! Opening the backend, binding the listener, serving until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use primal_pds_storage::postgres::{PgServer, PostgresBackend, PostgresConfig};
use primal_pds_storage::sqlite::{SqliteBackend, SqliteConfig};
use primal_pds_storage::{AnyBackend, StorageError, TenantBackend};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::build_app;
use crate::config::{Config, HttpConfig, StorageConfig};
use crate::connections::fd_limit;
use crate::connections::serve::{Limits, serve};
use crate::connections::tracker::Timeouts;
use crate::state::AppState;

/// How long in-flight requests get to finish after a shutdown signal.
const GRACE_PERIOD: Duration = Duration::from_secs(30);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The storage backend could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Open the configured storage backend (applying migrations).
pub async fn open_backend(config: &Config) -> Result<AnyBackend, StorageError> {
    match &config.storage {
        StorageConfig::Sqlite { data_dir } => {
            Ok(AnyBackend::Sqlite(SqliteBackend::open(SqliteConfig::new(data_dir.clone())).await?))
        }
        StorageConfig::Postgres { servers, management_db, max_connections } => {
            let servers =
                servers.iter().map(|s| PgServer { name: s.name.clone(), url: s.url.expose().to_string() }).collect();
            let mut pg = PostgresConfig::new(servers);
            pg.management_db = management_db.clone();
            if let Some(max) = max_connections {
                pg.max_connections = *max;
            }
            Ok(AnyBackend::Postgres(PostgresBackend::connect(pg).await?))
        }
    }
}

/// `listenAddr` as a socket address: Go-style `:3000` means every interface.
pub fn listen_socket(listen_addr: &str) -> String {
    if listen_addr.starts_with(':') { format!("0.0.0.0{listen_addr}") } else { listen_addr.to_string() }
}

/// A server accepting connections in a background task.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address (the real port when `:0` was asked).
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stop accepting, let in-flight requests finish (up to a grace
    /// period), and wait until the server has stopped.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Err(e) = (&mut self.task).await {
            tracing::error!(error = %e, "server task failed");
        }
    }
}

/// Bind `listen` (`host:port` or `:port`) and serve the application over
/// `state` until [`RunningServer::stop`], within the connection limits of
/// `state.config.http`.
pub async fn start(state: Arc<AppState>, listen: &str) -> Result<RunningServer, StartError> {
    let socket = listen_socket(listen);
    let listener = tokio::net::TcpListener::bind(socket.as_str())
        .await
        .map_err(|source| StartError::Listen { addr: socket.clone(), source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen { addr: socket.clone(), source })?;
    let limits = connection_limits(&state.config.http);
    tracing::info!(
        max_connections = limits.max_connections,
        header_timeout_seconds = limits.timeouts.header.as_secs_f64(),
        idle_timeout_seconds = limits.timeouts.idle.as_secs_f64(),
        "connection limits"
    );
    let (tx, rx) = oneshot::channel::<()>();
    crate::firehose::sequencer::start(&state);
    crate::blobs::spawn_collector(&state);
    let app = build_app(state);
    let shutdown = async move {
        let _ = rx.await;
    };
    let task = tokio::spawn(serve(listener, app, limits, shutdown, GRACE_PERIOD));
    Ok(RunningServer { addr, shutdown: Some(tx), task })
}

/// The configured limits; without a configured cap, one derived from the
/// open-file limit (a configured cap at or above that limit is kept, with a warning).
fn connection_limits(http: &HttpConfig) -> Limits {
    let soft_limit = fd_limit::soft_limit();
    let max_connections = match http.max_connections {
        Some(max) => {
            if let Some(limit) = soft_limit.filter(|&limit| max as u64 >= limit) {
                tracing::warn!(
                    http_max_connections = max,
                    open_file_limit = limit,
                    "httpMaxConnections is not below the open-file limit: database and blob files may fail to open"
                );
            }
            max
        }
        None => fd_limit::default_max_connections(soft_limit),
    };
    Limits { max_connections, timeouts: Timeouts { header: http.header_timeout, idle: http.idle_timeout } }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Close the backend's connections (after the server stopped).
pub async fn close(state: &AppState) {
    state.backend.close().await;
}
