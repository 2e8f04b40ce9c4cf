//! An LDAP / Active Directory configuration of a contact center.

use crate::model::{LdapAttributes, LdapBind, LdapDirectoryConfig};

pub const DEFAULT_USER_FILTER: &str = "(uid={username})";
pub const DEFAULT_GROUP_FILTER: &str = "(member={dn})";
pub const DEFAULT_TIMEOUT_MS: i64 = 5_000;
pub const DEFAULT_POOL_SIZE: i64 = 4;
pub const TIMEOUT_MS: std::ops::RangeInclusive<i64> = 100..=60_000;
pub const POOL_SIZE: std::ops::RangeInclusive<i64> = 0..=64;

/// The attributes of inetOrgPerson: employeeNumber, givenName, sn, mail.
impl Default for LdapAttributes {
    fn default() -> Self {
        LdapAttributes {
            dbid: "employeeNumber".into(),
            first_name: "givenName".into(),
            last_name: "sn".into(),
            email: "mail".into(),
            properties: Vec::new(),
        }
    }
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// Checks everything that can be checked without connecting: URL schemes,
/// the CA's PEM, the bind settings, filters, bounds.
pub fn check_ldap_directory(c: &LdapDirectoryConfig) -> Result<(), String> {
    if c.urls.is_empty() {
        return Err("'urls' needs at least one URL".into());
    }
    if let Some(url) = c
        .urls
        .iter()
        .find(|u| !(u.starts_with("ldap://") || u.starts_with("ldaps://")))
    {
        return Err(format!("urls: '{url}' is not an ldap:// or ldaps:// URL"));
    }
    match &c.bind {
        LdapBind::Direct { template } => {
            if blank(template) {
                return Err("'bindDnTemplate' is required".into());
            }
            if !template.contains("{username}") {
                return Err("'bindDnTemplate' must contain {username}".into());
            }
        }
        LdapBind::SearchThenBind {
            service_dn,
            service_password,
        } => {
            if service_password.is_empty() {
                return Err("'bindPassword' must not be empty".into());
            }
            if blank(service_dn) {
                return Err("'serviceDn' is required".into());
            }
        }
    }
    if !c.user_filter.contains("{username}") {
        return Err("'userFilter' must contain {username}".into());
    }
    if !TIMEOUT_MS.contains(&c.timeout_ms) {
        return Err("'timeoutMs' must be from 100 to 60000".into());
    }
    if !POOL_SIZE.contains(&c.pool_size) {
        return Err("'poolSize' must be from 0 to 64".into());
    }
    if let Some(g) = c
        .group_authorities
        .iter()
        .find(|g| blank(&g.group) || blank(&g.authority))
    {
        return Err(format!(
            "groupAuthorities: group '{}' needs a group and an authority",
            g.group
        ));
    }
    if blank(&c.base_dn) {
        return Err("'baseDn' is required".into());
    }
    if let Some(pem) = &c.ca_pem {
        check_ca_pem(pem)?;
    }
    Ok(())
}

/// The CA must be one or more certificates a TLS client can trust.
fn check_ca_pem(pem: &str) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("caCertificate: {e}"))?;
        roots.add(cert).map_err(|e| format!("caCertificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("caCertificate: no certificate in the PEM".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LdapGroupAuthority;

    fn config() -> LdapDirectoryConfig {
        LdapDirectoryConfig {
            contact_center_id: "cc".into(),
            urls: vec!["ldaps://ldap.example:636".into()],
            start_tls: false,
            ca_pem: None,
            bind: LdapBind::Direct {
                template: "uid={username},ou=people,dc=example".into(),
            },
            base_dn: "dc=example".into(),
            user_filter: DEFAULT_USER_FILTER.into(),
            group_filter: DEFAULT_GROUP_FILTER.into(),
            attributes: LdapAttributes::default(),
            group_authorities: vec![],
            timeout_ms: DEFAULT_TIMEOUT_MS,
            pool_size: DEFAULT_POOL_SIZE,
            active_directory: false,
            version: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(check_ldap_directory(&config()), Ok(()));
        type Change = fn(&mut LdapDirectoryConfig);
        let cases: Vec<(Change, &str)> = vec![
            (|c| c.urls.clear(), "'urls'"),
            (|c| c.urls = vec!["http://x".into()], "urls: 'http://x'"),
            (
                |c| {
                    c.bind = LdapBind::Direct {
                        template: "uid=x".into(),
                    }
                },
                "'bindDnTemplate' must contain",
            ),
            (
                |c| {
                    c.bind = LdapBind::SearchThenBind {
                        service_dn: "cn=svc".into(),
                        service_password: String::new(),
                    }
                },
                "'bindPassword'",
            ),
            (
                |c| {
                    c.bind = LdapBind::SearchThenBind {
                        service_dn: " ".into(),
                        service_password: "pw".into(),
                    }
                },
                "'serviceDn'",
            ),
            (|c| c.user_filter = "(uid=x)".into(), "'userFilter'"),
            (|c| c.timeout_ms = 99, "'timeoutMs'"),
            (|c| c.pool_size = 65, "'poolSize'"),
            (
                |c| {
                    c.group_authorities = vec![LdapGroupAuthority {
                        group: "admins".into(),
                        authority: " ".into(),
                    }]
                },
                "groupAuthorities",
            ),
            (|c| c.base_dn = String::new(), "'baseDn'"),
            (|c| c.ca_pem = Some("not a PEM".into()), "caCertificate"),
        ];
        for (change, field) in cases {
            let mut c = config();
            change(&mut c);
            let err = check_ldap_directory(&c).expect_err(field);
            assert!(err.contains(field), "{err} should name {field}");
        }
    }
}
