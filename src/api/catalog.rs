//! The catalog: countries, and the companies → services → payers that deliver in a country,
//! priced for the query's source currency and amount.

use axum::response::Response;
use serde::Deserialize;

use super::extract::{query_bool, query_decimal, Path, Query, TenantCtx};
use super::json;
use super::models;
use super::models::{
    CompaniesResp, CompanyResp, CountryResp, PayerExchangeRate, ServicePayerResp, ServiceResp,
};
use super::registry::{one, Operation, Param, Schema};
use crate::clock;
use crate::domain::catalog::Catalog;
use crate::domain::offer::{self, Offer, OfferQuery};
use crate::error::{ApiError, ApiResult};
use crate::fixtures::is_currency_code;
use crate::state::Tenant;
use axum::http::Method;
use axum::routing::on;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "getCountryList",
        aliases: &[],
        method: Method::GET,
        v0: Some("/country/list"),
        v1: Some("/payout/country/list"),
        handler: |m| on(m, list),
        body: None,
        ok: Schema::Many(one::<models::CountryResp<'static>>),
        ok_v1: None,
        query: &[],
        summary: "Countries served",
    },
    Operation {
        id: "getCountryServices",
        aliases: &[],
        method: Method::GET,
        v0: Some("/country/{country_code}"),
        v1: Some("/payout/country/{country_code}"),
        handler: |m| on(m, all_services),
        body: None,
        ok: Schema::One(one::<models::CompaniesResp<'static>>),
        ok_v1: None,
        query: super::registry::CATALOG_QUERY,
        summary: "Companies, services and payers of a country",
    },
    Operation {
        id: "getCheapestCountryServices",
        aliases: &[],
        method: Method::GET,
        v0: Some("/country/{country_code}/cheapest"),
        v1: Some("/payout/country/{country_code}/cheapest"),
        handler: |m| on(m, cheapest),
        body: None,
        ok: Schema::One(one::<models::CompaniesResp<'static>>),
        ok_v1: None,
        query: super::registry::CATALOG_QUERY,
        summary: "The cheapest payer per delivery type and currency",
    },
    Operation {
        id: "getBestCountryServices",
        aliases: &["getCheapestCountryServices"],
        method: Method::GET,
        v0: Some("/country/{country_code}/best"),
        v1: Some("/payout/country/{country_code}/best"),
        handler: |m| on(m, cheapest),
        body: None,
        ok: Schema::One(one::<models::CompaniesResp<'static>>),
        ok_v1: None,
        query: super::registry::CATALOG_QUERY,
        summary: "The guide's name for cheapest",
    },
    Operation {
        id: "getDestinationTokenAlternatives",
        aliases: &[],
        method: Method::GET,
        v0: Some("/service/{destination_token}/alternatives"),
        v1: Some("/payout/service/{destination_token}/alternatives"),
        handler: |m| on(m, alternatives),
        body: None,
        ok: Schema::One(one::<models::ServiceResp<'static>>),
        ok_v1: None,
        query: &[("include_payer_logos", Param::Bool, false)],
        summary: "Other payers of the same country and delivery type",
    },
    Operation {
        id: "getDestinationToken",
        aliases: &[],
        method: Method::GET,
        v0: None,
        v1: Some("/payout/service/{destination_token}"),
        handler: |m| on(m, destination),
        body: None,
        ok: Schema::One(one::<models::ServiceResp<'static>>),
        ok_v1: None,
        query: &[("include_payer_logos", Param::Bool, false)],
        summary: "One destination",
    },
    Operation {
        id: "getUserAgreement",
        aliases: &[],
        method: Method::GET,
        v0: Some("/user-agreements"),
        v1: Some("/payout/user-agreements"),
        handler: |m| on(m, agreement),
        body: None,
        ok: Schema::One(one::<Agreement>),
        ok_v1: None,
        query: &[("id", Param::Int, true)],
        summary: "A user agreement (PDF, base64)",
    },
    Operation {
        id: "getUserAgreementsNames",
        aliases: &[],
        method: Method::OPTIONS,
        v0: Some("/user-agreements"),
        v1: Some("/payout/user-agreements"),
        handler: |m| on(m, agreement_names),
        body: None,
        ok: Schema::Many(one::<AgreementName>),
        ok_v1: None,
        query: &[],
        summary: "The user agreements",
    },
];

async fn list(TenantCtx(tenant): TenantCtx) -> Response {
    let body: Vec<CountryResp<'_>> = tenant
        .catalog
        .countries
        .iter()
        .map(|c| CountryResp {
            code: &c.code,
            name: &c.name,
            three_letter_code: &c.three_letter_code,
        })
        .collect();
    json(&body)
}

#[derive(Deserialize)]
pub struct CatalogQuery {
    amount: Option<String>,
    source_currency: Option<String>,
    limit: Option<String>,
    user_token: Option<String>,
    include_payer_logos: Option<String>,
    payer_name: Option<String>,
    destination_currency: Option<String>,
}

async fn all_services(
    tenant: TenantCtx,
    code: Path<String>,
    q: Query<CatalogQuery>,
) -> ApiResult<Response> {
    services(tenant, code, q, false)
}

async fn cheapest(
    tenant: TenantCtx,
    code: Path<String>,
    q: Query<CatalogQuery>,
) -> ApiResult<Response> {
    services(tenant, code, q, true)
}

fn services(
    TenantCtx(tenant): TenantCtx,
    Path(code): Path<String>,
    Query(q): Query<CatalogQuery>,
    cheapest_only: bool,
) -> ApiResult<Response> {
    let catalog = &tenant.catalog;
    if !(2..=3).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::bad_request(format!(
            "country_code {code:?} must be an ISO 3166-1 alpha-3 code such as MEX"
        )));
    }
    let source_currency = q
        .source_currency
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("USD");
    if !is_currency_code(source_currency) || catalog.precision(source_currency).is_none() {
        return Err(ApiError::bad_request(format!(
            "query parameter source_currency {source_currency:?} is not a supported currency"
        )));
    }
    // The amount fees are shown for. Only an amount the client gave filters payers by their
    // limits: the default (200, in whatever the source currency is) must not hide a BTC payer.
    let given_amount = query_decimal("amount", q.amount.as_deref())?;
    let limit = query_decimal("limit", q.limit.as_deref())?;
    let logos = query_bool("include_payer_logos", q.include_payer_logos.as_deref())?;
    if let Some(u) = q.user_token.as_deref().filter(|u| !u.is_empty()) {
        super::user::user_id(&tenant, u)?;
    }
    let payer_name = q
        .payer_name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let destination_currency = q
        .destination_currency
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());

    let Some(country) = catalog.country(&code) else {
        return Ok(json(&CompaniesResp {
            companies: Vec::new(),
        }));
    };
    let query = OfferQuery {
        source_currency,
        amount: given_amount,
        limit,
        payer_name,
        destination_currency,
    };
    let offers = offer::offers(catalog, &country.three_letter_code, &query, cheapest_only);
    Ok(json(&render(
        &tenant,
        country.three_letter_code.as_str(),
        offers,
        logos,
    )))
}

fn payer_resp<'a>(
    catalog: &'a Catalog,
    o: &Offer,
    now: crate::clock::Millis,
    logos: bool,
) -> ServicePayerResp<'a> {
    let payer = &catalog.payers[o.payer];
    ServicePayerResp {
        destination_token: &payer.token,
        payer_logo: if logos { &payer.logo } else { "" },
        payer_name: &payer.name,
        exchange_rate: o
            .rates
            .iter()
            .map(|&(ci, r)| PayerExchangeRate {
                currency_symbol: &payer.currencies[ci].code,
                exchange_rate: r.into(),
            })
            .collect(),
        fee: o.fee.into(),
        max_limit: o.max_limit.into(),
        min_limit: o.min_limit.into(),
        source_amount: o.source_amount.map(Into::into),
        number_of_locations: payer.number_of_locations,
        estimated_availability: clock::format(now + payer.availability_seconds * 1000),
        additional_description: &payer.additional_description,
        is_dynamic_token: payer.is_dynamic_token,
    }
}

