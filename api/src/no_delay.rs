//! [`NoDelay`]: an acceptor that turns Nagle's algorithm off on every
//! accepted connection.
//!
//! With Nagle on, a response whose last TCP segment is small (the tail of
//! a streamed blob or CAR) waits for the client's delayed ACK: ~40 ms on
//! a reused keep-alive connection. poem's TCP listener has no switch for
//! it, hence this wrapper.

use std::io::Result as IoResult;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::net::TcpStream;

/// Wraps a TCP acceptor; every stream it accepts has `TCP_NODELAY` set.
#[derive(Debug)]
pub struct NoDelay<A>(pub A);

impl<A: Acceptor<Io = TcpStream>> Acceptor for NoDelay<A> {
    type Io = TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> IoResult<(TcpStream, LocalAddr, RemoteAddr, Scheme)> {
        let accepted = self.0.accept().await?;
        // A socket that refuses the option still serves, only slower.
        if let Err(e) = accepted.0.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        Ok(accepted)
    }
}
