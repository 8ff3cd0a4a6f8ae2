//! The direct way for the operations integrations call most (the balance, creating a user,
//! initiating and committing a payout): the edge finds the operation itself and calls its handler
//! with the tenant and the path's parameters, instead of going through axum's router, a per-route
//! boxed service cloned for every request, the route's layer and the extractors (bench/README.md,
//! "Where the time goes").
//!
//! Only the plain case goes this way: a key that names a tenant, no Idempotency-Key, no scenario
//! that could apply, path parameters without percent-escapes, and no query string for an
//! operation that reads one. Every other request, and every other operation, goes the routed
//! way, which is the reference: each direct handler shares its body with its routed one, and the
//! journal entry is written the same way (`PipelineFuture::Direct`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;

use super::body::{read_tapped_body, BodyTap, BODY_LIMIT};
use super::pipeline::{resolve_tenant, JournalNote, PipelineFuture};
use super::registry::{operations, Operation};
use super::{idempotency_layer, scenario_layer, ApiVersion, AppState, V0_PREFIXES, V1_PREFIX};
use crate::error::{ApiError, ApiResult};
use crate::state::Tenant;

/// What a direct handler gets: the request (its body unread) and what routing found.
pub struct Call {
    pub app: AppState,
    pub tenant: Arc<Tenant>,
    pub version: ApiVersion,
    pub req: Request,
    /// Where reading the body leaves a copy for the journal.
    tap: Option<BodyTap>,
    /// The path parameters, in the template's order, as byte ranges of the request's path.
    params: Params,
}

impl Call {
    /// The `i`-th path parameter (in the template's order).
    pub fn param(&self, i: usize) -> &str {
        let (start, end) = self.params[i];
        &self.req.uri().path()[start..end]
    }

    /// Reads the request's body (at most [`BODY_LIMIT`] bytes) as every MassPay operation reads
    /// it ([`super::body::read_request_body`]).
    pub async fn read_body(&mut self) -> Result<Bytes, ApiError> {
        let body = std::mem::take(self.req.body_mut());
        read_tapped_body(self.tap.as_ref(), body, BODY_LIMIT).await
    }
}

/// A direct handler's answer.
pub struct Answer(Pin<Box<dyn Future<Output = Response> + Send>>);

impl Answer {
    /// The answer `work` gives when polled (an error in MassPay's shape).
    pub fn of(work: impl Future<Output = ApiResult<Response>> + Send + 'static) -> Answer {
        Answer(Box::pin(async move {
            axum::response::IntoResponse::into_response(work.await)
        }))
    }
}

