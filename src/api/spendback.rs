//! Spend-backs: money from a user's wallet back to the client.

use axum::response::Response;
use axum::Extension;
use serde::Serialize;

use super::extract::{Json, Path, TenantCtx};
use super::json;
use super::registry::{one, Operation, Schema};
use crate::domain::money::Amount;
use crate::domain::token;
use crate::domain::wallet::parse_spendback;
use crate::domain::wallet::{self, SpendBackTxnBody};
use crate::error::ApiResult;
use crate::scenario::Effects;
use axum::http::Method;
use axum::routing::on;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "initiateSpendback",
        aliases: &[],
        method: Method::POST,
        v0: Some("/spendback/{user_token}"),
        v1: Some("/payout/spendback/{user_token}"),
        handler: |m| on(m, create),
        body: Some(Schema::One(one::<crate::domain::wallet::SpendBackTxnBody>)),
        ok: Schema::One(one::<SpendBackTxnResp<'static>>),
        ok_v1: None,
        query: &[],
        summary: "Move money from a user's wallet back to the client",
    },
    Operation {
        id: "getUserSpendbacksByToken",
        aliases: &[],
        method: Method::GET,
        v0: Some("/spendback/{user_token}"),
        v1: Some("/payout/spendback/{user_token}"),
        handler: |m| on(m, list),
        body: None,
        ok: Schema::Many(one::<SpendBacks<'static>>),
        ok_v1: None,
        query: &[],
        summary: "A user's spend-backs",
    },
];

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpendBackTxnResp<'a> {
    spendback_token: String,
    client_spendback_id: &'a str,
    status: &'static str,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpendBacks<'a> {
    spendback_token: String,
    time_of_spendback: String,
    client_spendback_id: &'a str,
    source_token: String,
    wallet_token: String,
    amount: Amount,
    source_currency_code: &'a str,
    notes: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    metadata: Option<&'a serde_json::value::RawValue>,
}

async fn create(
    TenantCtx(tenant): TenantCtx,
    effects: Option<Extension<Effects>>,
    Path(user_token): Path<String>,
    Json(body): Json<SpendBackTxnBody>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let req = parse_spendback(&tenant.catalog, body)?;
    let webhook = effects.map(|e| e.0.webhook).unwrap_or_default();
    let sb = tenant.spendback(user, req, webhook)?;
    Ok(json(&SpendBackTxnResp {
        spendback_token: token::format(wallet::SPENDBACK, sb.id),
        client_spendback_id: &sb.client_spendback_id,
        status: if sb.success { "success" } else { "failure" },
    }))
}

async fn list(TenantCtx(tenant): TenantCtx, Path(user_token): Path<String>) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let items = tenant.user_spendbacks(user).unwrap_or_default();
    let body: Vec<SpendBacks<'_>> = items
        .iter()
        .map(|s| {
            let account = &tenant.catalog.funding_accounts[s.funding];
            SpendBacks {
                spendback_token: token::format(wallet::SPENDBACK, s.id),
                time_of_spendback: crate::clock::format(s.created),
                client_spendback_id: &s.client_spendback_id,
                source_token: s.source_token.clone(),
                wallet_token: token::format(wallet::WALLET, s.wallet),
                amount: s.amount.into(),
                source_currency_code: &account.currency,
                notes: &s.notes,
                metadata: s.metadata.as_deref(),
            }
        })
        .collect();
    Ok(json(&body))
}
