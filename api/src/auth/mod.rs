//! Accounts' own credentials: session JWTs ([`jwt`]), login identifiers
//! ([`login_identifier`]), authenticating a request as an account of a
//! tenant ([`session`]) against its live sessions ([`live_sessions`]), the
//! credentials check made before a body is read ([`precheck`]), and rate
//! limits ([`rate_limit`]).

pub mod jwt;
pub mod live_sessions;
pub mod login_identifier;
pub mod precheck;
pub mod rate_limit;
pub mod session;
