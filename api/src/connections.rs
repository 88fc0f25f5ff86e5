//! Client connections: how many may be open, how long each may take to
//! send a request head or sit idle, and the accept loop that enforces it.
//!
//! poem's server has no cap and no header-read timeout, and it retries a
//! failing `accept` at once: ~20,000 idle connections exhausted the file
//! descriptors and the server spun at 100% CPU without answering
//! `_health`. [`serve::serve`] replaces it: every connection holds a slot
//! of a fixed budget ([`fd_limit::default_max_connections`] unless
//! configured), a [`tracker::Tracker`] follows it through its request
//! cycle and closes it when a deadline passes, and at the cap the
//! connection idle the longest is closed first ([`registry::Registry`]).

pub mod fd_limit;
pub mod registry;
pub mod serve;
pub mod tracked_body;
pub mod tracked_io;
pub mod tracker;
