//! The admin API under `/_sandbox` (same auth as MassPay's; acts on the caller's tenant only):
//! reset, state dump, balances, the request journal, the test clock and scenarios.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::api::extract::{Json, Query, TenantCtx};
use crate::api::models::{AvailableBalanceTxnResp, PayoutTxnResp, StoredUser};
use crate::api::{json, AppState};
use crate::clock;
use crate::domain::money::{decimal_from_json_text, fits_precision};
use crate::domain::token;
use crate::error::{ApiError, ApiResult};
use crate::limits::MAX_LONG_POLLS;
use crate::state::Tenant;
use crate::webhook::TenantWebhooks;
use std::sync::Arc;

pub mod doc;
mod long_poll;
mod requests;
mod snapshots;

pub use long_poll::{long_poll, parse_wait, LongPolls};

/// The admin API of one sandbox: its long polls share one cap ([`MAX_LONG_POLLS`]) across all
/// tenants.
pub fn router() -> Router<AppState> {
    let polls = LongPolls::new(MAX_LONG_POLLS);
    Router::new()
        .route("/_sandbox/reset", post(reset))
        .route("/_sandbox/state", get(state))
        .route("/_sandbox/balance", put(set_balance))
        .route("/_sandbox/clock", get(clock_now))
        .route("/_sandbox/clock/advance", post(advance))
        .route("/_sandbox/webhook", put(subscribe).delete(unsubscribe))
        .route(
            "/_sandbox/webhooks",
            get(webhook_log).layer(Extension(Arc::clone(&polls))),
        )
        .route("/_sandbox/webhooks/{id}/resend", post(resend))
        .route(
            "/_sandbox/scenario",
            put(activate_scenarios).delete(deactivate_scenarios),
        )
        .merge(requests::routes(&polls))
        .merge(snapshots::routes())
        .route("/_sandbox/scenarios", get(list_scenarios))
}

async fn reset(
    axum::extract::State(app): axum::extract::State<AppState>,
    TenantCtx(tenant): TenantCtx,
) -> Response {
    app.store.reset(tenant.key());
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Serialize)]
struct StateDump<'a> {
    users: Vec<StoredUser<'a>>,
    attributes: Vec<AttributeSetView<'a>>,
    payouts: Vec<PayoutTxnResp<'a>>,
    balances: Vec<AvailableBalanceTxnResp<'a>>,
    clock: String,
    scenarios: Vec<String>,
}

#[derive(Serialize)]
struct AttributeSetView<'a> {
    user_token: String,
    destination_token: &'a str,
    currency: &'a str,
    attr_set_token: String,
    values: Vec<AttributeValueView<'a>>,
}

#[derive(Serialize)]
struct AttributeValueView<'a> {
    token: &'a str,
    label: &'a str,
    value: &'a str,
}

async fn state(TenantCtx(tenant): TenantCtx) -> Response {
    let catalog = &tenant.catalog;
    let users = tenant.users();
    let sets = tenant.attribute_sets();
    let payouts = tenant.all_payouts();
    let balances = tenant.balances();
    let dump = StateDump {
        users: users.iter().map(|u| StoredUser::from(u)).collect(),
        attributes: sets
            .iter()
            .map(|((user, payer, ci), set)| {
                let payer = &catalog.payers[*payer as usize];
                AttributeSetView {
                    user_token: user.token(),
                    destination_token: &payer.token,
                    currency: &payer.currencies[*ci as usize].code,
                    attr_set_token: token::format(token::ATTR_SET, set.id),
                    values: set
                        .values
                        .iter()
                        .map(|(r, v)| AttributeValueView {
                            token: &catalog.requirements[*r].token,
                            label: &catalog.requirements[*r].label,
                            value: v,
                        })
                        .collect(),
                }
            })
            .collect(),
        payouts: payouts
            .iter()
            .map(|p| {
                let mut view = PayoutTxnResp::from(catalog, p, p.id.token(), false);
                view.user_token = Some(p.user.token());
                view
            })
            .collect(),
        balances: balances
            .into_iter()
            .map(|(i, b)| AvailableBalanceTxnResp {
                token: &catalog.funding_accounts[i].token,
                balance: b.into(),
                currency_code: &catalog.funding_accounts[i].currency,
            })
            .collect(),
        clock: clock::format(tenant.now()),
        scenarios: tenant.active_scenarios(),
    };
    json(&dump)
}

