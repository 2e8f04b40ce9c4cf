//! `/environment/v3/contact-centers/{id}/settings`: named settings of a
//! contact center, upserted by name. `cors-origins` holds a comma list of
//! browser origins; as in the original, a POST replaces the whole value.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_store::model::{now, Setting};
use tollgate_store::StoreError;
use utoipa::ToSchema;

use crate::web::admin_api::access::{cc_not_found, Caller};
use crate::web::admin_api::contact_centers::visible;
use crate::web::admin_api::{lenient_bool, parse_data, Data, Envelope, ErrorEnvelope, OkEnvelope};
use crate::web::envelope::{self, ApiError};
use tollgate_core::services::AppState;

#[derive(Serialize, ToSchema)]
pub struct SettingView {
    pub location: String,
    pub name: String,
    pub shared: bool,
    pub value: String,
}

impl From<&Setting> for SettingView {
    fn from(s: &Setting) -> Self {
        SettingView {
            location: s.location.clone(),
            name: s.name.clone(),
            shared: s.shared,
            value: s.value.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SettingList {
    pub settings: Vec<SettingView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingInput {
    /// Default "/".
    pub location: Option<String>,
    /// 1-128 letters, digits, . _ : -
    #[schema(
        example = "cors-origins",
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9._:-]+$"
    )]
    pub name: Option<String>,
    /// true/false, as a boolean or a string. Default false.
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(value_type = Option<bool>)]
    pub shared: Option<bool>,
    /// For `cors-origins`: comma-separated `scheme://host[:port]` origins.
    #[schema(example = "https://wwe.example.com,https://gws.example.com")]
    pub value: Option<String>,
}

fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Every item of a `cors-origins` value must be an origin.
fn check_origins(value: &str) -> Result<(), ApiError> {
    for item in tollgate_core::origins::split_list(value) {
        tollgate_core::origins::normalize(item)
            .map_err(|why| ApiError::bad_request(format!("cors-origins: '{item}' {why}")))?;
    }
    Ok(())
}

#[utoipa::path(get, path = "/environment/v3/contact-centers/{id}/settings", tag = "settings",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Settings ordered by name, in `.data.settings`", body = Envelope<SettingList>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    visible(&state, &caller, &id).await?;
    let settings = state.db.list_settings(&id).await?;
    Ok(envelope::ok(SettingList {
        settings: settings.iter().map(SettingView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/environment/v3/contact-centers/{id}/settings", tag = "settings",
    params(("id" = String, Path)),
    request_body = Data<SettingInput>,
    responses(
        (status = 200, description = "Stored, replacing any setting of that name", body = Envelope<SettingView>),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let d: SettingInput = parse_data(&body)?;
    visible(&state, &caller, &id).await?;
    let name = d
        .name
        .ok_or_else(|| ApiError::bad_request("'name' is required"))?;
    if !valid_name(&name) {
        return Err(ApiError::bad_request(
            "'name' must be 1-128 letters, digits, . _ : or -",
        ));
    }
    let value = d
        .value
        .ok_or_else(|| ApiError::bad_request("'value' is required"))?;
    if value.len() > 64 * 1024 {
        return Err(ApiError::bad_request("'value' must be at most 65536 bytes"));
    }
    if name == tollgate_core::origins::SETTING {
        check_origins(&value)?;
    }
    let setting = Setting {
        contact_center_id: id.clone(),
        name,
        location: d.location.unwrap_or_else(|| "/".into()),
        shared: d.shared.unwrap_or(false),
        value,
        updated_at: now(),
    };
    let stored = state
        .db
        .upsert_setting(&setting)
        .await
        .map_err(|e| match e {
            StoreError::MissingReference { .. } => cc_not_found(&id),
            other => other.into(),
        })?;
    state
        .audit("setting.updated")
        .contact_center(&id)
        .subject(caller.name())
        .detail(json!({"name": stored.name}))
        .record();
    crate::web::admin_api::propagate(&state).await;
    Ok(envelope::ok(SettingView::from(&stored)))
}

#[utoipa::path(delete, path = "/environment/v3/contact-centers/{id}/settings/{name}", tag = "settings",
    params(("id" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, body = OkEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    visible(&state, &caller, &id).await?;
    state
        .db
        .delete_setting(&id, &name)
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => ApiError::not_found(format!(
                "setting '{name}' not found in contact center '{id}'"
            )),
            other => other.into(),
        })?;
    state
        .audit("setting.deleted")
        .contact_center(&id)
        .subject(caller.name())
        .detail(json!({"name": name}))
        .record();
    crate::web::admin_api::propagate(&state).await;
    Ok(envelope::ok_empty())
}
