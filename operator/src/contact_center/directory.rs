//! `spec.directory` → the contact center's LDAP directory in the store. The
//! bind password and the CA may come from a Secret or ConfigMap; the record
//! is checked by the same rules as the Environment API's, and the service
//! password is sealed by the store. The resource owns the directory: without
//! `spec.directory` any stored one is removed.

use tollgate_store::model::{
    LdapAttributes, LdapBind, LdapDirectoryConfig, LdapGroupAuthority, LdapProperty,
};
use tollgate_store::validate::check_ldap_directory;
use tollgate_store::StoreError;

use super::part::Part;
use crate::context::{namespace, Context, Empty, Result, Step, Stop};
use crate::crd::{ContactCenter, DirectorySpec};

/// The record `spec` asks for, once the Secret and ConfigMap values are
/// read: `password` for searchThenBind, `ca_pem` when a CA is configured.
pub fn desired(
    id: &str,
    spec: &DirectorySpec,
    password: Option<String>,
    ca_pem: Option<String>,
) -> Result<LdapDirectoryConfig, String> {
    let bind = match spec.bind_mode.as_str() {
        "direct" => LdapBind::Direct {
            template: spec.bind_dn_template.clone().unwrap_or_default(),
        },
        "searchThenBind" => LdapBind::SearchThenBind {
            service_dn: spec.service_dn.clone().unwrap_or_default(),
            service_password: password.unwrap_or_default(),
        },
        other => {
            return Err(format!(
                "bindMode '{other}' must be direct or searchThenBind"
            ))
        }
    };
    let a = &spec.attributes;
    let record = LdapDirectoryConfig {
        contact_center_id: id.into(),
        urls: spec.urls.clone(),
        start_tls: spec.start_tls,
        ca_pem: ca_pem.filter(|p| !p.trim().is_empty()),
        bind,
        base_dn: spec.base_dn.clone(),
        user_filter: spec.user_filter.clone(),
        group_filter: spec.group_filter.clone(),
        attributes: LdapAttributes {
            dbid: a.dbid.clone(),
            first_name: a.first_name.clone(),
            last_name: a.last_name.clone(),
            email: a.email.clone(),
            properties: a
                .properties
                .iter()
                .map(|p| LdapProperty {
                    attribute: p.attribute.clone(),
                    property: p.property.clone(),
                })
                .collect(),
        },
        group_authorities: spec
            .group_authorities
            .iter()
            .map(|g| LdapGroupAuthority {
                group: g.group.clone(),
                authority: g.authority.clone(),
            })
            .collect(),
        timeout_ms: spec.timeout_ms,
        pool_size: spec.pool_size,
        active_directory: spec.active_directory,
        version: 0,
        created_at: 0,
        updated_at: 0,
    };
    check_ldap_directory(&record)?;
    Ok(record)
}

/// The contact center's LDAP directory, for [`sync_optional`](super::part::sync_optional).
pub struct Directory;

impl Part for Directory {
    type Spec = DirectorySpec;
    type Record = LdapDirectoryConfig;
    const NAME: &'static str = "LDAP directory";
    const REASON: &'static str = "Directory";
    const AUTH: &'static str = "ldap";
    const FIELD: &'static str = "spec.directory";

    fn spec(cc: &ContactCenter) -> Option<&DirectorySpec> {
        cc.spec.directory.as_ref()
    }

    async fn read(ctx: &Context, id: &str) -> Result<Option<LdapDirectoryConfig>> {
        Ok(ctx.db.get_ldap_directory(id).await?)
    }

    async fn wanted(
        cc: &ContactCenter,
        id: &str,
        spec: &DirectorySpec,
        _stored: Option<&LdapDirectoryConfig>,
        ctx: &Context,
    ) -> Step<LdapDirectoryConfig> {
        let ns = namespace(cc)?;
        let password = match (&spec.bind_mode[..], &spec.bind_password_secret_ref) {
            ("searchThenBind", Some(r)) => Some(
                ctx.required_secret(&ns, r, "BindPasswordSecretNotFound", Empty::Missing)
                    .await?,
            ),
            _ => None,
        };
        let ca_pem = ca_pem(spec, &ns, ctx).await?;
        desired(id, spec, password, ca_pem).map_err(|m| Stop::stalled("InvalidDirectory", m))
    }

    async fn put(ctx: &Context, record: &LdapDirectoryConfig) -> Result<(), StoreError> {
        ctx.db.put_ldap_directory(record).await.map(drop)
    }

    async fn delete(ctx: &Context, id: &str) -> Result<(), StoreError> {
        ctx.db.delete_ldap_directory(id).await
    }
}

/// The CA the spec names: inline, or from a ConfigMap or Secret key.
async fn ca_pem(spec: &DirectorySpec, ns: &str, ctx: &Context) -> Step<Option<String>> {
    const NOT_FOUND: &str = "CaCertificateNotFound";
    let from = match (&spec.ca_certificate, &spec.ca_certificate_from) {
        (Some(pem), _) => return Ok(Some(pem.clone())),
        (None, None) => return Ok(None),
        (None, Some(from)) => from,
    };
    match (&from.config_map_key_ref, &from.secret_key_ref) {
        (Some(r), None) => Ok(Some(ctx.required_config_map(ns, r, NOT_FOUND).await?)),
        (None, Some(r)) => Ok(Some(
            ctx.required_secret(ns, r, NOT_FOUND, Empty::Accepted)
                .await?,
        )),
        _ => Err(Stop::stalled(
            "InvalidDirectory",
            "caCertificateFrom takes exactly one of configMapKeyRef and secretKeyRef".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> DirectorySpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn search_then_bind_takes_the_secret_and_the_store_defaults() {
        let s = spec(json!({
            "urls": ["ldaps://ldap.example:636"],
            "bindMode": "searchThenBind",
            "serviceDn": "cn=reader,dc=example",
            "bindPasswordSecretRef": {"name": "ldap", "key": "password"},
            "baseDn": "dc=example",
            "groupAuthorities": [{"group": "agents", "authority": "ROLE_AGENT"}]
        }));
        let row = desired("cc", &s, Some("pw".into()), None).unwrap();
        assert_eq!(
            row.bind,
            LdapBind::SearchThenBind {
                service_dn: "cn=reader,dc=example".into(),
                service_password: "pw".into()
            }
        );
        assert_eq!(row.user_filter, "(uid={username})");
        assert_eq!(row.timeout_ms, 5_000);
        assert_eq!(row.attributes, LdapAttributes::default());
        assert_eq!(row.group_authorities[0].authority, "ROLE_AGENT");
    }

    #[test]
    fn the_store_rules_refuse_what_the_schema_lets_through() {
        let s = spec(json!({
            "urls": ["ldap://ldap.example"],
            "bindMode": "direct",
            "bindDnTemplate": "uid={username},dc=example",
            "baseDn": "dc=example"
        }));
        assert!(desired("cc", &s, None, None).is_ok());
        let err = desired("cc", &s, None, Some("not a PEM".into())).unwrap_err();
        assert!(err.contains("caCertificate"), "{err}");
        let mut bad = s.clone();
        bad.bind_mode = "anonymous".into();
        assert!(desired("cc", &bad, None, None).is_err());
    }
}
