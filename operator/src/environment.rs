//! `Environment` → the `environments` row, through the store (the same
//! repository functions the Environment API uses).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use tollgate_store::model::{ConfigServer, Environment as Row, ManagedRow, RowOwner};
use tollgate_store::StoreError;

use crate::context::{namespace, Context, Empty, Error, Result, Step, Stop};
use crate::crd::{Environment, EnvironmentSpec};
use crate::rows::RowResource;

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

impl RowResource for Environment {
    const ROW: ManagedRow = ManagedRow::Environment;
    const CREATED: (&'static str, &'static str) = ("Created", "created");
    const UPDATED: (&'static str, &'static str) = ("Updated", "updated");
    type Row = Row;

    fn row_id(&self) -> String {
        row_id(self)
    }

    fn conditions(&self) -> Vec<Condition> {
        self.status.clone().unwrap_or_default().conditions
    }

    async fn wanted(&self, id: &str, _stored: Option<&Row>, ctx: &Context) -> Step<Row> {
        let password = match &self.spec.password_secret_ref {
            None => None,
            Some(r) => Some(
                ctx.required_secret(&namespace(self)?, r, "SecretNotFound", Empty::Accepted)
                    .await?,
            ),
        };
        desired(id, &self.spec, password).map_err(Stop::invalid)
    }

    async fn read(ctx: &Context, id: &str) -> Result<Option<Row>> {
        Ok(ctx.db.get_environment(id).await?)
    }

    async fn create(ctx: &Context, row: &Row, owner: &RowOwner) -> Result<(), StoreError> {
        ctx.db.create_environment_as(row, owner).await.map(drop)
    }

    async fn update(ctx: &Context, row: &Row) -> Result<(), StoreError> {
        ctx.db.update_environment(row).await.map(drop)
    }

    async fn delete(ctx: &Context, id: &str) -> Result<(), StoreError> {
        ctx.db.delete_environment(id, false).await
    }

    fn in_use(id: &str, err: &StoreError) -> Option<String> {
        match err {
            StoreError::InUse { detail, .. } => {
                Some(format!("environment {id} is still used by {detail}"))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ConfigServerSpec;
    use crate::rows::matches;
    use serde_json::json;

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
