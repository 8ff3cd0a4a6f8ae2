//! Extractors that turn every malformed request into MassPay's error shape (never axum's
//! plain-text rejections): JSON bodies whatever the Content-Type, query strings, path params,
//! and the caller's tenant.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::BODY_LIMIT;
use crate::error::ApiError;
use crate::state::Tenant;

/// A JSON body, parsed whatever the Content-Type says (curl's form default included), of at most
/// `LIMIT` bytes (413 beyond it).
pub struct Json<T, const LIMIT: usize = BODY_LIMIT>(pub T);

impl<S: Send + Sync, T: DeserializeOwned, const LIMIT: usize> FromRequest<S> for Json<T, LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req, LIMIT).await?;
        parse_json(&bytes).map(Json)
    }
}

/// The raw body (at most [`BODY_LIMIT`] bytes), for a handler that parses it itself and may need
/// the bytes again.
pub struct BodyBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for BodyBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        read_body(req, BODY_LIMIT).await.map(BodyBytes)
    }
}

/// The body, read now (after auth and routing), within `limit` bytes (413 beyond it).
async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let (parts, body) = req.into_parts();
    super::body::read_request_body(&parts.extensions, body, limit).await
}

/// A JSON body the operation may do without (empty body → `T::default()`), of at most `LIMIT`
/// bytes.
pub struct OptionalJson<T, const LIMIT: usize = BODY_LIMIT>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default, const LIMIT: usize> FromRequest<S>
    for OptionalJson<T, LIMIT>
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req, LIMIT).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// Parses a JSON body into `T`; the error names the field that is wrong.
pub fn parse_json<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("a JSON request body is required"));
    }
    // Parsed once; only a failure pays for finding the path of the field that is wrong.
    crate::json_path::from_slice(bytes).map_err(|e| {
        let inner = &e.inner;
        if inner.is_syntax() && inner.to_string().starts_with("trailing characters") {
            ApiError::bad_request(format!("the request body has trailing data: {inner}"))
        } else if e.path.is_empty() {
            ApiError::bad_request(format!(
                "the request body is not valid JSON for this operation: {inner}"
            ))
        } else {
            ApiError::bad_request(format!("{}: {inner}", e.path_text()))
        }
    })
}

/// A query string; unknown parameters are ignored, a malformed one is a 400 naming it.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// Path parameters; a segment that is not valid percent-encoded UTF-8 is a 400.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::bad_request(format!("path: {}", e.body_text())))
    }
}

/// The caller's tenant, put in the request by the auth layer.
pub struct TenantCtx(pub Arc<Tenant>);

impl<S: Send + Sync> FromRequestParts<S> for TenantCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Arc<Tenant>>()
            .cloned()
            .map(TenantCtx)
            .ok_or_else(|| ApiError::Unauthorized("an API key is required".into()))
    }
}

/// Reads an optional boolean query parameter: `true`/`false`/`1`/`0`, any case (the one parser
/// of every boolean query parameter, [`crate::domain::parse_query_bool`]).
pub fn query_bool(name: &str, value: Option<&str>) -> Result<bool, ApiError> {
    crate::domain::parse_query_bool(name, value).map_err(ApiError::bad_request)
}

/// Reads an optional amount query parameter (`amount`, `limit`, …), at most
/// [`crate::limits::MAX_AMOUNT`] ([`crate::domain::money::parse_query_amount`]).
pub fn query_decimal(
    name: &str,
    value: Option<&str>,
) -> Result<Option<rust_decimal::Decimal>, ApiError> {
    crate::domain::money::parse_query_amount(name, value).map_err(ApiError::bad_request)
}
