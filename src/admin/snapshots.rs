//! Snapshots of the caller's tenant (`/_sandbox/snapshots`): save its whole state under a name,
//! restore it, list and drop them; and `POST /_sandbox/save`, which writes every tenant to the
//! state file (`--state-file`). The rules (names, the cap, what a restore keeps, the file's
//! format) live in `crate::state::snapshots` and `crate::state::persist`; this is their HTTP face.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::api::extract::{Json, Path, TenantCtx};
use crate::api::{json, AppState};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::state::{SnapshotInfo, SnapshotName};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sandbox/snapshots", get(list).post(save).delete(drop_all))
        .route("/_sandbox/snapshots/{name}", delete(drop_one))
        .route("/_sandbox/snapshots/{name}/restore", post(restore))
        .route("/_sandbox/save", post(save_state_file))
}

#[derive(Deserialize)]
struct SaveBody {
    name: Option<String>,
}

/// A snapshot as the admin API shows it.
#[derive(Serialize)]
struct SnapshotView {
    name: String,
    /// The tenant's test clock when it was taken (a restore sets the clock back to it).
    clock: String,
    users: usize,
    payouts: usize,
}

impl From<SnapshotInfo> for SnapshotView {
    fn from(i: SnapshotInfo) -> Self {
        SnapshotView {
            name: i.name,
            clock: clock::format(i.clock),
            users: i.users,
            payouts: i.payouts,
        }
    }
}

async fn save(
    State(app): State<AppState>,
    TenantCtx(tenant): TenantCtx,
    Json(body): Json<SaveBody>,
) -> ApiResult<Response> {
    let name = body
        .name
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    let name = SnapshotName::parse(&name)?;
    let info = app.store.save_snapshot(&tenant, &name)?;
    let mut response = json(&SnapshotView::from(info));
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

async fn list(State(app): State<AppState>, TenantCtx(tenant): TenantCtx) -> Response {
    let all: Vec<SnapshotView> = app
        .store
        .snapshots(tenant.key())
        .into_iter()
        .map(SnapshotView::from)
        .collect();
    json(&all)
}

async fn restore(
    State(app): State<AppState>,
    TenantCtx(tenant): TenantCtx,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let info = app.store.restore_snapshot(tenant.key(), &name)?;
    Ok(json(&SnapshotView::from(info)))
}

async fn drop_one(
    State(app): State<AppState>,
    TenantCtx(tenant): TenantCtx,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    app.store.drop_snapshot(tenant.key(), &name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn drop_all(State(app): State<AppState>, TenantCtx(tenant): TenantCtx) -> Response {
    app.store.drop_snapshots(tenant.key());
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Serialize)]
struct SavedView {
    path: String,
    tenants: usize,
    bytes: u64,
}

/// Writes every tenant (not only the caller's: the file is the whole sandbox's) to the state
/// file, off the request threads: a large sandbox takes a while to write.
async fn save_state_file(State(app): State<AppState>, _: TenantCtx) -> ApiResult<Response> {
    let Some(path) = app.store.state_file().map(|p| p.display().to_string()) else {
        return Err(ApiError::Unprocessable(
            "this sandbox was started without --state-file, so there is no file to save to".into(),
        ));
    };
    let store = std::sync::Arc::clone(&app.store);
    let saved = tokio::task::spawn_blocking(move || store.save_state_file())
        .await
        .map_err(|e| ApiError::Internal(format!("saving the state file failed: {e}")))?
        .map_err(ApiError::Internal)?;
    Ok(json(&SavedView {
        path,
        tenants: saved.tenants,
        bytes: saved.bytes,
    }))
}
