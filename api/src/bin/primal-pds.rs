//! The `primal-pds` binary: load the configuration, open storage, serve
//! until SIGTERM.

use std::sync::Arc;

use primal_pds_api::config::Config;
use primal_pds_api::identity::Identity;
use primal_pds_api::secret::Secret;
use primal_pds_api::server::{self, open_backend, shutdown_signal};
use primal_pds_api::state::AppState;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("primal-pds: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    // Replaced by the config loader (db.json, --config, environment).
    let config = Config::embedded("data".into(), Secret::random_hex(32).map_err(|e| e.to_string())?);
    let backend = open_backend(&config).await.map_err(|e| e.to_string())?;
    let identity = Identity::open(&config).await.map_err(|e| e.to_string())?;
    let listen = config.listen_addr.clone();
    let state = Arc::new(AppState::new(config, backend, identity));
    let running = server::start(state.clone(), &listen).await.map_err(|e| e.to_string())?;
    tracing::info!(addr = %running.addr, backend = state.backend.kind(), "primal-pds listening");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    server::close(&state).await;
    Ok(())
}
