//! The row reconcilers' one shape (Environment, ContactCenter, OAuthClient):
//! a finalizer guards the row; Apply claims the row, builds the wanted row
//! from the spec, creates it or updates it when it differs, and reports the
//! outcome in status; Cleanup deletes the row the resource manages. Each kind
//! says only what differs, through [`RowResource`].

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{finalizer, Event};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use tollgate_store::model::{ManagedRow, RowOwner};
use tollgate_store::StoreError;

use crate::conditions::Outcome;
use crate::context::{namespace, Context, Error, Result, Step, Stop, FINALIZER};
use crate::ownership::{self, what, Gate};

/// A stored record with the store's bookkeeping (version and times).
pub trait Stamped: Clone + PartialEq {
    fn version(&self) -> i64;
    /// The record with `other`'s version and times.
    fn stamped_as(&self, other: &Self) -> Self;
    /// The record with `version` (what an update must name).
    fn with_version(self, version: i64) -> Self;
}

macro_rules! stamped {
    ($($record:ty),*) => {$(
        impl Stamped for $record {
            fn version(&self) -> i64 {
                self.version
            }
            fn stamped_as(&self, other: &Self) -> Self {
                Self {
                    version: other.version,
                    created_at: other.created_at,
                    updated_at: other.updated_at,
                    ..self.clone()
                }
            }
            fn with_version(self, version: i64) -> Self {
                Self { version, ..self }
            }
        }
    )*};
}

stamped!(
    tollgate_store::model::Environment,
    tollgate_store::model::ContactCenter,
    tollgate_store::model::Client,
    tollgate_store::model::LdapDirectoryConfig,
    tollgate_store::model::OidcProviderConfig,
    tollgate_store::model::SamlProviderConfig
);

/// Whether the stored record already says what `want` says (bookkeeping aside).
pub fn matches<R: Stamped>(stored: &R, want: &R) -> bool {
    want.stamped_as(stored) == *stored
}

/// What one kind of row resource adds to the shared shape.
pub trait RowResource:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The table, for ownership.
    const ROW: ManagedRow;
    /// Event reason and verb for a created and for an updated row.
    const CREATED: (&'static str, &'static str) = ("Written", "written");
    const UPDATED: (&'static str, &'static str) = ("Written", "written");
    type Row: Stamped + Send + Sync;

    fn row_id(&self) -> String;
    /// The conditions status shows now.
    fn conditions(&self) -> Vec<Condition>;
    /// Status fields besides the conditions.
    fn status_extra(&self, id: &str) -> serde_json::Value {
        json!({ "id": id })
    }
    /// A refusal decided before the row is claimed.
    fn refusal(&self, _ctx: &Context) -> Step<()> {
        Ok(())
    }
    /// The row the spec asks for; `stored` is the current one.
    fn wanted(
        &self,
        id: &str,
        stored: Option<&Self::Row>,
        ctx: &Context,
    ) -> impl Future<Output = Step<Self::Row>> + Send;
    fn read(ctx: &Context, id: &str) -> impl Future<Output = Result<Option<Self::Row>>> + Send;
    fn create(
        ctx: &Context,
        row: &Self::Row,
        owner: &RowOwner,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn update(
        ctx: &Context,
        row: &Self::Row,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn delete(ctx: &Context, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A write the store refused that is the user's to fix, as an outcome.
    fn write_refused(_err: &StoreError) -> Option<Outcome> {
        None
    }
    /// What follows once the row is in line (the contact center's parts).
    fn after_write(&self, _id: &str, _ctx: &Context) -> impl Future<Output = Step<()>> + Send {
        async { Ok(()) }
    }
    /// Why the row cannot be deleted yet (it is in use), if that is the error.
    fn in_use(_id: &str, _err: &StoreError) -> Option<String> {
        None
    }
}

/// The controller's reconcile for a row resource: finalizer first, then
/// Apply or Cleanup.
pub async fn reconcile<K: RowResource>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace(&*obj)?);
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(obj) => apply(&*obj, &ctx).await,
            Event::Cleanup(obj) => cleanup(&*obj, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics.reconciled(&K::kind(&()), started);
    result
}

async fn apply<K: RowResource>(obj: &K, ctx: &Context) -> Result<Action> {
    let id = obj.row_id();
    let outcome = match write_row(obj, &id, ctx).await {
        Ok(()) => Outcome::Ready {
            message: format!("{} is in the database", what(K::ROW, &id)),
        },
        Err(Stop::Report(outcome)) => outcome,
        Err(Stop::Fail(e)) => return Err(e),
    };
    ctx.report(obj, &obj.conditions(), &outcome, obj.status_extra(&id))
        .await
}

async fn write_row<K: RowResource>(obj: &K, id: &str, ctx: &Context) -> Step<()> {
    obj.refusal(ctx)?;
    let what = what(K::ROW, id);
    let owner = match ownership::gate(ctx, K::ROW, id, obj, &what).await? {
        Gate::Write(owner) => owner,
        Gate::Stop(outcome) => return Err(Stop::Report(outcome)),
    };
    let stored = K::read(ctx, id).await?;
    let want = obj.wanted(id, stored.as_ref(), ctx).await?;
    let written = match stored {
        None => K::create(ctx, &want, &owner)
            .await
            .map(|()| Some(K::CREATED)),
        Some(stored) if matches(&stored, &want) => Ok(None),
        Some(stored) => K::update(ctx, &want.with_version(stored.version()))
            .await
            .map(|()| Some(K::UPDATED)),
    };
    match written {
        Ok(Some((reason, verb))) => {
            ctx.event(obj, false, reason, format!("{what} {verb}"))
                .await
        }
        Ok(None) => {}
        Err(e) => return Err(K::write_refused(&e).map_or_else(|| e.into(), Stop::Report)),
    }
    obj.after_write(id, ctx).await
}

async fn cleanup<K: RowResource>(obj: &K, ctx: &Context) -> Result<Action> {
    let id = obj.row_id();
    if !ownership::release(ctx, K::ROW, &id, obj).await? {
        return Ok(Action::await_change());
    }
    let err = match K::delete(ctx, &id).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => return Ok(Action::await_change()),
        Err(e) => e,
    };
    let Some(message) = K::in_use(&id, &err) else {
        return Err(err.into());
    };
    // Kept, with its finalizer (an error keeps it), until what uses it is
    // gone; the status says why.
    let outcome = Outcome::Stalled {
        reason: "InUse".into(),
        message: message.clone(),
    };
    ctx.report(obj, &obj.conditions(), &outcome, obj.status_extra(&id))
        .await?;
    Err(Error::Blocked(message))
}
