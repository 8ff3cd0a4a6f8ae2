//! Attributes: what a destination requires of a user (GET) and storing the values (POST).

use axum::response::Response;

use super::extract::{Json, Path, TenantCtx};
use super::json;
use super::models;
use super::models::{AttrSetToken, AttrsRequirement};
use super::registry::{one, Operation, Schema};
use crate::domain::attribute::AttrTxnBody;
use crate::domain::token;
use crate::error::{ApiError, ApiResult};
use crate::fixtures::is_currency_code;
use crate::state::{AttrKey, Tenant};
use axum::http::Method;
use axum::routing::on;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "getAllAttrs",
        aliases: &[],
        method: Method::GET,
        v0: None,
        v1: Some("/payout/attribute/{user_token}"),
        handler: |m| on(m, all_attributes),
        body: None,
        ok: Schema::Many(one::<AllAttributesResp<'static>>),
        ok_v1: None,
        query: &[],
        summary: "Every stored attribute set of a user",
    },
    Operation {
        id: "getAttrs",
        aliases: &[],
        method: Method::GET,
        v0: Some("/attribute/{user_token}/{destination_token}/{currency}"),
        v1: Some("/payout/attribute/{user_token}/{destination_token}/{currency}"),
        handler: |m| on(m, requirements),
        body: None,
        ok: Schema::Many(one::<models::AttrsRequirement<'static>>),
        ok_v1: None,
        query: &[],
        summary: "The attributes a destination requires, with stored values",
    },
    Operation {
        id: "storeAttrs",
        aliases: &[],
        method: Method::POST,
        v0: Some("/attribute/{user_token}/{destination_token}/{currency}"),
        v1: Some("/payout/attribute/{user_token}/{destination_token}/{currency}"),
        handler: |m| on(m, store),
        body: Some(Schema::One(one::<crate::domain::attribute::AttrTxnBody>)),
        ok: Schema::One(one::<models::AttrSetToken>),
        ok_v1: None,
        query: &[],
        summary: "Store attribute values (whole-string regex match)",
    },
    Operation {
        id: "findAttributesVelocity",
        aliases: &[],
        method: Method::POST,
        v0: Some("/attribute/{user_token}/velocity"),
        v1: Some("/payout/attribute/{user_token}/velocity"),
        handler: |m| on(m, velocity),
        body: Some(Schema::Many(one::<VelocityItem>)),
        ok: Schema::Many(one::<VelocityMatch<'static>>),
        ok_v1: Some(Schema::Strings),
        query: &[],
        summary: "Other users sharing an attribute value",
    },
];

/// Resolves the path to (user, destination, currency): unknown user or destination → 404,
/// a malformed currency or one the destination does not pay → 400.
pub fn attr_key(
    tenant: &Tenant,
    user: &str,
    destination: &str,
    currency: &str,
) -> ApiResult<AttrKey> {
    let user = super::user::user_id(tenant, user)?;
    let payer = super::catalog::destination_index(&tenant.catalog, destination)?;
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
        .map(|ri| AttrsRequirement::from(catalog, ri, set.as_ref(), set_token.clone()))
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

#[derive(serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VelocityItem {
    #[serde(rename = "type")]
    kind: Option<String>,
    value: Option<String>,
}

#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VelocityMatch<'a> {
    user_token: String,
    #[serde(rename = "type")]
    kind: &'a str,
    value: &'a str,
}

/// Which other users share an attribute value (a fraud/velocity check): 0.1.4 answers objects,
/// 1.0.0 the users' tokens.
async fn velocity(
    TenantCtx(tenant): TenantCtx,
    version: super::ApiVersion,
    Path(user_token): Path<String>,
    super::extract::OptionalJson(items): super::extract::OptionalJson<Vec<VelocityItem>>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let mut p = crate::domain::Problems::new();
    for (i, item) in items.iter().enumerate() {
        match item.kind.as_deref() {
            Some(t) if crate::domain::catalog::ATTRIBUTE_TYPES.contains(&t) => {}
            Some(t) => p.push(format!("[{i}].type {t:?} is not a MassPay attribute type")),
            None => p.push(format!("[{i}].type is required")),
        }
        if item.value.as_deref().is_none_or(str::is_empty) {
            p.push(format!("[{i}].value is required"));
        }
    }
    p.finish("velocity query", ())?;
    let mut matches: Vec<VelocityMatch<'_>> = Vec::new();
    for item in &items {
        let (kind, value) = (
            item.kind.as_deref().unwrap_or(""),
            item.value.as_deref().unwrap_or(""),
        );
        for other in tenant
            .attribute_velocity(kind, value)
            .into_iter()
            .filter(|u| *u != user)
        {
            matches.push(VelocityMatch {
                user_token: other.token(),
                kind,
                value,
            });
        }
    }
    Ok(match version {
        super::ApiVersion::V0 => json(&matches),
        super::ApiVersion::V1 => {
            let mut tokens: Vec<String> = Vec::new();
            for m in matches {
                if !tokens.contains(&m.user_token) {
                    tokens.push(m.user_token);
                }
            }
            json(&tokens)
        }
    })
}

#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AllAttributesResp<'a> {
    destination_token: &'a str,
    payer_logo: &'a str,
    payer_name: &'a str,
    exchange_rate: Vec<super::models::PayerExchangeRate<'a>>,
    max_limit: crate::domain::money::Amount,
    min_limit: crate::domain::money::Amount,
    number_of_locations: u32,
    estimated_availability: String,
    additional_description: &'a str,
    is_dynamic_token: bool,
    attributes: Vec<AttrsRequirement<'a>>,
}

/// API 1.0.0: every stored attribute set of a user, with its destination.
async fn all_attributes(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let catalog = &tenant.catalog;
    let now = tenant.now();
    let mut sets: Vec<_> = tenant
        .attribute_sets()
        .into_iter()
        .filter(|(k, _)| k.0 == user)
        .collect();
    sets.sort_by_key(|(k, _)| (k.1, k.2));
    let reqs: Vec<Vec<usize>> = sets.iter().map(|(k, _)| tenant.requirements(*k)).collect();
    let body: Vec<AllAttributesResp<'_>> = sets
        .iter()
        .zip(reqs.iter())
        .map(|((key, set), reqs)| {
            let payer = &catalog.payers[key.1 as usize];
            let currency = &payer.currencies[key.2 as usize];
            let pricing = payer.pricing_for("USD").or_else(|| payer.pricing.first());
            let set_token = token::format(token::ATTR_SET, set.id);
            AllAttributesResp {
                destination_token: &payer.token,
                payer_logo: &payer.logo,
                payer_name: &payer.name,
                exchange_rate: pricing
                    .and_then(|p| catalog.rate(p, &currency.code))
                    .map(|r| super::models::PayerExchangeRate {
                        currency_symbol: &currency.code,
                        exchange_rate: r.into(),
                    })
                    .into_iter()
                    .collect(),
                max_limit: pricing.map(|p| p.max_limit).unwrap_or_default().into(),
                min_limit: pricing.map(|p| p.min_limit).unwrap_or_default().into(),
                number_of_locations: payer.number_of_locations,
                estimated_availability: crate::clock::format(
                    now + payer.availability_seconds * 1000,
                ),
                additional_description: &payer.additional_description,
                is_dynamic_token: payer.is_dynamic_token,
                attributes: reqs
                    .iter()
                    .map(|&ri| {
                        AttrsRequirement::from(catalog, ri, Some(set), Some(set_token.clone()))
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(json(&body))
}
