//! `GET /account/balance`: the client's funding accounts and their balances.

use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::extract::{Query, TenantCtx};
use super::models::AvailableBalanceTxnResp;
use super::{json, AppState};
use crate::error::{ApiError, ApiResult};

pub fn router(p: &str) -> Router<AppState> {
    Router::new()
        .route(&[p, "/account/balance"].concat(), get(balance))
        .route(&[p, "/account/statement"].concat(), get(statement))
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

#[derive(serde::Deserialize)]
pub struct StatementQuery {
    start_date: Option<String>,
    ending_date: Option<String>,
}

/// A certified-looking ledger statement for a period (at most 31 days): every debit of a
/// committed payout in it, per funding account, as a real PDF.
async fn statement(
    TenantCtx(tenant): TenantCtx,
    Query(q): Query<StatementQuery>,
) -> ApiResult<Response> {
    let date = |name: &str, v: Option<String>| -> ApiResult<chrono::NaiveDate> {
        let v = v.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            ApiError::bad_request(format!("query parameter {name} is required (YYYY-MM-DD)"))
        })?;
        chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
            .ok()
            .filter(|_| v.trim().len() == 10)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter {name} must be a date YYYY-MM-DD, not {v:?}"
                ))
            })
    };
    let from = date("start_date", q.start_date)?;
    let to = date("ending_date", q.ending_date)?;
    if to < from {
        return Err(ApiError::bad_request("ending_date is before start_date"));
    }
    if (to - from).num_days() > 31 {
        return Err(ApiError::bad_request(
            "ending_date may be at most 31 days after start_date",
        ));
    }
    let catalog = &tenant.catalog;
    let mut lines = vec![
        format!("Period: {from} to {to}"),
        format!("Issued: {}", crate::clock::format(tenant.now())),
        String::new(),
    ];
    for (i, balance) in tenant.balances() {
        let account = &catalog.funding_accounts[i];
        lines.push(format!("Account {} ({})", account.token, account.currency));
        let mut total = rust_decimal::Decimal::ZERO;
        for p in tenant.all_payouts() {
            let Some(at) = p.committed_at else { continue };
            let day = crate::clock::date(at);
            let from_this_account =
                matches!(p.source, crate::domain::payout::Source::Account(a) if a as usize == i);
            if !from_this_account || day < from || day > to {
                continue;
            }
            total += p.debit();
            lines.push(format!(
                "  {}  {}  -{} {}",
                crate::clock::format(at),
                crate::domain::token::format(crate::domain::token::PAYOUT, p.id),
                p.debit().normalize(),
                account.currency,
            ));
            lines.push(format!(
                "      amount {} + fee {}",
                p.source_amount.normalize(),
                p.fee.normalize()
            ));
        }
        let mut credits = rust_decimal::Decimal::ZERO;
        for u in tenant.users() {
            for l in tenant.user_loads(u.id).unwrap_or_default() {
                let day = crate::clock::date(l.time_of_load);
                if l.funding != i
                    || l.status != crate::domain::wallet::LoadStatus::Completed
                    || day < from
                    || day > to
                {
                    continue;
                }
                total += l.amount;
                lines.push(format!(
                    "  {}  {}  -{} {}",
                    crate::clock::format(l.time_of_load),
                    crate::domain::token::format(crate::domain::wallet::LOAD, l.id),
                    l.amount.normalize(),
                    account.currency,
                ));
            }
            for sb in tenant.user_spendbacks(u.id).unwrap_or_default() {
                let day = crate::clock::date(sb.created);
                if sb.funding != i || !sb.success || day < from || day > to {
                    continue;
                }
                credits += sb.amount;
                lines.push(format!(
                    "  {}  {}  +{} {}",
                    crate::clock::format(sb.created),
                    crate::domain::token::format(crate::domain::wallet::SPENDBACK, sb.id),
                    sb.amount.normalize(),
                    account.currency,
                ));
            }
        }
        lines.push(format!(
            "  Credits in the period: {} {}",
            credits.normalize(),
            account.currency
        ));
        lines.push(format!(
            "  Debits in the period: {} {}",
            total.normalize(),
            account.currency
        ));
        lines.push(format!(
            "  Available balance now: {} {}",
            balance.normalize(),
            account.currency
        ));
        lines.push(String::new());
    }
    let pdf = crate::pdf::document("MassPay account statement", &lines);
    Ok(json(&super::models::FileContent::pdf(&pdf)))
}
