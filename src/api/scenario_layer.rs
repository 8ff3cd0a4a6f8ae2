//! Scenario resolution, between auth and the handler: which scenarios are active for this
//! request (`--scenario`, the `X-Sandbox-Scenario` header, the tenant's, and the payout's own
//! `client_transfer_id` / magic amount), which of their rules match, and the effects: faults and
//! latency are applied here; commit overrides, extra requirements and rates travel to the handler
//! in the request's extensions.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, RawPathParams, Request};
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

/// The MassPay operation a routed request calls (by its SDK operation id).
fn operation_of(
    method: &axum::http::Method,
    extensions: &axum::http::Extensions,
) -> Option<&'static str> {
    extensions
        .get::<MatchedPath>()
        .and_then(|m| super::registry::identify(method, m.as_str()))
        .map(|op| op.id)
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
/// tenant), or the operation is about a payout. When not, [`resolve`] would hand the request
/// through unchanged, and the pipeline skips it (the common case costs nothing).
pub fn may_apply(state: &AppState, tenant: &Tenant, req: &Request) -> bool {
    !state.global_scenarios.is_empty()
        || req.headers().contains_key(SCENARIO_HEADER)
        || tenant.has_active_scenarios()
        || operation_of(req.method(), req.extensions()).is_some_and(about_a_payout)
}

/// Resolves the request's scenarios: `Ok(request)` to go on (with the effects for the handler in
/// its extensions), or `Err(answer)` — an injected fault or a 400 for an unknown name.
pub async fn resolve(state: &AppState, req: Request) -> Result<Request, Response> {
    let (mut parts, body) = req.into_parts();
    let Some(tenant) = parts.extensions.get::<Arc<Tenant>>().cloned() else {
        return Ok(Request::from_parts(parts, body));
    };
    let Some(operation) = operation_of(&parts.method, &parts.extensions) else {
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
        match super::body::collect(b, super::UPLOAD_LIMIT).await {
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

    let rebuild = |parts: Parts, body: Option<Body>, bytes: Option<Bytes>| match bytes {
        Some(b) => Request::from_parts(parts, Body::from(b)),
        None => Request::from_parts(parts, body.unwrap_or_default()),
    };
    if names.is_empty() {
        return Ok(rebuild(parts, body, body_bytes));
    }
    let active: Vec<Arc<Scenario>> = match state.scenarios.resolve(names.iter().map(String::as_str))
    {
        Ok(a) => a,
        Err(unknown) => {
            return Err(
                ApiError::bad_request(state.scenarios.unknown_message(&unknown)).into_response(),
            )
        }
    };
    let needs_user = active
        .iter()
        .any(|s| s.rules.iter().any(|r| !r.when.user.is_empty()));
    let user_record = if needs_user {
        user.and_then(|u| tenant.user(u))
    } else {
        None
    };
    let facts = RequestFacts {
        operation,
        path: &path,
        body: body_value.as_ref(),
        user: user_record.as_deref(),
        amount,
    };
    let mut effects = matching::evaluate(&active, &facts, |scenario, rule| {
        tenant.count_call(scenario, rule)
    });
    if auto_commit {
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
        return Ok(rebuild(parts, body, body_bytes));
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
        return Err(ApiError::injected(fault.status, detail, fault.retry_after).into_response());
    }
    parts.extensions.insert(effects);
    Ok(rebuild(parts, body, body_bytes))
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
