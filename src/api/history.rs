//! Transaction history: one user's (`/user/{user_token}/history`), and in API 1.0.0 every user's
//! (`/user/history`) — payouts, loads and spend-backs, newest first, filtered and paged.

use std::borrow::Cow;

use axum::response::Response;

use super::extract::{Path, Query, TenantCtx};
use super::models;
use super::models::TxnHistoryResp;
use super::registry::{one, Operation, Schema};
use super::{json, ApiVersion};
use crate::clock::Millis;
use crate::domain::history::{self, HistoryQueryRaw, TxnKind};
use crate::domain::token;
use crate::domain::token::UserId;
use crate::domain::wallet;
use crate::error::ApiResult;
use crate::state::Tenant;
use axum::http::Method;
use axum::routing::on;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "getAllUsersHistory",
        aliases: &[],
        method: Method::GET,
        v0: None,
        v1: Some("/payout/user/history"),
        handler: |m| on(m, all_history),
        body: None,
        ok: Schema::Many(one::<models::TxnHistoryResp<'static>>),
        ok_v1: None,
        query: super::registry::HISTORY_QUERY,
        summary: "Every user's transactions",
    },
    Operation {
        id: "getUserHistory",
        aliases: &[],
        method: Method::GET,
        v0: Some("/user/{user_token}/history"),
        v1: Some("/payout/user/{user_token}/history"),
        handler: |m| on(m, user_history),
        body: None,
        ok: Schema::Many(one::<models::TxnHistoryResp<'static>>),
        ok_v1: None,
        query: super::registry::HISTORY_QUERY,
        summary: "A user's payouts, loads and spend-backs",
    },
];

async fn user_history(
    TenantCtx(tenant): TenantCtx,
    version: ApiVersion,
    Path(user_token): Path<String>,
    Query(raw): Query<HistoryQueryRaw>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    respond(&tenant, &[user], raw, version == ApiVersion::V1)
}

async fn all_history(
    TenantCtx(tenant): TenantCtx,
    Query(raw): Query<HistoryQueryRaw>,
) -> ApiResult<Response> {
    let users: Vec<UserId> = tenant.users().iter().map(|u| u.id).collect();
    respond(&tenant, &users, raw, true)
}

fn respond(
    tenant: &Tenant,
    users: &[UserId],
    raw: HistoryQueryRaw,
    with_user: bool,
) -> ApiResult<Response> {
    let q = history::parse(raw)?;
    let catalog = &tenant.catalog;
    let mut payouts = Vec::new();
    let mut loads = Vec::new();
    let mut spendbacks = Vec::new();
    for &u in users {
        payouts.extend(tenant.user_payouts(u).unwrap_or_default());
        loads.extend(tenant.user_loads(u).unwrap_or_default());
        spendbacks.extend(tenant.user_spendbacks(u).unwrap_or_default());
    }
    // (time, token, item) for every kept item, then newest first.
    let mut items: Vec<(Millis, u64, TxnHistoryResp<'_>)> = Vec::new();
    for p in &payouts {
        let source = crate::domain::payout::source_token(catalog, p.source);
        if q.keeps(TxnKind::Payout, p.created, Some(&source)) {
            items.push((
                p.created,
                p.seq,
                TxnHistoryResp::payout(catalog, p, with_user),
            ));
        }
    }
    for l in &loads {
        let wallet_token = token::format(wallet::WALLET, l.wallet);
        if !q.keeps(TxnKind::Load, l.time_of_load, Some(&wallet_token)) {
            continue;
        }
        let account = &catalog.funding_accounts[l.funding];
        items.push((
            l.time_of_load,
            l.seq,
            TxnHistoryResp {
                token: token::format(wallet::LOAD, l.id),
                kind: TxnKind::Load.as_str(),
                time_of_txn: crate::clock::format(l.time_of_load),
                source_amount: l.amount.into(),
                source_currency_code: &account.currency,
                destination_amount: l.amount.into(),
                destination_currency_code: &account.currency,
                fee: rust_decimal::Decimal::ZERO.into(),
                status: l.status.as_str(),
                notes: Some(&l.notes),
                payer_name: None,
                pickup_code: None,
                source_token: Some(Cow::Borrowed(&account.token)),
                destination_token: Cow::Owned(wallet_token),
                delivery_type: None,
                client_transfer_id: None,
                status_reason: l.status_reason.as_deref(),
                user_token: with_user.then(|| l.user.token()),
            },
        ));
    }
    for s in &spendbacks {
        let wallet_token = token::format(wallet::WALLET, s.wallet);
        if !q.keeps(TxnKind::SpendBack, s.created, Some(&wallet_token)) {
            continue;
        }
        let account = &catalog.funding_accounts[s.funding];
        items.push((
            s.created,
            s.seq,
            TxnHistoryResp {
                token: token::format(wallet::SPENDBACK, s.id),
                kind: TxnKind::SpendBack.as_str(),
                time_of_txn: crate::clock::format(s.created),
                source_amount: s.amount.into(),
                source_currency_code: &account.currency,
                destination_amount: s.amount.into(),
                destination_currency_code: &account.currency,
                fee: rust_decimal::Decimal::ZERO.into(),
                status: if s.success { "COMPLETED" } else { "ERROR" },
                notes: Some(&s.notes),
                payer_name: None,
                pickup_code: None,
                source_token: Some(Cow::Owned(wallet_token)),
                destination_token: Cow::Borrowed(&account.token),
                delivery_type: None,
                client_transfer_id: None,
                status_reason: (!s.success).then_some("Insufficient funds in the wallet"),
                user_token: with_user.then(|| s.user.token()),
            },
        ));
    }
    items.sort_by_key(|(at, seq, _)| std::cmp::Reverse((*at, *seq)));
    let page: Vec<TxnHistoryResp<'_>> = q
        .page_of(items)
        .into_iter()
        .map(|(_, _, item)| item)
        .collect();
    Ok(json(&page))
}
