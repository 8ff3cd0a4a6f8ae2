//! The HTTP side of [`crate::idempotency`]: reserve or replay before the handler, store after.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::idempotency::{fingerprint, Begin, Stored};
use crate::state::Tenant;

pub const HEADER: axum::http::HeaderName = axum::http::HeaderName::from_static("idempotency-key");
pub const REPLAYED: &str = "idempotent-replayed";

/// Removes a reservation if the request never finished (an error answer, or a panic).
struct Reservation<'a> {
    tenant: &'a Tenant,
    scope: &'a str,
    done: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.tenant.idempotency.abandon(self.scope);
        }
    }
}

/// Whether [`run`] has anything to do: a mutating request that carries an `Idempotency-Key`.
pub fn applies(req: &Request) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && req.headers().contains_key(HEADER)
}

/// Runs `inner` for the request unless the key says to replay (or refuse) it; stores a 2xx answer.
pub async fn run<F, Fut>(req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    if !applies(&req) {
        return inner(req).await;
    }
    let Some(key) = req.headers().get(HEADER) else {
        return inner(req).await;
    };
    let key = match key.to_str() {
        Ok(k) if !k.trim().is_empty() && k.len() <= 255 => k.trim().to_string(),
        _ => {
            return ApiError::bad_request(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .into_response()
        }
    };
    let Some(tenant) = req.extensions().get::<Arc<Tenant>>().cloned() else {
        return inner(req).await;
    };
    // The path as sent (with its version prefix): keys are scoped per (tenant, method, path).
    let scope = format!("{} {} {}", req.method(), req.uri().path(), key);
    let query = req.uri().query().unwrap_or("").to_string();
    let (parts, body) = req.into_parts();
    let bytes =
        match super::body::read_request_body(&parts.extensions, body, super::UPLOAD_LIMIT).await {
            Ok(b) => b,
            Err(e) => return e.into_response(),
        };
    let print = fingerprint(&query, &bytes);
    match tenant.idempotency.begin(&scope, print, tenant.now()) {
        Begin::Replay(stored) => replay(stored),
        Begin::Mismatch => ApiError::Unprocessable(format!(
            "Idempotency-Key {key:?} was already used for a different request to {} {}",
            parts.method,
            parts.uri.path()
        ))
        .into_response(),
        Begin::InFlight => ApiError::Conflict(format!(
            "a request with Idempotency-Key {key:?} is still being processed; retry once it has completed"
        ))
        .into_response(),
        Begin::Proceed => {
            let mut reservation = Reservation { tenant: &tenant, scope: &scope, done: false };
            let response = inner(Request::from_parts(parts, Body::from(bytes))).await;
            if !response.status().is_success() {
                return response;
            }
            let (rparts, rbody) = response.into_parts();
            let Ok(body) = axum::body::to_bytes(rbody, usize::MAX).await else {
                return ApiError::Internal("the response could not be buffered".into()).into_response();
            };
            let content_type = rparts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            tenant.idempotency.finish(
                &scope,
                print,
                tenant.now(),
                Stored { status: rparts.status.as_u16(), content_type, body: body.clone() },
            );
            reservation.done = true;
            Response::from_parts(rparts, Body::from(body))
        }
    }
}

fn replay(stored: Stored) -> Response {
    crate::state::journal::note_answer(&stored.body);
    let mut r = Response::new(Body::from(stored.body));
    *r.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    if let Some(ct) = stored
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    r.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    r
}
