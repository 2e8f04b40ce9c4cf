//! The OAuth client registry of the original: `/auth/v3/ops/clients`, under
//! the operator's HTTP Basic credentials, in the `{"status","data"}` envelope.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};
use tollgate_store::model::{
    now, Client, ClientAuthMethod, ClientType, ExchangePolicy, HmacSecret,
};
use tollgate_store::validate::client::check_client;
use tollgate_store::validate::client::MIN_CLIENT_SECRET;
use tollgate_store::validate::{
    check_client_secret, check_exchange_policy, check_hmac_secret, check_jwks_uri,
};

use crate::web::client_ip::ClientIp;
use crate::web::envelope::{self, ApiError};
use crate::web::ops_auth::require as require_ops;
use tollgate_core::oauth::assertion::check_public_jwks;
use tollgate_core::oauth::grants;
use tollgate_core::services::{AppState, Services};

const DEFAULT_ACCESS_TIMEOUT: i64 = 43_200;
const DEFAULT_REFRESH_TIMEOUT: i64 = 2_592_000;

/// The client as the API shows it: every field but the secret.
pub fn view(c: &Client) -> Value {
    json!({
        "client_id": c.client_id,
        "name": c.name,
        "description": c.description,
        "clientType": c.client_type.as_str(),
        "internalClient": c.internal_client,
        "authorities": c.authorities,
        "scope": c.scope,
        "authorizedGrantTypes": c.authorized_grant_types,
        "redirectURIs": c.redirect_uris,
        "accessTokenExpirationTimeout": c.access_token_expiration_timeout,
        "refreshTokenExpirationTimeout": c.refresh_token_expiration_timeout,
        "contactCenterIds": c.contact_center_ids,
        "tokenExchange": c.token_exchange,
        "tokenEndpointAuthMethod": c.auth_method.as_str(),
        "jwks": c.jwks,
        "jwksUri": c.jwks_uri,
    })
}

/// Reads `{"data":{…}}`; syntax errors are reported by position, never by echoing input.
fn data_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    match v {
        Value::Object(mut o) => match o.remove("data") {
            Some(Value::Object(d)) => Ok(d),
            _ => Err(ApiError::bad_request("the body must be {\"data\": {…}}")),
        },
        _ => Err(ApiError::bad_request("the body must be {\"data\": {…}}")),
    }
}

fn string(d: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!("'{key}' must be a string"))),
    }
}

fn boolean(d: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
        Some(_) => Err(ApiError::bad_request(format!(
            "'{key}' must be true or false"
        ))),
    }
}

fn strings(d: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, ApiError> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request(format!("'{key}' must be a list of strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ApiError::bad_request(format!(
            "'{key}' must be a list of strings"
        ))),
    }
}

fn seconds(d: &Map<String, Value>, key: &str, max: i64) -> Result<Option<i64>, ApiError> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "'{key}' must be a whole number of seconds from 1 to {max}"
            ))),
        },
    }
}

fn valid_client_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~:@-".contains(&b))
}

/// `tokenExchange`: an RFC 8693 policy object, or `null` to forbid exchange.
fn exchange_policy(v: &Value) -> Result<Option<ExchangePolicy>, ApiError> {
    if v.is_null() {
        return Ok(None);
    }
    let policy: ExchangePolicy = serde_json::from_value(v.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "'tokenExchange' must be an object with subjectClients, subjectIssuers, \
             audiences (lists of strings), delegation and impersonation (booleans): {e}"
        ))
    })?;
    check_exchange_policy(&policy).map_err(ApiError::bad_request)?;
    Ok(Some(policy))
}

