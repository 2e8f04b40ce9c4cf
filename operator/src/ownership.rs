//! Which database rows a resource may write or delete. Every environment,
//! contact center and client row records who manages it (the store's
//! `RowOwner`): a resource writes only a row it created or adopted, never one
//! another resource or the API created, whatever `spec.id` or `clientId` it
//! names. The decisions are plain functions; [`gate`] and [`release`] do the
//! I/O for the reconcilers.

use kube::{Resource, ResourceExt};
use tollgate_store::model::{ManagedRow, ResourceRef, RowOwner};

use crate::conditions::Outcome;
use crate::context::{Context, Error, Result};

/// The status reason when a row is managed by someone else.
pub const OWNED_ELSEWHERE: &str = "OwnedElsewhere";

/// What a resource may do with the row it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// No such row: create it, owned by the resource.
    Create,
    /// The resource's own row.
    Mine,
    /// Take the row over from the owner read (compare-and-set): an earlier
    /// incarnation of the same resource (same namespace and name, another
    /// uid), or a row of no recorded owner when adoption is enabled.
    Adopt(RowOwner),
    /// Leave the row alone, for the reason given.
    Refuse(String),
}

/// The resource as a row owner.
pub fn owner_of<K: Resource>(obj: &K) -> Result<ResourceRef> {
    let missing = |what: &str| Error::Invalid(format!("the object has no {what}"));
    Ok(ResourceRef {
        namespace: obj
            .meta()
            .namespace
            .clone()
            .ok_or_else(|| missing("namespace"))?,
        name: obj.meta().name.clone().ok_or_else(|| missing("name"))?,
        uid: obj.meta().uid.clone().ok_or_else(|| missing("uid"))?,
    })
}

fn same_resource(a: &ResourceRef, b: &ResourceRef) -> bool {
    a.namespace == b.namespace && a.name == b.name
}

/// Whether `me` may write the row `what` whose owner is `stored` (`None`: no
/// row). `adopt_unknown` lets a resource take a row older than recorded
/// owners (an upgrade step, off by default).
pub fn claim(
    stored: Option<&RowOwner>,
    me: &ResourceRef,
    adopt_unknown: bool,
    what: &str,
) -> Claim {
    match stored {
        None => Claim::Create,
        Some(RowOwner::Resource(owner)) if owner == me => Claim::Mine,
        Some(RowOwner::Resource(owner)) if same_resource(owner, me) => {
            Claim::Adopt(RowOwner::Resource(owner.clone()))
        }
        // Who owns it is another tenant's business: not named here.
        Some(RowOwner::Resource(_)) => Claim::Refuse(format!(
            "{what} is managed by another resource; choose another id"
        )),
        Some(RowOwner::Api) => Claim::Refuse(format!(
            "{what} was created through the API and stays managed there; choose another id"
        )),
        Some(RowOwner::Unknown) if adopt_unknown => Claim::Adopt(RowOwner::Unknown),
        Some(RowOwner::Unknown) => Claim::Refuse(format!(
            "{what} predates recorded owners; the operator adopts such rows only with \
             --adopt-unowned-rows"
        )),
    }
}

/// Whether deleting `me` may delete the row: only when it manages it.
pub fn may_delete(stored: Option<&RowOwner>, me: &ResourceRef) -> bool {
    matches!(stored, Some(RowOwner::Resource(owner)) if same_resource(owner, me))
}

/// Whether a row a reference resolved to is managed by the referenced
/// resource (`namespace`/`name`), so a reference never lands on a row the
/// referenced resource failed to claim.
pub fn managed_by(stored: Option<&RowOwner>, namespace: &str, name: &str) -> bool {
    matches!(stored, Some(RowOwner::Resource(owner))
        if owner.namespace == namespace && owner.name == name)
}

/// A row a reference resolved to, and the resource referenced.
pub struct Reference<'a> {
    pub row: ManagedRow,
    pub id: &'a str,
    /// Kind, namespace and name of the referenced resource.
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    /// The `Progressing` reason while the row is not written yet.
    pub not_ready: &'a str,
}

