//! Transaction history: one user's (`/user/{user_token}/history`), and in API 1.0.0 every user's
//! (`/user/history`), newest first, filtered and paged.

use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};

use super::extract::{Path, Query, TenantCtx};
use super::models::TxnHistoryResp;
use super::{json, ApiVersion, AppState};
use crate::domain::history::{self, HistoryQueryRaw, TxnKind};
use crate::domain::payout::Payout;
use crate::error::ApiResult;
use crate::state::Tenant;

pub fn router() -> Router<AppState> {
    Router::new().route("/user/{user_token}/history", get(user_history))
}

/// API 1.0.0 only.
pub fn all_users_router() -> Router<AppState> {
    Router::new().route("/user/history", get(all_history))
}

async fn user_history(
    TenantCtx(tenant): TenantCtx,
    Extension(version): Extension<ApiVersion>,
    Path(user_token): Path<String>,
    Query(raw): Query<HistoryQueryRaw>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let payouts = tenant.user_payouts(user).unwrap_or_default();
    respond(&tenant, payouts, raw, version == ApiVersion::V1)
}

async fn all_history(
    TenantCtx(tenant): TenantCtx,
    Query(raw): Query<HistoryQueryRaw>,
) -> ApiResult<Response> {
    respond(&tenant, tenant.all_payouts(), raw, true)
}

fn respond(
    tenant: &Tenant,
    mut payouts: Vec<Payout>,
    raw: HistoryQueryRaw,
    with_user: bool,
) -> ApiResult<Response> {
    let q = history::parse(raw)?;
    payouts.retain(|p| {
        q.keeps(
            TxnKind::Payout,
            p.created,
            Some(&crate::domain::payout::source_token(
                &tenant.catalog,
                p.source,
            )),
        )
    });
    payouts.sort_by_key(|p| std::cmp::Reverse((p.created, p.id)));
    let page = q.page_of(payouts);
    let body: Vec<TxnHistoryResp<'_>> = page
        .iter()
        .map(|p| TxnHistoryResp::payout(&tenant.catalog, p, with_user))
        .collect();
    Ok(json(&body))
}
