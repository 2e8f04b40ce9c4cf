//! `ContactCenter` → the `contact_centers` row and its CORS origins through
//! the store, then the optional parts (`part.rs`): its LDAP directory
//! (`directory.rs`), its OpenID provider (`oidc_provider.rs`), its SAML
//! service provider (`saml.rs`), and its trusted issuers
//! (`trusted_issuers.rs`). The referenced `Environment` must exist and be in
//! the database; until then the status says so and the reconcile is retried.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Api, ResourceExt};
use tollgate_store::model::{
    AuthScheme, ContactCenter as Row, ManagedRow, RowOwner, SecondFactorPolicy,
};
use tollgate_store::StoreError;

use super::directory::Directory;
use super::oidc_provider::OidcProvider;
use super::part::sync_optional;
use super::saml::Saml;
use super::trusted_issuers;
use crate::conditions::Outcome;
use crate::context::{namespace, Context, Error, Result, Step, Stop};
use crate::crd::{ContactCenter, ContactCenterSpec, Environment};
use crate::ownership;
use crate::rows::RowResource;

/// The row id of a contact-center resource: `spec.id`, else its name.
pub fn row_id(cc: &ContactCenter) -> String {
    cc.spec.id.clone().unwrap_or_else(|| cc.name_any())
}

/// The row the resource asks for, given the referenced environment's row id.
pub fn desired(id: &str, spec: &ContactCenterSpec, environment_id: &str) -> Result<Row> {
    let auth = AuthScheme::parse(&spec.auth)
        .ok_or_else(|| Error::Invalid(format!("auth '{}' is not a known scheme", spec.auth)))?;
    let second_factor = SecondFactorPolicy::parse(&spec.second_factor).ok_or_else(|| {
        Error::Invalid(format!(
            "secondFactor '{}' must be off, optional or required",
            spec.second_factor
        ))
    })?;
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
        second_factor,
        enabled: spec.enabled,
        version: 0,
        created_at: 0,
        updated_at: 0,
    })
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

impl RowResource for ContactCenter {
    const ROW: ManagedRow = ManagedRow::ContactCenter;
    type Row = Row;

    fn row_id(&self) -> String {
        row_id(self)
    }

    fn conditions(&self) -> Vec<Condition> {
        self.status.clone().unwrap_or_default().conditions
    }

    async fn wanted(&self, id: &str, _stored: Option<&Row>, ctx: &Context) -> Step<Row> {
        let environment_id = environment_row(self, ctx).await?;
        desired(id, &self.spec, &environment_id).map_err(Stop::invalid)
    }

    async fn read(ctx: &Context, id: &str) -> Result<Option<Row>> {
        Ok(ctx.db.get_contact_center(id).await?)
    }

    async fn create(ctx: &Context, row: &Row, owner: &RowOwner) -> Result<(), StoreError> {
        ctx.db.create_contact_center_as(row, owner).await.map(drop)
    }

    async fn update(ctx: &Context, row: &Row) -> Result<(), StoreError> {
        ctx.db.update_contact_center(row).await.map(drop)
    }

    async fn delete(ctx: &Context, id: &str) -> Result<(), StoreError> {
        ctx.db.delete_contact_center(id).await
    }

    fn write_refused(err: &StoreError) -> Option<Outcome> {
        match err {
            StoreError::Duplicate { detail, .. } => Some(Outcome::Stalled {
                reason: "DomainTaken".into(),
                message: format!("{detail} by another contact center"),
            }),
            _ => None,
        }
    }

    async fn after_write(&self, id: &str, ctx: &Context) -> Step<()> {
        sync_origins(self, id, ctx).await?;
        // Every part is brought in line even when another one is not.
        let directory = sync_optional::<Directory>(self, id, ctx).await?;
        let oidc = sync_optional::<OidcProvider>(self, id, ctx).await?;
        let saml = sync_optional::<Saml>(self, id, ctx).await?;
        let issuers = trusted_issuers::sync(self, id, ctx).await?;
        match directory.or(oidc).or(saml).or(issuers) {
            Some(outcome) => Err(Stop::Report(outcome)),
            None => Ok(()),
        }
    }
}

/// The row id of the referenced Environment, once it is in the database
/// and managed by that Environment.
async fn environment_row(cc: &ContactCenter, ctx: &Context) -> Step<String> {
    let ns = namespace(cc)?;
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
        let elsewhere = if env_ns == ns {
            String::new()
        } else {
            format!(" in namespace {env_ns}, or not shared with this namespace")
        };
        return Err(Stop::stalled(
            "EnvironmentNotFound",
            format!(
                "Environment {} not found{elsewhere}",
                cc.spec.environment_ref
            ),
        ));
    };
    let environment_id = crate::environment::row_id(&env);
    let reference = ownership::Reference {
        row: ManagedRow::Environment,
        id: &environment_id,
        kind: "Environment",
        namespace: &env_ns,
        name: &env.name_any(),
        not_ready: "EnvironmentNotReady",
    };
    match ownership::check_reference(ctx, &reference).await? {
        Some(outcome) => Err(Stop::Report(outcome)),
        None => Ok(environment_id),
    }
}

/// Makes the stored CORS origins equal the spec's.
async fn sync_origins(cc: &ContactCenter, id: &str, ctx: &Context) -> Result<()> {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert_eq!(row.second_factor, SecondFactorPolicy::Off);
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
