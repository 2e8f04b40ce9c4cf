//! `ContactCenter` → the `contact_centers` row, its CORS origins, its LDAP
//! directory (`directory.rs`), its OpenID provider (`oidc_provider.rs`), its
//! SAML service provider (`saml.rs`) and trusted issuers (`trusted_issuers.rs`), through the store. The referenced `Environment` must exist and be in the
//! database; until then the status says so and the reconcile is retried.

mod directory;
mod oidc_provider;
mod saml;
mod trusted_issuers;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use kube::runtime::controller::Action;
use kube::runtime::finalizer::{finalizer, Event};
use kube::{Api, ResourceExt};
use serde_json::json;
use tollgate_store::model::{AuthScheme, ContactCenter as Row, ManagedRow};
use tollgate_store::StoreError;

use crate::conditions::Outcome;
use crate::context::{namespace, Context, Error, Result, FINALIZER};
use crate::crd::{ContactCenter, ContactCenterSpec, Environment};
use crate::ownership::{self, Gate};

/// The row id of a contact-center resource: `spec.id`, else its name.
pub fn row_id(cc: &ContactCenter) -> String {
    cc.spec.id.clone().unwrap_or_else(|| cc.name_any())
}

/// The row the resource asks for, given the referenced environment's row id.
pub fn desired(id: &str, spec: &ContactCenterSpec, environment_id: &str) -> Result<Row> {
    let auth = AuthScheme::parse(&spec.auth)
        .ok_or_else(|| Error::Invalid(format!("auth '{}' is not a known scheme", spec.auth)))?;
    let first = spec
        .domains
        .first()
        .ok_or_else(|| Error::Invalid("domains must list at least one domain".into()))?;
    Ok(Row {
        id: id.into(),
        name: spec.name.clone().unwrap_or_else(|| first.clone()),
        domains: spec.domains.clone(),
        environment_id: environment_id.into(),
        auth,
        enabled: spec.enabled,
        version: 0,
        created_at: 0,
        updated_at: 0,
    })
}

pub fn matches(stored: &Row, want: &Row) -> bool {
    Row {
        version: stored.version,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
        ..want.clone()
    } == *stored
}

/// An origin as browsers send it: scheme and host lower-case, default port
/// dropped (the form the store keeps).
pub fn normalize_origin(origin: &str) -> String {
    let lower = origin.trim().to_ascii_lowercase();
    for (scheme, port) in [("https://", ":443"), ("http://", ":80")] {
        if lower.starts_with(scheme) {
            if let Some(stripped) = lower.strip_suffix(port) {
                return stripped.to_string();
            }
        }
    }
    lower
}

/// Origins to add and to remove so the stored set equals the wanted one.
pub fn origin_changes(stored: &[String], wanted: &[String]) -> (Vec<String>, Vec<String>) {
    let want: BTreeSet<String> = wanted.iter().map(|o| normalize_origin(o)).collect();
    let have: BTreeSet<String> = stored.iter().cloned().collect();
    (
        want.difference(&have).cloned().collect(),
        have.difference(&want).cloned().collect(),
    )
}

