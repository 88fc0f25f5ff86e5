//! The HTTP surface, one module per API group. Each group is a
//! poem-openapi `#[OpenApi]` struct; [`crate::app`] combines them.

pub mod blobs;
pub mod body_limit;
pub mod describe_server;
pub mod identity;
pub mod identity_update;
pub mod management;
pub mod management_types;
pub mod params;
pub mod repo;
pub mod server_account;
pub mod server_info;
pub mod server_session;
pub mod server_signup;
pub mod sync;
