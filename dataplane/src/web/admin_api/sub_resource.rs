//! The contact-center settings kept one per contact center (LDAP directory,
//! OIDC provider, SAML): GET, PUT (create or replace, with the record's
//! version as `ETag` and `If-Match`) and DELETE, written once for all of
//! them. Each resource supplies its parts as a [`Singleton`]. Trusted
//! issuers are many per contact center and unversioned, so they share only
//! the ending of a write, [`committed`].

use std::future::Future;

use axum::http::HeaderMap;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tollgate_store::StoreError;

use crate::web::admin_api::access::{cc_not_found, Caller};
use crate::web::admin_api::contact_centers::visible;
use crate::web::admin_api::{check_version, expected_version, parse_data, propagate, with_etag};
use crate::web::envelope::{self, ApiError};
use tollgate_core::services::Services;

/// A settings record a contact center has at most one of.
pub(crate) trait Singleton: Sized + Send + Sync {
    /// The request body's `data`.
    type Input: DeserializeOwned + Send;
    /// What reads and writes answer (secrets left out).
    type View: Serialize;
    /// The record in a stale-version message, e.g. "directory".
    const NAME: &'static str;
    /// What a contact center without one lacks, e.g. "LDAP directory".
    const MISSING: &'static str;
    /// The 409 when it changed between this write's read and its store.
    const CHANGED: &'static str;
    /// The audit events' prefix: `<AUDIT>.updated`, `<AUDIT>.deleted`.
    const AUDIT: &'static str;

    /// The version the input says it read (`version` in the body).
    fn input_version(input: &Self::Input) -> Option<i64>;
    fn version(&self) -> i64;
    fn set_version(&mut self, version: i64);
    fn view(&self, state: &Services) -> Self::View;
    /// The details of its `.updated` audit event.
    fn audit_details(&self) -> Value {
        json!({"version": self.version()})
    }

    fn load(
        state: &Services,
        id: &str,
    ) -> impl Future<Output = Result<Option<Self>, StoreError>> + Send;
    /// The record to store: the input checked (and any place it points to
    /// allowed), with what it may leave out (a secret, a key pair) taken
    /// from `existing`.
    fn build(
        state: &Services,
        id: &str,
        input: Self::Input,
        existing: Option<&Self>,
    ) -> impl Future<Output = Result<Self, ApiError>> + Send;
    /// Stores `record` if the stored version is still `record.version()`.
    fn store(
        state: &Services,
        record: &Self,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send;
    fn remove(state: &Services, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// 404: the contact center has none.
pub(crate) fn not_configured<R: Singleton>(id: &str) -> ApiError {
    ApiError::not_found(format!("contact center '{id}' has no {}", R::MISSING))
}

/// A failed store in the resource's words.
pub(crate) fn store_error<R: Singleton>(id: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::MissingReference { .. } => cc_not_found(id),
        StoreError::VersionConflict { .. } | StoreError::NotFound { .. } => {
            ApiError::conflict(R::CHANGED)
        }
        other => other.into(),
    }
}

/// The record with its version as `ETag`.
pub(crate) fn answer<R: Singleton>(state: &Services, record: &R) -> Response {
    with_etag(envelope::ok(record.view(state)), record.version())
}

/// The end of every write to a contact center's settings: audited, then
/// visible at once to this replica (the others follow the change feed).
pub(crate) async fn committed(
    state: &Services,
    caller: &Caller,
    contact_center_id: &str,
    event: &str,
    details: Value,
) {
    state
        .audit(event)
        .contact_center(contact_center_id)
        .subject(caller.name())
        .detail(details)
        .record();
    propagate(state).await;
}

pub(crate) async fn get<R: Singleton>(
    state: &Services,
    caller: &Caller,
    id: &str,
) -> Result<Response, ApiError> {
    visible(state, caller, id).await?;
    let stored = R::load(state, id)
        .await?
        .ok_or_else(|| not_configured::<R>(id))?;
    Ok(answer(state, &stored))
}

/// Creates or replaces the record. A version given (body or `If-Match`)
/// must be the stored one; none given overwrites.
pub(crate) async fn put<R: Singleton>(
    state: &Services,
    caller: &Caller,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let input: R::Input = parse_data(body)?;
    let expected = expected_version(headers, R::input_version(&input))?;
    visible(state, caller, id).await?;
    let existing = R::load(state, id).await?;
    let current = existing.as_ref().map_or(0, R::version);
    check_version(expected, current, R::NAME)?;
    let mut record = R::build(state, id, input, existing.as_ref()).await?;
    record.set_version(current);
    let stored = R::store(state, &record)
        .await
        .map_err(|e| store_error::<R>(id, e))?;
    let event = format!("{}.updated", R::AUDIT);
    committed(state, caller, id, &event, stored.audit_details()).await;
    Ok(answer(state, &stored))
}

pub(crate) async fn delete<R: Singleton>(
    state: &Services,
    caller: &Caller,
    id: &str,
) -> Result<Response, ApiError> {
    visible(state, caller, id).await?;
    R::remove(state, id).await.map_err(|e| match e {
        StoreError::NotFound { .. } => not_configured::<R>(id),
        other => other.into(),
    })?;
    let event = format!("{}.deleted", R::AUDIT);
    committed(state, caller, id, &event, json!({})).await;
    Ok(envelope::ok_empty())
}
