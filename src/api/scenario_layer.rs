//! Scenario resolution, between auth and the handler: which scenarios are active for this
//! request (`--scenario`, the `X-Sandbox-Scenario` header, the tenant's, and the payout's own
//! `client_transfer_id` / magic amount), which of their rules match, and the effects: faults and
//! latency are applied here; commit overrides, extra requirements and rates travel to the handler
//! in the request's extensions.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{RawPathParams, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::Value;

use super::AppState;
use crate::domain::token::{PayoutId, UserId};
use crate::error::ApiError;
use crate::scenario::{matching, Effects, RequestFacts, Scenario};
use crate::state::Tenant;

pub const SCENARIO_HEADER: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-sandbox-scenario");

/// The scenario names a `client_transfer_id` of the form `sandbox:NAME[,NAME…][#suffix]` asks for.
pub fn transfer_id_scenarios(ctid: &str) -> Option<impl Iterator<Item = &str>> {
    let rest = ctid.strip_prefix("sandbox:")?;
    let names = rest.split('#').next().unwrap_or("");
    Some(names.split(',').map(str::trim).filter(|n| !n.is_empty()))
}

/// Operations that can carry a payout's own scenarios (client_transfer_id, magic amount).
fn about_a_payout(operation: &str) -> bool {
    matches!(
        operation,
        "initiatePayout"
            | "commitPayoutTxn"
            | "getPayoutStatus"
            | "getTransactionConfirmationDetails"
    )
}

/// Whether any scenario could apply to this request: one is named anywhere (flag, header,
/// tenant), or the request is about a stored payout that carries its own (a `sandbox:`
/// client_transfer_id, a magic amount). When not, [`resolve`] would hand the request through
/// unchanged, and the pipeline skips it (the common case costs one payout lookup at most).
///
/// An initiate's own scenarios are in its body, which only the handler parses: when the layer is
/// skipped, the handler finds them after its one parse ([`resolve_initiate`]).
/// `operation` is the request's (the pipeline has looked it up already).
pub fn may_apply(
    state: &AppState,
    tenant: &Tenant,
    req: &mut Request,
    operation: &'static str,
) -> bool {
    if named_anywhere(state, tenant, req.headers()) {
        return true;
    }
    if !about_a_stored_payout(operation) {
        return false;
    }
    let params = raw_path_params(req);
    let param = |name: &str| {
        params
            .as_ref()
            .and_then(|p| p.iter().find(|(k, _)| *k == name).map(|(_, v)| v))
    };
    payout_carries_scenarios(tenant, param("user_token"), param("payout_token"))
}

/// [`may_apply`] for a request whose path parameters are known (the direct way, `direct.rs`).
pub fn may_apply_to(
    state: &AppState,
    tenant: &Tenant,
    headers: &axum::http::HeaderMap,
    operation: &'static str,
    user_token: Option<&str>,
    payout_token: Option<&str>,
) -> bool {
    named_anywhere(state, tenant, headers)
        || (about_a_stored_payout(operation)
            && payout_carries_scenarios(tenant, user_token, payout_token))
}

/// Whether a scenario is named by flag, header or the tenant.
fn named_anywhere(state: &AppState, tenant: &Tenant, headers: &axum::http::HeaderMap) -> bool {
    !state.global_scenarios.is_empty()
        || headers.contains_key(SCENARIO_HEADER)
        || tenant.has_active_scenarios()
}

/// Operations about a payout that exists already (an initiate's own scenarios are in its body).
fn about_a_stored_payout(operation: &str) -> bool {
    about_a_payout(operation) && operation != "initiatePayout"
}

/// Whether the payout the path names (if it exists) carries scenarios of its own.
fn payout_carries_scenarios(
    tenant: &Tenant,
    user_token: Option<&str>,
    payout_token: Option<&str>,
) -> bool {
    let (Some(user), Some(payout)) = (
        user_token.and_then(UserId::parse),
        payout_token.and_then(PayoutId::parse),
    ) else {
        return false;
    };
    tenant
        .read_payout(user, payout, |p| {
            p.magic.is_some()
                || p.client_transfer_id
                    .as_deref()
                    .is_some_and(|c| transfer_id_scenarios(c).is_some())
        })
        .unwrap_or(false)
}

/// The route's path parameters (percent-decoded), read without consuming the request. Axum's
/// extractor is async in signature only: it reads what routing stored in the extensions, so one
/// poll answers it.
fn raw_path_params(req: &mut Request) -> Option<RawPathParams> {
    use axum::extract::FromRequestParts;
    use std::future::Future;
    let (mut parts, body) = std::mem::take(req).into_parts();
    let params = {
        let fut = RawPathParams::from_request_parts(&mut parts, &());
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(p)) => Some(p),
            _ => None,
        }
    };
    *req = Request::from_parts(parts, body);
    params
}

