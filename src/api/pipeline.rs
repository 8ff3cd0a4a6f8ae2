//! What every routed request goes through before its handler: auth (API key → tenant), the
//! journal note, idempotency and scenarios.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::body::BodyTap;
use crate::error::ApiError;
use crate::state::Tenant;

use super::*;

/// The per-route layer: auth (API key → tenant) for admin routes; for MassPay routes the whole
/// way of a request, each step in its own module: auth → journal → idempotency (replay or
/// reserve) → scenarios (faults, latency, effects) → handler. Idempotency reserves the key
/// before a scenario's latency or fault, so a retry arriving meanwhile gets a 409, and an
/// injected fault (never a 2xx) is never stored.
#[derive(Clone)]
pub(super) struct PipelineLayer {
    pub(super) state: AppState,
    /// The MassPay operation of the route this layer wraps; `None` for an admin route.
    pub(super) operation: Option<&'static str>,
}

impl<S> Layer<S> for PipelineLayer {
    type Service = Pipeline<S>;

    fn layer(&self, inner: S) -> Pipeline<S> {
        Pipeline {
            state: self.state.clone(),
            operation: self.operation,
            inner,
        }
    }
}

#[derive(Clone)]
pub struct Pipeline<S> {
    state: AppState,
    operation: Option<&'static str>,
    inner: S,
}

type BoxResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for Pipeline<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = PipelineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> PipelineFuture<S::Future> {
        let tenant = match resolve_tenant(&self.state, &req) {
            Ok(t) => t,
            Err(e) => return PipelineFuture::Ready(std::future::ready(e.into_response())),
        };
        let Some(operation) = self.operation else {
            // An admin route.
            req.extensions_mut().insert(tenant);
            return PipelineFuture::Direct {
                inner: self.inner.call(req),
                journal: None,
            };
        };
        let journal = JournalNote::of(
            &mut req,
            Arc::clone(&tenant),
            self.state.strict,
            Some(operation),
        );
        let full_way = idempotency_layer::applies(&req)
            || scenario_layer::may_apply(&self.state, &tenant, &mut req, operation);
        req.extensions_mut().insert(tenant);
        if !full_way {
            // The common case: nothing to replay or inject, the handler runs directly.
            return PipelineFuture::Direct {
                inner: self.inner.call(req),
                journal: Some(journal),
            };
        }
        let state = self.state.clone();
        let inner = self.inner.clone();
        PipelineFuture::Boxed(Box::pin(async move {
            let response = idempotency_layer::run(req, |req| async {
                match scenario_layer::resolve(&state, req, operation).await {
                    Ok(req) => answer(inner, req).await,
                    Err(answer) => answer,
                }
            })
            .await;
            // This way may sleep (a scenario's latency) between writing an answer and returning
            // it: the answer's body is read here rather than taken from what the thread noted.
            crate::state::journal::forget_answer();
            let (parts, body) = response.into_parts();
            let bytes = super::body::collect(body, usize::MAX)
                .await
                .unwrap_or_default();
            let response = Response::from_parts(parts, axum::body::Body::from(bytes.clone()));
            let kept = (!bytes.is_empty()).then(|| crate::state::journal::Body::keep(&bytes));
            journal.record_with(&response, kept);
            Ok(response)
        }))
    }
}

/// The answer of [`Pipeline`]: at once (auth refused), the handler's own future (with the
/// journal entry written when it is ready), or the full way through idempotency and scenarios.
pub enum PipelineFuture<F> {
    Ready(std::future::Ready<Response>),
    Direct {
        inner: F,
        journal: Option<JournalNote>,
    },
    Boxed(BoxResponse),
}

impl<F> Future for PipelineFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut *self {
            PipelineFuture::Ready(r) => Pin::new(r).poll(cx).map(Ok),
            PipelineFuture::Direct { inner, journal } => {
                if journal.is_some() {
                    crate::state::journal::forget_answer();
                }
                let Poll::Ready(Ok(response)) = Pin::new(inner).poll(cx) else {
                    return Poll::Pending;
                };
                if let Some(j) = journal.take() {
                    j.record(&response);
                }
                Poll::Ready(Ok(response))
            }
            PipelineFuture::Boxed(f) => f.as_mut().poll(cx),
        }
    }
}

/// What the request journal keeps of a MassPay request, taken before the handler runs (the
/// body when the operation reads it, through a [`BodyTap`]; the answer when it is ready).
pub struct JournalNote {
    tenant: Arc<Tenant>,
    method: &'static str,
    text: crate::state::journal::RequestText,
    operation: Option<&'static str>,
    tap: Option<BodyTap>,
    strict: bool,
}

/// A method's name for the journal, without an allocation: routes answer only the standard
/// methods, so anything else was never routed (and is not journaled).
fn method_name(m: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *m {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::OPTIONS => "OPTIONS",
        M::HEAD => "HEAD",
        _ => "OTHER",
    }
}