/// `tokenEndpointAuthMethod`, `jwks` and `jwksUri`. Without a method the
/// client type decides (`none` for PUBLIC, `client_secret` for a
/// CONFIDENTIAL client that had `none`). Keys belong to `private_key_jwt`
/// clients only, which need at least one of them.
fn client_keys(c: &mut Client, d: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(v) = string(d, "tokenEndpointAuthMethod")? {
        c.auth_method = ClientAuthMethod::parse(&v).ok_or_else(|| {
            ApiError::bad_request(
                "'tokenEndpointAuthMethod' must be client_secret, private_key_jwt, \
                 client_secret_jwt or none",
            )
        })?;
    } else {
        c.auth_method = match (c.client_type, c.auth_method) {
            (ClientType::Public, _) => ClientAuthMethod::None,
            (ClientType::Confidential, ClientAuthMethod::None) => ClientAuthMethod::ClientSecret,
            (_, m) => m,
        };
    }
    if let Some(v) = d.get("jwks") {
        c.jwks = match v {
            Value::Null => None,
            v => {
                check_public_jwks(v).map_err(|why| ApiError::bad_request(format!("jwks {why}")))?;
                Some(v.clone())
            }
        };
    }
    if d.contains_key("jwksUri") {
        c.jwks_uri = string(d, "jwksUri")?;
        if let Some(uri) = &c.jwks_uri {
            check_jwks_uri(uri).map_err(ApiError::bad_request)?;
        }
    }
    if c.auth_method == ClientAuthMethod::PrivateKeyJwt {
        // `check_client` requires its keys.
    } else if d.get("jwks").is_some_and(|v| !v.is_null())
        || d.get("jwksUri").is_some_and(|v| !v.is_null())
    {
        return Err(ApiError::bad_request(
            "'jwks' and 'jwksUri' are for tokenEndpointAuthMethod private_key_jwt",
        ));
    } else {
        c.jwks = None;
        c.jwks_uri = None;
    }
    Ok(())
}

/// The fields a client body may carry.
const FIELDS: &[&str] = &[
    "client_id",
    "name",
    "description",
    "client_secret",
    "clientType",
    "internalClient",
    "authorities",
    "scope",
    "authorizedGrantTypes",
    "redirectURIs",
    "accessTokenExpirationTimeout",
    "refreshTokenExpirationTimeout",
    "contactCenterIds",
    "tokenExchange",
    "tokenEndpointAuthMethod",
    "jwks",
    "jwksUri",
];

/// What a write did to the client's secret.
#[derive(Default)]
struct SecretOutcome {
    /// A secret generated here, in clear (shown once).
    generated: Option<String>,
    /// The secret given is shorter than the default minimum, accepted
    /// because `--min-client-secret-length` was lowered: audited.
    weak: bool,
}

/// Applies the fields present in `d` to `c`.
fn apply(
    state: &Services,
    c: &mut Client,
    d: &Map<String, Value>,
    creating: bool,
) -> Result<SecretOutcome, ApiError> {
    if let Some(key) = d.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("unknown field '{key}'")));
    }
    apply_settings(state, c, d)?;
    client_keys(c, d)?;
    // The rules the operator applies too, before any secret is hashed.
    check_client(c).map_err(ApiError::bad_request)?;
    let secret = string(d, "client_secret")?.filter(|s| !s.is_empty());
    apply_secret(c, secret, creating, state.settings.min_client_secret_length)
}

/// A weak secret accepted under a lowered minimum leaves a warning in the
/// log and the audit trail, so a migration's leftovers can be found.
fn audit_weak_secret(state: &Services, client_id: &str, outcome: &SecretOutcome) {
    if !outcome.weak {
        return;
    }
    tracing::warn!(
        client_id,
        "client secret shorter than {MIN_CLIENT_SECRET} characters accepted: min-client-secret-length is lowered"
    );
    state
        .audit("client.weak_secret")
        .client(client_id)
        .detail(json!({
            "default_minimum": MIN_CLIENT_SECRET,
            "configured_minimum": state.settings.min_client_secret_length,
        }))
        .record();
}

/// Every field but the authentication method, keys and secret, checked in
/// the order of the body's documentation.
fn apply_settings(
    state: &Services,
    c: &mut Client,
    d: &Map<String, Value>,
) -> Result<(), ApiError> {
    if let Some(v) = string(d, "name")? {
        c.name = v;
    }
    if let Some(v) = string(d, "description")? {
        c.description = v;
    }
    if let Some(v) = string(d, "clientType")? {
        c.client_type = ClientType::parse(&v)
            .ok_or_else(|| ApiError::bad_request("'clientType' must be CONFIDENTIAL or PUBLIC"))?;
    }
    if let Some(v) = boolean(d, "internalClient")? {
        c.internal_client = v;
    }
    if let Some(v) = strings(d, "authorities")? {
        c.authorities = v;
    }
    if let Some(v) = strings(d, "scope")? {
        c.scope = v;
    }
    if let Some(v) = strings(d, "authorizedGrantTypes")? {
        c.authorized_grant_types = known_grant_types(v)?;
    }
    if let Some(v) = strings(d, "redirectURIs")? {
        c.redirect_uris = v;
    }
    if let Some(v) = seconds(d, "accessTokenExpirationTimeout", 31_536_000)? {
        c.access_token_expiration_timeout = v;
    }
    if let Some(v) = seconds(d, "refreshTokenExpirationTimeout", 5 * 31_536_000)? {
        c.refresh_token_expiration_timeout = v;
    }
    if let Some(v) = strings(d, "contactCenterIds")? {
        c.contact_center_ids = known_contact_centers(state, v)?;
    }
    if let Some(v) = d.get("tokenExchange") {
        c.token_exchange = exchange_policy(v)?;
    }
    Ok(())
}

