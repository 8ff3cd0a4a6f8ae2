//! Loads: funding a user's wallet from a client account.

use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};

use super::extract::{Json, Path, Query, TenantCtx};
use super::json;
use super::registry::{one, Operation, Param, Schema};
use crate::domain::money::Amount;
use crate::domain::token;
use crate::domain::wallet::parse_load;
use crate::domain::wallet::{self, Load, LoadTxnBody};
use crate::error::{ApiError, ApiResult};
use crate::scenario::Effects;
use crate::state::Tenant;
use axum::http::Method;
use axum::routing::on;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "loadUser",
        aliases: &[],
        method: Method::POST,
        v0: Some("/load/{user_token}"),
        v1: Some("/payout/load/{user_token}"),
        handler: |m| on(m, create),
        body: Some(Schema::One(one::<crate::domain::wallet::LoadTxnBody>)),
        ok: Schema::One(one::<LoadTxnResp>),
        ok_v1: None,
        query: &[],
        summary: "Credit a user's wallet from a funding account",
    },
    Operation {
        id: "getUserLoadsByToken",
        aliases: &[],
        method: Method::GET,
        v0: Some("/load/{user_token}"),
        v1: Some("/payout/load/{user_token}"),
        handler: |m| on(m, list),
        body: None,
        ok: Schema::Many(one::<Loads<'static>>),
        ok_v1: None,
        query: &[],
        summary: "A user's loads",
    },
    Operation {
        id: "resendLoadNotification",
        aliases: &[],
        method: Method::PUT,
        v0: Some("/load/{user_token}"),
        v1: Some("/payout/load/{user_token}"),
        handler: |m| on(m, resend),
        body: None,
        ok: Schema::One(one::<NotificationResult>),
        ok_v1: None,
        query: &[("load_token", Param::Str, true)],
        summary: "Resend a load notification",
    },
    Operation {
        id: "cancelUserLoad",
        aliases: &[],
        method: Method::DELETE,
        v0: Some("/load/{user_token}"),
        v1: Some("/payout/load/{user_token}"),
        handler: |m| on(m, cancel),
        body: None,
        ok: Schema::One(one::<LoadTxnResp>),
        ok_v1: None,
        query: &[("load_token", Param::Str, true)],
        summary: "Reverse a load (or cancel a scheduled one)",
    },
];

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoadTxnResp {
    pub load_token: String,
    pub status: &'static str,
    /// Required in 1.0.0 (the wallet that received the load); harmless extra in 0.1.4.
    pub wallet_token: String,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Loads<'a> {
    load_token: String,
    time_of_load: String,
    client_load_id: &'a str,
    source_token: &'a str,
    wallet_token: String,
    amount: Amount,
    source_currency_code: &'a str,
    notes: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    metadata: Option<&'a serde_json::value::RawValue>,
}

fn view<'a>(tenant: &'a Tenant, l: &'a Load) -> Loads<'a> {
    let account = &tenant.catalog.funding_accounts[l.funding];
    Loads {
        load_token: token::format(wallet::LOAD, l.id),
        time_of_load: crate::clock::format(l.time_of_load),
        client_load_id: &l.client_load_id,
        source_token: &account.token,
        wallet_token: token::format(wallet::WALLET, l.wallet),
        amount: l.amount.into(),
        source_currency_code: &account.currency,
        notes: &l.notes,
        status: l.status.as_str(),
        metadata: l.metadata.as_deref(),
    }
}

async fn create(
    TenantCtx(tenant): TenantCtx,
    effects: Option<Extension<Effects>>,
    Path(user_token): Path<String>,
    Json(body): Json<LoadTxnBody>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let req = parse_load(&tenant.catalog, body, tenant.now())?;
    let webhook = effects.map(|e| e.0.webhook).unwrap_or_default();
    let l = tenant.load(user, req, webhook)?;
    Ok(json(&LoadTxnResp {
        load_token: token::format(wallet::LOAD, l.id),
        status: l.status.as_str(),
        wallet_token: token::format(wallet::WALLET, l.wallet),
    }))
}

async fn list(TenantCtx(tenant): TenantCtx, Path(user_token): Path<String>) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let loads = tenant.user_loads(user).unwrap_or_default();
    let body: Vec<Loads<'_>> = loads.iter().map(|l| view(&tenant, l)).collect();
    Ok(json(&body))
}

#[derive(Deserialize)]
pub struct LoadTokenQuery {
    load_token: Option<String>,
}

fn load_token(q: LoadTokenQuery) -> ApiResult<String> {
    q.load_token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("query parameter load_token is required"))
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationResult {
    pub success: bool,
}

/// Resends the load notification: succeeds for any load of the user.
async fn resend(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
    Query(q): Query<LoadTokenQuery>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let t = load_token(q)?;
    tenant
        .user_load(user, &t)
        .ok_or_else(|| ApiError::not_found(format!("load {t:?} was not found for this user")))?;
    Ok(json(&NotificationResult { success: true }))
}

async fn cancel(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
    Query(q): Query<LoadTokenQuery>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let t = load_token(q)?;
    let l = tenant.cancel_load(user, &t)?;
    Ok(json(&LoadTxnResp {
        load_token: token::format(wallet::LOAD, l.id),
        status: l.status.as_str(),
        wallet_token: token::format(wallet::WALLET, l.wallet),
    }))
}
