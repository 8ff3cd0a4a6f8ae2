//! Wallets: a user's wallets, their autopay rules (`autopay` in 0.1.x, `autopayout` in 1.0.0)
//! and the MassPay card of a card wallet.

use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::extract::{OptionalJson, Path, Query, TenantCtx};
use super::load::NotificationResult;
use super::registry::{one, Operation, Param, Schema};
use super::{json, ApiVersion};
use crate::domain::money::Amount;
use crate::domain::token;
use crate::domain::wallet::parse_card_update;
use crate::domain::wallet::{self, AutopayRule, AutopayRuleBody, Wallet, WalletKind};
use crate::error::{ApiError, ApiResult};
use crate::state::Tenant;
use axum::http::Method;
use axum::routing::on;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "getWallet",
        aliases: &[],
        method: Method::GET,
        v0: Some("/wallet/{user_token}"),
        v1: Some("/payout/wallet/{user_token}"),
        handler: |m| on(m, list),
        body: None,
        ok: Schema::Many(one::<WalletTxnResp<'static>>),
        ok_v1: None,
        query: &[],
        summary: "A user's wallets",
    },
    Operation {
        id: "resendBalanceNotification",
        aliases: &[],
        method: Method::PUT,
        v0: Some("/wallet/{user_token}"),
        v1: Some("/payout/wallet/{user_token}"),
        handler: |m| on(m, resend),
        body: None,
        ok: Schema::One(one::<NotificationResult>),
        ok_v1: None,
        query: &[("wallet_token", Param::Str, false)],
        summary: "Resend a balance notification",
    },
    Operation {
        id: "getAutopayRules",
        aliases: &["getAutopayoutRules"],
        method: Method::GET,
        v0: Some("/wallet/{user_token}/{wallet_token}/autopay"),
        v1: Some("/payout/wallet/{user_token}/{wallet_token}/autopayout"),
        handler: |m| on(m, rules),
        body: None,
        ok: Schema::Many(one::<AutopayResp>),
        ok_v1: None,
        query: &[],
        summary: "A wallet's autopay rules",
    },
    Operation {
        id: "createAutopayRule",
        aliases: &["createAutopayoutRule"],
        method: Method::POST,
        v0: Some("/wallet/{user_token}/{wallet_token}/autopay"),
        v1: Some("/payout/wallet/{user_token}/{wallet_token}/autopayout"),
        handler: |m| on(m, add_rule),
        body: Some(Schema::One(one::<crate::domain::wallet::AutopayRuleBody>)),
        ok: Schema::One(one::<AutopayResp>),
        ok_v1: None,
        query: &[],
        summary: "Add an autopay rule",
    },
    Operation {
        id: "deleteAutopayRule",
        aliases: &["deleteAutopayoutRule"],
        method: Method::DELETE,
        v0: Some("/wallet/{user_token}/{wallet_token}/autopay"),
        v1: Some("/payout/wallet/{user_token}/{wallet_token}/autopayout"),
        handler: |m| on(m, delete_rule),
        body: None,
        ok: Schema::One(one::<NotificationResult>),
        ok_v1: None,
        query: &[("token", Param::Str, true)],
        summary: "Delete an autopay rule",
    },
    Operation {
        id: "getWalletCardInfo",
        aliases: &[],
        method: Method::GET,
        v0: Some("/wallet/{user_token}/{wallet_token}/card"),
        v1: Some("/payout/wallet/{user_token}/{wallet_token}/card"),
        handler: |m| on(m, card),
        body: None,
        ok: Schema::One(one::<CardInfo>),
        ok_v1: None,
        query: &[],
        summary: "The MassPay card of a card wallet",
    },
    Operation {
        id: "updateWalletCardInfo",
        aliases: &[],
        method: Method::PUT,
        v0: Some("/wallet/{user_token}/{wallet_token}/card"),
        v1: Some("/payout/wallet/{user_token}/{wallet_token}/card"),
        handler: |m| on(m, update_card),
        body: None,
        ok: Schema::One(one::<CardInfo>),
        ok_v1: None,
        query: &[("pin", Param::Str, false), ("status", Param::Str, false)],
        summary: "Change a card's PIN or status",
    },
];

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WalletTxnResp<'a> {
    user_token: String,
    token: String,
    balance: Amount,
    currency_code: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    card_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_4: Option<String>,
    active: bool,
    client_paying_fees: bool,
}

fn wallet_view(w: &Wallet) -> WalletTxnResp<'_> {
    WalletTxnResp {
        user_token: w.user.token(),
        token: token::format(wallet::WALLET, w.id),
        balance: w.balance.into(),
        currency_code: &w.currency,
        kind: w.kind.as_str(),
        card_type: w.card.as_ref().map(|_| "VISA"),
        last_4: w.card.as_ref().map(|c| format!("{:04}", c.number % 10_000)),
        active: w.active,
        client_paying_fees: false,
    }
}

