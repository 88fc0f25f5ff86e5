//! The firehose: `com.atproto.sync.subscribeRepos`.
//!
//! - Events are written to each tenant's outbox with the change they report
//!   and moved into the sequenced log by the [`sequencer`] (design and
//!   crash safety: `primal_pds_storage::firehose`).
//! - The [`hub`] tails the log in `seq` order and broadcasts each new event
//!   (its frame pre-serialized once) to the subscribers of this node. On
//!   SQLite the sequencer wakes it in-process; on Postgres every node
//!   listens for the `NOTIFY` of each append, so a write on node A reaches
//!   subscribers on node B.
//! - [`subscribe`] serves the WebSocket: cursor replay from the log, then
//!   live events, each subscriber with a [`queue`] bounded in events and
//!   bytes, at most [`per_ip`] connections per client IP.
//! - [`crawl`] asks the configured relays to crawl a domain after updates.

pub mod crawl;
pub mod hub;
pub mod per_ip;
pub mod queue;
pub mod sequencer;
pub mod subscribe;

pub use hub::Firehose;