/// `None` when the referenced row is the referenced resource's own, else the
/// outcome to stop with: not written yet, or a row of the same id the
/// resource failed to claim.
pub fn reference_outcome(stored: Option<&RowOwner>, r: &Reference) -> Option<Outcome> {
    let what = what(r.row, r.id);
    match stored {
        None => Some(Outcome::Progressing {
            reason: r.not_ready.into(),
            message: format!("{what} is not in the database yet"),
        }),
        Some(_) if managed_by(stored, r.namespace, r.name) => None,
        Some(_) => Some(refused(format!(
            "{what} is not managed by {} {}",
            r.kind, r.name
        ))),
    }
}

/// How status and Events name the row `id` of table `row`.
pub fn what(row: ManagedRow, id: &str) -> String {
    let noun = match row {
        ManagedRow::Environment => "environment",
        ManagedRow::ContactCenter => "contact center",
        ManagedRow::Client => "client",
    };
    format!("{noun} {id}")
}

/// [`reference_outcome`] for the stored row.
pub async fn check_reference(ctx: &Context, r: &Reference<'_>) -> Result<Option<Outcome>> {
    let stored = ctx.db.row_owner(r.row, r.id).await?;
    Ok(reference_outcome(stored.as_ref(), r))
}

/// Whether a resource in namespace `from` may reference one in `target`
/// that shares itself with `shared_with`: across namespaces only when the
/// referenced resource says so.
pub fn may_reference(from: &str, target: &str, shared_with: &[String]) -> bool {
    from == target || shared_with.iter().any(|ns| ns == from)
}

/// The outcome for a refused claim.
pub fn refused(message: String) -> Outcome {
    Outcome::Stalled {
        reason: OWNED_ELSEWHERE.into(),
        message,
    }
}

/// What a reconciler does next with its row.
pub enum Gate {
    /// Create the row with this owner if it is missing, else update it.
    Write(RowOwner),
    /// Stop with this outcome.
    Stop(Outcome),
}

/// Claims the row `id` for `obj`, adopting it when allowed.
pub async fn gate<K: Resource>(
    ctx: &Context,
    kind: ManagedRow,
    id: &str,
    obj: &K,
    what: &str,
) -> Result<Gate> {
    let me = owner_of(obj)?;
    let stored = ctx.db.row_owner(kind, id).await?;
    let mine = RowOwner::Resource(me.clone());
    match claim(stored.as_ref(), &me, ctx.adopt_unowned_rows, what) {
        Claim::Create | Claim::Mine => Ok(Gate::Write(mine)),
        Claim::Adopt(seen) => {
            if ctx.db.set_row_owner(kind, id, &seen, &mine).await? {
                tracing::info!(row = %id, namespace = %me.namespace, name = %me.name, "row adopted");
                Ok(Gate::Write(mine))
            } else {
                Ok(Gate::Stop(Outcome::Progressing {
                    reason: "OwnerChanged".into(),
                    message: format!("the owner of {what} changed meanwhile; retrying"),
                }))
            }
        }
        Claim::Refuse(message) => {
            tracing::warn!(row = %id, namespace = %me.namespace, name = %me.name, owner = ?stored, "row managed elsewhere");
            Ok(Gate::Stop(refused(message)))
        }
    }
}