impl Future for Answer {
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

/// A direct handler. It must do its work when its answer is polled, not when called: the journal
/// takes the answer body written during the poll that produced it (`PipelineFuture::Direct`).
pub type Handler = fn(Call) -> Answer;

/// The operations with a direct handler, by operation id.
const DIRECT: &[(&str, Handler)] = &[
    ("getAccountBalance", super::account::balance_direct),
    ("createUser", super::user::create_direct),
    ("initiatePayout", super::payout::initiate_direct),
    ("commitPayoutTxn", super::payout::commit_direct),
];

/// One operation at a path template, for one method.
struct Entry {
    method: Method,
    op: &'static Operation,
    handler: Option<Handler>,
    /// The template's parameter names, in order.
    names: Vec<&'static str>,
}

/// Every operation's path templates (without version prefix), per API version: the same
/// templates axum's router matches, with the same matcher, so a path finds the operation here
/// that routing would find (static segments win over parameters).
pub struct Table {
    v0: matchit::Router<Vec<Entry>>,
    v1: matchit::Router<Vec<Entry>>,
}

impl Table {
    pub fn new() -> Table {
        // Each version's entries grouped by template (one per method), then one route each.
        let mut grouped: [Vec<(&'static str, Vec<Entry>)>; 2] = [Vec::new(), Vec::new()];
        for op in operations() {
            let handler = DIRECT.iter().find(|(id, _)| *id == op.id).map(|(_, h)| *h);
            for (groups, template) in grouped.iter_mut().zip([op.v0, op.v1]) {
                let Some(template) = template else { continue };
                let entry = Entry {
                    method: op.method.clone(),
                    op,
                    handler,
                    names: template
                        .split('/')
                        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                        .collect(),
                };
                match groups.iter_mut().find(|(t, _)| *t == template) {
                    Some((_, entries)) => entries.push(entry),
                    None => groups.push((template, vec![entry])),
                }
            }
        }
        let [v0, v1] = grouped.map(|groups| {
            let mut table = matchit::Router::new();
            for (template, entries) in groups {
                table
                    .insert(template, entries)
                    .unwrap_or_else(|e| panic!("{template}: {e}"));
            }
            table
        });
        Table { v0, v1 }
    }

    /// The request's direct answer, or the request back when it must go the routed way.
    pub fn dispatch(&self, app: &AppState, req: Request) -> Dispatch {
        let Some(Found {
            version,
            entry,
            params,
        }) = self.find(&req)
        else {
            return Dispatch::Routed(req);
        };
        let Some(handler) = entry.handler else {
            return Dispatch::Routed(req);
        };
        if !entry.op.query.is_empty() && req.uri().query().is_some() {
            return Dispatch::Routed(req);
        }
        let Ok(tenant) = resolve_tenant(app, &req) else {
            return Dispatch::Routed(req);
        };
        let param = |name: &str| {
            let i = entry.names.iter().position(|n| *n == name)?;
            Some(&req.uri().path()[params[i].0..params[i].1])
        };
        let full_way = idempotency_layer::applies(&req)
            || scenario_layer::may_apply_to(
                app,
                &tenant,
                req.headers(),
                entry.op.id,
                param("user_token"),
                param("payout_token"),
            );
        if full_way {
            return Dispatch::Routed(req);
        }
        let journal = JournalNote::new(&req, Arc::clone(&tenant), app.strict, Some(entry.op.id));
        let answer = handler(Call {
            app: app.clone(),
            tenant,
            version,
            tap: journal.tap().cloned(),
            req,
            params,
        });
        Dispatch::Direct(PipelineFuture::Direct {
            inner: answer,
            journal: Some(journal),
        })
    }

    /// The entry for the request's method and path, with its path parameters' byte ranges; `None`
    /// when a parameter is percent-escaped (the routed way decodes it) or there are more than two.
    fn find(&self, req: &Request) -> Option<Found<'_>> {
        let path = req.uri().path();
        let (version, table, rest) = if let Some(rest) = path.strip_prefix(V1_PREFIX) {
            (ApiVersion::V1, &self.v1, rest)
        } else {
            let prefix = V0_PREFIXES.iter().find(|p| path.starts_with(**p))?;
            (ApiVersion::V0, &self.v0, &path[prefix.len()..])
        };
        if !rest.starts_with('/') {
            return None;
        }
        let m = table.at(rest).ok()?;
        let entry = m.value.iter().find(|e| e.method == req.method())?;
        let mut params = [(0, 0); 2];
        for (n, (_, value)) in m.params.iter().enumerate() {
            if n == params.len() || value.contains('%') {
                return None;
            }
            // `value` is a slice of `path`.
            let start = value.as_ptr() as usize - path.as_ptr() as usize;
            params[n] = (start, start + value.len());
        }
        Some(Found {
            version,
            entry,
            params,
        })
    }
}

/// What [`Table::dispatch`] decided.
pub enum Dispatch {
    Direct(PipelineFuture<Answer>),
    /// The request goes the routed way.
    Routed(Request),
}

/// A path's operation entry, and its parameters.
struct Found<'a> {
    version: ApiVersion,
    entry: &'a Entry,
    params: Params,
}

/// Path parameters as byte ranges of the path, in the template's order (two at most).
type Params = [(usize, usize); 2];

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_direct_handler_names_an_operation() {
        for (id, _) in DIRECT {
            assert!(
                operations().any(|op| op.id == *id),
                "{id} is not an operation"
            );
        }
    }

    fn found(table: &Table, method: Method, path: &str) -> Option<(&'static str, Vec<String>)> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let found = table.find(&req)?;
        let path = req.uri().path();
        Some((
            found.entry.op.id,
            found.params[..found.entry.names.len()]
                .iter()
                .map(|(s, e)| path[*s..*e].to_string())
                .collect(),
        ))
    }

    #[test]
    fn finds_what_routing_finds() {
        let t = Table::new();
        assert_eq!(
            found(&t, Method::POST, "/v1.0.0/payout/user"),
            Some(("createUser", vec![]))
        );
        assert_eq!(
            found(&t, Method::POST, "/v1.0.0/payout/usr_1"),
            Some(("initiatePayout", vec!["usr_1".into()]))
        );
        assert_eq!(
            found(&t, Method::PUT, "/v0.1.2/payout/usr_1/payout_2"),
            Some(("commitPayoutTxn", vec!["usr_1".into(), "payout_2".into()]))
        );
        assert_eq!(
            found(&t, Method::GET, "/v0.1.4/account/balance").map(|f| f.0),
            Some("getAccountBalance")
        );
        assert_eq!(found(&t, Method::GET, "/v0.1.40/account/balance"), None);
        assert_eq!(found(&t, Method::GET, "/v0.1.4/payout/usr_%41"), None);
        assert_eq!(found(&t, Method::DELETE, "/v0.1.4/account/balance"), None);
    }
}