#[derive(Deserialize)]
pub struct LogoQuery {
    include_payer_logos: Option<String>,
}

/// A `destination_token` path segment; unknown → 404.
pub fn destination_index(catalog: &Catalog, token: &str) -> ApiResult<usize> {
    catalog
        .payer(token)
        .ok_or_else(|| ApiError::not_found(format!("destination_token {token:?} was not found")))
}

/// The other payers of the same country and delivery type, as one `Service`.
async fn alternatives(
    TenantCtx(tenant): TenantCtx,
    Path(destination): Path<String>,
    Query(q): Query<LogoQuery>,
) -> ApiResult<Response> {
    let logos = query_bool("include_payer_logos", q.include_payer_logos.as_deref())?;
    let catalog = &tenant.catalog;
    let pi = destination_index(catalog, &destination)?;
    let this = &catalog.payers[pi];
    let now = tenant.now();
    let offers: Vec<Offer> = (0..catalog.payers.len())
        .filter(|&i| i != pi)
        .filter(|&i| {
            catalog.payers[i].country == this.country
                && catalog.payers[i].delivery_type == this.delivery_type
        })
        .filter_map(|i| offer::default_offer(catalog, i))
        .collect();
    Ok(json(&ServiceResp {
        country_code: &this.country,
        delivery_type: this.delivery_type.as_str(),
        payers: offers
            .iter()
            .map(|o| payer_resp(catalog, o, now, logos))
            .collect(),
    }))
}

