//! LDAP and Active Directory: users checked by binding as them, either
//! directly (a DN or UPN template) or after a search with a service account
//! (search-then-bind). LDAPS or StartTLS with a configured CA, timeouts on
//! every step, a small pool of service-account connections, groups mapped to
//! authorities, password change by the RFC 3062 Password Modify operation
//! (OpenLDAP) or `unicodePwd` (Active Directory), and expired or locked
//! accounts told apart from wrong passwords (the ppolicy response control of
//! OpenLDAP, the bind "data" codes of Active Directory).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ldap3::controls::RawControl;
use ldap3::exop::PasswordModify;
use ldap3::{dn_escape, ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, LdapResult};
use ldap3::{Mod, Scope, SearchEntry, StdStream};
use tokio::sync::Mutex;
use tollgate_store::model::{ContactCenter, LdapBind, LdapDirectoryConfig};

use crate::directory::password_policy::PolicyViolation;
use crate::directory::{Directory, DirectoryError, DirectoryUser};

/// OID of the password policy request and response control
/// (draft-behera-ldap-password-policy), answered by OpenLDAP's ppolicy overlay.
const PPOLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
const RC_SUCCESS: u32 = 0;
const RC_INVALID_CREDENTIALS: u32 = 49;
const RC_CONSTRAINT_VIOLATION: u32 = 19;
const RC_UNWILLING_TO_PERFORM: u32 = 53;
/// How long a caller should wait after the directory did not answer.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// How users are bound.
#[derive(Debug, Clone)]
pub enum BindMode {
    /// Bind with the template's `{username}` replaced (DN-escaped):
    /// `uid={username},ou=people,dc=example,dc=org`, or AD's `{username}@corp`.
    Direct { template: String },
    /// Find the user's DN with the service account, then bind as it.
    SearchThenBind {
        service_dn: String,
        service_password: String,
    },
}

/// Which attributes fill the user record.
#[derive(Debug, Clone)]
pub struct AttributeMap {
    pub dbid: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// `(attribute, property name)` pairs copied into the user's properties.
    pub properties: Vec<(String, String)>,
}

