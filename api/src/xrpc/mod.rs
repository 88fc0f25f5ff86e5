//! The HTTP surface, one module per API group. Each group is a
//! poem-openapi `#[OpenApi]` struct; [`crate::app`] combines them.

pub mod management;
pub mod management_types;
pub mod server_info;