/// Resolves the scenarios of a request to `operation` (its SDK operation id): `Ok(request)` to
/// go on (with the effects for the handler in its extensions), or `Err(answer)` — an injected
/// fault or a 400 for an unknown name.
pub async fn resolve(
    state: &AppState,
    req: Request,
    operation: &'static str,
) -> Result<Request, Response> {
    let (mut parts, body) = req.into_parts();
    let Some(tenant) = parts.extensions.get::<Arc<Tenant>>().cloned() else {
        return Ok(Request::from_parts(parts, body));
    };

    // Names from the flag, the header and the tenant.
    let mut names: Vec<String> = state
        .global_scenarios
        .iter()
        .map(|s| s.name.clone())
        .collect();
    if let Some(h) = parts.headers.get(SCENARIO_HEADER) {
        let Ok(text) = h.to_str() else {
            return Err(
                ApiError::bad_request("X-Sandbox-Scenario must be plain text").into_response(),
            );
        };
        names.extend(
            text.split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
        );
    }
    names.extend(tenant.active_scenarios());

    // The common case costs nothing more: no scenario named anywhere, and an operation that
    // cannot carry a payout's own scenarios (client_transfer_id, magic amount).
    if names.is_empty() && !about_a_payout(operation) {
        return Ok(Request::from_parts(parts, body));
    }

    let path = path_params(&mut parts).await;
    let param = |name: &str| {
        path.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let user = param("user_token").and_then(UserId::parse);

    // A request about a payout carries that payout's scenarios (client_transfer_id, magic amount).
    let mut amount: Option<Decimal> = None;
    if let (Some(user), Some(p)) = (user, param("payout_token").and_then(PayoutId::parse)) {
        tenant.read_payout(user, p, |p| {
            if let Some(ctid) = p.client_transfer_id.as_deref() {
                if let Some(n) = transfer_id_scenarios(ctid) {
                    names.extend(n.map(str::to_string));
                }
            }
            if let Some(m) = p.magic {
                names.push(m.scenario().to_string());
            }
            amount = Some(p.requested_amount);
        });
    }

    // An initiate's body may name scenarios in client_transfer_id; read it when it can matter.
    let mut body_bytes: Option<Bytes> = None;
    let mut body_value: Option<Value> = None;
    let reads_body_rules = !names.is_empty();
    let carries_payout_body = operation == "initiatePayout";
    let mut body = Some(body);
    if carries_payout_body || reads_body_rules {
        let b = body.take().unwrap_or_default();
        match super::body::read_request_body(&parts.extensions, b, super::UPLOAD_LIMIT).await {
            Ok(bytes) => {
                // Without active scenarios, an initiate's body matters only if it names some
                // (`sandbox:` in client_transfer_id) or auto-commits (its magic amount acts now).
                // Any JSON escape (`"auto\u005fcommit"`) could spell either: parse then too.
                let contains = |pat: &[u8]| bytes.windows(pat.len()).any(|w| w == pat);
                if reads_body_rules
                    || contains(b"sandbox:")
                    || contains(b"auto_commit")
                    || contains(b"\\u")
                {
                    body_value = serde_json::from_slice::<Value>(&bytes).ok();
                }
                body_bytes = Some(bytes);
            }
            Err(e) => return Err(e.into_response()),
        }
    }
    if carries_payout_body {
        if let Some(v) = &body_value {
            if let Some(ctid) = v.get("client_transfer_id").and_then(Value::as_str) {
                if let Some(n) = transfer_id_scenarios(ctid) {
                    names.extend(n.map(str::to_string));
                }
            }
            amount = body_bytes.as_deref().and_then(request_amount);
        }
    }
    // A 1.0.0 initiate with auto_commit is a commit too: its magic amount acts now.
    let auto_commit = carries_payout_body
        && super::ApiVersion::of_path(parts.uri.path()) == super::ApiVersion::V1
        && body_value
            .as_ref()
            .and_then(|v| v.get("auto_commit"))
            .and_then(Value::as_bool)
            == Some(true);
    if auto_commit {
        if let Some(m) = amount.and_then(crate::domain::payout::Magic::of) {
            names.push(m.scenario().to_string());
        }
    }

    let rebuild = |mut parts: Parts, body: Option<Body>, bytes: Option<Bytes>, effects| {
        // Always present once the layer ran (empty when nothing matched): the handler must not
        // look for the payout's scenarios a second time.
        parts.extensions.insert(effects);
        match bytes {
            Some(b) => Request::from_parts(parts, Body::from(b)),
            None => Request::from_parts(parts, body.unwrap_or_default()),
        }
    };
    let facts = Facts {
        operation,
        path: &path,
        body: body_value.as_ref(),
        user,
        amount,
        auto_commit,
    };
    let effects = apply(state, &tenant, names, facts)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(rebuild(parts, body, body_bytes, effects))
}

/// What the rules of the active scenarios are matched against.
struct Facts<'a> {
    operation: &'static str,
    path: &'a [(String, String)],
    body: Option<&'a Value>,
    user: Option<UserId>,
    amount: Option<Decimal>,
    /// A 1.0.0 initiate with `auto_commit`: the commit's rules are matched too.
    auto_commit: bool,
}