async fn list(TenantCtx(tenant): TenantCtx, Path(user_token): Path<String>) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let wallets = tenant.user_wallets(user).unwrap_or_default();
    let body: Vec<WalletTxnResp<'_>> = wallets.iter().map(wallet_view).collect();
    Ok(json(&body))
}

#[derive(Deserialize)]
pub struct WalletQuery {
    wallet_token: Option<String>,
}

/// Resends the balance notification (of the given wallet, else the first).
async fn resend(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
    Query(q): Query<WalletQuery>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    if let Some(w) = q.wallet_token.filter(|w| !w.trim().is_empty()) {
        tenant.wallet(user, &w).ok_or_else(|| {
            ApiError::not_found(format!("wallet {w:?} was not found for this user"))
        })?;
    }
    Ok(json(&NotificationResult { success: true }))
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutopayResp {
    token: String,
    destination_token: String,
    percentage: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    attr_set_token: Option<String>,
}

fn rule_view(tenant: &Tenant, r: &AutopayRule, version: ApiVersion) -> AutopayResp {
    AutopayResp {
        token: token::format(wallet::AUTOPAY, r.id),
        destination_token: tenant.catalog.payers[r.payer].token.clone(),
        percentage: r.percentage.into(),
        attr_set_token: if version == ApiVersion::V1 {
            r.attr_set_token.clone()
        } else {
            None
        },
    }
}

async fn rules(
    TenantCtx(tenant): TenantCtx,
    version: ApiVersion,
    Path((user_token, wallet_token)): Path<(String, String)>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let rules = tenant.autopay_rules(user, &wallet_token)?;
    let body: Vec<AutopayResp> = rules
        .iter()
        .map(|r| rule_view(&tenant, r, version))
        .collect();
    Ok(json(&body))
}

async fn add_rule(
    TenantCtx(tenant): TenantCtx,
    version: ApiVersion,
    Path((user_token, wallet_token)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<AutopayRuleBody>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let rule = tenant.add_autopay(user, &wallet_token, body)?;
    Ok(json(&rule_view(&tenant, &rule, version)))
}

#[derive(Deserialize)]
pub struct RuleQuery {
    token: Option<String>,
}

async fn delete_rule(
    TenantCtx(tenant): TenantCtx,
    Path((user_token, wallet_token)): Path<(String, String)>,
    Query(q): Query<RuleQuery>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let t = q
        .token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("query parameter token is required"))?;
    tenant.delete_autopay(user, &wallet_token, &t)?;
    Ok(json(&NotificationResult { success: true }))
}

/// `card_number` is an integer in 0.1.4 and a string in 1.0.0.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum CardNumber {
    Integer(u64),
    Text(String),
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CardInfo {
    card_number: CardNumber,
    cvv: String,
    expiration_date: String,
    pin_number: String,
    balance: Amount,
    #[serde(rename = "type")]
    network: &'static str,
    status: &'static str,
}

fn card_view(w: &Wallet, version: ApiVersion) -> ApiResult<CardInfo> {
    let c = w
        .card
        .as_ref()
        .filter(|_| w.kind == WalletKind::MasspayCard)
        .ok_or_else(|| ApiError::bad_request("this wallet has no MassPay card (see GET /wallet/{user_token} for the MASSPAY_CARD wallet)"))?;
    Ok(CardInfo {
        card_number: match version {
            ApiVersion::V0 => CardNumber::Integer(c.number),
            ApiVersion::V1 => CardNumber::Text(c.number.to_string()),
        },
        cvv: c.cvv.clone(),
        expiration_date: c.expiration.to_string(),
        pin_number: c.pin.clone(),
        balance: w.balance.into(),
        network: "VISA",
        status: c.status.as_str(),
    })
}

async fn card(
    TenantCtx(tenant): TenantCtx,
    version: ApiVersion,
    Path((user_token, wallet_token)): Path<(String, String)>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let w = tenant.wallet(user, &wallet_token).ok_or_else(|| {
        ApiError::not_found(format!(
            "wallet {wallet_token:?} was not found for this user"
        ))
    })?;
    Ok(json(&card_view(&w, version)?))
}

#[derive(Deserialize)]
pub struct CardQuery {
    pin: Option<String>,
    status: Option<String>,
}

async fn update_card(
    TenantCtx(tenant): TenantCtx,
    version: ApiVersion,
    Path((user_token, wallet_token)): Path<(String, String)>,
    Query(q): Query<CardQuery>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let update = parse_card_update(q.pin.as_deref(), q.status.as_deref());
    // An unknown wallet is a 404 before the query's problems are a 400.
    if tenant.wallet(user, &wallet_token).is_none() {
        return Err(ApiError::not_found(format!(
            "wallet {wallet_token:?} was not found for this user"
        )));
    }
    let w = tenant.update_card(user, &wallet_token, update?)?;
    Ok(json(&card_view(&w, version)?))
}
