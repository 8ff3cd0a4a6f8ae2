//! The HTTP surface. One module per MassPay resource, each with its handlers and its
//! `OPERATIONS` (the registry's entries, `registry.rs`); this module routes them all under every
//! API-version prefix and puts the shared layers around them.
//!
//! A request's way through: path normalisation → routing → auth (API key → tenant) → handler
//! (parse into domain types) → the tenant's simulation → a response model. The four operations
//! called most take a direct way from the edge to their handler when nothing else applies
//! (`direct.rs`).

mod account;
pub use account::BalanceJson;
mod attribute;
pub mod body;
mod catalog;
mod direct;
mod edge;
pub mod extract;
mod gate;
mod history;
pub mod idempotency_layer;
mod json_text;
mod load;
pub mod models;
pub mod openapi;
mod payout;
mod pipeline;
pub mod registry;
pub mod scenario_layer;
mod spendback;
mod subaccount;
mod tax;
mod user;
mod wallet;

use std::convert::Infallible;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::error::ApiError;
use crate::state::Store;

/// The 0.1.x version prefixes; all behave the same.
pub const V0_PREFIXES: &[&str] = &["/v0.1.0", "/v0.1.1", "/v0.1.2", "/v0.1.3", "/v0.1.4"];

pub use body::{BODY_LIMIT, UPLOAD_LIMIT};
pub use edge::*;
pub use pipeline::*;

/// What every handler can reach: the store of tenants (and through it the shared catalog). One
/// `Arc`, so handing it to a request costs a single reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub struct Shared {
    pub store: Arc<Store>,
    /// The process-wide webhook hub (its pending count is logged at shutdown).
    pub webhooks: Arc<crate::webhook::Hub>,
    pub scenarios: Arc<crate::scenario::Registry>,
    /// Scenarios active for every request (`--scenario`).
    pub global_scenarios: Arc<[Arc<crate::scenario::Scenario>]>,
    /// `GET /account/balance`'s answer, pre-rendered around the amounts.
    pub balance_json: BalanceJson,
    /// Connections open at once (`--max-connections`).
    pub max_connections: usize,
    /// How long a graceful stop waits (`--shutdown-timeout`).
    pub shutdown_timeout: std::time::Duration,
    /// Strict mode for every tenant that does not set its own (`--strict`).
    pub strict: bool,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Serialises a response model to a 200 JSON response.
pub fn json<T: Serialize + ?Sized>(body: &T) -> Response {
    // Most answers fit in 1 KiB: one allocation instead of a string of doublings.
    let mut bytes = Vec::with_capacity(1024);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => json_bytes(bytes),
        Err(e) => ApiError::Internal(format!("response serialisation failed: {e}")).into_response(),
    }
}

/// A 200 response with an answer that writes its own JSON ([`json_text::JsonText`]; one
/// allocation, as in [`json`]).
pub fn json_text_answer(body: &impl json_text::JsonText) -> Response {
    let mut bytes = Vec::with_capacity(1024);
    body.write_json(&mut bytes);
    json_bytes(bytes)
}

/// A 200 response with this JSON text.
pub fn json_bytes(bytes: Vec<u8>) -> Response {
    json_shared(axum::body::Bytes::from(bytes))
}

/// A 200 response with this JSON text, which others may share (sent without a copy).
pub fn json_shared(bytes: axum::body::Bytes) -> Response {
    crate::state::journal::note_answer(&bytes);
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Which API a request came through: 0.1.x (`/v0.1.0`…`/v0.1.4`) or 1.0.0 (`/v1.0.0`). One
/// simulation serves both; only paths and a few response models differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    V0,
    V1,
}

/// The version prefix of API 1.0.0.
pub const V1_PREFIX: &str = "/v1.0.0";

impl ApiVersion {
    /// The version a path was sent to (routes carry their full paths).
    pub fn of_path(path: &str) -> ApiVersion {
        if path.starts_with(V1_PREFIX) {
            ApiVersion::V1
        } else {
            ApiVersion::V0
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(ApiVersion::of_path(parts.uri.path()))
    }
}

/// The whole application, ready to serve: the [`Edge`] around the router. MassPay routes run
/// through the [`Pipeline`] (auth and journal, idempotency, scenarios, then the handler), admin
/// routes through its auth step. Both are attached per route (`route_layer`), so unknown paths
/// answer 404 without a key.
pub fn app(state: AppState) -> Edge {
    // Each MassPay route knows its operation: nothing per request looks it up.
    let masspay = registry::routes(|op| PipelineLayer {
        state: state.clone(),
        operation: Some(op.id),
    });
    let admin = crate::admin::router().route_layer(PipelineLayer {
        state: state.clone(),
        operation: None,
    });
    // The few other routes go into the MassPay router, not the other way round: `merge` inserts
    // each route of the router it takes again, and the MassPay one has hundreds (start-up time).
    let router = masspay
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::serve))
        .merge(crate::ui::router())
        .merge(admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    Edge {
        router,
        direct: Arc::new(direct::Table::new()),
        state,
        activity: None,
    }
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    status: &'static str,
}

async fn health() -> Response {
    json(&Health { status: "ok" })
}

async fn not_found(State(app): State<AppState>, mut req: Request) -> Response {
    let response =
        ApiError::not_found(format!("no operation at {}", echoed_path(req.uri().path())))
            .into_response();
    journal_unrouted(&app, &mut req, &response);
    response
}

/// A request that matched no route still goes in the journal of the tenant its key names, if
/// that tenant exists (a wrong path is what strict mode is for; an unknown key creates nothing).
fn journal_unrouted(app: &AppState, req: &mut Request, response: &Response) {
    let key = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(pipeline::api_key)
        .unwrap_or("");
    if let Some(tenant) = app.store.existing(key) {
        pipeline::JournalNote::of(req, tenant, app.strict, None).record(response);
    }
}

/// A path as an error may echo it: at most [`limits::MAX_ECHOED_PATH`] bytes (a 60 KiB path
/// was once echoed whole), cut at a character boundary and marked `…`.
fn echoed_path(path: &str) -> std::borrow::Cow<'_, str> {
    let max = crate::limits::MAX_ECHOED_PATH;
    if path.len() <= max {
        return path.into();
    }
    let mut end = max;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end]).into()
}

async fn method_not_allowed(State(app): State<AppState>, mut req: Request) -> Response {
    let response = ApiError::MethodNotAllowed.into_response();
    journal_unrouted(&app, &mut req, &response);
    response
}