impl Default for AttributeMap {
    fn default() -> Self {
        AttributeMap {
            dbid: "employeeNumber".into(),
            first_name: "givenName".into(),
            last_name: "sn".into(),
            email: "mail".into(),
            properties: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// Tried in order until one answers: `ldap://` or `ldaps://`.
    pub urls: Vec<String>,
    pub start_tls: bool,
    /// PEM of the CA that signed the server's certificate; absent: the
    /// system's roots.
    pub ca_pem: Option<String>,
    pub bind: BindMode,
    /// Where users (and groups) are searched.
    pub base_dn: String,
    /// Finds one user; `{username}` is replaced (filter-escaped).
    pub user_filter: String,
    /// Finds the user's groups; `{dn}` is the user's DN (filter-escaped).
    pub group_filter: String,
    pub attributes: AttributeMap,
    /// Group DN or CN (ignoring case) → authority.
    pub group_authorities: Vec<(String, String)>,
    /// Bound on connecting and on each operation.
    pub timeout: Duration,
    /// Idle service-account connections kept.
    pub pool_size: usize,
    /// Active Directory: passwords change through `unicodePwd`.
    pub active_directory: bool,
}

impl From<&LdapDirectoryConfig> for LdapConfig {
    /// The stored configuration of a contact center's directory.
    fn from(c: &LdapDirectoryConfig) -> Self {
        LdapConfig {
            urls: c.urls.clone(),
            start_tls: c.start_tls,
            ca_pem: c.ca_pem.clone(),
            bind: match &c.bind {
                LdapBind::Direct { template } => BindMode::Direct {
                    template: template.clone(),
                },
                LdapBind::SearchThenBind {
                    service_dn,
                    service_password,
                } => BindMode::SearchThenBind {
                    service_dn: service_dn.clone(),
                    service_password: service_password.clone(),
                },
            },
            base_dn: c.base_dn.clone(),
            user_filter: c.user_filter.clone(),
            group_filter: c.group_filter.clone(),
            attributes: AttributeMap {
                dbid: c.attributes.dbid.clone(),
                first_name: c.attributes.first_name.clone(),
                last_name: c.attributes.last_name.clone(),
                email: c.attributes.email.clone(),
                properties: c
                    .attributes
                    .properties
                    .iter()
                    .map(|p| (p.attribute.clone(), p.property.clone()))
                    .collect(),
            },
            group_authorities: c
                .group_authorities
                .iter()
                .map(|g| (g.group.clone(), g.authority.clone()))
                .collect(),
            timeout: Duration::from_millis(u64::try_from(c.timeout_ms).unwrap_or(0)),
            pool_size: usize::try_from(c.pool_size).unwrap_or(0),
            active_directory: c.active_directory,
        }
    }
}

pub struct LdapDirectory {
    config: LdapConfig,
    settings: LdapConnSettings,
    /// Idle service-account connections, already bound.
    pool: Mutex<Vec<Ldap>>,
    /// Which addresses the URLs may reach (resolved and checked before
    /// connecting); `None`: any.
    outbound: Option<Arc<crate::outbound::Policy>>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> DirectoryError {
    tracing::warn!(error = %e, "LDAP directory unavailable: {what}");
    DirectoryError::Unavailable {
        retry_after: RETRY_AFTER,
    }
}

/// A rustls client trusting exactly the configured CA.
pub(crate) fn tls_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("caCertificate: {e}"))?;
        roots.add(cert).map_err(|e| format!("caCertificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("caCertificate: no certificate in the PEM".into());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// What the ppolicy response control (or AD's bind message) says about the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccountState {
    Expired,
    Locked,
    MustChange,
}

/// The `error` field of a PasswordPolicyResponseValue:
/// `SEQUENCE { warning [0] ... OPTIONAL, error [1] ENUMERATED OPTIONAL }`.
fn ppolicy_state(res: &LdapResult) -> Option<AccountState> {
    let raw = res.ctrls.iter().find(|c| c.1.ctype == PPOLICY_OID)?;
    let value = raw.1.val.as_deref()?;
    let (_, tag) = lber::parse::parse_tag(value).ok()?;
    let lber::structure::PL::C(fields) = tag.payload else {
        return None;
    };
    let error = fields
        .iter()
        .find(|f| f.class == lber::common::TagClass::Context && f.id == 1)?;
    match &error.payload {
        lber::structure::PL::P(bytes) => match bytes.last()? {
            0 => Some(AccountState::Expired),
            1 => Some(AccountState::Locked),
            2 => Some(AccountState::MustChange),
            _ => None,
        },
        lber::structure::PL::C(_) => None,
    }
}

/// Active Directory names the reason of a failed bind in its message:
/// `... data 532, ...` (password expired), 773 (must reset), 533 (disabled),
/// 701 (account expired), 775 (locked out).
fn ad_state(text: &str) -> Option<AccountState> {
    let code = text.split("data ").nth(1)?.get(..3)?;
    match code {
        "532" => Some(AccountState::Expired),
        "773" => Some(AccountState::MustChange),
        "533" | "701" | "775" => Some(AccountState::Locked),
        _ => None,
    }
}

fn state_error(state: AccountState) -> DirectoryError {
    match state {
        AccountState::Expired | AccountState::MustChange => DirectoryError::PasswordExpired,
        AccountState::Locked => DirectoryError::Locked,
    }
}

/// The attributes the user filter compares with `{username}`, e.g. `uid` in
/// `(&(objectClass=person)(uid={username}))`.
fn name_attributes(user_filter: &str) -> Vec<String> {
    user_filter
        .match_indices("={username}")
        .filter_map(|(at, _)| {
            let before = &user_filter[..at];
            let start = before
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ';' || c == '.'))
                .map_or(0, |i| i + 1);
            let attr = &before[start..];
            (!attr.is_empty()).then(|| attr.to_string())
        })
        .collect()
}

/// The user's name as the directory spells it: the value of a name attribute
/// of the entry that matches what was typed (LDAP matched it leniently: case,
/// spaces, compatibility forms), so every variant signs in as one subject.
/// The typed name when the entry has none (a filter on other attributes).
fn canonical_name(user_filter: &str, typed: &str, entry: &SearchEntry) -> String {
    let wanted = crate::directory::names::fold(typed);
    let values: Vec<&String> = name_attributes(user_filter)
        .iter()
        .filter_map(|attr| {
            entry
                .attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        })
        .flat_map(|(_, v)| v.iter())
        .collect();
    values
        .iter()
        .find(|v| crate::directory::names::fold(v) == wanted)
        .or_else(|| values.first())
        .map_or_else(|| typed.to_string(), |v| v.to_string())
}

/// `{"\"password\""}` in UTF-16LE, as `unicodePwd` wants it.
fn unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

impl LdapDirectory {
    /// Fails with a message naming the bad setting.
    pub fn new(config: LdapConfig) -> Result<Self, String> {
        if config.urls.is_empty() {
            return Err("urls: at least one ldap:// or ldaps:// URL is required".into());
        }
        for url in &config.urls {
            if !(url.starts_with("ldap://") || url.starts_with("ldaps://")) {
                return Err(format!("urls: '{url}' is not an ldap:// or ldaps:// URL"));
            }
        }
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(config.timeout)
            .set_starttls(config.start_tls);
        // Without a CA of its own, the system's roots (ldap3's default).
        if let Some(pem) = &config.ca_pem {
            settings = settings.set_config(tls_config(pem)?);
        }
        Ok(LdapDirectory {
            config,
            settings,
            pool: Mutex::new(Vec::new()),
            outbound: None,
        })
    }

