//! primal-pds: a multi-tenant AT Protocol Personal Data Server.
//!
//! [`config`] reads the Go primal-pds's `db.json` (and our additions);
//! [`state::AppState`] holds the storage backend and shared services;
//! [`app::build_app`] assembles the HTTP application (management API
//! `host.primal.pds.*`, the `com.atproto.*` XRPC methods, OpenAPI docs);
//! [`server`] runs it with graceful shutdown.
#![deny(missing_docs)]

pub mod accounts;
pub mod admin_auth;
pub mod app;
pub mod auth;
pub mod blobs;
pub mod config;
pub mod connections;
pub mod error;
pub mod firehose;
pub mod identity;
pub mod lexicons;
pub mod malloc_tuning;
pub mod passwords;
pub mod record_input;
pub mod repo_access;
pub mod repo_cache;
pub mod repo_locks;
pub mod request_guard;
pub mod request_host;
pub mod request_log;
pub mod secret;
pub mod server;
pub mod state;
pub mod traefik;
pub mod xrpc;

/// The server version (the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