fn known_grant_types(v: Vec<String>) -> Result<Vec<String>, ApiError> {
    match v.iter().find(|g| !grants::KNOWN.contains(&g.as_str())) {
        Some(bad) => Err(ApiError::bad_request(format!(
            "authorizedGrantTypes: unknown grant type '{bad}'"
        ))),
        None => Ok(v),
    }
}

fn known_contact_centers(state: &Services, v: Vec<String>) -> Result<Vec<String>, ApiError> {
    match v
        .iter()
        .find(|id| state.catalog.contact_center(id).is_none())
    {
        Some(bad) => Err(ApiError::bad_request(format!(
            "contactCenterIds: unknown contact center '{bad}'"
        ))),
        None => Ok(v),
    }
}

/// Keeps only the secret the client's authentication method uses, setting
/// the one given (at least `minimum` characters) or generating one when it
/// has none.
fn apply_secret(
    c: &mut Client,
    secret: Option<String>,
    creating: bool,
    minimum: usize,
) -> Result<SecretOutcome, ApiError> {
    if c.auth_method != ClientAuthMethod::ClientSecretJwt {
        c.hmac_secret = None;
    }
    match c.auth_method {
        ClientAuthMethod::PrivateKeyJwt => without_secret(
            c,
            secret,
            "a private_key_jwt client must not have a client_secret",
        ),
        ClientAuthMethod::None => {
            without_secret(c, secret, "a PUBLIC client must not have a client_secret")
        }
        ClientAuthMethod::ClientSecretJwt => {
            c.secret_hash = None;
            let generated = apply_hmac_secret(c, secret, creating)?;
            Ok(SecretOutcome {
                generated,
                weak: false,
            })
        }
        ClientAuthMethod::ClientSecret => apply_client_secret(c, secret, creating, minimum),
    }
}

/// A client authenticating without a shared secret: one given is refused.
fn without_secret(
    c: &mut Client,
    secret: Option<String>,
    refusal: &'static str,
) -> Result<SecretOutcome, ApiError> {
    if secret.is_some() {
        return Err(ApiError::bad_request(refusal));
    }
    c.secret_hash = None;
    Ok(SecretOutcome::default())
}

/// A strong random secret, and the same to show once.
fn generated_secret() -> (String, Option<String>) {
    let s = tollgate_core::tokens::random_token();
    (s.clone(), Some(s))
}

/// The server keeps a `client_secret_jwt` secret (sealed) to check MACs,
/// and only that: the client cannot fall back to sending it in clear.
fn apply_hmac_secret(
    c: &mut Client,
    secret: Option<String>,
    creating: bool,
) -> Result<Option<String>, ApiError> {
    let (s, generated) = match secret {
        Some(s) => {
            check_hmac_secret(&s).map_err(ApiError::bad_request)?;
            (s, None)
        }
        None if creating || c.hmac_secret.is_none() => generated_secret(),
        None => return Ok(None),
    };
    c.hmac_secret = Some(HmacSecret::new(s));
    Ok(generated)
}

/// A confidential client's secret, kept hashed; one is generated when the
/// client has none.
fn apply_client_secret(
    c: &mut Client,
    secret: Option<String>,
    creating: bool,
    minimum: usize,
) -> Result<SecretOutcome, ApiError> {
    let (s, outcome) = match secret {
        Some(s) => {
            let weak = check_client_secret(&s, minimum).map_err(ApiError::bad_request)?;
            let outcome = SecretOutcome {
                generated: None,
                weak,
            };
            (s, outcome)
        }
        None if creating || c.secret_hash.is_none() => {
            let (s, generated) = generated_secret();
            (
                s,
                SecretOutcome {
                    generated,
                    weak: false,
                },
            )
        }
        None => return Ok(SecretOutcome::default()),
    };
    c.secret_hash =
        Some(tollgate_core::secrets::hash_secret(&s).map_err(|_| ApiError::internal())?);
    Ok(outcome)
}