    /// Connections only to addresses `outbound` allows.
    pub fn with_outbound(mut self, outbound: Option<Arc<crate::outbound::Policy>>) -> Self {
        self.outbound = outbound;
        self
    }

    /// A new connection to the first URL that answers.
    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let mut last = String::new();
        for url in &self.config.urls {
            let settings = match self.checked_stream(url).await {
                Ok(Some(stream)) => self.settings.clone().set_std_stream(stream),
                Ok(None) => self.settings.clone(),
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match LdapConnAsync::with_settings(settings, url).await {
                Ok((conn, ldap)) => {
                    ldap3::drive!(conn);
                    return Ok(ldap);
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(unavailable("connect", last))
    }

    /// Under an outbound policy, a TCP connection to an allowed address of
    /// the URL's host (resolved once, so the address checked is the one
    /// connected to); ldap3 then speaks LDAP (and TLS, by the URL's host
    /// name) over it. `None` without a policy.
    async fn checked_stream(&self, url: &str) -> Result<Option<StdStream>, String> {
        let Some(policy) = &self.outbound else {
            return Ok(None);
        };
        let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let host = parsed.host_str().ok_or_else(|| format!("{url}: no host"))?;
        let port = parsed
            .port()
            .unwrap_or(if parsed.scheme() == "ldaps" { 636 } else { 389 });
        let addrs = policy
            .resolve(host, port)
            .await
            .map_err(|e| e.to_string())?;
        let connect = tokio::net::TcpStream::connect(&addrs[..]);
        let stream = tokio::time::timeout(self.config.timeout, connect)
            .await
            .map_err(|_| format!("{url}: connection timed out"))?
            .map_err(|e| format!("{url}: {e}"))?;
        let stream = stream.into_std().map_err(|e| e.to_string())?;
        Ok(Some(StdStream::Tcp(stream)))
    }

    /// Binds, asking for the ppolicy control; the result is the server's.
    async fn bind(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        password: &str,
    ) -> Result<LdapResult, DirectoryError> {
        ldap.with_timeout(self.config.timeout)
            .with_controls(RawControl {
                ctype: PPOLICY_OID.into(),
                crit: false,
                val: None,
            })
            .simple_bind(dn, password)
            .await
            .map_err(|e| unavailable("bind", e))
    }

    /// A bound service-account connection: an idle one, or a new one.
    async fn service(&self) -> Result<Option<Ldap>, DirectoryError> {
        let BindMode::SearchThenBind {
            service_dn,
            service_password,
        } = &self.config.bind
        else {
            return Ok(None);
        };
        if let Some(ldap) = self.pool.lock().await.pop() {
            return Ok(Some(ldap));
        }
        let mut ldap = self.connect().await?;
        let res = self.bind(&mut ldap, service_dn, service_password).await?;
        if res.rc != RC_SUCCESS {
            // A refused service account is a broken configuration, not the user's fault.
            return Err(unavailable("service account bind", res));
        }
        Ok(Some(ldap))
    }

    async fn give_back(&self, ldap: Ldap) {
        let mut pool = self.pool.lock().await;
        if pool.len() < self.config.pool_size {
            pool.push(ldap);
        }
    }

    fn attributes(&self) -> Vec<String> {
        let a = &self.config.attributes;
        let mut list = vec![
            a.dbid.clone(),
            a.first_name.clone(),
            a.last_name.clone(),
            a.email.clone(),
        ];
        list.extend(a.properties.iter().map(|(attr, _)| attr.clone()));
        list.extend(name_attributes(&self.config.user_filter));
        list
    }

    /// One search with a timeout; an error or timeout is `Unavailable`.
    async fn search(
        &self,
        ldap: &mut Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: Vec<String>,
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let (entries, _) = ldap
            .with_timeout(self.config.timeout)
            .search(base, scope, filter, attrs)
            .await
            .map_err(|e| unavailable("search", e))?
            .non_error()
            // A missing base (noSuchObject) is a broken configuration too.
            .map_err(|e| unavailable("search", e))?;
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    }

    /// The user's entry by name, through `ldap`.
    async fn find(
        &self,
        ldap: &mut Ldap,
        username: &str,
    ) -> Result<Option<SearchEntry>, DirectoryError> {
        let filter = self
            .config
            .user_filter
            .replace("{username}", &ldap_escape(username));
        let mut entries = self
            .search(
                ldap,
                &self.config.base_dn,
                Scope::Subtree,
                &filter,
                self.attributes(),
            )
            .await?;
        // Two entries for one name is ambiguous: nobody signs in as either.
        Ok(if entries.len() == 1 {
            entries.pop()
        } else {
            None
        })
    }

    async fn authorities(&self, ldap: &mut Ldap, dn: &str) -> Result<Vec<String>, DirectoryError> {
        if self.config.group_authorities.is_empty() {
            return Ok(Vec::new());
        }
        let filter = self.config.group_filter.replace("{dn}", &ldap_escape(dn));
        let groups = self
            .search(
                ldap,
                &self.config.base_dn,
                Scope::Subtree,
                &filter,
                vec!["cn".into()],
            )
            .await?;
        // In the mapping's order, whatever order the server lists groups in.
        let mut authorities = Vec::new();
        for (group, authority) in &self.config.group_authorities {
            let member = groups.iter().any(|g| {
                group.eq_ignore_ascii_case(&g.dn)
                    || g.attrs
                        .get("cn")
                        .and_then(|v| v.first())
                        .is_some_and(|cn| group.eq_ignore_ascii_case(cn))
            });
            if member && !authorities.contains(authority) {
                authorities.push(authority.clone());
            }
        }
        Ok(authorities)
    }

    fn to_user(
        &self,
        username: &str,
        entry: &SearchEntry,
        authorities: Vec<String>,
    ) -> DirectoryUser {
        let a = &self.config.attributes;
        let first = |attr: &str| {
            entry
                .attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(attr))
                .and_then(|(_, v)| v.first().cloned())
        };
        let mut properties = serde_json::Map::new();
        for (attr, name) in &a.properties {
            if let Some(v) = first(attr) {
                properties.insert(name.clone(), serde_json::Value::String(v));
            }
        }
        DirectoryUser {
            username: canonical_name(&self.config.user_filter, username, entry),
            dbid: first(&a.dbid)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            first_name: first(&a.first_name).unwrap_or_default(),
            last_name: first(&a.last_name).unwrap_or_default(),
            email: first(&a.email).unwrap_or_default(),
            authorities,
            properties,
        }
    }

    /// Binds as the user on a connection of its own; `Ok` carries the DN bound
    /// (for search-then-bind, the entry found) and the connection.
    async fn bind_user(
        &self,
        username: &str,
        password: &str,
        allow_must_change: bool,
    ) -> Result<(Ldap, String, Option<SearchEntry>), DirectoryError> {
        // An empty password is an unauthenticated bind, which succeeds: never a sign-in.
        if password.is_empty() || username.is_empty() {
            return Err(DirectoryError::BadCredentials);
        }
        let (dn, entry) = match &self.config.bind {
            BindMode::Direct { template } => {
                (template.replace("{username}", &dn_escape(username)), None)
            }
            BindMode::SearchThenBind { .. } => {
                let mut service = self.service().await?.ok_or(DirectoryError::Unsupported)?;
                let found = self.find(&mut service, username).await;
                // A connection that failed is dropped, not pooled: an outage
                // must not leave dead connections for later sign-ins.
                if found.is_ok() {
                    self.give_back(service).await;
                }
                match found? {
                    Some(e) => (e.dn.clone(), Some(e)),
                    None => return Err(DirectoryError::BadCredentials),
                }
            }
        };
        let mut ldap = self.connect().await?;
        let res = self.bind(&mut ldap, &dn, password).await?;
        let state = ppolicy_state(&res).or_else(|| {
            self.config
                .active_directory
                .then(|| ad_state(&res.text))
                .flatten()
        });
        match (res.rc, state) {
            (RC_SUCCESS, None) => Ok((ldap, dn, entry)),
            (RC_SUCCESS, Some(AccountState::MustChange)) if allow_must_change => {
                Ok((ldap, dn, entry))
            }
            (_, Some(s)) => Err(state_error(s)),
            (RC_INVALID_CREDENTIALS, None) => Err(DirectoryError::BadCredentials),
            (_, None) => Err(unavailable("bind", res)),
        }
    }
}

#[async_trait]
impl Directory for LdapDirectory {
    async fn authenticate(
        &self,
        _cc: &ContactCenter,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, DirectoryError> {
        let (mut ldap, _, entry) = self.bind_user(username, password, false).await?;
        // Read as the user: their own entry and groups need no service account.
        let entry = match entry {
            Some(e) => e,
            None => self
                .find(&mut ldap, username)
                .await?
                .ok_or(DirectoryError::BadCredentials)?,
        };
        let authorities = self.authorities(&mut ldap, &entry.dn).await?;
        let _ = ldap.unbind().await;
        Ok(self.to_user(username, &entry, authorities))
    }

    async fn lookup(
        &self,
        _cc: &ContactCenter,
        username: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        // Without a service account there is no one to ask.
        let mut ldap = self.service().await?.ok_or(DirectoryError::Unsupported)?;
        let result = async {
            let Some(entry) = self.find(&mut ldap, username).await? else {
                return Ok(None);
            };
            let authorities = self.authorities(&mut ldap, &entry.dn).await?;
            Ok(Some(self.to_user(username, &entry, authorities)))
        }
        .await;
        if result.is_ok() {
            self.give_back(ldap).await;
        }
        result
    }

    async fn change_password(
        &self,
        _cc: &ContactCenter,
        username: &str,
        old: &str,
        new: &str,
    ) -> Result<(), DirectoryError> {
        let (mut ldap, dn, _) = self.bind_user(username, old, true).await?;
        let res = if self.config.active_directory {
            let old = unicode_pwd(old);
            let new = unicode_pwd(new);
            let key = b"unicodePwd".to_vec();
            ldap.with_timeout(self.config.timeout)
                .modify(
                    &dn,
                    vec![
                        Mod::Delete(key.clone(), HashSet::from([old])),
                        Mod::Add(key, HashSet::from([new])),
                    ],
                )
                .await
        } else {
            ldap.with_timeout(self.config.timeout)
                .extended(PasswordModify {
                    user_id: None,
                    old_pass: Some(old),
                    new_pass: Some(new),
                })
                .await
                .map(|r| r.1)
        }
        .map_err(|e| unavailable("password change", e))?;
        let _ = ldap.unbind().await;
        match res.rc {
            RC_SUCCESS => Ok(()),
            RC_INVALID_CREDENTIALS => Err(DirectoryError::BadCredentials),
            RC_CONSTRAINT_VIOLATION | RC_UNWILLING_TO_PERFORM => Err(
                DirectoryError::PasswordRejected(PolicyViolation::RefusedByDirectory),
            ),
            _ => Err(unavailable("password change", res)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_directory_bind_codes() {
        let msg = |code: &str| {
            format!("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data {code}, v4563")
        };
        assert_eq!(ad_state(&msg("532")), Some(AccountState::Expired));
        assert_eq!(ad_state(&msg("773")), Some(AccountState::MustChange));
        assert_eq!(ad_state(&msg("775")), Some(AccountState::Locked));
        assert_eq!(ad_state(&msg("533")), Some(AccountState::Locked));
        assert_eq!(ad_state(&msg("701")), Some(AccountState::Locked));
        assert_eq!(ad_state(&msg("52e")), None, "52e is a wrong password");
        assert_eq!(ad_state("Invalid credentials"), None);
    }

    #[test]
    fn canonical_name_comes_from_the_entry() {
        let filter = "(&(objectClass=inetOrgPerson)(uid={username}))";
        assert_eq!(name_attributes(filter), vec!["uid".to_string()]);
        assert_eq!(
            name_attributes("(|(uid={username})(mail={username}))"),
            vec!["uid".to_string(), "mail".to_string()]
        );
        let entry = SearchEntry {
            dn: "uid=Agent,ou=people,dc=example,dc=org".into(),
            attrs: [("uid".to_string(), vec!["Agent".to_string()])].into(),
            bin_attrs: Default::default(),
        };
        assert_eq!(canonical_name(filter, "ａｇｅｎｔ", &entry), "Agent");
        assert_eq!(canonical_name(filter, " agent", &entry), "Agent");
        assert_eq!(canonical_name("(cn={username})", " x", &entry), " x");
    }

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        assert_eq!(unicode_pwd("a"), vec![b'"', 0, b'a', 0, b'"', 0]);
    }
}
