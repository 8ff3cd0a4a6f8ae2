//! Tax: users' yearly totals (`/tax`) and, in API 1.0.0, the W-8/W-9 interview link.

use axum::response::Response;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::extract::{query_decimal, Path, Query, TenantCtx};
use super::registry::{one, Operation, Param, Schema};
use super::{json, ApiVersion};
use crate::domain::money::Amount;
use crate::domain::payout::PayoutStatus;
use crate::error::{ApiError, ApiResult};
use axum::http::Method;
use axum::routing::on;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "getTaxInterviewLink",
        aliases: &[],
        method: Method::GET,
        v0: None,
        v1: Some("/payout/{user_token}/tax"),
        handler: |m| on(m, interview),
        body: None,
        ok: Schema::One(one::<InterviewLink>),
        ok_v1: None,
        query: &[("return_url", Param::Str, false)],
        summary: "W-8/W-9 interview link",
    },
    Operation {
        id: "getTaxUsers",
        aliases: &[],
        method: Method::GET,
        v0: Some("/tax"),
        v1: Some("/payout/tax"),
        handler: |m| on(m, tax_users),
        body: None,
        ok: Schema::Many(one::<TaxYearUserResp<'static>>),
        ok_v1: None,
        query: &[
            ("amount_threshold", Param::Num, false),
            ("tax_year", Param::Int, false),
        ],
        summary: "Users' totals for a tax year",
    },
];

#[derive(Deserialize)]
pub struct TaxQuery {
    amount_threshold: Option<String>,
    tax_year: Option<String>,
}

/// 1.0.0 types `postal_code` as a number.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum PostalCode<'a> {
    Text(&'a str),
    Number(u64),
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaxYearUserResp<'a> {
    user_token: String,
    address1: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    address2: Option<&'a str>,
    city: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_province: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<PostalCode<'a>>,
    country: &'a str,
    first_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    middle_name: Option<&'a str>,
    last_name: &'a str,
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    business_name: Option<&'a str>,
    date_of_birth: &'a str,
    balance: Amount,
}

/// Every user whose completed payouts (USD, by creation date) in the tax year total more than
/// the threshold; the year defaults to the one before the tenant clock's.
async fn tax_users(
    TenantCtx(tenant): TenantCtx,
    version: ApiVersion,
    Query(q): Query<TaxQuery>,
) -> ApiResult<Response> {
    use chrono::Datelike;
    let threshold = match q
        .amount_threshold
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some("0") => Decimal::ZERO,
        other => query_decimal("amount_threshold", other)?.unwrap_or(Decimal::ZERO),
    };
    let this_year = crate::clock::date(tenant.now()).year();
    let year = match q
        .tax_year
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => this_year - 1,
        Some(t) => t
            .parse::<i32>()
            .ok()
            .filter(|y| (1900..=this_year).contains(y))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter tax_year must be a year up to {this_year}, not {t:?}"
                ))
            })?,
    };
    let users = tenant.users();
    let mut totals: Vec<(usize, Decimal)> = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let total: Decimal = tenant
            .user_payouts(u.id)
            .unwrap_or_default()
            .iter()
            .filter(|p| p.status == PayoutStatus::Completed)
            .filter(|p| {
                crate::domain::payout::source_currency_code(&tenant.catalog, p.source) == "USD"
            })
            .filter(|p| crate::clock::date(p.created).year() == year)
            .try_fold(Decimal::ZERO, |sum, p| sum.checked_add(p.source_amount))
            .ok_or_else(|| {
                ApiError::Unprocessable(
                    "a user's payouts in the tax year total more than this API can write".into(),
                )
            })?;
        if total > threshold {
            totals.push((i, total));
        }
    }
    let body: Vec<TaxYearUserResp<'_>> = totals
        .iter()
        .map(|&(i, total)| {
            let u = &users[i];
            let p = u.profile.text();
            let postal = p.postal_code.and_then(|pc| match version {
                ApiVersion::V0 => Some(PostalCode::Text(pc)),
                ApiVersion::V1 => pc.parse().ok().map(PostalCode::Number),
            });
            TaxYearUserResp {
                user_token: u.id.token(),
                address1: p.address1.unwrap_or(""),
                address2: p.address2,
                city: p.city.unwrap_or(""),
                state_province: p.state_province,
                postal_code: postal,
                country: p.country,
                first_name: p.first_name,
                middle_name: p.middle_name,
                last_name: p.last_name,
                email: p.email,
                mobile_number: p.mobile_number,
                business_name: p.business_name,
                date_of_birth: p.date_of_birth.unwrap_or_default(),
                balance: total.into(),
            }
        })
        .collect();
    Ok(json(&body))
}

#[derive(Deserialize)]
pub struct InterviewQuery {
    return_url: Option<String>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterviewLink {
    interview_url: String,
}

async fn interview(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
    Query(q): Query<InterviewQuery>,
) -> ApiResult<Response> {
    let user = super::user::user_id(&tenant, &user_token)?;
    let mut url = format!(
        "https://tax.sandbox.masspay.invalid/interview/{}",
        user.token()
    );
    if let Some(r) = q.return_url.filter(|r| !r.trim().is_empty()) {
        url.push_str("?return_url=");
        for b in r.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                url.push(b as char);
            } else {
                url.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Ok(json(&InterviewLink { interview_url: url }))
}
