//! Who may call the Environment API: the operator (HTTP Basic, the ops API's
//! credentials) or a client-credentials access token whose client holds
//! `ROLE_MANAGEMENT_APPLICATION` or `ROLE_INTERNAL_CLIENT`. A client bound to
//! contact centers (`contactCenterIds`) sees only those; for it every other
//! contact center does not exist (404), and environments are off limits (403).

use std::collections::HashSet;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::web::envelope::ApiError;
use tollgate_core::services::AppState;

pub const ROLES: [&str; 2] = ["ROLE_MANAGEMENT_APPLICATION", "ROLE_INTERNAL_CLIENT"];
const BOTH: &str = "Basic realm=\"tollgate-ops\", Bearer realm=\"tollgate\"";
const BAD_TOKEN: &str = "Bearer realm=\"tollgate\", error=\"invalid_token\"";

pub enum Caller {
    Operator,
    Client {
        client_id: String,
        /// `None`: unbound, sees everything.
        contact_centers: Option<HashSet<String>>,
    },
}

impl Caller {
    /// Whether this caller may see the contact center at all.
    pub fn sees(&self, contact_center_id: &str) -> bool {
        match self {
            Caller::Client {
                contact_centers: Some(ids),
                ..
            } => ids.contains(contact_center_id),
            _ => true,
        }
    }

    /// 404 for a contact center outside the caller's binding, the same answer
    /// as for one that does not exist, so bindings reveal nothing.
    pub fn require_sees(&self, contact_center_id: &str) -> Result<(), ApiError> {
        if self.sees(contact_center_id) {
            Ok(())
        } else {
            Err(cc_not_found(contact_center_id))
        }
    }

    /// Environments and creating contact centers are for unbound callers.
    pub fn require_unbound(&self, what: &str) -> Result<(), ApiError> {
        match self {
            Caller::Client {
                client_id,
                contact_centers: Some(_),
            } => Err(ApiError::forbidden(format!(
                "client '{client_id}' is bound to contact centers and may not {what}"
            ))),
            _ => Ok(()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Caller::Operator => "ops",
            Caller::Client { client_id, .. } => client_id,
        }
    }
}

pub fn cc_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("contact center '{id}' not found"))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let scheme = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("basic") => {
                let ip = crate::web::client_ip::ClientIp::of(parts, state);
                crate::web::ops_auth::require(state, &parts.headers, ip.as_deref()).await?;
                Ok(Caller::Operator)
            }
            Some("bearer" | "dpop") => {
                let at = crate::web::bearer::At::of(parts, state);
                let claims = crate::web::bearer::bearer(state, &parts.headers, &at)
                    .await
                    .map_err(|e| ApiError::unauthorized(e.description, BAD_TOKEN))?;
                // Management is a service's job: a user's token, even one
                // issued through a management client, does not carry it.
                if claims.is_user() {
                    return Err(ApiError::forbidden(
                        "the Environment API accepts client tokens (client_credentials grant), not user tokens",
                    ));
                }
                // The client's current registration decides, not the token's snapshot.
                let client = state.catalog.client(&claims.client_id).ok_or_else(|| {
                    ApiError::unauthorized("the token's client is gone", BAD_TOKEN)
                })?;
                if !client
                    .authorities
                    .iter()
                    .any(|a| ROLES.contains(&a.as_str()))
                {
                    return Err(ApiError::forbidden(format!(
                        "client '{}' needs the authority ROLE_MANAGEMENT_APPLICATION or ROLE_INTERNAL_CLIENT",
                        client.client_id
                    )));
                }
                let contact_centers = (!client.contact_center_ids.is_empty())
                    .then(|| client.contact_center_ids.iter().cloned().collect());
                Ok(Caller::Client {
                    client_id: client.client_id.clone(),
                    contact_centers,
                })
            }
            _ => Err(ApiError::unauthorized(
                "operator credentials (HTTP Basic) or a bearer token are required",
                BOTH,
            )),
        }
    }
}
