//! `Environment` → the `environments` row, through the store (the same
//! repository functions the Environment API uses).

use std::sync::Arc;
use std::time::Instant;

use kube::runtime::controller::Action;
use kube::runtime::finalizer::{finalizer, Event};
use kube::{Api, ResourceExt};
use serde_json::json;
use tollgate_store::model::{ConfigServer, Environment as Row, ManagedRow};
use tollgate_store::StoreError;

use crate::conditions::Outcome;
use crate::context::{namespace, Context, Error, Result, FINALIZER};
use crate::crd::{Environment, EnvironmentSpec};
use crate::ownership::{self, Gate};

/// The row id of an environment resource: `spec.id`, else its name.
pub fn row_id(env: &Environment) -> String {
    env.spec.id.clone().unwrap_or_else(|| env.name_any())
}

/// The row the resource asks for (version and times are the store's).
pub fn desired(id: &str, spec: &EnvironmentSpec, password: Option<String>) -> Result<Row> {
    let port = |field: &str, p: i32| {
        u16::try_from(p)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| Error::Invalid(format!("{field} must be a port from 1 to 65535")))
    };
    let config_servers = spec
        .config_servers
        .iter()
        .map(|c| {
            Ok(ConfigServer {
                primary_address: c.primary_address.trim().to_string(),
                primary_port: port("primaryPort", c.primary_port)?,
                backup_address: c.backup_address.clone(),
                backup_port: c.backup_port.map(|p| port("backupPort", p)).transpose()?,
                read_only: c.read_only,
                locations: c.locations.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Row {
        id: id.into(),
        username: spec.username.clone(),
        password,
        connection_protocol: spec.connection_protocol.clone(),
        local_timeout: spec.local_timeout,
        remote_timeout: spec.remote_timeout,
        tenant: spec.tenant.clone(),
        app_name: spec.app_name.clone(),
        trace_mode: spec.trace_mode.clone(),
        tls_enabled: spec.tls_enabled,
        config_servers,
        version: 0,
        created_at: 0,
        updated_at: 0,
    })
}

/// Whether the stored row already says what `want` says.
pub fn matches(stored: &Row, want: &Row) -> bool {
    Row {
        version: stored.version,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
        ..want.clone()
    } == *stored
}

pub async fn reconcile(obj: Arc<Environment>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let api: Api<Environment> = Api::namespaced(ctx.client.clone(), &namespace(&*obj)?);
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(env) => apply(&env, &ctx).await,
            Event::Cleanup(env) => cleanup(&env, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics.reconciled("Environment", started);
    result
}

async fn apply(env: &Environment, ctx: &Context) -> Result<Action> {
    let id = row_id(env);
    let previous = env.status.clone().unwrap_or_default().conditions;
    let outcome = write_row(env, &id, ctx).await?;
    ctx.report(env, &previous, &outcome, json!({ "id": id }))
        .await
}

async fn write_row(env: &Environment, id: &str, ctx: &Context) -> Result<Outcome> {
    let what = format!("environment {id}");
    let owner = match ownership::gate(ctx, ManagedRow::Environment, id, env, &what).await? {
        Gate::Write(owner) => owner,
        Gate::Stop(outcome) => return Ok(outcome),
    };
    let password = match &env.spec.password_secret_ref {
        None => None,
        Some(r) => match ctx.secret_value(&namespace(env)?, r).await? {
            Some(p) => Some(p),
            None => {
                return Ok(Outcome::Stalled {
                    reason: "SecretNotFound".into(),
                    message: format!("Secret {} (key {}) not found", r.name, r.key),
                })
            }
        },
    };
    let want = match desired(id, &env.spec, password) {
        Ok(want) => want,
        Err(Error::Invalid(message)) => {
            return Ok(Outcome::Stalled {
                reason: "Invalid".into(),
                message,
            })
        }
        Err(e) => return Err(e),
    };
    match ctx.db.get_environment(id).await? {
        None => {
            ctx.db.create_environment_as(&want, &owner).await?;
            ctx.event(env, false, "Created", format!("environment {id} created"))
                .await;
        }
        Some(stored) if matches(&stored, &want) => {}
        Some(stored) => {
            ctx.db
                .update_environment(&Row {
                    version: stored.version,
                    ..want
                })
                .await?;
            ctx.event(env, false, "Updated", format!("environment {id} updated"))
                .await;
        }
    }
    Ok(Outcome::Ready {
        message: format!("environment {id} is in the database"),
    })
}

async fn cleanup(env: &Environment, ctx: &Context) -> Result<Action> {
    let id = row_id(env);
    if !ownership::release(ctx, ManagedRow::Environment, &id, env).await? {
        return Ok(Action::await_change());
    }
    match ctx.db.delete_environment(&id, false).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(Action::await_change()),
        Err(StoreError::InUse { detail, .. }) => {
            // Kept, with its finalizer (an error keeps it), until its contact
            // centers are gone; the status says why.
            let message = format!("environment {id} is still used by {detail}");
            let previous = env.status.clone().unwrap_or_default().conditions;
            let outcome = Outcome::Stalled {
                reason: "InUse".into(),
                message: message.clone(),
            };
            ctx.report(env, &previous, &outcome, json!({ "id": id }))
                .await?;
            Err(Error::Blocked(message))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ConfigServerSpec;

    fn spec() -> EnvironmentSpec {
        serde_json::from_value(json!({
            "username": "svc",
            "configServers": [{"primaryAddress": " cs1.example ", "primaryPort": 8888}]
        }))
        .unwrap()
    }

    #[test]
    fn desired_row_takes_the_original_defaults() {
        let row = desired("env1", &spec(), Some("pw".into())).unwrap();
        assert_eq!(row.id, "env1");
        assert_eq!(row.password.as_deref(), Some("pw"));
        assert_eq!(row.connection_protocol, "addp");
        assert_eq!((row.local_timeout, row.remote_timeout), (60, 90));
        assert_eq!(row.tenant, "Environment");
        assert_eq!(row.app_name, "Cloud");
        assert_eq!(row.trace_mode, "CFGTMBoth");
        assert_eq!(row.config_servers[0].primary_address, "cs1.example");
        assert_eq!(row.config_servers[0].primary_port, 8888);
    }

    #[test]
    fn a_bad_port_is_reported_not_panicked_on() {
        let mut s = spec();
        s.config_servers.push(ConfigServerSpec {
            primary_address: "x".into(),
            primary_port: 70_000,
            backup_address: None,
            backup_port: None,
            read_only: false,
            locations: String::new(),
        });
        assert!(matches!(desired("e", &s, None), Err(Error::Invalid(_))));
    }

    #[test]
    fn drift_is_detected_and_bookkeeping_is_not() {
        let want = desired("e", &spec(), None).unwrap();
        let stored = Row {
            version: 7,
            created_at: 1,
            updated_at: 2,
            ..want.clone()
        };
        assert!(matches(&stored, &want));
        let edited = Row {
            tenant: "changed by hand".into(),
            ..stored
        };
        assert!(!matches(&edited, &want));
    }
}
