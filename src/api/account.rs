//! `GET /account/balance`: the client's funding accounts and their balances.

use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::extract::TenantCtx;
use super::models::AvailableBalanceTxnResp;
use super::{json, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/account/balance", get(balance))
}

async fn balance(TenantCtx(tenant): TenantCtx) -> Response {
    let catalog = &tenant.catalog;
    let body: Vec<AvailableBalanceTxnResp<'_>> = tenant
        .balances()
        .into_iter()
        .map(|(i, balance)| {
            let a = &catalog.funding_accounts[i];
            AvailableBalanceTxnResp {
                token: &a.token,
                balance: balance.into(),
                currency_code: &a.currency,
            }
        })
        .collect();
    json(&body)
}
