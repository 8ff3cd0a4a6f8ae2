//! What a test checks of the requests its client sent: the journal (filtered, or waited for),
//! request matchers (count, find), expectations with near misses, and strict mode.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::api::extract::{Json, Query, TenantCtx};
use crate::api::{json, registry, AppState};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::state::journal::{self, Expectation, JournalEntry, Matcher, EXPECTATIONS_CAP};
use crate::state::Tenant;

use super::long_poll::{long_poll, parse_wait, LongPolls};

/// The admin calls on the journal; `polls` counts the long polls of this sandbox (shared with
/// `GET /_sandbox/webhooks`).
pub fn routes(polls: &Arc<LongPolls>) -> Router<AppState> {
    Router::new()
        .route(
            "/_sandbox/requests",
            get(requests)
                .layer(Extension(Arc::clone(polls)))
                .delete(clear_requests),
        )
        .route("/_sandbox/requests/count", post(count))
        .route("/_sandbox/requests/find", post(find))
        .route("/_sandbox/requests/unexpected", get(unexpected))
        .route(
            "/_sandbox/expectations",
            put(set_expectations)
                .get(expectations)
                .delete(clear_expectations),
        )
        .route("/_sandbox/expectations/verify", post(verify))
        .route("/_sandbox/strict", put(set_strict).get(strict))
}

/// An error answer with more fields beside MassPay's error shape (what a failed check saw).
pub fn error_with(err: ApiError, extra: Vec<(&str, Value)>) -> Response {
    let response = err.into_response();
    let status = response.status();
    // The error's body, as it noted it for the journal (an admin answer is not journaled).
    let Some(body) = crate::state::journal::take_answer()
        .filter(|b| !b.truncated())
        .and_then(|b| serde_json::from_slice::<Map<String, Value>>(&b.bytes).ok())
    else {
        return response;
    };
    let mut body = body;
    for (k, v) in extra {
        body.insert(k.to_string(), v);
    }
    let mut r = json(&body);
    *r.status_mut() = status;
    r
}

/// A journal entry as the admin API shows it.
#[derive(Serialize)]
pub struct EntryView<'a> {
    seq: u64,
    method: &'static str,
    path: &'a str,
    query: Option<&'a str>,
    operation: Option<&'static str>,
    status: u16,
    idempotency_key: Option<&'a str>,
    at: String,
    headers: Map<String, Value>,
    request_body: Option<BodyView<'a>>,
    request_body_size: Option<usize>,
    request_body_truncated: bool,
    response_body: Option<BodyView<'a>>,
    response_body_size: Option<usize>,
    injected: bool,
}

/// A kept body: its JSON when it is JSON, else its text.
#[derive(Serialize)]
#[serde(untagged)]
enum BodyView<'a> {
    Json(&'a RawValue),
    Text(String),
}

fn body_view(b: &journal::Body) -> BodyView<'_> {
    match serde_json::from_slice::<&RawValue>(&b.bytes) {
        Ok(raw) => BodyView::Json(raw),
        Err(_) => BodyView::Text(String::from_utf8_lossy(&b.bytes).into_owned()),
    }
}

impl<'a> EntryView<'a> {
    pub fn of(e: &'a JournalEntry) -> Self {
        EntryView {
            seq: e.seq,
            method: e.method,
            path: e.path(),
            query: e.text.query(),
            operation: e.operation,
            status: e.status,
            idempotency_key: e.idempotency_key(),
            at: clock::format(e.at),
            headers: e
                .text
                .headers()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
            request_body: e.request_body.as_ref().map(body_view),
            request_body_size: e.request_body.as_ref().map(|b| b.size),
            request_body_truncated: e.request_body.as_ref().is_some_and(|b| b.truncated()),
            response_body: e.response_body.as_ref().map(body_view),
            response_body_size: e.response_body.as_ref().map(|b| b.size),
            injected: e.injected,
        }
    }
}

fn views(entries: &[JournalEntry]) -> Vec<EntryView<'_>> {
    entries.iter().map(EntryView::of).collect()
}

#[derive(Deserialize)]
struct JournalQuery {
    method: Option<String>,
    path: Option<String>,
    operation: Option<String>,
    status: Option<u16>,
    wait: Option<String>,
}

