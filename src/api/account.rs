//! `GET /account/balance`: the client's funding accounts and their balances.

use axum::extract::State;
use axum::response::Response;

use super::extract::{Query, TenantCtx};
use super::models;
use super::models::AvailableBalanceTxnResp;
use super::registry::{one, Operation, Param, Schema};
use super::{json, json_shared, AppState};
use crate::domain::catalog::Catalog;
use crate::domain::money::DecimalText;
use crate::error::{ApiError, ApiResult};
use crate::state::Tenant;
use axum::http::Method;
use axum::routing::on;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "getAccountBalance",
        aliases: &[],
        method: Method::GET,
        v0: Some("/account/balance"),
        v1: Some("/payout/account/balance"),
        handler: |m| on(m, balance),
        body: None,
        ok: Schema::Many(one::<models::AvailableBalanceTxnResp<'static>>),
        ok_v1: None,
        query: &[],
        summary: "Available balances of the client's funding accounts",
    },
    Operation {
        id: "getAccountStatement",
        aliases: &[],
        method: Method::GET,
        v0: Some("/account/statement"),
        v1: Some("/payout/account/statement"),
        handler: |m| on(m, statement),
        body: None,
        ok: Schema::One(one::<models::FileContent>),
        ok_v1: None,
        query: &[
            ("start_date", Param::Str, true),
            ("ending_date", Param::Str, true),
        ],
        summary: "Ledger statement (PDF, base64) for at most 31 days",
    },
];

async fn balance(State(state): State<AppState>, TenantCtx(tenant): TenantCtx) -> Response {
    balance_of(&state, &tenant)
}

/// The answer of `GET /account/balance` for this tenant.
fn balance_of(state: &AppState, tenant: &Tenant) -> Response {
    json_shared(tenant.balance_answer(|balances| {
        let mut body = Vec::with_capacity(1024);
        state.balance_json.render(balances, &mut body);
        body
    }))
}

/// [`balance`] the direct way (`direct.rs`).
pub(super) fn balance_direct(call: super::direct::Call) -> super::direct::Answer {
    // Answered when polled, not now: the journal takes the answer its poll wrote.
    super::direct::Answer::of(async move { Ok(balance_of(&call.app, &call.tenant)) })
}

/// The answer of `GET /account/balance` (the operation integrations poll most), rendered once
/// per catalog around each account's amount: every `AvailableBalanceTxnResp` serialised with a
/// placeholder balance and cut there. Answering then costs the amounts' text and some copying,
/// not serde's field-by-field escaping; `tests::renders_what_serde_renders` pins it to the
/// model.
pub struct BalanceJson {
    /// Per funding account: the JSON before its balance and after it.
    around: Vec<Around>,
}

/// The JSON text before and after an account's balance.
type Around = (Box<[u8]>, Box<[u8]>);

/// The placeholder balance: its text (`Decimal::MAX`) appears nowhere else in an answer, whose
/// other fields are a fixture token and a currency code (letters).
const PLACEHOLDER: rust_decimal::Decimal = rust_decimal::Decimal::MAX;

impl BalanceJson {
    pub fn new(catalog: &Catalog) -> Self {
        let marker = PLACEHOLDER.to_string();
        let around = catalog
            .funding_accounts
            .iter()
            .map(|a| {
                let text = serde_json::to_string(&AvailableBalanceTxnResp {
                    token: &a.token,
                    balance: PLACEHOLDER.into(),
                    currency_code: &a.currency,
                })
                .unwrap_or_default();
                let at = text.rfind(&marker).unwrap_or(text.len());
                let (before, after) = text.split_at(at);
                let after = after.get(marker.len()..).unwrap_or("");
                (before.as_bytes().into(), after.as_bytes().into())
            })
            .collect();
        BalanceJson { around }
    }

    /// Writes the JSON array of the accounts with these balances (by funding-account index).
    pub fn render(&self, balances: &[(usize, rust_decimal::Decimal)], out: &mut Vec<u8>) {
        out.push(b'[');
        for (n, &(i, balance)) in balances.iter().enumerate() {
            let Some((before, after)) = self.around.get(i) else {
                continue;
            };
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(before);
            out.extend_from_slice(DecimalText::new(balance).as_bytes());
            out.extend_from_slice(after);
        }
        out.push(b']');
    }
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
        crate::domain::parse_date(v.trim()).ok_or_else(|| {
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
    // Totals are summed with checked arithmetic: a sum that does not fit the decimal type is a
    // 422, never a panic.
    let add = |total: &mut rust_decimal::Decimal, amount: rust_decimal::Decimal| {
        *total = total.checked_add(amount).ok_or_else(|| {
            ApiError::Unprocessable(
                "the period's totals are too large to write: ask for a shorter period".into(),
            )
        })?;
        Ok::<(), ApiError>(())
    };
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
            add(&mut total, p.debit())?;
            lines.push(format!(
                "  {}  {}  -{} {}",
                crate::clock::format(at),
                p.id.token(),
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
                add(&mut total, l.amount)?;
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
                add(&mut credits, sb.amount)?;
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

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn renders_what_serde_renders() {
        let catalog = crate::fixtures::load(crate::fixtures::Source::Embedded).unwrap();
        let balances: Vec<(usize, Decimal)> = (0..catalog.funding_accounts.len())
            .map(|i| (i, Decimal::new(-(i as i64) * 12_345 + 7, (i % 9) as u32)))
            .collect();
        let mut fast = Vec::new();
        BalanceJson::new(&catalog).render(&balances, &mut fast);
        let models: Vec<AvailableBalanceTxnResp<'_>> = balances
            .iter()
            .map(|(i, b)| AvailableBalanceTxnResp {
                token: &catalog.funding_accounts[*i].token,
                balance: (*b).into(),
                currency_code: &catalog.funding_accounts[*i].currency,
            })
            .collect();
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            serde_json::to_string(&models).unwrap()
        );
    }
}
