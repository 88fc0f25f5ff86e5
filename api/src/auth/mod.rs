//! Accounts' own credentials: session JWTs ([`jwt`]), authenticating a
//! request as an account of a tenant ([`session`]), the credentials check
//! made before a body is read ([`precheck`]), and rate limits
//! ([`rate_limit`]).

pub mod jwt;
pub mod precheck;
pub mod rate_limit;
pub mod session;
