//! Users (payees): create, get, update, lookup.

use axum::response::Response;
use serde::Deserialize;

use super::extract::{BodyBytes, Path, Query, TenantCtx};
use super::models;
use super::models::{FoundUser, StoredUser};
use super::registry::{one, Operation, Param, Schema};
use super::{json, json_text_answer};
use crate::clock;
use crate::domain::token::UserId;
use crate::domain::user::{parse_profile, UserBody, UserBodyKind, UserStatus};
use crate::error::{ApiError, ApiResult};
use crate::state::Tenant;
use axum::http::Method;
use axum::routing::on;

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "createUser",
        aliases: &[],
        method: Method::POST,
        v0: Some("/user"),
        v1: Some("/payout/user"),
        handler: |m| on(m, create),
        body: Some(Schema::One(one::<crate::domain::user::UserBody<'static>>)),
        ok: Schema::One(one::<models::StoredUser<'static>>),
        ok_v1: None,
        query: &[],
        summary: "Create a payee user",
    },
    Operation {
        id: "userLookup",
        aliases: &[],
        method: Method::GET,
        v0: Some("/user/lookup"),
        v1: Some("/payout/user/lookup"),
        handler: |m| on(m, lookup),
        body: None,
        ok: Schema::One(one::<models::FoundUser<'static>>),
        ok_v1: None,
        query: &[
            ("email", Param::Str, false),
            ("first_name", Param::Str, false),
            ("internal_user_id", Param::Str, false),
        ],
        summary: "Find a user by internal id, or e-mail and first name",
    },
    Operation {
        id: "getUserByToken",
        aliases: &[],
        method: Method::GET,
        v0: Some("/user/{user_token}"),
        v1: Some("/payout/user/{user_token}"),
        handler: |m| on(m, fetch),
        body: None,
        ok: Schema::One(one::<models::StoredUser<'static>>),
        ok_v1: None,
        query: &[],
        summary: "A user",
    },
    Operation {
        id: "updateUser",
        aliases: &[],
        method: Method::PUT,
        v0: Some("/user/{user_token}"),
        v1: Some("/payout/user/{user_token}"),
        handler: |m| on(m, update),
        body: Some(Schema::One(one::<crate::domain::user::UserBody<'static>>)),
        ok: Schema::One(one::<models::StoredUser<'static>>),
        ok_v1: None,
        query: &[],
        summary: "Replace a user's profile",
    },
    Operation {
        id: "getUserUserTokenKycAu10tix",
        aliases: &["getUserUserTokenKycAu10Tix"],
        method: Method::GET,
        v0: Some("/user/{user_token}/kyc/au10tix"),
        v1: Some("/payout/user/{user_token}/kyc/au10tix"),
        handler: |m| on(m, au10tix),
        body: None,
        ok: Schema::One(one::<SessionLink>),
        ok_v1: None,
        query: &[],
        summary: "Start an Au10tix session",
    },
    Operation {
        id: "getUserUserTokenKycVeriff",
        aliases: &[],
        method: Method::GET,
        v0: Some("/user/{user_token}/kyc/veriff"),
        v1: Some("/payout/user/{user_token}/kyc/veriff"),
        handler: |m| on(m, veriff),
        body: None,
        ok: Schema::One(one::<SessionLink>),
        ok_v1: None,
        query: &[],
        summary: "Start a Veriff session",
    },
    Operation {
        id: "uploadIdPhotos",
        aliases: &[],
        method: Method::POST,
        v0: Some("/user/{user_token}/kyc/id"),
        v1: Some("/payout/user/{user_token}/kyc/id"),
        handler: |m| on(m, upload_id),
        body: Some(Schema::Many(one::<IdUpload>)),
        ok: Schema::One(one::<UploadResult>),
        ok_v1: None,
        query: &[],
        summary: "Upload ID images (base64 PNG/JPEG)",
    },
    Operation {
        id: "getUserUserTokenKycAttempts",
        aliases: &[],
        method: Method::GET,
        v0: None,
        v1: Some("/payout/user/{user_token}/kyc/id"),
        handler: |m| on(m, kyc_attempts),
        body: None,
        ok: Schema::Many(one::<KycSessionResp>),
        ok_v1: None,
        query: &[],
        summary: "A user's KYC sessions",
    },
];

/// Reads a `user_token` path segment; an unknown or malformed token is a 404.
pub fn user_id(tenant: &Tenant, text: &str) -> ApiResult<UserId> {
    UserId::parse(text)
        .filter(|id| tenant.user_exists(*id))
        .ok_or_else(|| ApiError::not_found(format!("user {text:?} was not found")))
}

async fn create(TenantCtx(tenant): TenantCtx, BodyBytes(bytes): BodyBytes) -> ApiResult<Response> {
    create_from(&tenant, super::extract::parse_json(&bytes)?)
}

/// [`create`] the direct way (`direct.rs`).
pub(super) fn create_direct(mut call: super::direct::Call) -> super::direct::Answer {
    super::direct::Answer::of(async move {
        let bytes = call.read_body().await?;
        create_from(&call.tenant, super::extract::parse_json(&bytes)?)
    })
}

fn create_from(tenant: &Tenant, body: UserBody<'_>) -> ApiResult<Response> {
    let today = clock::date(tenant.now());
    let (profile, _) = parse_profile(body, UserBodyKind::Create, today)?;
    let user = tenant.create_user(profile)?;
    Ok(json_text_answer(&StoredUser::from(&user)))
}

async fn fetch(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
) -> ApiResult<Response> {
    let id = user_id(&tenant, &user_token)?;
    let user = tenant.user(id).ok_or_else(|| ApiError::not_found("user"))?;
    Ok(json_text_answer(&StoredUser::from(&user)))
}

async fn update(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
    BodyBytes(bytes): BodyBytes,
) -> ApiResult<Response> {
    let body: UserBody = super::extract::parse_json(&bytes)?;
    let id = user_id(&tenant, &user_token)?;
    let today = clock::date(tenant.now());
    let (profile, status) = parse_profile(body, UserBodyKind::Update, today)?;
    let user = tenant.update_user(id, profile, status.unwrap_or(UserStatus::Active))?;
    Ok(json_text_answer(&StoredUser::from(&user)))
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
    let text = user.profile.text();
    Ok(json(&FoundUser {
        user_token: user.id.token(),
        first_name: text.first_name,
        last_name: text.last_name,
        internal_user_id: text.internal_user_id,
    }))
}

// ----- KYC -------------------------------------------------------------------------------------

#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionLink {
    session_url: String,
}

async fn au10tix(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
) -> ApiResult<Response> {
    kyc_link(&tenant, &user_token, "Au10tix", "au10tix")
}

async fn veriff(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
) -> ApiResult<Response> {
    kyc_link(&tenant, &user_token, "Veriff", "veriff")
}

fn kyc_link(
    tenant: &Tenant,
    user_token: &str,
    provider: &'static str,
    path: &str,
) -> ApiResult<Response> {
    let user = user_id(tenant, user_token)?;
    let s = tenant.start_kyc(user, provider, "Started")?;
    Ok(json(&SessionLink {
        session_url: format!(
            "https://kyc.sandbox.masspay.invalid/{path}/{}",
            s.session_id
        ),
    }))
}

/// `IDUpload` as sent.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdUpload {
    #[serde(rename = "type")]
    kind: Option<String>,
    content: Option<String>,
}

/// Checks ID images (type, base64 PNG/JPEG, ≤ 10 MB together) and records a submitted session.
pub fn check_id_uploads(items: &[IdUpload]) -> ApiResult<()> {
    use base64::Engine as _;
    let mut p = crate::domain::Problems::new();
    if items.is_empty() {
        p.push("at least one image is required");
    }
    let mut total = 0usize;
    for (i, item) in items.iter().enumerate() {
        match item.kind.as_deref() {
            Some("face" | "document-front" | "document-back") => {}
            Some(other) => p.push(format!(
                "[{i}].type must be face, document-front or document-back, not {other:?}"
            )),
            None => p.push(format!("[{i}].type is required")),
        }
        match item.content.as_deref() {
            None | Some("") => p.push(format!("[{i}].content is required")),
            Some(c) => match base64::engine::general_purpose::STANDARD.decode(c.trim()) {
                Ok(bytes) => {
                    total += bytes.len();
                    let png = bytes.starts_with(b"\x89PNG");
                    let jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
                    if !png && !jpeg {
                        p.push(format!("[{i}].content must be a base64 PNG or JPEG image"));
                    }
                }
                Err(_) => p.push(format!("[{i}].content is not valid base64")),
            },
        }
    }
    if total > 10 * 1024 * 1024 {
        p.push("the images together must be at most 10 MB");
    }
    Ok(p.finish("ID upload", ())?)
}

#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadResult {
    session_id: String,
    status: &'static str,
}

async fn upload_id(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
    super::extract::OptionalJson(items): super::extract::OptionalJson<
        Vec<IdUpload>,
        { super::UPLOAD_LIMIT },
    >,
) -> ApiResult<Response> {
    let user = user_id(&tenant, &user_token)?;
    check_id_uploads(&items)?;
    let s = tenant.start_kyc(user, "Au10tix", "Submitted")?;
    Ok(json(&UploadResult {
        session_id: s.session_id.to_string(),
        status: s.status,
    }))
}

#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KycSessionResp {
    provider: &'static str,
    session_id: String,
    session_time: String,
    status: &'static str,
}

async fn kyc_attempts(
    TenantCtx(tenant): TenantCtx,
    Path(user_token): Path<String>,
) -> ApiResult<Response> {
    let user = user_id(&tenant, &user_token)?;
    let body: Vec<KycSessionResp> = tenant
        .kyc_sessions(user)
        .into_iter()
        .map(|s| KycSessionResp {
            provider: s.provider,
            session_id: s.session_id.to_string(),
            session_time: clock::format(s.session_time),
            status: s.status,
        })
        .collect();
    Ok(json(&body))
}