/// API 1.0.0: one destination as a `Service`.
async fn destination(
    TenantCtx(tenant): TenantCtx,
    Path(destination): Path<String>,
    Query(q): Query<LogoQuery>,
) -> ApiResult<Response> {
    let logos = query_bool("include_payer_logos", q.include_payer_logos.as_deref())?;
    let catalog = &tenant.catalog;
    let pi = destination_index(catalog, &destination)?;
    let this = &catalog.payers[pi];
    let o = offer::default_offer(catalog, pi)
        .ok_or_else(|| ApiError::not_found("destination has no pricing"))?;
    Ok(json(&ServiceResp {
        country_code: &this.country,
        delivery_type: this.delivery_type.as_str(),
        payers: vec![payer_resp(catalog, &o, tenant.now(), logos)],
    }))
}

fn render<'a>(
    tenant: &'a Tenant,
    country: &'a str,
    offers: Vec<Offer>,
    logos: bool,
) -> CompaniesResp<'a> {
    let catalog = &tenant.catalog;
    let now = tenant.now();
    let mut companies: Vec<(usize, CompanyResp<'a>)> = Vec::new();
    for o in offers {
        let payer = &catalog.payers[o.payer];
        let company = &catalog.companies[payer.company];
        let view = payer_resp(catalog, &o, now, logos);
        let idx = match companies.iter().position(|(ci, _)| *ci == payer.company) {
            Some(i) => i,
            None => {
                companies.push((
                    payer.company,
                    CompanyResp {
                        company_logo: if logos { &company.logo } else { "" },
                        services: Vec::new(),
                        rating: company.rating.into(),
                        description: &company.description,
                        company_name: &company.name,
                    },
                ));
                companies.len() - 1
            }
        };
        let services = &mut companies[idx].1.services;
        let delivery = payer.delivery_type.as_str();
        match services.iter_mut().find(|s| s.delivery_type == delivery) {
            Some(s) => s.payers.push(view),
            None => services.push(ServiceResp {
                country_code: country,
                delivery_type: delivery,
                payers: vec![view],
            }),
        }
    }
    CompaniesResp {
        companies: companies.into_iter().map(|(_, c)| c).collect(),
    }
}

/// The user agreements MassPay serves (id, name, last modified).
const AGREEMENTS: &[(i64, &str, &str)] = &[
    (1, "MassPay Terms of Service", "2025-06-01T00:00:00Z"),
    (2, "MassPay Cardholder Agreement", "2025-06-01T00:00:00Z"),
    (3, "E-Sign Consent", "2024-11-15T00:00:00Z"),
    (4, "Privacy Policy", "2025-09-30T00:00:00Z"),
];

#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgreementName {
    name: &'static str,
    last_modified: &'static str,
    id: i64,
    mime_type: &'static str,
}

#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agreement {
    name: &'static str,
    content: String,
    last_modified: &'static str,
    id: i64,
    mime_type: &'static str,
}

async fn agreement_names(TenantCtx(_tenant): TenantCtx) -> Response {
    let body: Vec<AgreementName> = AGREEMENTS
        .iter()
        .map(|&(id, name, last_modified)| AgreementName {
            name,
            last_modified,
            id,
            mime_type: "application/pdf",
        })
        .collect();
    json(&body)
}

#[derive(Deserialize)]
pub struct AgreementQuery {
    id: Option<String>,
}

async fn agreement(
    TenantCtx(_tenant): TenantCtx,
    Query(q): Query<AgreementQuery>,
) -> ApiResult<Response> {
    let raw = q.id.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
        ApiError::bad_request("query parameter id is required (see OPTIONS /user-agreements)")
    })?;
    let id: i64 = raw.trim().parse().map_err(|_| {
        ApiError::bad_request(format!(
            "query parameter id must be an integer, not {raw:?}"
        ))
    })?;
    let &(id, name, last_modified) = AGREEMENTS
        .iter()
        .find(|a| a.0 == id)
        .ok_or_else(|| ApiError::not_found(format!("user agreement {id} was not found")))?;
    let pdf = crate::pdf::document(
        name,
        &[
            format!("{name} (agreement {id}), last modified {last_modified}."),
            "This document is served by masspay-sandbox for integration testing.".into(),
            "It has no legal effect.".into(),
        ],
    );
    Ok(json(&Agreement {
        name,
        content: super::models::FileContent::pdf(&pdf).content,
        last_modified,
        id,
        mime_type: "application/pdf",
    }))
}
