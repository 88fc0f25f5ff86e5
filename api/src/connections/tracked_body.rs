//! [`TrackedBody`]: a response body that keeps its connection busy until
//! it has been sent (or dropped).

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, SizeHint};

use super::tracker::RequestGuard;

/// `inner`, with the guard released when hyper drops the body: after its
/// last frame, or when the connection goes away.
#[derive(Debug)]
pub struct TrackedBody<B> {
    inner: B,
    _guard: RequestGuard,
}

impl<B> TrackedBody<B> {
    /// `inner`, keeping the request behind `guard` in flight.
    pub fn new(inner: B, guard: RequestGuard) -> TrackedBody<B> {
        TrackedBody { inner, _guard: guard }
    }
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
