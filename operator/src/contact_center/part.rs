//! The optional parts of a contact center (`spec.directory`,
//! `spec.oidcProvider`, `spec.saml`) share one sync: the resource owns the
//! part, so without its spec any stored one is removed; with it, the record
//! the spec asks for is written when it differs from the stored one.

use std::future::Future;

use tollgate_store::StoreError;

use crate::conditions::Outcome;
use crate::context::{Context, Result, Step, Stop};
use crate::crd::ContactCenter;
use crate::rows::{matches, Stamped};

/// What one optional part adds to [`sync_optional`].
pub trait Part {
    type Spec: Sync;
    type Record: Stamped + Send + Sync;
    /// How Events name it ("LDAP directory of cc1 written").
    const NAME: &'static str;
    /// The prefix of its Event and status reasons ("DirectoryWritten").
    const REASON: &'static str;
    /// The `spec.auth` scheme that needs it, and its field.
    const AUTH: &'static str;
    const FIELD: &'static str;

    fn spec(cc: &ContactCenter) -> Option<&Self::Spec>;
    fn read(ctx: &Context, id: &str) -> impl Future<Output = Result<Option<Self::Record>>> + Send;
    /// The record `spec` asks for; `stored` is the current one.
    fn wanted(
        cc: &ContactCenter,
        id: &str,
        spec: &Self::Spec,
        stored: Option<&Self::Record>,
        ctx: &Context,
    ) -> impl Future<Output = Step<Self::Record>> + Send;
    /// Completes a record about to be written (e.g. generated keys).
    fn complete(_record: &mut Self::Record, _id: &str) -> Result<()> {
        Ok(())
    }
    fn put(
        ctx: &Context,
        record: &Self::Record,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn delete(ctx: &Context, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Brings the stored part in line with the spec. `Some` says why the
/// contact center is not Ready.
pub async fn sync_optional<P: Part>(
    cc: &ContactCenter,
    id: &str,
    ctx: &Context,
) -> Result<Option<Outcome>> {
    let stored = P::read(ctx, id).await?;
    let Some(spec) = P::spec(cc) else {
        remove::<P>(cc, id, stored.is_some(), ctx).await?;
        return Ok((cc.spec.auth == P::AUTH).then(|| Outcome::Stalled {
            reason: format!("{}Missing", P::REASON),
            message: format!(
                "auth is {} but {} is not set; sign-ins answer 503 until it is",
                P::AUTH,
                P::FIELD
            ),
        }));
    };
    match P::wanted(cc, id, spec, stored.as_ref(), ctx).await {
        Ok(want) => write::<P>(cc, id, want, stored, ctx).await.map(|()| None),
        Err(Stop::Report(outcome)) => Ok(Some(outcome)),
        Err(Stop::Fail(e)) => Err(e),
    }
}

async fn remove<P: Part>(cc: &ContactCenter, id: &str, stored: bool, ctx: &Context) -> Result<()> {
    if !stored {
        return Ok(());
    }
    match P::delete(ctx, id).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let (reason, note) = (format!("{}Removed", P::REASON), P::NAME);
    ctx.event(cc, false, &reason, format!("{note} of {id} removed"))
        .await;
    Ok(())
}

async fn write<P: Part>(
    cc: &ContactCenter,
    id: &str,
    mut want: P::Record,
    stored: Option<P::Record>,
    ctx: &Context,
) -> Result<()> {
    if stored.as_ref().is_some_and(|s| matches(s, &want)) {
        return Ok(());
    }
    P::complete(&mut want, id)?;
    let want = want.with_version(stored.map_or(0, |s| s.version()));
    P::put(ctx, &want).await?;
    let (reason, note) = (format!("{}Written", P::REASON), P::NAME);
    ctx.event(cc, false, &reason, format!("{note} of {id} written"))
        .await;
    Ok(())
}
