//! Accounts' own credentials: session JWTs ([`jwt`]), authenticating a
//! request as an account of a tenant ([`session`]), and rate limits
//! ([`rate_limit`]).

pub mod jwt;
pub mod rate_limit;
pub mod session;