pub async fn list(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_ops(&state, &headers, ip.as_deref()).await?;
    let clients = state.db.list_clients().await?;
    Ok(envelope::ok(clients.iter().map(view).collect::<Vec<_>>()))
}

pub async fn get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_ops(&state, &headers, ip.as_deref()).await?;
    let c = state
        .db
        .get_client(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("client '{id}' not found")))?;
    Ok(envelope::ok(view(&c)))
}

pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_ops(&state, &headers, ip.as_deref()).await?;
    let d = data_object(&body)?;
    let id =
        string(&d, "client_id")?.ok_or_else(|| ApiError::bad_request("'client_id' is required"))?;
    if !valid_client_id(&id) {
        return Err(ApiError::bad_request(
            "'client_id' must be 1-128 characters of letters, digits and . _ ~ : @ -",
        ));
    }
    let t = now();
    let mut c = Client {
        client_id: id.clone(),
        name: id.clone(),
        description: String::new(),
        secret_hash: None,
        client_type: ClientType::Confidential,
        internal_client: false,
        authorities: vec![],
        scope: vec!["*".into()],
        authorized_grant_types: vec![grants::CLIENT_CREDENTIALS.into()],
        redirect_uris: vec![],
        access_token_expiration_timeout: DEFAULT_ACCESS_TIMEOUT,
        refresh_token_expiration_timeout: DEFAULT_REFRESH_TIMEOUT,
        contact_center_ids: vec![],
        token_exchange: None,
        auth_method: tollgate_store::model::ClientAuthMethod::ClientSecret,
        jwks: None,
        jwks_uri: None,
        hmac_secret: None,
        version: 1,
        created_at: t,
        updated_at: t,
    };
    let secret = apply(&state, &mut c, &d, true)?;
    let stored = state.db.create_client(&c).await?;
    state.catalog.reload_client(&state.db, &id).await?;
    state.audit("client.created").client(&id).record();
    audit_weak_secret(&state, &id, &secret);
    let mut data = view(&stored);
    if let Some(secret) = secret.generated {
        // The only time a secret is ever returned: it was generated here.
        data["client_secret"] = json!(secret);
    }
    Ok(envelope::created(
        data,
        format!("/auth/v3/ops/clients/{id}"),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_ops(&state, &headers, ip.as_deref()).await?;
    let d = data_object(&body)?;
    if string(&d, "client_id")?.is_some_and(|b| b != id) {
        return Err(ApiError::bad_request("'client_id' cannot be changed"));
    }
    let mut c = state
        .db
        .get_client(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("client '{id}' not found")))?;
    let secret = apply(&state, &mut c, &d, false)?;
    let stored = state.db.update_client(&c).await?;
    state.catalog.reload_client(&state.db, &id).await?;
    state
        .audit("client.updated")
        .client(&id)
        .detail(json!({"secret_changed": d.contains_key("client_secret")}))
        .record();
    audit_weak_secret(&state, &id, &secret);
    let mut data = view(&stored);
    if let Some(secret) = secret.generated {
        data["client_secret"] = json!(secret);
    }
    Ok(envelope::ok(data))
}

pub async fn delete(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_ops(&state, &headers, ip.as_deref()).await?;
    state.db.delete_client(&id).await?;
    state.db.revoke_client_refresh_families(&id, now()).await?;
    state.catalog.reload_client(&state.db, &id).await?;
    state.audit("client.deleted").client(&id).record();
    Ok(envelope::ok_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        assert!(valid_client_id("external_api_client"));
        assert!(!valid_client_id(""));
        assert!(!valid_client_id("has space"));
        assert!(!valid_client_id(&"x".repeat(129)));
    }

    #[test]
    fn bad_json_does_not_echo_input() {
        let e = data_object(b"{\"data\": {\"client_secret\": supersecret}}").unwrap_err();
        assert!(!e.message.contains("supersecret"));
        assert!(data_object(b"[]").is_err());
    }
}
