//! Where primal-pds keeps its data.
//!
//! One management database (domains, DID routing, firehose events) and one
//! database per hosted domain (accounts, repo blocks, repo roots, records
//! index). Two backends implement the same traits and pass the same
//! [`conformance`] suite:
//!
//! - [`postgres`]: the production backend. Tenant databases are spread over
//!   one or more servers; pools open lazily under a global connection cap.
//! - [`sqlite`]: the embedded zero-config default: a management file and one
//!   file per tenant under a data directory.
//!
//! With the `rocksdb-cache` feature, [`cache`] adds a read-through block
//! cache in front of either.
#![deny(missing_docs)]

mod account;
mod any;
pub mod blob;
pub mod blob_conformance;
mod blob_index;
#[cfg(feature = "rocksdb-cache")]
pub mod cache;
pub mod conformance;
mod domain;
mod error;
pub mod firehose;
pub mod memory;
pub mod postgres;
pub mod private_fs;
mod session;
pub mod sqlite;
mod stats;
mod tenant;

pub use account::{Account, AccountRole, AccountStatus, AccountStore, AccountUpdate, NewAccount};
pub use any::{AnyBackend, AnyStore};
pub use blob_index::{BlobIndex, BlobMeta, MissingBlob, Registration};
pub use domain::{DomainName, TENANT_DB_PREFIX};
pub use error::StorageError;
pub use firehose::{EventLog, EventOutbox, OutboxEvent, SequencedEvent, account_wire_status};
pub use memory::now_millis;
pub use session::{AppPassword, InviteCode, RefreshToken, RegistrationMode, SessionStore};
pub use stats::{RepoCounts, RepoStats};
pub use tenant::{TenantBackend, TenantInfo, TenantStatus};