/// Matches the named scenarios' rules and applies what acts at once (latency, balances, faults:
/// `Err(answer)`); the rest is returned for the handler.
async fn apply(
    state: &AppState,
    tenant: &Tenant,
    names: Vec<String>,
    f: Facts<'_>,
) -> Result<Effects, ApiError> {
    if names.is_empty() {
        return Ok(Effects::default());
    }
    let active: Vec<Arc<Scenario>> = match state.scenarios.resolve(names.iter().map(String::as_str))
    {
        Ok(a) => a,
        Err(unknown) => {
            return Err(ApiError::bad_request(
                state.scenarios.unknown_message(&unknown),
            ))
        }
    };
    let needs_user = active
        .iter()
        .any(|s| s.rules.iter().any(|r| !r.when.user.is_empty()));
    let user_record = if needs_user {
        f.user.and_then(|u| tenant.user(u))
    } else {
        None
    };
    let facts = RequestFacts {
        operation: f.operation,
        path: f.path,
        body: f.body,
        user: user_record.as_deref(),
        amount: f.amount,
    };
    let mut effects = matching::evaluate(&active, &facts, |scenario, rule| {
        tenant.count_call(scenario, rule)
    });
    if f.auto_commit {
        let commit_facts = RequestFacts {
            operation: "commitPayoutTxn",
            ..facts
        };
        let c = matching::evaluate(&active, &commit_facts, |scenario, rule| {
            tenant.count_call(scenario, rule)
        });
        effects.commit = effects.commit.or(c.commit);
        effects.require_attributes.extend(c.require_attributes);
    }
    if effects.is_empty() {
        return Ok(effects);
    }
    if effects.latency_ms > 0 {
        // Rules stack, but a request never waits more than the cap in all (README "Limits").
        let latency = std::time::Duration::from_millis(effects.latency_ms)
            .min(crate::limits::MAX_INJECTED_LATENCY);
        tokio::time::sleep(latency).await;
    }
    for &(account, value) in &effects.balances {
        tenant.set_balance(account, value);
    }
    if let Some(fault) = &effects.fault {
        let detail = fault.message.clone().unwrap_or_else(|| {
            format!("injected by a sandbox scenario ({})", active_names(&active))
        });
        return Err(ApiError::Forced(Box::new(ApiError::injected(
            fault.status,
            detail,
            fault.retry_after,
        ))));
    }
    Ok(effects)
}

/// An initiate's own scenarios, found by its handler after its one parse when the pipeline
/// skipped this layer (no scenario named by flag, header or tenant): the `sandbox:` names of its
/// client_transfer_id, and, with 1.0.0's `auto_commit`, its magic amount. Same effects as
/// [`resolve`] would have had; called only when there is something to find.
pub async fn resolve_initiate(
    state: &AppState,
    tenant: &Tenant,
    user_token: &str,
    body: &[u8],
    auto_commit: bool,
) -> Result<Effects, ApiError> {
    let body_value = serde_json::from_slice::<Value>(body).ok();
    let mut names = Vec::new();
    if let Some(ctid) = body_value
        .as_ref()
        .and_then(|v| v.get("client_transfer_id"))
        .and_then(Value::as_str)
    {
        if let Some(n) = transfer_id_scenarios(ctid) {
            names.extend(n.map(str::to_string));
        }
    }
    let amount = request_amount(body);
    if auto_commit {
        if let Some(m) = amount.and_then(crate::domain::payout::Magic::of) {
            names.push(m.scenario().to_string());
        }
    }
    let path = [("user_token".to_string(), user_token.to_string())];
    let facts = Facts {
        operation: "initiatePayout",
        path: &path,
        body: body_value.as_ref(),
        user: UserId::parse(user_token),
        amount,
        auto_commit,
    };
    apply(state, tenant, names, facts).await
}

fn active_names(active: &[Arc<Scenario>]) -> String {
    active
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn path_params(parts: &mut Parts) -> Vec<(String, String)> {
    use axum::extract::FromRequestParts;
    match RawPathParams::from_request_parts(parts, &()).await {
        Ok(raw) => raw
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `source_amount`, else `destination_amount`, of an initiate body, read as the handler reads
/// it: from the number's text, rounded to 15 significant digits (no f64 round trip).
fn request_amount(bytes: &[u8]) -> Option<Decimal> {
    #[derive(serde::Deserialize)]
    struct Amounts<'a> {
        #[serde(borrow)]
        source_amount: Option<&'a serde_json::value::RawValue>,
        #[serde(borrow)]
        destination_amount: Option<&'a serde_json::value::RawValue>,
    }
    let a: Amounts<'_> = serde_json::from_slice(bytes).ok()?;
    [a.source_amount, a.destination_amount]
        .into_iter()
        .flatten()
        .find_map(|raw| {
            crate::domain::money::decimal_from_json_text(raw.get(), false)
                .ok()
                .map(crate::domain::money::round_client_amount)
        })
}

/// The effects the scenario layer left for a handler (none when no rule matched).
pub fn effects(parts: &axum::http::Extensions) -> Effects {
    parts.get::<Effects>().cloned().unwrap_or_default()
}
