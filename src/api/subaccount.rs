//! Sub-accounts (API 1.0.0, no `/payout` prefix): a new client account with its own API key —
//! in the sandbox, a new isolated tenant — and its beneficial owners.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::extract::{Json, OptionalJson, Path, TenantCtx};
use super::registry::{one, Operation, Schema};
use super::{json, AppState};
use crate::domain::token;
use crate::domain::Problems;
use crate::error::{ApiError, ApiResult};
use axum::http::Method;
use axum::routing::on;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "createSubaccount",
        aliases: &[],
        method: Method::POST,
        v0: None,
        v1: Some("/subaccount"),
        handler: |m| on(m, create),
        body: Some(Schema::Object),
        ok: Schema::One(one::<SubaccountResp>),
        ok_v1: None,
        query: &[],
        summary: "Create a sub-account (a new API key)",
    },
    Operation {
        id: "addSubaccountUbo",
        aliases: &["getSubaccountSubaccountTokenUbo"],
        method: Method::POST,
        v0: None,
        v1: Some("/subaccount/{subaccount_token}/ubo"),
        handler: |m| on(m, add_ubo),
        body: Some(Schema::Object),
        ok: Schema::One(one::<UboResp>),
        ok_v1: None,
        query: &[],
        summary: "Add a beneficial owner",
    },
    Operation {
        id: "uploadSubaccountUboId",
        aliases: &[],
        method: Method::POST,
        v0: None,
        v1: Some("/subaccount/{subaccount_token}/ubo/{ubo_token}/id"),
        handler: |m| on(m, upload_ubo_id),
        body: Some(Schema::Many(one::<super::user::IdUpload>)),
        ok: Schema::One(one::<Uploaded>),
        ok_v1: None,
        query: &[],
        summary: "Upload a beneficial owner's ID images",
    },
];

pub const SUBACCOUNT: &str = "sub_";
pub const UBO: &str = "ubo_";

/// Requires each named field to be a non-blank string (or, for the numeric ones, a number).
fn require(body: &Map<String, Value>, fields: &[&str], p: &mut Problems) {
    for f in fields {
        match body.get(*f) {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(Value::Number(_)) => {}
            Some(Value::Object(_)) if *f == "signer" => {}
            Some(_) => p.push(format!("{f} must be a non-empty string")),
            None => p.push(format!("{f} is required")),
        }
    }
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubaccountResp {
    subaccount_token: String,
    api_key: String,
}

async fn create(
    State(app): State<AppState>,
    TenantCtx(tenant): TenantCtx,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Response> {
    let mut p = Problems::new();
    require(
        &body,
        &[
            "company_name",
            "phone",
            "inc_date",
            "registration_number",
            "website",
            "legal_structure",
            "address1",
            "state",
            "city",
            "zip",
            "country",
            "industry",
        ],
        &mut p,
    );
    if let Some(Value::String(c)) = body.get("country") {
        if !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())) {
            p.push("country must be an ISO 3166-1 alpha-3 code");
        }
    }
    p.finish("sub-account", ())?;
    let id = tenant.new_subaccount()?;
    let api_key = format!(
        "sk_sandbox_{}",
        crate::domain::token::random_uuid().simple()
    );
    app.store.allow_key(&api_key);
    Ok(json(&SubaccountResp {
        subaccount_token: token::format(SUBACCOUNT, id),
        api_key,
    }))
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UboResp {
    subaccount_ubo_token: String,
}

async fn add_ubo(
    TenantCtx(tenant): TenantCtx,
    Path(subaccount): Path<String>,
    Json(body): Json<Map<String, Value>>,
) -> ApiResult<Response> {
    let sub = token::parse(&subaccount, SUBACCOUNT)
        .filter(|s| tenant.subaccount_exists(*s))
        .ok_or_else(|| ApiError::not_found(format!("sub-account {subaccount:?} was not found")))?;
    let mut p = Problems::new();
    require(
        &body,
        &[
            "ownership_percentage",
            "phone",
            "first_name",
            "last_name",
            "email",
            "dob",
            "tax_id",
            "address1",
            "city",
            "state",
            "zip",
            "country",
        ],
        &mut p,
    );
    if let Some(v) = body.get("ownership_percentage") {
        let ok = v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()));
        if !ok.is_some_and(|x| x > 0.0 && x <= 100.0) {
            p.push("ownership_percentage must be a number above 0 and at most 100");
        }
    }
    p.finish("beneficial owner", ())?;
    let ubo = tenant
        .add_ubo(sub)?
        .ok_or_else(|| ApiError::not_found("sub-account"))?;
    Ok(json(&UboResp {
        subaccount_ubo_token: token::format(UBO, ubo),
    }))
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Uploaded {
    status: &'static str,
}

async fn upload_ubo_id(
    TenantCtx(tenant): TenantCtx,
    Path((subaccount, ubo)): Path<(String, String)>,
    OptionalJson(items): OptionalJson<Vec<super::user::IdUpload>, { super::UPLOAD_LIMIT }>,
) -> ApiResult<Response> {
    let sub = token::parse(&subaccount, SUBACCOUNT)
        .filter(|s| tenant.subaccount_exists(*s))
        .ok_or_else(|| ApiError::not_found(format!("sub-account {subaccount:?} was not found")))?;
    let ubo_id = token::parse(&ubo, UBO)
        .filter(|u| tenant.ubo_exists(sub, *u))
        .ok_or_else(|| ApiError::not_found(format!("beneficial owner {ubo:?} was not found")))?;
    let _ = ubo_id;
    super::user::check_id_uploads(&items)?;
    Ok(json(&Uploaded {
        status: "Submitted",
    }))
}
