//! Users (payees): create, get, update, lookup.

use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{Json, Path, Query, TenantCtx};
use super::models::{FoundUser, StoredUser};
use super::{json, AppState};
use crate::clock;
use crate::domain::token;
use crate::domain::user::{parse_profile, UserBody, UserBodyKind, UserStatus};
use crate::error::{ApiError, ApiResult};
use crate::state::Tenant;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user", post(create))
        .route("/user/lookup", get(lookup))
        .route("/user/{user_token}", get(fetch).put(update))
}

/// Reads a `user_token` path segment; an unknown or malformed token is a 404.
pub fn user_id(tenant: &Tenant, text: &str) -> ApiResult<Uuid> {
    token::parse(text, token::USER)
        .filter(|id| tenant.user_exists(*id))
        .ok_or_else(|| ApiError::not_found(format!("user {text:?} was not found")))
}

async fn create(TenantCtx(tenant): TenantCtx, Json(body): Json<UserBody>) -> ApiResult<Response> {
    let today = clock::date(tenant.now());
    let (profile, _) = parse_profile(body, UserBodyKind::Create, today)?;
    let user = tenant.create_user(profile)?;
    Ok(json(&StoredUser::from(&user)))
}

async fn fetch(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
) -> ApiResult<Response> {
    let id = user_id(&tenant, &user_token)?;
    let user = tenant.user(id).ok_or_else(|| ApiError::not_found("user"))?;
    Ok(json(&StoredUser::from(&user)))
}

async fn update(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
    Json(body): Json<UserBody>,
) -> ApiResult<Response> {
    let id = user_id(&tenant, &user_token)?;
    let today = clock::date(tenant.now());
    let (profile, status) = parse_profile(body, UserBodyKind::Update, today)?;
    let user = tenant.update_user(id, profile, status.unwrap_or(UserStatus::Active))?;
    Ok(json(&StoredUser::from(&user)))
}

#[derive(Deserialize)]
struct LookupQuery {
    email: Option<String>,
    first_name: Option<String>,
    internal_user_id: Option<String>,
}

async fn lookup(TenantCtx(tenant): TenantCtx, Query(q): Query<LookupQuery>) -> ApiResult<Response> {
    let nonblank = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let (email, first_name, internal) = (
        nonblank(&q.email),
        nonblank(&q.first_name),
        nonblank(&q.internal_user_id),
    );
    if internal.is_none() && (email.is_none() || first_name.is_none()) {
        return Err(ApiError::bad_request(
            "give internal_user_id, or email together with first_name",
        ));
    }
    let user = tenant
        .lookup_user(email.as_deref(), first_name.as_deref(), internal.as_deref())
        .ok_or_else(|| ApiError::not_found("no user matches this lookup"))?;
    Ok(json(&FoundUser {
        user_token: token::format(token::USER, user.id),
        first_name: &user.profile.first_name,
        last_name: &user.profile.last_name,
        internal_user_id: &user.profile.internal_user_id,
    }))
}
