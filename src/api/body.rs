//! Request bodies: read only by the operation that wants one, after auth and routing, within
//! the operation's limit while streaming, within a deadline, and within a process-wide budget of
//! buffered bytes.
//!
//! The edge never reads a body. It wraps the connection's body in a [`GuardedBody`] (the
//! route's limit, the deadline, the budget) and notes whether anything read it to the end: an
//! answer given without reading the body (401, 404, a GET with a body) says
//! `Connection: close`, so a keep-alive client does not send its next request on a connection
//! whose unread bytes would be taken for that request.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::body::{Body, Bytes};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::gate::{Gate, Pass};
use crate::error::ApiError;
use crate::limits;

/// Where the operation's reading of a request body leaves a copy for the request journal (the
/// pipeline puts one in a MassPay request's extensions; whoever reads the body fills it).
#[derive(Clone, Default)]
pub struct BodyTap(pub Arc<std::sync::OnceLock<crate::state::journal::Body>>);

impl BodyTap {
    /// The body read, if any: taken when this is the last handle (the request is gone by
    /// the time its answer is journaled), else copied.
    pub fn take(self) -> Option<crate::state::journal::Body> {
        match Arc::try_unwrap(self.0) {
            Ok(cell) => cell.into_inner(),
            Err(shared) => shared.get().cloned(),
        }
    }
}

/// Reads a request's body ([`collect`]) and leaves its first bytes for the journal, if the
/// request carries a [`BodyTap`]: how every reader of a MassPay request's body reads it.
pub async fn read_request_body(
    extensions: &axum::http::Extensions,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    read_tapped_body(extensions.get::<BodyTap>(), body, limit).await
}

/// [`read_request_body`] with the tap at hand.
pub async fn read_tapped_body(
    tap: Option<&BodyTap>,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let bytes = collect(body, limit).await?;
    if let Some(t) = tap {
        let _ = t.0.set(crate::state::journal::Body::keep(&bytes));
    }
    Ok(bytes)
}

/// The body limit of the ID-image uploads (base64 images, up to 10 MB of images).
pub const UPLOAD_LIMIT: usize = 14 * 1024 * 1024;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Bytes of request bodies being buffered at once, across every connection. A body reserves
/// its announced length (its route's limit when chunked) when it is first read; a body that
/// cannot get its share within its deadline is a 503.
static BUDGET: Gate = Gate::new(limits::BODY_BUFFER_BUDGET);

/// The limit of the operation at `path`: the two ID uploads take base64 images, every other
/// operation [`BODY_LIMIT`].
pub fn limit_for(path: &str) -> usize {
    let upload =
        path.ends_with("/kyc/id") || (path.contains("/subaccount/") && path.ends_with("/id"));
    if upload {
        UPLOAD_LIMIT
    } else {
        BODY_LIMIT
    }
}

/// The length a request announces, if it announces one.
pub fn announced_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than this operation accepts")]
    TooLarge,
    #[error("the request body did not arrive within {} s", limits::BODY_TIMEOUT.as_secs())]
    Timeout,
    #[error("the sandbox is buffering too many request bodies at once")]
    Busy,
    #[error("the request body could not be read: {0}")]
    Read(String),
}

impl From<&BodyError> for ApiError {
    fn from(e: &BodyError) -> ApiError {
        match e {
            BodyError::TooLarge => ApiError::PayloadTooLarge,
            BodyError::Timeout => ApiError::RequestTimeout,
            BodyError::Busy => ApiError::Unavailable(format!(
                "{e}; retry in a moment (at most {} MiB of request bodies are buffered at once)",
                limits::BODY_BUFFER_BUDGET >> 20
            )),
            BodyError::Read(_) => ApiError::bad_request(e.to_string()),
        }
    }
}

/// Reads a whole body within `limit` bytes, mapping every failure to MassPay's error shape.
pub async fn collect(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if let Some(b) = err.downcast_ref::<BodyError>() {
                return ApiError::from(b);
            }
            if err.is::<http_body_util::LengthLimitError>() {
                return ApiError::PayloadTooLarge;
            }
            source = err.source();
        }
        ApiError::bad_request(format!("the request body could not be read: {e}"))
    })
}

/// Set once a body has been read to its end.
#[derive(Clone, Default)]
pub struct Consumed(Arc<AtomicBool>);

impl Consumed {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A connection's request body with its route's limit, its deadline and its budget share.
pub struct GuardedBody {
    inner: Body,
    limit: usize,
    seen: usize,
    /// Bytes to reserve from the budget at the first read.
    reserve: usize,
    permit: Option<Pass>,
    waiting: Option<Acquire>,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    consumed: Consumed,
}

/// Puts `body` under guard for a route whose limit is `limit`; the returned flag says whether it
/// was read to the end.
pub fn guard(body: Body, limit: usize, announced: Option<u64>) -> (Body, Consumed) {
    let consumed = Consumed::default();
    let reserve = announced
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX).min(limit))
        .unwrap_or(limit);
    let guarded = GuardedBody {
        inner: body,
        limit,
        seen: 0,
        reserve,
        permit: None,
        waiting: None,
        deadline: Instant::now() + limits::BODY_TIMEOUT,
        timer: None,
        consumed: consumed.clone(),
    };
    (Body::new(guarded), consumed)
}

type Acquire = Pin<Box<dyn Future<Output = Option<Pass>> + Send>>;

impl GuardedBody {
    /// The budget share, reserved at the first read (an unread body never takes any).
    fn poll_budget(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BodyError>> {
        if self.permit.is_some() || self.reserve == 0 {
            return Poll::Ready(Ok(()));
        }
        let n = self.reserve;
        let waiting = match &mut self.waiting {
            Some(w) => w,
            None => match BUDGET.try_take(n) {
                Some(p) => {
                    self.permit = Some(p);
                    return Poll::Ready(Ok(()));
                }
                None => self.waiting.insert(Box::pin(BUDGET.take(n))),
            },
        };
        match waiting.as_mut().poll(cx) {
            Poll::Ready(Some(p)) => {
                self.waiting = None;
                self.permit = Some(p);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(None) => Poll::Ready(Err(BodyError::Busy)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Pending past the deadline is a timeout (a body trickled in too slowly, or a budget share
    /// that never came: busy).
    fn poll_deadline(&mut self, cx: &mut Context<'_>, waiting_for_budget: bool) -> Poll<BodyError> {
        let deadline = self.deadline;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(if waiting_for_budget {
            BodyError::Busy
        } else {
            BodyError::Timeout
        })
    }
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match this.poll_budget(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
            Poll::Pending => return this.poll_deadline(cx, true).map(|e| Some(Err(e))),
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.consumed.0.store(true, Ordering::Release);
                this.permit = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len());
                    if this.seen > this.limit {
                        return Poll::Ready(Some(Err(BodyError::TooLarge)));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(BodyError::Read(e.to_string())))),
            Poll::Pending => this.poll_deadline(cx, false).map(|e| Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