#[derive(Deserialize)]
struct BalanceBody {
    currency_code: Option<String>,
    token: Option<String>,
    balance: Option<Box<RawValue>>,
}

async fn set_balance(
    TenantCtx(tenant): TenantCtx,
    Json(body): Json<BalanceBody>,
) -> ApiResult<Response> {
    let catalog = &tenant.catalog;
    let account = match (body.token.as_deref(), body.currency_code.as_deref()) {
        (Some(t), _) => catalog.funding_account(t).ok_or_else(|| {
            ApiError::bad_request(format!("token {t:?} is not one of your funding accounts"))
        })?,
        (None, Some(c)) => catalog
            .funding_accounts
            .iter()
            .position(|a| &*a.currency == c)
            .ok_or_else(|| {
                ApiError::bad_request(format!("no funding account in currency {c:?}"))
            })?,
        (None, None) => {
            return Err(ApiError::bad_request(
                "currency_code (or token) is required",
            ))
        }
    };
    let raw = body
        .balance
        .ok_or_else(|| ApiError::bad_request("balance is required"))?;
    let value = decimal_from_json_text(raw.get(), true)
        .map_err(|e| ApiError::bad_request(format!("balance {e}")))?;
    let currency = &catalog.funding_accounts[account].currency;
    let precision = catalog.precision_of(currency);
    if value.is_sign_negative() || !fits_precision(value, precision) {
        return Err(ApiError::bad_request(format!(
            "balance must be ≥ 0 with at most {precision} decimals for {currency}"
        )));
    }
    crate::domain::money::check_max_amount("balance", value).map_err(ApiError::bad_request)?;
    tenant.set_balance(account, value.normalize());
    Ok(json(&AvailableBalanceTxnResp {
        token: &catalog.funding_accounts[account].token,
        balance: tenant.balance(account).into(),
        currency_code: currency,
    }))
}

#[derive(Serialize)]
struct ClockView {
    now: String,
}

async fn clock_now(TenantCtx(tenant): TenantCtx) -> Response {
    json(&ClockView {
        now: clock::format(tenant.now()),
    })
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: Option<Box<RawValue>>,
}

async fn advance(
    TenantCtx(tenant): TenantCtx,
    Json(body): Json<AdvanceBody>,
) -> ApiResult<Response> {
    let raw = body
        .seconds
        .ok_or_else(|| ApiError::bad_request("seconds is required"))?;
    let seconds: i64 = raw
        .get()
        .parse()
        .ok()
        .filter(|s| (0..=10 * 366 * 86_400).contains(s))
        .ok_or_else(|| {
            ApiError::bad_request(
                "seconds must be a whole number from 0 to 316224000 (time only moves forward)",
            )
        })?;
    let now = tenant.clock.advance(seconds).map_err(|max| {
        ApiError::bad_request(format!(
            "seconds would move the test clock past {}, the latest time it shows (years 1970 to 9999); POST /_sandbox/reset starts it over",
            clock::format(max)
        ))
    })?;
    // Everything that fell due happens now, webhooks included, before the answer.
    tenant.sweep();
    Ok(json(&ClockView {
        now: clock::format(now),
    }))
}

#[derive(Deserialize)]
struct ScenariosBody {
    scenarios: Option<Vec<String>>,
}

#[derive(Serialize)]
struct ScenariosView {
    scenarios: Vec<String>,
}

async fn activate_scenarios(
    axum::extract::State(app): axum::extract::State<AppState>,
    TenantCtx(tenant): TenantCtx,
    Json(body): Json<ScenariosBody>,
) -> ApiResult<Response> {
    let names = body
        .scenarios
        .ok_or_else(|| ApiError::bad_request("scenarios is required (a list of names)"))?;
    let found = app
        .scenarios
        .resolve(names.iter().map(String::as_str))
        .map_err(|unknown| ApiError::bad_request(app.scenarios.unknown_message(&unknown)))?;
    let names: Vec<String> = found.iter().map(|s| s.name.clone()).collect();
    tenant.set_scenarios(names.clone());
    Ok(json(&ScenariosView { scenarios: names }))
}

#[derive(Serialize)]
struct ScenarioInfo<'a> {
    name: &'a str,
    description: &'a str,
    /// Active for every request and every tenant (`--scenario`).
    global: bool,
}

