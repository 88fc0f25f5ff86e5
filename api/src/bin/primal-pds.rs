//! The `primal-pds` binary: load the configuration, open storage, write the
//! Traefik file, serve until SIGTERM or Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use primal_pds_api::config::{Config, LoadedConfig, StorageConfig};
use primal_pds_api::identity::Identity;
use primal_pds_api::server::{self, open_backend, shutdown_signal};
use primal_pds_api::state::AppState;
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
Usage: primal-pds [--config PATH]

A multi-tenant AT Protocol PDS.

Options:
  -c, --config PATH  the JSON configuration file (default: db.json in the working
                     directory when present; without one, SQLite under ./data and an
                     admin key generated into ./data/admin.key)
  -h, --help         print this help
  -V, --version      print the version

Every field can be overridden by an environment variable PRIMAL_PDS_<FIELD>, e.g.
PRIMAL_PDS_ADMIN_KEY, PRIMAL_PDS_DB_CONN, PRIMAL_PDS_LISTEN_ADDR. Fields: see
db.json.example. Log level: RUST_LOG (default info).";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run { config: Option<PathBuf> },
    Help,
    Version,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-c" | "--config" => {
                let path = args.next().ok_or_else(|| format!("{arg} needs a path"))?;
                config = Some(PathBuf::from(path));
            }
            other => match other.strip_prefix("--config=") {
                Some(path) if !path.is_empty() => config = Some(PathBuf::from(path)),
                _ => return Err(format!("unknown argument {other:?}")),
            },
        }
    }
    Ok(Command::Run { config })
}

fn main() -> ExitCode {
    primal_pds_api::malloc_tuning::keep_large_blocks_out_of_the_heap();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(cli()),
        Err(e) => {
            eprintln!("primal-pds: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn cli() -> ExitCode {
    let config_path = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run { config }) => config,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("primal-pds {}", primal_pds_api::VERSION);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("primal-pds: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    match run(config_path).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("primal-pds: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config_path: Option<PathBuf>) -> Result<(), String> {
    let LoadedConfig { config, file, generated_admin_key } =
        Config::load(config_path.as_deref()).map_err(|e| e.to_string())?;
    match &file {
        Some(path) => tracing::info!(file = %path.display(), "configuration loaded"),
        None => tracing::info!("no configuration file: defaults and PRIMAL_PDS_* environment variables"),
    }
    if let Some(key) = generated_admin_key {
        // Shown once, on stdout, never logged; later starts read the file.
        println!(
            "primal-pds: generated the admin key (stored in {}; shown only this once):\n{}",
            primal_pds_api::config::admin_key::admin_key_path(&config.data_dir).display(),
            key.expose()
        );
    }
    raise_open_file_limit();
    log_storage(&config.storage);
    let backend = open_backend(&config).await.map_err(|e| format!("opening storage: {e}"))?;
    let identity = Identity::open(&config).await.map_err(|e| format!("identity keys: {e}"))?;
    let listen = config.listen_addr.clone();
    let state = Arc::new(AppState::new(config, backend, identity).map_err(|e| format!("blob store: {e}"))?);
    state.sync_traefik().await.map_err(|e| format!("Traefik configuration: {e}"))?;
    let running = server::start(state.clone(), &listen).await.map_err(|e| e.to_string())?;
    tracing::info!(addr = %running.addr, backend = state.backend.kind(), "primal-pds listening");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    server::close(&state).await;
    Ok(())
}

/// Client connections and database, blob and log files all need file
/// descriptors: take every one the system allows this process.
fn raise_open_file_limit() {
    match primal_pds_api::connections::fd_limit::raise_to_hard_limit() {
        Ok(limit) => tracing::info!(before = limit.before, now = limit.after, hard = limit.hard, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

/// Which backend, without secrets (server names, never URLs).
fn log_storage(storage: &StorageConfig) {
    match storage {
        StorageConfig::Sqlite { data_dir } => {
            tracing::info!(data_dir = %data_dir.display(), "storage: SQLite");
        }
        StorageConfig::Postgres { servers, management_db, max_connections } => {
            let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
            tracing::info!(servers = ?names, management_db, max_connections = ?max_connections, "storage: PostgreSQL");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(&[]), Ok(Command::Run { config: None }));
        assert_eq!(parse(&["--config", "x.json"]), Ok(Command::Run { config: Some("x.json".into()) }));
        assert_eq!(parse(&["--config=/a/b.json"]), Ok(Command::Run { config: Some("/a/b.json".into()) }));
        assert_eq!(parse(&["-c", "y"]), Ok(Command::Run { config: Some("y".into()) }));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-V"]), Ok(Command::Version));
        assert!(parse(&["--config"]).is_err());
        assert!(parse(&["--config="]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
