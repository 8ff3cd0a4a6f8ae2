//! Attributes: what a destination requires of a user (GET) and storing the values (POST).

use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::extract::{Json, Path, TenantCtx};
use super::models::{AttrSetToken, AttrsRequirement};
use super::{json, AppState};
use crate::domain::attribute::AttrTxnBody;
use crate::domain::token;
use crate::error::{ApiError, ApiResult};
use crate::fixtures::is_currency_code;
use crate::state::{AttrKey, Tenant};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/attribute/{user_token}/{destination_token}/{currency}",
        get(requirements).post(store),
    )
}

/// Resolves the path to (user, destination, currency): unknown user or destination → 404,
/// a malformed currency or one the destination does not pay → 400.
pub fn attr_key(
    tenant: &Tenant,
    user: &str,
    destination: &str,
    currency: &str,
) -> ApiResult<AttrKey> {
    let user = super::user::user_id(tenant, user)?;
    let payer = tenant.catalog.payer(destination).ok_or_else(|| {
        ApiError::not_found(format!("destination_token {destination:?} was not found"))
    })?;
    if !is_currency_code(currency) {
        return Err(ApiError::bad_request(format!(
            "currency {currency:?} must be 3 or 4 upper-case letters (e.g. MXN, BTC, USDT)"
        )));
    }
    let p = &tenant.catalog.payers[payer];
    let ci = p
        .currencies
        .iter()
        .position(|c| *c.code == *currency)
        .ok_or_else(|| {
            let offered: Vec<&str> = p.currencies.iter().map(|c| &*c.code).collect();
            ApiError::bad_request(format!(
                "destination {destination} does not pay in {currency} (it pays {})",
                offered.join(", ")
            ))
        })?;
    Ok((user, payer as u32, ci as u16))
}

async fn requirements(
    TenantCtx(tenant): TenantCtx,
    Path((user, destination, currency)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let key = attr_key(&tenant, &user, &destination, &currency)?;
    let set = tenant.attribute_set(key);
    let set_token = set.as_ref().map(|s| token::format(token::ATTR_SET, s.id));
    let catalog = &tenant.catalog;
    let body: Vec<AttrsRequirement<'_>> = tenant
        .requirements(key)
        .into_iter()
        .map(|ri| {
            let r = &catalog.requirements[ri];
            let value = set.as_ref().and_then(|s| s.value(ri));
            AttrsRequirement {
                token: &r.token,
                attr_set_token: set_token.clone(),
                label: &r.label,
                validation: &r.validation,
                is_optional: r.is_optional,
                value: value.unwrap_or(""),
                expected_value: &r.expected_value,
                attr_type: &r.attr_type,
                input_type: &r.input_type,
                last_attr_value_used: value.is_some(),
            }
        })
        .collect();
    Ok(json(&body))
}

async fn store(
    TenantCtx(tenant): TenantCtx,
    Path((user, destination, currency)): Path<(String, String, String)>,
    Json(body): Json<AttrTxnBody>,
) -> ApiResult<Response> {
    let key = attr_key(&tenant, &user, &destination, &currency)?;
    let values = body
        .values
        .ok_or_else(|| ApiError::bad_request("values is required"))?;
    let id = tenant.store_attributes(
        key,
        body.attr_set_token.as_deref().filter(|t| !t.is_empty()),
        values,
    )?;
    Ok(json(&AttrSetToken {
        attr_set_token: token::format(token::ATTR_SET, id),
    }))
}
