//! Opening the backend, binding the listener, serving until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::Server;
use poem::listener::{Acceptor, Listener, TcpListener};
use primal_pds_storage::postgres::{PgServer, PostgresBackend, PostgresConfig};
use primal_pds_storage::sqlite::{SqliteBackend, SqliteConfig};
use primal_pds_storage::{AnyBackend, StorageError, TenantBackend};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::build_app;
use crate::config::{Config, StorageConfig};
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
    /// Anything else in start-up (identity keys, Traefik file, ...).
    #[error("{0}")]
    Other(String),
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
/// `state` until [`RunningServer::stop`].
pub async fn start(state: Arc<AppState>, listen: &str) -> Result<RunningServer, StartError> {
    let socket = listen_socket(listen);
    let acceptor = TcpListener::bind(socket.clone())
        .into_acceptor()
        .await
        .map_err(|source| StartError::Listen { addr: socket.clone(), source })?;
    let acceptor = crate::no_delay::NoDelay(acceptor);
    let addr = acceptor
        .local_addr()
        .into_iter()
        .find_map(|a| a.as_socket_addr().copied())
        .ok_or_else(|| StartError::Other(format!("no socket address for {socket}")))?;
    let (tx, rx) = oneshot::channel::<()>();
    crate::firehose::sequencer::start(&state);
    crate::blobs::spawn_collector(&state);
    let app = build_app(state);
    let task = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async move {
                    let _ = rx.await;
                },
                Some(GRACE_PERIOD),
            )
            .await
    });
    Ok(RunningServer { addr, shutdown: Some(tx), task })
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
