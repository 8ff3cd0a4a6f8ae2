//! The catalog: countries, and the companies → services → payers that deliver in a country,
//! priced for the query's source currency and amount.

use std::collections::HashMap;

use axum::response::Response;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::extract::{query_bool, query_decimal, Path, Query, TenantCtx};
use super::json;
use super::models;
use super::models::{
    CompaniesResp, CompanyResp, CountryResp, PayerExchangeRate, ServicePayerResp, ServiceResp,
};
use super::registry::{one, Operation, Param, Schema};
use crate::clock;
use crate::domain::catalog::{Catalog, DeliveryType};
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

/// One payer offer priced for the query.
struct Offer {
    payer: usize,
    /// (destination currency index, rate)
    rates: Vec<(usize, Decimal)>,
    fee: Decimal,
    min_limit: Decimal,
    max_limit: Decimal,
    source_amount: Option<Decimal>,
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
    let amount = given_amount.unwrap_or(Decimal::from(200));
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
    let mut offers: Vec<Offer> = Vec::new();
    for company in catalog
        .companies
        .iter()
        .filter(|c| c.country == country.three_letter_code)
    {
        for service in &company.services {
            for &pi in &service.payers {
                if let Some(o) = offer(
                    catalog,
                    pi,
                    source_currency,
                    given_amount,
                    limit,
                    payer_name,
                    destination_currency,
                ) {
                    offers.push(o);
                }
            }
        }
    }
    if cheapest_only {
        offers = keep_cheapest(catalog, offers, amount);
    }
    Ok(json(&render(
        &tenant,
        country.three_letter_code.as_str(),
        offers,
        logos,
    )))
}

fn offer(
    catalog: &Catalog,
    pi: usize,
    source_currency: &str,
    amount: Option<Decimal>,
    limit: Option<Decimal>,
    payer_name: Option<&str>,
    destination_currency: Option<&str>,
) -> Option<Offer> {
    let payer = &catalog.payers[pi];
    let pricing = payer.pricing_for(source_currency)?;
    if let Some(name) = payer_name {
        if !payer.name.to_lowercase().contains(&name.to_lowercase()) {
            return None;
        }
    }
    let rates: Vec<(usize, Decimal)> = payer
        .currencies
        .iter()
        .enumerate()
        .filter(|(_, c)| destination_currency.is_none_or(|d| c.code.eq_ignore_ascii_case(d)))
        .filter_map(|(i, c)| catalog.rate(pricing, &c.code).map(|r| (i, r)))
        .collect();
    if rates.is_empty() {
        return None;
    }
    let source_amount = match limit {
        Some(limit) => {
            let sp = catalog.precision(source_currency).unwrap_or(2);
            // A fee the limit cannot pay leaves nothing to send: no offer.
            let mut s = limit
                .checked_sub(pricing.fee)?
                .round_dp_with_strategy(sp, rust_decimal::RoundingStrategy::ToZero);
            if !pricing.max_limit.is_zero() && s > pricing.max_limit {
                s = pricing.max_limit;
            }
            if s <= Decimal::ZERO || s < pricing.min_limit {
                return None;
            }
            Some(s)
        }
        None => {
            if amount.is_some_and(|a| !pricing.accepts(a)) {
                return None;
            }
            None
        }
    };
    Some(Offer {
        payer: pi,
        rates,
        fee: pricing.fee,
        min_limit: pricing.min_limit,
        max_limit: pricing.max_limit,
        source_amount,
    })
}

/// Keeps, per delivery type and destination currency, the payer that delivers the most per unit
/// paid (amount × rate ÷ (amount + fee)); ties go to the lower fee, then catalog order. Checked
/// arithmetic: an offer whose value does not fit the decimal type is worth 0 here (query amounts
/// are at most `limits::MAX_AMOUNT`, so only an extreme fixture rate gets there).
fn keep_cheapest(catalog: &Catalog, offers: Vec<Offer>, amount: Decimal) -> Vec<Offer> {
    let mut best: HashMap<(DeliveryType, &str), (Decimal, Decimal, usize)> = HashMap::new();
    for (oi, o) in offers.iter().enumerate() {
        let payer = &catalog.payers[o.payer];
        let sent = o.source_amount.unwrap_or(amount);
        for &(ci, rate) in &o.rates {
            let value = sent
                .checked_mul(rate)
                .zip(sent.checked_add(o.fee))
                .and_then(|(delivered, paid)| delivered.checked_div(paid))
                .unwrap_or_default();
            let key = (payer.delivery_type, &*payer.currencies[ci].code);
            let better = match best.get(&key) {
                None => true,
                Some(&(v, fee, _)) => value > v || (value == v && o.fee < fee),
            };
            if better {
                best.insert(key, (value, o.fee, oi));
            }
        }
    }
    offers
        .into_iter()
        .enumerate()
        .filter_map(|(oi, mut o)| {
            let payer = &catalog.payers[o.payer];
            o.rates.retain(|&(ci, _)| {
                best.get(&(payer.delivery_type, &*payer.currencies[ci].code))
                    .map(|b| b.2)
                    == Some(oi)
            });
            (!o.rates.is_empty()).then_some(o)
        })
        .collect()
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

/// A payer priced in USD when it takes USD, else in its first source currency.
fn default_offer(catalog: &Catalog, pi: usize) -> Option<Offer> {
    let payer = &catalog.payers[pi];
    let source = payer
        .pricing_for("USD")
        .or_else(|| payer.pricing.first())
        .map(|p| p.source_currency.to_string())?;
    offer(catalog, pi, &source, None, None, None, None)
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
        .filter_map(|i| default_offer(catalog, i))
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
    let o = default_offer(catalog, pi)
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

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AgreementName {
    name: &'static str,
    last_modified: &'static str,
    id: i64,
    mime_type: &'static str,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
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