pub async fn reconcile(obj: Arc<ContactCenter>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let api: Api<ContactCenter> = Api::namespaced(ctx.client.clone(), &namespace(&*obj)?);
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(cc) => apply(&cc, &ctx).await,
            Event::Cleanup(cc) => cleanup(&cc, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics.reconciled("ContactCenter", started);
    result
}

async fn apply(cc: &ContactCenter, ctx: &Context) -> Result<Action> {
    let id = row_id(cc);
    let previous = cc.status.clone().unwrap_or_default().conditions;
    let outcome = write_row(cc, &id, ctx).await?;
    ctx.report(cc, &previous, &outcome, json!({ "id": id }))
        .await
}

async fn write_row(cc: &ContactCenter, id: &str, ctx: &Context) -> Result<Outcome> {
    let ns = namespace(cc)?;
    let what = format!("contact center {id}");
    let owner = match ownership::gate(ctx, ManagedRow::ContactCenter, id, cc, &what).await? {
        Gate::Write(owner) => owner,
        Gate::Stop(outcome) => return Ok(outcome),
    };
    let env_ns = cc
        .spec
        .environment_namespace
        .clone()
        .unwrap_or_else(|| ns.clone());
    let envs: Api<Environment> = Api::namespaced(ctx.client.clone(), &env_ns);
    let env = envs.get_opt(&cc.spec.environment_ref).await?;
    // Another namespace's Environment counts only when it is shared with
    // this one; until then it is as good as missing.
    let Some(env) =
        env.filter(|e| ownership::may_reference(&ns, &env_ns, &e.spec.shared_with_namespaces))
    else {
        return Ok(Outcome::Stalled {
            reason: "EnvironmentNotFound".into(),
            message: format!(
                "Environment {} not found{}",
                cc.spec.environment_ref,
                if env_ns == ns {
                    String::new()
                } else {
                    format!(" in namespace {env_ns}, or not shared with this namespace")
                }
            ),
        });
    };
    let environment_id = crate::environment::row_id(&env);
    let env_name = env.name_any();
    let reference = ownership::Reference {
        row: ManagedRow::Environment,
        id: &environment_id,
        kind: "Environment",
        namespace: &env_ns,
        name: &env_name,
        not_ready: "EnvironmentNotReady",
    };
    if let Some(outcome) = ownership::check_reference(ctx, &reference).await? {
        return Ok(outcome);
    }
    let want = match desired(id, &cc.spec, &environment_id) {
        Ok(want) => want,
        Err(Error::Invalid(message)) => {
            return Ok(Outcome::Stalled {
                reason: "Invalid".into(),
                message,
            })
        }
        Err(e) => return Err(e),
    };
    let written = match ctx.db.get_contact_center(id).await? {
        None => ctx
            .db
            .create_contact_center_as(&want, &owner)
            .await
            .map(Some),
        Some(stored) if matches(&stored, &want) => Ok(None),
        Some(stored) => ctx
            .db
            .update_contact_center(&Row {
                version: stored.version,
                ..want
            })
            .await
            .map(Some),
    };
    match written {
        Ok(Some(_)) => {
            ctx.event(cc, false, "Written", format!("contact center {id} written"))
                .await;
        }
        Ok(None) => {}
        Err(StoreError::Duplicate { detail, .. }) => {
            return Ok(Outcome::Stalled {
                reason: "DomainTaken".into(),
                message: format!("{detail} by another contact center"),
            })
        }
        Err(e) => return Err(e.into()),
    }
    let stored: Vec<String> = ctx
        .db
        .list_cors_origins(Some(id))
        .await?
        .into_iter()
        .map(|o| o.origin)
        .collect();
    let (add, remove) = origin_changes(&stored, &cc.spec.settings.cors_origins);
    for origin in &add {
        ctx.db.add_cors_origin(id, origin).await?;
    }
    for origin in &remove {
        ctx.db.delete_cors_origin(id, origin).await?;
    }
    // Every part is brought in line even when another one is not.
    let directory = directory::sync(cc, id, ctx).await?;
    let oidc = oidc_provider::sync(cc, id, ctx).await?;
    let saml = saml::sync(cc, id, ctx).await?;
    let issuers = trusted_issuers::sync(cc, id, ctx).await?;
    Ok(directory
        .or(oidc)
        .or(saml)
        .or(issuers)
        .unwrap_or(Outcome::Ready {
            message: format!("contact center {id} is in the database"),
        }))
}

async fn cleanup(cc: &ContactCenter, ctx: &Context) -> Result<Action> {
    let id = row_id(cc);
    if !ownership::release(ctx, ManagedRow::ContactCenter, &id, cc).await? {
        return Ok(Action::await_change());
    }
    match ctx.db.delete_contact_center(&id).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContactCenterSpec {
        serde_json::from_value(json!({
            "environmentRef": "prod",
            "domains": ["acme", "acme.example"],
            "settings": {"corsOrigins": ["HTTPS://App.Acme.Example:443"]}
        }))
        .unwrap()
    }

    #[test]
    fn desired_row_from_the_spec() {
        let row = desired("cc1", &spec(), "env1").unwrap();
        assert_eq!(row.name, "acme", "name defaults to the first domain");
        assert_eq!(row.environment_id, "env1");
        assert_eq!(row.auth, AuthScheme::ConfigServer);
        assert!(row.enabled);
    }

    #[test]
    fn unknown_auth_is_reported() {
        let mut s = spec();
        s.auth = "kerberos".into();
        assert!(matches!(desired("c", &s, "e"), Err(Error::Invalid(_))));
    }

    #[test]
    fn origins_are_reconciled_as_a_set() {
        let stored = vec![
            "https://old.example".to_string(),
            "https://keep.example".into(),
        ];
        let wanted = vec![
            "https://keep.example".to_string(),
            "HTTP://New.Example:80".into(),
        ];
        let (add, remove) = origin_changes(&stored, &wanted);
        assert_eq!(add, vec!["http://new.example".to_string()]);
        assert_eq!(remove, vec!["https://old.example".to_string()]);
        assert_eq!(
            normalize_origin("HTTPS://App.Acme.Example:443"),
            "https://app.acme.example"
        );
        assert_eq!(
            normalize_origin("https://a.example:8443"),
            "https://a.example:8443"
        );
    }
}
