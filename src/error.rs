//! The one error type of the HTTP surface. It owns the status code and the body.
//!
//! Every error body has one shape that clients of both API versions can read: the 1.0.0 error
//! object (`code`, `title`, `message` with MassPay's fixed wording per code, and for 400
//! `error: {reason, details}`) plus the 0.1.4 `Exception` model's keys (`Exception`, `Errors`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or breaks a rule; `details` lists every problem.
    #[error("bad request: {reason}")]
    BadRequest {
        reason: String,
        details: Vec<String>,
    },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request (or its body) took longer than the sandbox waits.
    #[error("request timeout")]
    RequestTimeout,
    /// 408 with a reason: a long poll (`?wait=`) reached its deadline.
    #[error("timeout: {0}")]
    WaitedInVain(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// 503: a limit of the sandbox itself is reached (tenants, buffered bodies, connections).
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("too many requests")]
    TooManyRequests { retry_after_seconds: u32 },
    /// 429 with a reason and `Retry-After: 1`: a sandbox limit on work waiting at once (long
    /// polls) is reached; the request is refused at once rather than queued.
    #[error("too many waiting: {0}")]
    TooManyWaiting(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// Any other error status, injected by a scenario.
    #[error("injected {status}: {detail}")]
    Injected { status: StatusCode, detail: String },
    /// This error, forced by a scenario (its answer is marked [`InjectedFault`]).
    #[error("{0}")]
    Forced(Box<ApiError>),
}

impl ApiError {
    /// A 400 with one problem.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        ApiError::BadRequest {
            reason: detail.clone(),
            details: vec![detail],
        }
    }

    /// A 400 listing several problems under one reason.
    pub fn invalid(reason: impl Into<String>, details: Vec<String>) -> Self {
        ApiError::BadRequest {
            reason: reason.into(),
            details,
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound(what.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout | ApiError::WaitedInVain(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } | ApiError::TooManyWaiting(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Injected { status, .. } => *status,
            ApiError::Forced(e) => e.status(),
        }
    }

    /// The error a scenario injects: MassPay's body for `status`, with `detail` in `Errors`.
    pub fn injected(status: u16, detail: String, retry_after: Option<u32>) -> Self {
        match status {
            400 => ApiError::bad_request(detail),
            405 => ApiError::MethodNotAllowed,
            413 => ApiError::PayloadTooLarge,
            429 => ApiError::TooManyRequests {
                retry_after_seconds: retry_after.unwrap_or(1),
            },
            _ => ApiError::Injected {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                detail,
            },
        }
    }
}

/// MassPay's fixed `title` and `message` per code (reference §0.5), and this sandbox's wording
/// for the codes the reference does not word (listed in the README).
pub fn wording(status: StatusCode) -> (&'static str, &'static str, &'static str) {
    match status.as_u16() {
        400 => ("Bad request.", "The request was invalid or malformed. Please ensure that the request body conforms to the required format and that all required parameters are included.", "ValidationException"),
        401 => ("Unauthorized.", "Authentication failed or credentials were not provided. Please ensure that you have provided valid API credentials and that they are authorized to access the MassPay API.", "UnauthorizedException"),
        403 => ("Forbidden.", "The requested action is not allowed or the API credentials do not have sufficient permissions. Please ensure that the API credentials used for the request have the necessary permissions to perform the requested action.", "ForbiddenException"),
        404 => ("Not found.", "The requested resource was not found. Please ensure that the URL for the request is correct and that the requested resource exists.", "NotFoundException"),
        405 => ("Method not allowed.", "The HTTP method used for the request is not supported by the MassPay API. Please ensure that you are using the correct HTTP method (e.g., POST) for the specific MassPay API endpoint.", "MethodNotAllowedException"),
        408 => ("Request timeout.", "The request was not received completely in time. Please retry.", "RequestTimeoutException"),
        409 => ("Still in use.", "The request conflicts with another request that is still being processed. Please retry once it has completed.", "ConflictException"),
        413 => ("Payload too large.", "The request body is larger than the API accepts. Please reduce the size of the request body.", "PayloadTooLargeException"),
        422 => ("Unprocessable entity.", "The request was well-formed but cannot be processed. Please see Errors for the reason (an Idempotency-Key reused for a different request, or a sandbox limit reached).", "UnprocessableEntityException"),
        429 => ("Too many requests.", "Too many requests were sent in a given amount of time. Please wait before retrying.", "TooManyRequestsException"),
        503 => ("Service unavailable.", "The service is temporarily unavailable. Please try again later or contact support if the issue persists.", "ServiceUnavailableException"),
        504 => ("Gateway Time-out.", "The request timed out while waiting for a response from the server. Please try again later or contact support if the issue persists.", "GatewayTimeoutException"),
        _ => ("Internal server error.", "An unexpected error occurred on the server-side while processing the request. Please try again later or contact support if the issue persists.", "InternalServerErrorException"),
    }
}

/// MassPay's error body (both versions' keys).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Error))]
pub struct ErrorBody<'a> {
    code: u16,
    title: &'static str,
    message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail<'a>>,
    #[serde(rename = "Exception")]
    exception: &'static str,
    #[serde(rename = "Errors")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    errors: &'a [String],
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail<'a> {
    reason: &'a str,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    details: &'a [String],
}

/// Marks an answer a scenario forced (a fault), which strict mode does not count against the
/// client.
#[derive(Clone, Copy)]
pub struct InjectedFault;

/// Marks `response` as forced by a scenario.
pub fn injected(mut response: Response) -> Response {
    response.extensions_mut().insert(InjectedFault);
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Forced(e) = self {
            return injected(e.into_response());
        }
        let status = self.status();
        let (title, message, exception) = wording(status);
        let single;
        let (error, errors): (Option<ErrorDetail<'_>>, &[String]) = match &self {
            ApiError::BadRequest { reason, details } => {
                (Some(ErrorDetail { reason, details }), details.as_slice())
            }
            ApiError::Unauthorized(d)
            | ApiError::Forbidden(d)
            | ApiError::NotFound(d)
            | ApiError::Conflict(d)
            | ApiError::WaitedInVain(d)
            | ApiError::TooManyWaiting(d)
            | ApiError::Unprocessable(d)
            | ApiError::Unavailable(d)
            | ApiError::Internal(d)
            | ApiError::Injected { detail: d, .. } => {
                single = [d.clone()];
                (None, &single[..])
            }
            _ => {
                single = [title.trim_end_matches('.').to_string()];
                (None, &single[..])
            }
        };
        let body = ErrorBody {
            code: status.as_u16(),
            title,
            message,
            error,
            exception,
            errors,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        crate::state::journal::note_answer(&bytes);
        let mut response = (status, axum::body::Bytes::from(bytes)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let retry_after = match self {
            ApiError::TooManyRequests {
                retry_after_seconds,
            } => Some(retry_after_seconds),
            ApiError::TooManyWaiting(_) => Some(1),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The simulation's refusals as MassPay's answers: the one place they meet HTTP.
impl From<crate::domain::error::SimError> for ApiError {
    fn from(e: crate::domain::error::SimError) -> Self {
        use crate::domain::error::SimError;
        match e {
            SimError::Invalid { reason, details } => ApiError::BadRequest { reason, details },
            SimError::NotFound(what) => ApiError::NotFound(what),
            SimError::LimitReached(what) => ApiError::Unprocessable(what),
        }
    }
}
