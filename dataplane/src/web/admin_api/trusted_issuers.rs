//! `/environment/v3/contact-centers/{id}/trusted-issuers`: issuers whose
//! signed JWTs (RFC 7523 assertions, `grant_type=…:jwt-bearer`) speak for
//! users of the contact center. Upserted by `issuer`; an issuer belongs to
//! one contact center. Delete is `DELETE …/trusted-issuers?issuer=…`.
//! Many per contact center and unversioned, they are not a
//! [`Singleton`](crate::web::admin_api::sub_resource::Singleton); their writes end the same
//! way, audited and propagated by [`committed`].

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tollgate_store::model::TrustedIssuer;
use tollgate_store::validate::trusted_issuer::{
    check_trusted_issuer, default_algorithms, DEFAULT_MAX_LIFETIME,
};
use tollgate_store::StoreError;
use utoipa::{IntoParams, ToSchema};

use crate::web::admin_api::access::{cc_not_found, Caller};
use crate::web::admin_api::contact_centers::visible;
use crate::web::admin_api::sub_resource::committed;
use crate::web::admin_api::{parse_data, Data, Envelope, ErrorEnvelope, OkEnvelope};
use crate::web::envelope::{self, ApiError};
use tollgate_core::services::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrustedIssuerView {
    pub issuer: String,
    pub contact_center_id: String,
    /// Static public keys (a JWK Set).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub algorithms: Vec<String>,
    pub max_lifetime: i64,
    pub updated_at: i64,
}

impl From<&TrustedIssuer> for TrustedIssuerView {
    fn from(t: &TrustedIssuer) -> Self {
        TrustedIssuerView {
            issuer: t.issuer.clone(),
            contact_center_id: t.contact_center_id.clone(),
            jwks: t.jwks.clone(),
            jwks_uri: t.jwks_uri.clone(),
            algorithms: t.algorithms.clone(),
            max_lifetime: t.max_lifetime,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TrustedIssuerList {
    pub issuers: Vec<TrustedIssuerView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustedIssuerInput {
    /// The `iss` of the assertions, exactly.
    #[schema(example = "https://idp.example.com")]
    pub issuer: Option<String>,
    /// Static public keys: `{"keys": [JWK, …]}`, a `kid` on each when several.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Keys fetched over HTTPS (plain http only for localhost), cached, and
    /// fetched again when an assertion names an unknown `kid`.
    pub jwks_uri: Option<String>,
    /// Accepted JWS algorithms: RS256/384/512, PS256/384/512, ES256/384, EdDSA.
    /// Default `["RS256", "ES256"]`. HMAC and `none` are never accepted.
    pub algorithms: Option<Vec<String>>,
    /// Longest accepted assertion life (`exp - iat`), 1-86400 seconds. Default 600.
    #[schema(minimum = 1, maximum = 86400)]
    pub max_lifetime: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IssuerQuery {
    /// The issuer to delete.
    pub issuer: Option<String>,
}

fn to_record(id: &str, d: TrustedIssuerInput) -> Result<TrustedIssuer, ApiError> {
    let record = TrustedIssuer {
        issuer: d.issuer.unwrap_or_default(),
        contact_center_id: id.to_string(),
        jwks: d.jwks,
        jwks_uri: d.jwks_uri,
        algorithms: d.algorithms.unwrap_or_else(default_algorithms),
        max_lifetime: d.max_lifetime.unwrap_or(DEFAULT_MAX_LIFETIME),
        updated_at: 0,
    };
    check_trusted_issuer(&record).map_err(ApiError::bad_request)?;
    Ok(record)
}

#[utoipa::path(get, path = "/environment/v3/contact-centers/{id}/trusted-issuers", tag = "trusted-issuers",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Trusted issuers ordered by issuer, in `.data.issuers`", body = Envelope<TrustedIssuerList>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    visible(&state, &caller, &id).await?;
    let issuers = state.db.list_trusted_issuers(&id).await?;
    Ok(envelope::ok(TrustedIssuerList {
        issuers: issuers.iter().map(TrustedIssuerView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/environment/v3/contact-centers/{id}/trusted-issuers", tag = "trusted-issuers",
    params(("id" = String, Path)),
    request_body = Data<TrustedIssuerInput>,
    responses(
        (status = 200, description = "Stored, replacing this contact center's record of that issuer", body = Envelope<TrustedIssuerView>),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "Another contact center trusts this issuer", body = ErrorEnvelope)))]
pub async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let d: TrustedIssuerInput = parse_data(&body)?;
    visible(&state, &caller, &id).await?;
    let record = to_record(&id, d)?;
    if let Some(uri) = &record.jwks_uri {
        state
            .outbound
            .check_setting("jwksUri", uri)
            .await
            .map_err(ApiError::bad_request)?;
    }
    let stored = state
        .db
        .upsert_trusted_issuer(&record)
        .await
        .map_err(|e| match e {
            StoreError::MissingReference { .. } => cc_not_found(&id),
            other => other.into(),
        })?;
    let details = json!({"issuer": stored.issuer});
    committed(&state, &caller, &id, "trusted_issuer.updated", details).await;
    Ok(envelope::ok(TrustedIssuerView::from(&stored)))
}

#[utoipa::path(delete, path = "/environment/v3/contact-centers/{id}/trusted-issuers", tag = "trusted-issuers",
    params(("id" = String, Path), IssuerQuery),
    responses(
        (status = 200, body = OkEnvelope),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let issuer = q
        .get("issuer")
        .ok_or_else(|| ApiError::bad_request("'issuer' is required"))?;
    visible(&state, &caller, &id).await?;
    state
        .db
        .delete_trusted_issuer(&id, issuer)
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => ApiError::not_found(format!(
                "issuer '{issuer}' is not trusted by contact center '{id}'"
            )),
            other => other.into(),
        })?;
    let details = json!({"issuer": issuer});
    committed(&state, &caller, &id, "trusted_issuer.deleted", details).await;
    Ok(envelope::ok_empty())
}