/// Whether cleanup of `obj` may delete the row `id`; when not, says so in an
/// Event (the resource goes, the row stays).
pub async fn release<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    kind: ManagedRow,
    id: &str,
    obj: &K,
) -> Result<bool> {
    let stored = ctx.db.row_owner(kind, id).await?;
    if stored.is_none() || may_delete(stored.as_ref(), &owner_of(obj)?) {
        return Ok(stored.is_some());
    }
    ctx.event(
        obj,
        true,
        OWNED_ELSEWHERE,
        format!("row {id} is not managed by {}: kept", obj.name_any()),
    )
    .await;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(namespace: &str, name: &str, uid: &str) -> ResourceRef {
        ResourceRef {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    #[test]
    fn a_resource_writes_only_rows_it_manages() {
        let me = r("tenant-b", "acme", "uid-b");
        assert_eq!(claim(None, &me, false, "row x"), Claim::Create);
        let mine = RowOwner::Resource(me.clone());
        assert_eq!(claim(Some(&mine), &me, false, "row x"), Claim::Mine);
        // Another namespace's resource with the same name, or another
        // resource of the same namespace: refused.
        for other in [
            r("tenant-a", "acme", "uid-a"),
            r("tenant-b", "other", "uid-c"),
        ] {
            let Claim::Refuse(why) =
                claim(Some(&RowOwner::Resource(other.clone())), &me, true, "row x")
            else {
                panic!("{other:?} must be refused");
            };
            assert!(why.contains("another resource"), "{why}");
            assert!(
                !why.contains(&other.namespace) || other.namespace == me.namespace,
                "{why}"
            );
        }
        let Claim::Refuse(why) = claim(Some(&RowOwner::Api), &me, true, "row x") else {
            panic!("an API row is never adopted");
        };
        assert!(why.contains("API"), "{why}");
    }

    #[test]
    fn adoption_is_for_the_same_resource_or_an_explicit_upgrade() {
        let me = r("tenant-b", "acme", "uid-new");
        let earlier = RowOwner::Resource(r("tenant-b", "acme", "uid-old"));
        assert_eq!(
            claim(Some(&earlier), &me, false, "row x"),
            Claim::Adopt(earlier.clone())
        );
        assert!(matches!(
            claim(Some(&RowOwner::Unknown), &me, false, "row x"),
            Claim::Refuse(why) if why.contains("--adopt-unowned-rows")
        ));
        assert_eq!(
            claim(Some(&RowOwner::Unknown), &me, true, "row x"),
            Claim::Adopt(RowOwner::Unknown)
        );
    }

    #[test]
    fn only_the_managing_resource_deletes_its_row() {
        let me = r("tenant-b", "acme", "uid-b");
        assert!(may_delete(Some(&RowOwner::Resource(me.clone())), &me));
        assert!(may_delete(
            Some(&RowOwner::Resource(r("tenant-b", "acme", "old"))),
            &me
        ));
        assert!(!may_delete(
            Some(&RowOwner::Resource(r("tenant-a", "acme", "uid-a"))),
            &me
        ));
        assert!(!may_delete(Some(&RowOwner::Api), &me));
        assert!(!may_delete(Some(&RowOwner::Unknown), &me));
        assert!(!may_delete(None, &me));
    }

    #[test]
    fn a_reference_waits_for_the_row_and_refuses_another_ones() {
        let reference = Reference {
            row: ManagedRow::Environment,
            id: "prod",
            kind: "Environment",
            namespace: "tenant-b",
            name: "prod",
            not_ready: "EnvironmentNotReady",
        };
        assert!(matches!(
            reference_outcome(None, &reference),
            Some(Outcome::Progressing { reason, .. }) if reason == "EnvironmentNotReady"
        ));
        let own = RowOwner::Resource(r("tenant-b", "prod", "uid"));
        assert_eq!(reference_outcome(Some(&own), &reference), None);
        let other = RowOwner::Resource(r("tenant-a", "prod", "uid-a"));
        assert!(matches!(
            reference_outcome(Some(&other), &reference),
            Some(Outcome::Stalled { reason, message })
                if reason == OWNED_ELSEWHERE && message == "environment prod is not managed by Environment prod"
        ));
    }

    #[test]
    fn cross_namespace_references_are_opt_in() {
        assert!(may_reference("tenant-a", "tenant-a", &[]));
        assert!(!may_reference("tenant-b", "tenant-a", &[]));
        assert!(!may_reference("tenant-b", "tenant-a", &["tenant-c".into()]));
        assert!(may_reference("tenant-b", "tenant-a", &["tenant-b".into()]));
    }

    #[test]
    fn references_must_land_on_the_referenced_resources_row() {
        let owner = RowOwner::Resource(r("tenant-a", "prod", "uid"));
        assert!(managed_by(Some(&owner), "tenant-a", "prod"));
        assert!(!managed_by(Some(&owner), "tenant-b", "prod"));
        assert!(!managed_by(Some(&owner), "tenant-a", "other"));
        assert!(!managed_by(Some(&RowOwner::Api), "tenant-a", "prod"));
        assert!(!managed_by(None, "tenant-a", "prod"));
    }
}
