//! Payouts: initiate (quote), commit, status and a user's payout list.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;

use super::extract::{parse_json, query_bool, query_decimal, BodyBytes, Path, Query, TenantCtx};
use super::models;
use super::models::{PayoutTxnCommitResp, PayoutTxnResp};
use super::registry::{one, Operation, Param, Schema};
use super::scenario_layer::{self, transfer_id_scenarios};
use super::{json, json_text_answer, ApiVersion, AppState};
use crate::domain::payout::{parse_payout_request, PayoutTxnBody};
use crate::domain::token::{PayoutId, UserId};
use crate::error::{ApiError, ApiResult};
use crate::scenario::Effects;
use crate::state::{InitiateOutcome, Tenant};
use axum::http::Method;
use axum::routing::on;
use std::sync::Arc;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "initiatePayout",
        aliases: &[],
        method: Method::POST,
        v0: Some("/payout/{user_token}"),
        v1: Some("/payout/{user_token}"),
        handler: |m| on(m, initiate),
        body: Some(Schema::One(one::<crate::domain::payout::PayoutTxnBody>)),
        ok: Schema::One(one::<models::PayoutTxnResp<'static>>),
        ok_v1: Some(Schema::Either(
            one::<models::PayoutTxnResp<'static>>,
            one::<models::PayoutTxnCommitResp<'static>>,
        )),
        query: &[("limit", Param::Num, false)],
        summary: "Quote a payout (PENDING), or NSF/DUPLICATE",
    },
    Operation {
        id: "getUserPayoutsByToken",
        aliases: &[],
        method: Method::GET,
        v0: Some("/payout/{user_token}"),
        v1: Some("/payout/{user_token}"),
        handler: |m| on(m, list),
        body: None,
        ok: Schema::Many(one::<models::PayoutTxnResp<'static>>),
        ok_v1: None,
        query: &[("include_payer_logos", Param::Bool, false)],
        summary: "A user's payouts",
    },
    Operation {
        id: "commitPayoutTxn",
        aliases: &[],
        method: Method::PUT,
        v0: Some("/payout/{user_token}/{payout_token}"),
        v1: Some("/payout/{user_token}/{payout_token}"),
        handler: |m| on(m, commit),
        body: None,
        ok: Schema::One(one::<models::PayoutTxnCommitResp<'static>>),
        ok_v1: None,
        query: &[],
        summary: "Commit a payout",
    },
    Operation {
        id: "getPayoutStatus",
        aliases: &[],
        method: Method::GET,
        v0: Some("/payout/{user_token}/{payout_token}"),
        v1: Some("/payout/{user_token}/{payout_token}"),
        handler: |m| on(m, status),
        body: None,
        ok: Schema::One(one::<models::PayoutTxnResp<'static>>),
        ok_v1: None,
        query: &[
            ("force_status_update", Param::Bool, false),
            ("include_payer_logo", Param::Bool, false),
        ],
        summary: "A payout's status",
    },
    Operation {
        id: "getTransactionConfirmationDetails",
        aliases: &[],
        method: Method::PATCH,
        v0: Some("/payout/{user_token}/{payout_token}"),
        v1: Some("/payout/{user_token}/{payout_token}"),
        handler: |m| on(m, confirmation),
        body: None,
        ok: Schema::One(one::<models::FileContent>),
        ok_v1: None,
        query: &[],
        summary: "A payout's confirmation (PDF, base64)",
    },
];

fn payout_not_found(text: &str) -> ApiError {
    ApiError::not_found(format!("payout {text:?} was not found for this user"))
}

/// Reads a `payout_token` path segment; a malformed one is a 404 like an unknown one.
fn payout_id(text: &str) -> ApiResult<PayoutId> {
    PayoutId::parse(text).ok_or_else(|| payout_not_found(text))
}

/// The user's payout named by a path segment, as of now; unknown or another user's → 404.
fn find_payout(
    tenant: &Tenant,
    user: UserId,
    text: &str,
) -> ApiResult<crate::domain::payout::Payout> {
    tenant
        .payout(user, payout_id(text)?)
        .ok_or_else(|| payout_not_found(text))
}

#[derive(Deserialize)]
struct InitiateQuery {
    limit: Option<String>,
}

async fn initiate(
    State(app): State<AppState>,
    TenantCtx(tenant): TenantCtx,
    effects: Option<Extension<Effects>>,
    version: ApiVersion,
    Path(user_token): Path<String>,
    Query(q): Query<InitiateQuery>,
    BodyBytes(bytes): BodyBytes,
) -> ApiResult<Response> {
    let effects = effects.map(|e| e.0);
    initiate_with(
        &app,
        &tenant,
        effects,
        version,
        &user_token,
        q.limit.as_deref(),
        &bytes,
    )
    .await
}

/// [`initiate`] the direct way (`direct.rs`): no scenario layer, no query string.
pub(super) fn initiate_direct(mut call: super::direct::Call) -> super::direct::Answer {
    super::direct::Answer::of(async move {
        let bytes = call.read_body().await?;
        let user_token = call.param(0);
        initiate_with(
            &call.app,
            &call.tenant,
            None,
            call.version,
            user_token,
            None,
            &bytes,
        )
        .await
    })
}

async fn initiate_with(
    app: &AppState,
    tenant: &Arc<Tenant>,
    effects: Option<Effects>,
    version: ApiVersion,
    user_token: &str,
    limit: Option<&str>,
    bytes: &[u8],
) -> ApiResult<Response> {
    let mut body: PayoutTxnBody = parse_json(bytes)?;
    let user = super::user::user_id(tenant, user_token)?;
    let limit = query_decimal("limit", limit)?;
    if version == ApiVersion::V0 {
        // `auto_commit` is API 1.0.0's; 0.1.x ignores it like any unknown field.
        body.auto_commit = None;
    }
    let req = parse_payout_request(&tenant.catalog, body, limit, |t| {
        tenant.wallet_source(user, t)
    })?;
    if let Some(names) = req
        .client_transfer_id
        .as_deref()
        .and_then(transfer_id_scenarios)
    {
        app.scenarios.resolve(names).map_err(|unknown| {
            ApiError::bad_request(format!(
                "client_transfer_id: {}",
                app.scenarios.unknown_message(&unknown)
            ))
        })?;
    }
    let auto_commit = req.auto_commit;
    let effects = match effects {
        Some(e) => e,
        // The scenario layer was skipped (nothing named by flag, header or tenant): this
        // payout's own scenarios, if any, are found now that the body is parsed.
        None if auto_commit
            || req
                .client_transfer_id
                .as_deref()
                .is_some_and(|c| transfer_id_scenarios(c).is_some()) =>
        {
            scenario_layer::resolve_initiate(app, tenant, user_token, bytes, auto_commit).await?
        }
        None => Effects::default(),
    };
    let catalog = &tenant.catalog;
    let outcome = tenant.initiate_payout(user, req, effects.exchange_rate, effects.webhook)?;
    if let (true, InitiateOutcome::Created(p)) = (auto_commit, &outcome) {
        let (p, outcome) = tenant.commit_payout(
            user,
            p.id,
            effects.commit,
            &effects.require_attributes,
            effects.webhook,
        )?;
        return Ok(json_text_answer(&PayoutTxnCommitResp::from(&p, &outcome)));
    }
    let answer = match &outcome {
        InitiateOutcome::Created(p) => PayoutTxnResp::from(catalog, p, p.id.token(), false),
        InitiateOutcome::InsufficientFunds(p) => {
            PayoutTxnResp::from(catalog, p, "NSF".into(), false)
        }
        InitiateOutcome::Duplicate(p) => PayoutTxnResp::from(catalog, p, "DUPLICATE".into(), false),
    };
    Ok(json_text_answer(&answer))
}

#[derive(Deserialize)]
struct ListQuery {
    include_payer_logos: Option<String>,
}

async fn list(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let logos = query_bool("include_payer_logos", q.include_payer_logos.as_deref())?;
    let payouts = tenant.user_payouts(user).unwrap_or_default();
    let body: Vec<PayoutTxnResp<'_>> = payouts
        .iter()
        .map(|p| PayoutTxnResp::from(&tenant.catalog, p, p.id.token(), logos))
        .collect();
    Ok(json(&body))
}

#[derive(Deserialize)]
struct StatusQuery {
    force_status_update: Option<String>,
    include_payer_logo: Option<String>,
}

async fn status(
    TenantCtx(tenant): TenantCtx,
    Path((user_token, payout_token)): Path<(String, String)>,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    query_bool("force_status_update", q.force_status_update.as_deref())?;
    let logo = query_bool("include_payer_logo", q.include_payer_logo.as_deref())?;
    let p = find_payout(&tenant, user, &payout_token)?;
    Ok(json_text_answer(&PayoutTxnResp::from(
        &tenant.catalog,
        &p,
        p.id.token(),
        logo,
    )))
}

async fn commit(
    TenantCtx(tenant): TenantCtx,
    effects: Option<Extension<Effects>>,
    Path((user_token, payout_token)): Path<(String, String)>,
) -> ApiResult<Response> {
    let effects = effects.map(|e| e.0).unwrap_or_default();
    commit_with(&tenant, effects, &user_token, &payout_token)
}

/// [`commit`] the direct way (`direct.rs`): no scenario layer.
pub(super) fn commit_direct(call: super::direct::Call) -> super::direct::Answer {
    // Answered when polled, not now: the journal takes the answer its poll wrote.
    super::direct::Answer::of(async move {
        commit_with(
            &call.tenant,
            Effects::default(),
            call.param(0),
            call.param(1),
        )
    })
}

fn commit_with(
    tenant: &Tenant,
    effects: Effects,
    user_token: &str,
    payout_token: &str,
) -> ApiResult<Response> {
    let user = super::user::user_id(tenant, user_token)?;
    let id = payout_id(payout_token)?;
    let (p, outcome) = tenant.commit_payout(
        user,
        id,
        effects.commit,
        &effects.require_attributes,
        effects.webhook,
    )?;
    Ok(json_text_answer(&PayoutTxnCommitResp::from(&p, &outcome)))
}

/// "Check status and export PDF": the payout's confirmation as a real PDF, base64.
async fn confirmation(
    TenantCtx(tenant): TenantCtx,
    Path((user_token, payout_token)): Path<(String, String)>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let p = find_payout(&tenant, user, &payout_token)?;
    let u = tenant
        .user(user)
        .ok_or_else(|| ApiError::not_found("user"))?;
    let r = PayoutTxnResp::from(&tenant.catalog, &p, p.id.token(), false);
    let text = u.profile.text();
    let name = format!("{} {}", text.first_name, text.last_name);
    let mut lines = vec![
        format!("Payout token: {}", r.payout_token),
        format!("Status: {}", r.status),
    ];
    if let Some(reason) = r.status_reason {
        lines.push(format!("Status reason: {reason}"));
    }
    lines.extend([
        format!("Recipient: {name} ({})", user.token()),
        format!("Created: {}", crate::clock::format(p.created)),
        format!(
            "Committed: {}",
            p.committed_at
                .map(crate::clock::format)
                .unwrap_or_else(|| "not committed".into())
        ),
        format!("Quote expiration: {}", r.expiration),
        format!("Estimated availability: {}", r.estimated_availability),
        String::new(),
        format!(
            "Source amount: {} {}",
            r.source_amount, r.source_currency_code
        ),
        format!("Fee: {} {}", r.fee, r.source_currency_code),
        format!(
            "Total debited: {} {}",
            p.debit().normalize(),
            r.source_currency_code
        ),
        format!(
            "Exchange rate: {} {} per {}",
            r.exchange_rate, r.destination_currency_code, r.source_currency_code
        ),
        format!(
            "Destination amount: {} {}",
            r.destination_amount, r.destination_currency_code
        ),
        String::new(),
        format!("Source token: {}", r.source_token),
        format!("Destination token: {}", r.destination_token),
        format!("Payer: {}", r.payer_name),
        format!("Delivery type: {}", r.delivery_type),
        format!("Country: {}", r.country_code),
        format!("Client transfer id: {}", r.client_transfer_id),
    ]);
    if !r.pickup_code.is_empty() {
        lines.push(format!("Pickup code: {}", r.pickup_code));
    }
    let pdf = crate::pdf::document("MassPay payout confirmation", &lines);
    Ok(json(&super::models::FileContent::pdf(&pdf)))
}