/// Every scenario this sandbox knows (shipped and `--scenarios DIR`), by name, so a client (the
/// dashboard) can offer them; which ones this tenant armed is in `GET /_sandbox/state`. Behind
/// the same auth as every admin call (the route's layer), though it reads no tenant.
async fn list_scenarios(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    let list: Vec<ScenarioInfo<'_>> = app
        .scenarios
        .names()
        .into_iter()
        .filter_map(|name| app.scenarios.get(name))
        .map(|s| ScenarioInfo {
            name: &s.name,
            description: &s.description,
            global: app.global_scenarios.iter().any(|g| g.name == s.name),
        })
        .collect();
    json(&list)
}

async fn deactivate_scenarios(TenantCtx(tenant): TenantCtx) -> Response {
    tenant.set_scenarios(Vec::new());
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct SubscribeBody {
    url: Option<String>,
    secret: Option<String>,
}

async fn subscribe(
    TenantCtx(tenant): TenantCtx,
    Json(body): Json<SubscribeBody>,
) -> ApiResult<Response> {
    let url = body
        .url
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("url is required"))?;
    let secret = body.secret.filter(|s| !s.is_empty());
    let sub = webhooks(&tenant)?
        .subscribe(url.trim().to_string(), secret)
        .map_err(ApiError::bad_request)?;
    Ok(json(&sub))
}

async fn unsubscribe(TenantCtx(tenant): TenantCtx) -> Response {
    if let Ok(w) = webhooks(&tenant) {
        w.unsubscribe();
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct WebhookQuery {
    /// The payout (or other object) the event is about: its token.
    payout_token: Option<String>,
    object_token: Option<String>,
    /// The status in the event's payload (`COMPLETED`, …).
    status: Option<String>,
    event_type: Option<String>,
    /// The delivery's state (`pending`, `delivered`, `failed`, `dropped`).
    state: Option<String>,
    wait: Option<String>,
}

/// `GET /_sandbox/webhooks`: the delivery log, oldest first, filtered; with `wait`, a long poll
/// for at least one matching delivery (408 at the deadline, with the deliveries seen).
async fn webhook_log(
    Extension(polls): Extension<Arc<LongPolls>>,
    TenantCtx(tenant): TenantCtx,
    Query(q): Query<WebhookQuery>,
) -> ApiResult<Response> {
    let hooks = webhooks(&tenant)?;
    let object = q.payout_token.as_deref().or(q.object_token.as_deref());
    let select = || {
        hooks
            .deliveries()
            .into_iter()
            .filter(|d| object.is_none_or(|o| d.object_token == o))
            .filter(|d| q.event_type.as_deref().is_none_or(|t| d.event_type == t))
            .filter(|d| q.state.as_deref().is_none_or(|s| d.state == s))
            .filter(|d| {
                q.status.as_deref().is_none_or(|s| {
                    serde_json::from_str::<serde_json::Value>(&d.body)
                        .ok()
                        .and_then(|b| b.get("status").and_then(|v| v.as_str().map(str::to_owned)))
                        .is_some_and(|status| status.eq_ignore_ascii_case(s))
                })
            })
            .collect::<Vec<_>>()
    };
    let Some(wait) = q.wait.as_deref().map(parse_wait).transpose()? else {
        return Ok(json(&select()));
    };
    match long_poll(&polls, wait, || Some(select()).filter(|v| !v.is_empty())).await? {
        Some(found) => Ok(json(&found)),
        None => Ok(requests::error_with(
            ApiError::WaitedInVain(format!(
                "no webhook delivery matching the filters within {} ms",
                wait.as_millis()
            )),
            vec![(
                "seen",
                serde_json::to_value(hooks.deliveries()).unwrap_or_default(),
            )],
        )),
    }
}

/// The tenant's webhooks: its event sink, seen as what it is.
fn webhooks(tenant: &Tenant) -> ApiResult<Arc<TenantWebhooks>> {
    TenantWebhooks::of(&tenant.events)
        .ok_or_else(|| ApiError::Internal("this tenant's events do not go to webhooks".into()))
}

async fn resend(
    TenantCtx(tenant): TenantCtx,
    crate::api::extract::Path(id): crate::api::extract::Path<String>,
) -> ApiResult<Response> {
    let d = webhooks(&tenant)?
        .resend(&id)
        .ok_or_else(|| ApiError::not_found(format!("webhook delivery {id:?} was not found")))?;
    Ok(json(&d))
}