impl JournalNote {
    /// Notes `req` to `operation` (none: the path matched no route), and, for a method with a
    /// body, gives it a tap for the body.
    pub(super) fn of(
        req: &mut Request,
        tenant: Arc<Tenant>,
        strict_default: bool,
        operation: Option<&'static str>,
    ) -> Self {
        let note = JournalNote::new(req, tenant, strict_default, operation);
        if let Some(tap) = &note.tap {
            req.extensions_mut().insert(tap.clone());
        }
        note
    }

    /// [`JournalNote::of`] for a reader of the body that gets the tap from [`JournalNote::tap`]
    /// rather than from the request's extensions.
    pub(super) fn new(
        req: &Request,
        tenant: Arc<Tenant>,
        strict_default: bool,
        operation: Option<&'static str>,
    ) -> Self {
        let method = method_name(req.method());
        let tap = (!matches!(method, "GET" | "HEAD")).then(BodyTap::default);
        let strict = tenant.journal.strict(strict_default);
        JournalNote {
            tenant,
            method,
            // Routes carry their full paths (no nesting), so this is the path as sent.
            text: crate::state::journal::RequestText::new(
                req.uri().path(),
                req.uri().query(),
                || {
                    req.headers()
                        .iter()
                        .filter(|(name, _)| *name != header::AUTHORIZATION)
                        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
                },
            ),
            operation,
            tap,
            strict,
        }
    }

    /// Where the body's reader leaves its first bytes (none for a method without a body).
    pub(super) fn tap(&self) -> Option<&BodyTap> {
        self.tap.as_ref()
    }

    /// Journals the request with `response`, whose body this thread noted in the poll that
    /// produced it ([`crate::state::journal::note_answer`]).
    pub(super) fn record(self, response: &Response) {
        let answer = crate::state::journal::take_answer();
        self.record_with(response, answer);
    }

    /// Journals the request with `response`, whose body is `response_body`.
    pub(super) fn record_with(
        self,
        response: &Response,
        response_body: Option<crate::state::journal::Body>,
    ) {
        let at = self.tenant.now();
        let request_body = self.tap.and_then(BodyTap::take);
        self.tenant.journal.record(
            crate::state::journal::JournalEntry {
                seq: 0,
                method: self.method,
                text: self.text,
                operation: self.operation,
                status: response.status().as_u16(),
                at,
                request_body,
                response_body,
                injected: response
                    .extensions()
                    .get::<crate::error::InjectedFault>()
                    .is_some(),
            },
            self.strict,
        );
    }
}

pub(super) fn resolve_tenant(state: &AppState, req: &Request) -> Result<Arc<Tenant>, ApiError> {
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(api_key)
        .unwrap_or("");
    if key.is_empty() {
        return Err(ApiError::Unauthorized(
            "the Authorization header with your API key is missing".into(),
        ));
    }
    state.store.tenant(key).map_err(|refused| match refused {
        crate::state::Refused::TooLong => {
            ApiError::Unauthorized(format!(
                "the API key is longer than {} bytes",
                crate::limits::MAX_API_KEY_LEN
            ))
        }
        crate::state::Refused::Key => {
            ApiError::Unauthorized("the API key is not valid for this sandbox".into())
        }
        crate::state::Refused::Full(max) => ApiError::Unavailable(format!(
            "this sandbox already holds {max} tenants (distinct API keys), its limit (--max-tenants); \
             reuse an API key, or restart the sandbox with a higher --max-tenants"
        )),
    })
}

/// `Bearer K` (scheme word in any case) and `K` name the same key.
pub fn api_key(header: &str) -> &str {
    // What clients send: `Bearer ` and a key of visible ASCII (no space anywhere to trim or
    // split at), read without walking the text as Unicode.
    if let Some(key) = header.strip_prefix("Bearer ") {
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic()) {
            return key;
        }
    }
    let h = header.trim();
    match h.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        // The scheme word alone carries no key.
        _ if h.eq_ignore_ascii_case("bearer") => "",
        _ => h,
    }
}

#[cfg(test)]
mod tests {
    use super::api_key;

    #[test]
    fn the_key_is_what_follows_the_scheme_word_however_it_is_spaced() {
        for (header, key) in [
            ("Bearer k1", "k1"),
            ("bearer k1", "k1"),
            ("BEARER\tk1", "k1"),
            ("  Bearer   k1  ", "k1"),
            ("Bearer k1 ", "k1"),
            ("Bearer k1 k2", "k1 k2"),
            ("Bearer k\u{a0}", "k"),
            ("Bearer é", "é"),
            ("Bearer ", ""),
            ("Bearer", ""),
            ("bearer", ""),
            ("k1", "k1"),
            (" k1 ", "k1"),
            ("Basic abc", "Basic abc"),
            ("", ""),
        ] {
            assert_eq!(api_key(header), key, "{header:?}");
        }
    }
}
