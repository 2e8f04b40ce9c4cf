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

use crate::conditions::Outcome;
use crate::context::{namespace, Context, Result};
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

/// Whether the stored record already is `want` (bookkeeping aside).
pub fn matches(stored: &LdapDirectoryConfig, want: &LdapDirectoryConfig) -> bool {
    LdapDirectoryConfig {
        version: stored.version,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
        ..want.clone()
    } == *stored
}

fn stalled(reason: &str, message: String) -> Option<Outcome> {
    Some(Outcome::Stalled {
        reason: reason.into(),
        message,
    })
}

/// Brings the stored directory in line with the spec. `Some` says why the
/// contact center is not Ready.
pub async fn sync(cc: &ContactCenter, id: &str, ctx: &Context) -> Result<Option<Outcome>> {
    let stored = ctx.db.get_ldap_directory(id).await?;
    let Some(spec) = &cc.spec.directory else {
        if stored.is_some() {
            match ctx.db.delete_ldap_directory(id).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            ctx.event(
                cc,
                false,
                "DirectoryRemoved",
                format!("LDAP directory of {id} removed"),
            )
            .await;
        }
        return Ok(if cc.spec.auth == "ldap" {
            stalled(
                "DirectoryMissing",
                "auth is ldap but spec.directory is not set; sign-ins answer 503 until it is"
                    .into(),
            )
        } else {
            None
        });
    };
    let ns = namespace(cc)?;
    let password = match (&spec.bind_mode[..], &spec.bind_password_secret_ref) {
        ("searchThenBind", Some(r)) => match ctx.secret_value(&ns, r).await? {
            Some(p) if !p.is_empty() => Some(p),
            _ => {
                return Ok(stalled(
                    "BindPasswordSecretNotFound",
                    format!("Secret {} (key {}) not found or empty", r.name, r.key),
                ))
            }
        },
        _ => None,
    };
    let ca_pem = match (&spec.ca_certificate, &spec.ca_certificate_from) {
        (Some(pem), _) => Some(pem.clone()),
        (None, Some(from)) => {
            let (kind, name, key, value) =
                match (&from.config_map_key_ref, &from.secret_key_ref) {
                    (Some(r), None) => (
                        "ConfigMap",
                        &r.name,
                        &r.key,
                        ctx.config_map_value(&ns, r).await?,
                    ),
                    (None, Some(r)) => ("Secret", &r.name, &r.key, ctx.secret_value(&ns, r).await?),
                    _ => return Ok(stalled(
                        "InvalidDirectory",
                        "caCertificateFrom takes exactly one of configMapKeyRef and secretKeyRef"
                            .into(),
                    )),
                };
            match value {
                Some(pem) => Some(pem),
                None => {
                    return Ok(stalled(
                        "CaCertificateNotFound",
                        format!("{kind} {name} (key {key}) not found"),
                    ))
                }
            }
        }
        (None, None) => None,
    };
    let mut want = match desired(id, spec, password, ca_pem) {
        Ok(want) => want,
        Err(message) => return Ok(stalled("InvalidDirectory", message)),
    };
    if stored.as_ref().is_some_and(|s| matches(s, &want)) {
        return Ok(None);
    }
    want.version = stored.map_or(0, |s| s.version);
    ctx.db.put_ldap_directory(&want).await?;
    ctx.event(
        cc,
        false,
        "DirectoryWritten",
        format!("LDAP directory of {id} written"),
    )
    .await;
    Ok(None)
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
