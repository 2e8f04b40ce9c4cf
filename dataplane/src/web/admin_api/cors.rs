//! `/environment/v3/cors`: the newer per-origin CORS API. Origins are stored
//! in the form browsers send them (lower-case, default port omitted). Delete
//! is `DELETE /environment/v3/cors?contactCenterId=…&origin=…`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_store::model::CorsOrigin;
use tollgate_store::StoreError;
use utoipa::{IntoParams, ToSchema};

use crate::web::admin_api::access::{cc_not_found, Caller};
use crate::web::admin_api::contact_centers::visible;
use crate::web::admin_api::{parse_data, Created, Data, Envelope, ErrorEnvelope, OkEnvelope};
use crate::web::envelope::{self, ApiError};
use tollgate_core::services::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OriginView {
    pub contact_center_id: String,
    #[schema(example = "https://wwe.example.com")]
    pub origin: String,
}

impl From<&CorsOrigin> for OriginView {
    fn from(o: &CorsOrigin) -> Self {
        OriginView {
            contact_center_id: o.contact_center_id.clone(),
            origin: o.origin.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OriginList {
    pub origins: Vec<OriginView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OriginInput {
    pub contact_center_id: Option<String>,
    /// `scheme://host[:port]`, no path.
    pub origin: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct OriginQuery {
    /// Required for DELETE; a filter for GET.
    pub contact_center_id: Option<String>,
    /// Required for DELETE.
    pub origin: Option<String>,
}

fn origin(raw: &str) -> Result<String, ApiError> {
    tollgate_core::origins::normalize(raw)
        .map_err(|why| ApiError::bad_request(format!("origin: '{raw}' {why}")))
}

#[utoipa::path(get, path = "/environment/v3/cors", tag = "cors",
    params(OriginQuery),
    responses(
        (status = 200, description = "Origins of the contact centers the caller may see, in `.data.origins`", body = Envelope<OriginList>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, description = "The contactCenterId filter names an unknown contact center", body = ErrorEnvelope)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let filter = q.get("contactCenterId");
    if let Some(cc) = filter {
        visible(&state, &caller, cc).await?;
    }
    let rows = state
        .db
        .list_cors_origins(filter.map(String::as_str))
        .await?;
    Ok(envelope::ok(OriginList {
        origins: rows
            .iter()
            .filter(|o| caller.sees(&o.contact_center_id))
            .map(OriginView::from)
            .collect(),
    }))
}

#[utoipa::path(post, path = "/environment/v3/cors", tag = "cors",
    request_body = Data<OriginInput>,
    responses(
        (status = 201, description = "Added", body = Created<OriginView>),
        (status = 200, description = "Already there (adding is idempotent)", body = Envelope<OriginView>),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let d: OriginInput = parse_data(&body)?;
    let cc = d
        .contact_center_id
        .ok_or_else(|| ApiError::bad_request("'contactCenterId' is required"))?;
    let raw = d
        .origin
        .ok_or_else(|| ApiError::bad_request("'origin' is required"))?;
    let origin = origin(&raw)?;
    visible(&state, &caller, &cc).await?;
    let added = state
        .db
        .add_cors_origin(&cc, &origin)
        .await
        .map_err(|e| match e {
            StoreError::MissingReference { .. } => cc_not_found(&cc),
            other => other.into(),
        })?;
    let view = OriginView {
        contact_center_id: cc.clone(),
        origin: origin.clone(),
    };
    if !added {
        return Ok(envelope::ok(view));
    }
    state
        .audit("cors.added")
        .contact_center(&cc)
        .subject(caller.name())
        .detail(json!({"origin": origin}))
        .record();
    crate::web::admin_api::propagate(&state).await;
    let path = format!(
        "/cors?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("contactCenterId", &cc)
            .append_pair("origin", &origin)
            .finish()
    );
    Ok(envelope::created(view, path))
}

#[utoipa::path(delete, path = "/environment/v3/cors", tag = "cors",
    params(OriginQuery),
    responses(
        (status = 200, body = OkEnvelope),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let cc = q
        .get("contactCenterId")
        .ok_or_else(|| ApiError::bad_request("'contactCenterId' is required"))?;
    let raw = q
        .get("origin")
        .ok_or_else(|| ApiError::bad_request("'origin' is required"))?;
    let origin = origin(raw)?;
    visible(&state, &caller, cc).await?;
    state
        .db
        .delete_cors_origin(cc, &origin)
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => ApiError::not_found(format!(
                "origin '{origin}' is not allowed for contact center '{cc}'"
            )),
            other => other.into(),
        })?;
    state
        .audit("cors.deleted")
        .contact_center(cc)
        .subject(caller.name())
        .detail(json!({"origin": origin}))
        .record();
    crate::web::admin_api::propagate(&state).await;
    Ok(envelope::ok_empty())
}