/// `GET /_sandbox/requests`: the journal, oldest first, filtered by method, path (substring),
/// operation and status; with `wait`, a long poll for at least one matching entry.
async fn requests(
    Extension(polls): Extension<Arc<LongPolls>>,
    TenantCtx(tenant): TenantCtx,
    Query(q): Query<JournalQuery>,
) -> ApiResult<Response> {
    let ops = match q.operation.as_deref() {
        Some(o) => Some(operations(o)?),
        None => None,
    };
    let select = || {
        tenant.journal.select(|e| {
            q.method
                .as_deref()
                .is_none_or(|m| e.method.eq_ignore_ascii_case(m))
                && q.path.as_deref().is_none_or(|p| e.path().contains(p))
                && ops
                    .as_ref()
                    .is_none_or(|ops| e.operation.is_some_and(|o| ops.contains(&o)))
                && q.status.is_none_or(|s| e.status == s)
        })
    };
    let Some(wait) = q.wait.as_deref().map(parse_wait).transpose()? else {
        return Ok(json(&views(&select())));
    };
    match long_poll(&polls, wait, || Some(select()).filter(|v| !v.is_empty())).await? {
        Some(found) => Ok(json(&views(&found))),
        None => {
            let seen = tenant.journal.list(None, None);
            let last = &seen[seen.len().saturating_sub(50)..];
            Ok(error_with(
                ApiError::WaitedInVain(format!(
                    "no request matching the filters arrived within {} ms",
                    wait.as_millis()
                )),
                vec![(
                    "seen",
                    serde_json::to_value(views(last)).unwrap_or_default(),
                )],
            ))
        }
    }
}

async fn clear_requests(TenantCtx(tenant): TenantCtx) -> Response {
    tenant.journal.clear();
    StatusCode::NO_CONTENT.into_response()
}

fn operations(name: &str) -> ApiResult<Vec<&'static str>> {
    let ops = registry::resolve_name(name);
    if ops.is_empty() {
        return Err(ApiError::bad_request(format!(
            "operation {name:?} is not an operation of this API (see /openapi.json)"
        )));
    }
    Ok(ops)
}

/// A matcher from a request body: the matcher object itself, or `{"matcher": {…}}`.
fn matcher_of(body: &Value) -> ApiResult<Matcher> {
    let m = match body.as_object() {
        Some(o) if o.len() == 1 && o.contains_key("matcher") => &o["matcher"],
        _ => body,
    };
    Matcher::parse(m, registry::resolve_name).map_err(ApiError::bad_request)
}

#[derive(Serialize)]
struct CountView {
    count: usize,
}

async fn count(TenantCtx(tenant): TenantCtx, Json(body): Json<Value>) -> ApiResult<Response> {
    let m = matcher_of(&body)?;
    Ok(json(&CountView {
        count: tenant.journal.count(&m),
    }))
}

async fn find(TenantCtx(tenant): TenantCtx, Json(body): Json<Value>) -> ApiResult<Response> {
    let m = matcher_of(&body)?;
    let found = tenant.journal.select(|e| m.matches(e));
    Ok(json(&views(&found)))
}

fn strict_of(app: &AppState, tenant: &Tenant) -> bool {
    tenant.journal.strict(app.strict)
}

async fn unexpected(
    axum::extract::State(app): axum::extract::State<AppState>,
    TenantCtx(tenant): TenantCtx,
) -> Response {
    let list = tenant.journal.unexpected(strict_of(&app, &tenant));
    json(&views(&list))
}

#[derive(Serialize)]
struct ExpectationsView<'a> {
    expectations: Vec<&'a Value>,
}

async fn set_expectations(
    TenantCtx(tenant): TenantCtx,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let list: &[Value] = match &body {
        Value::Array(a) => a,
        Value::Object(o) if o.len() == 1 && o.get("expectations").is_some_and(Value::is_array) => {
            o["expectations"].as_array().map(Vec::as_slice).unwrap_or_default()
        }
        _ => {
            return Err(ApiError::bad_request(
                "the body is a list of expectations ({\"matcher\": {…}, \"times\": N}), or {\"expectations\": [...]}",
            ))
        }
    };
    if list.len() > EXPECTATIONS_CAP {
        return Err(ApiError::bad_request(format!(
            "at most {EXPECTATIONS_CAP} expectations at once"
        )));
    }
    let parsed = list
        .iter()
        .enumerate()
        .map(|(i, x)| {
            Expectation::parse(x, registry::resolve_name)
                .map_err(|e| format!("expectation {i}: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(ApiError::bad_request)?;
    tenant.journal.set_expectations(parsed);
    Ok(json(&ExpectationsView {
        expectations: list.iter().collect(),
    }))
}

async fn expectations(TenantCtx(tenant): TenantCtx) -> Response {
    let list = tenant.journal.expectations();
    json(&ExpectationsView {
        expectations: list.iter().map(|x| &x.source).collect(),
    })
}

async fn clear_expectations(TenantCtx(tenant): TenantCtx) -> Response {
    tenant.journal.set_expectations(Vec::new());
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Serialize)]
struct VerdictView<'a> {
    expectation: &'a Value,
    times: String,
    count: u64,
    met: bool,
    matched: &'a [u64],
    near_misses: Vec<NearMissView<'a>>,
}

#[derive(Serialize)]
struct NearMissView<'a> {
    request: EntryView<'a>,
    differences: &'a [String],
}

/// `POST /_sandbox/expectations/verify`: 200 when every expectation holds (and, in strict mode,
/// no request was unexpected); else 409 with each expectation's verdict (near misses for the
/// unmet ones) and the unexpected requests.
async fn verify(
    axum::extract::State(app): axum::extract::State<AppState>,
    TenantCtx(tenant): TenantCtx,
) -> Response {
    let verdicts = tenant.journal.verify();
    let strict = strict_of(&app, &tenant);
    let unexpected = if strict {
        tenant.journal.unexpected(true)
    } else {
        Vec::new()
    };
    let views: Vec<VerdictView<'_>> = verdicts
        .iter()
        .map(|v| VerdictView {
            expectation: &v.expectation.source,
            times: v.expectation.times.describe(),
            count: v.count,
            met: v.met,
            matched: &v.matched,
            near_misses: v
                .near_misses
                .iter()
                .map(|n| NearMissView {
                    request: EntryView::of(&n.entry),
                    differences: &n.differences,
                })
                .collect(),
        })
        .collect();
    let unmet = verdicts.iter().filter(|v| !v.met).count();
    let expectations = serde_json::to_value(&views).unwrap_or_default();
    let unexpected_view = serde_json::to_value(self::views(&unexpected)).unwrap_or_default();
    if unmet == 0 && unexpected.is_empty() {
        #[derive(Serialize)]
        struct Ok<'a> {
            verified: bool,
            strict: bool,
            expectations: &'a Value,
        }
        return json(&Ok {
            verified: true,
            strict,
            expectations: &expectations,
        });
    }
    let mut why = Vec::new();
    if unmet > 0 {
        why.push(format!(
            "{unmet} of {} expectation(s) not met",
            verdicts.len()
        ));
    }
    if !unexpected.is_empty() {
        why.push(format!(
            "{} unexpected request(s) (strict mode)",
            unexpected.len()
        ));
    }
    error_with(
        ApiError::Conflict(why.join("; ")),
        vec![
            ("verified", Value::Bool(false)),
            ("strict", Value::Bool(strict)),
            ("expectations", expectations),
            ("unexpected", unexpected_view),
        ],
    )
}

#[derive(Deserialize)]
struct StrictBody {
    strict: Option<bool>,
}

#[derive(Serialize)]
struct StrictView {
    strict: bool,
}

/// `PUT /_sandbox/strict {"strict": true|false|null}`: this tenant's strict mode (`null`:
/// follow `--strict` again).
async fn set_strict(
    axum::extract::State(app): axum::extract::State<AppState>,
    TenantCtx(tenant): TenantCtx,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Response> {
    if let Some(k) = body.keys().find(|k| *k != "strict") {
        return Err(ApiError::bad_request(format!(
            "unknown field {k:?} (the body is {{\"strict\": true|false|null}})"
        )));
    }
    let parsed: StrictBody = serde_json::from_value(Value::Object(body))
        .map_err(|_| ApiError::bad_request("strict must be true, false or null"))?;
    tenant.journal.set_strict(parsed.strict);
    Ok(json(&StrictView {
        strict: strict_of(&app, &tenant),
    }))
}

async fn strict(
    axum::extract::State(app): axum::extract::State<AppState>,
    TenantCtx(tenant): TenantCtx,
) -> Response {
    json(&StrictView {
        strict: strict_of(&app, &tenant),
    })
}
