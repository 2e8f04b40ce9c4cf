//! Everything a request handler needs, built once at start.

use std::sync::Arc;

use tollgate_store::model::{now, Client, Timestamp};
use tollgate_store::{Db, Ephemeral};

use crate::audit::{Audit, AuditRecord};
use crate::catalog::Catalog;
use crate::directory::Directories;
use crate::metrics::Metrics;
use crate::oauth::backchannel::{self, delivery::Delivery, Target};
use crate::revocations::Revocations;
use crate::secrets::SecretVerifier;
use crate::tokens::verified::VerifiedTokens;
use crate::tokens::{opaque, AccessClaims, Keyring, TokenError};

/// Token-issuing policy from configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Issuer and public base URL, without a trailing slash.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    pub max_token_lifetime: i64,
    pub refresh_family_lifetime: i64,
    /// Seconds audit events stay in the database.
    pub audit_retention: i64,
    /// Seconds change-log rows stay in the database.
    pub change_log_retention: i64,
    /// Seconds a request may take before it is answered 503 (a dependency
    /// that stopped answering must not hold requests forever).
    pub request_timeout: i64,
    /// Contact center id used for user names without `tenant\`.
    pub default_contact_center: Option<String>,
    /// Operator credentials for the ops API.
    pub ops_username: String,
    pub ops_password_hash: String,
    /// Clock skew allowed when checking `exp`.
    pub leeway: u64,
    /// Client assertions may name the token endpoint as `aud`, not only the issuer.
    pub client_assertion_token_endpoint_audience: bool,
    /// Shortest client secret the ops API accepts (lowered only for a migration).
    pub min_client_secret_length: usize,
    pub browser: BrowserSettings,
    /// Whose forwarding headers name the client's address.
    pub trusted_proxies: crate::protection::client_ip::TrustedProxies,
    /// DPoP proofs must carry a server nonce (RFC 9449 §8).
    pub dpop_nonce: bool,
    /// Where client certificates come from (RFC 8705).
    pub mtls: crate::oauth::mtls::MtlsSettings,
}

/// Browser sessions and brute-force protection.
#[derive(Debug, Clone)]
pub struct BrowserSettings {
    pub session_idle_timeout: i64,
    pub session_max_age: i64,
    pub lockout_threshold: u32,
    pub lockout_duration: i64,
    pub rate_limit_per_minute: u32,
    /// A secure context: `Secure`, `__Host-` prefixed cookies and HSTS
    /// (false only for an `http://` public URL).
    pub secure_cookies: bool,
}

pub struct Services {
    pub settings: AuthSettings,
    pub db: Db,
    pub ephemeral: Ephemeral,
    /// This process's own counters, for when `ephemeral` (Redis) is down.
    pub local_counters: Ephemeral,
    pub catalog: Catalog,
    pub keys: Keyring,
    pub verified: VerifiedTokens,
    pub revocations: Revocations,
    pub secrets: SecretVerifier,
    pub directories: Directories,
    /// Keys of trusted issuers' JWKS URLs (RFC 7523 assertions).
    pub jwks: crate::oauth::jwks::JwksCache,
    /// OpenID providers' discovery documents and keys (`auth: oidc`).
    pub oidc: crate::federation::oidc::discovery::Discovery,
    /// Which addresses tenant-configured URLs may reach (SSRF).
    pub outbound: Arc<crate::outbound::Policy>,
    /// SAML IdP metadata URLs: their HTTP client and refresh interval.
    pub saml_metadata: crate::federation::saml::fetch::MetadataRefresh,
    pub audit: Audit,
    pub metrics: Metrics,
    /// Logout tokens on their way to relying parties.
    pub backchannel: crate::oauth::backchannel::Backchannel,
}

pub type AppState = Arc<Services>;

impl Services {
    /// Verifies an access token fully, a JWT (signature and claims) or an
    /// opaque one (its kept claims): then revocation, and
    /// that its client (the same registration, not one re-created under its
    /// id) and contact center still exist and are enabled.
    pub async fn verify_access_token(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        let claims = if opaque::is_opaque(token) {
            self.opaque_claims(token).await?
        } else {
            self.jwt_claims(token)?
        };
        if self.revocations.is_revoked(&claims) {
            return Err(TokenError::Invalid);
        }
        // A client deleted and registered again under the same id is a new
        // client: tokens issued before it was created are not its tokens.
        match self.catalog.client(&claims.client_id) {
            Some(client) if claims.iat >= client.created_at => {}
            _ => return Err(TokenError::Invalid),
        }
        if let Some(cc) = &claims.contact_center_id {
            if !self.catalog.contact_center(cc).is_some_and(|cc| cc.enabled) {
                return Err(TokenError::Invalid);
            }
        }
        Ok(claims)
    }

    /// A JWT's claims, once its signature and claims check out.
    fn jwt_claims(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        // Read before verifying: a reload meanwhile makes the entry stale.
        let generation = self.keys.generation();
        if let Some(c) = self.verified.get(token, generation) {
            if c.exp + self.settings.leeway as i64 <= now() {
                return Err(TokenError::Expired);
            }
            return Ok(c);
        }
        let c = Arc::new(crate::tokens::verify_access(
            &self.keys,
            &self.settings.issuer,
            &self.settings.audience,
            token,
            self.settings.leeway,
        )?);
        self.verified.insert(token, c.clone(), generation);
        Ok(c)
    }

    /// An opaque token's claims, as kept when it was issued.
    async fn opaque_claims(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        let now = now();
        match opaque::lookup(&self.ephemeral, &self.db, token, now).await {
            Ok(Some(c)) if c.exp > now => Ok(Arc::new(c)),
            Ok(Some(_)) => Err(TokenError::Expired),
            Ok(None) => Err(TokenError::Invalid),
            Err(e) => {
                tracing::warn!(error = %e, "opaque access token lookup failed");
                Err(TokenError::Unavailable)
            }
        }
    }

    pub fn client(&self, client_id: &str) -> Option<Arc<Client>> {
        self.catalog.client(client_id)
    }

    /// Describes an audit event of this kind; see [`AuditRecord`].
    pub fn audit<'a>(&'a self, kind: &'a str) -> AuditRecord<'a> {
        self.audit.event(kind)
    }

    /// Ends a refresh-token family and every access token it issued (they carry
    /// the family as `sid`), as RFC 7009 §2.1 and reuse detection ask.
    pub async fn revoke_family(
        &self,
        family_id: &str,
        at: Timestamp,
    ) -> Result<(), tollgate_store::StoreError> {
        self.db.revoke_refresh_family(family_id, at).await?;
        let until = at + self.settings.max_token_lifetime;
        self.revocations
            .revoke(
                &self.db,
                tollgate_store::model::Revocation::Jti {
                    jti: family_id.to_string(),
                    expires_at: until,
                },
            )
            .await
    }

    /// Ends everything a user holds: access tokens issued until now, refresh
    /// families and browser sessions (which check the same cut-off). For a
    /// user disabled, deleted or reset, and for a global sign-out.
    pub async fn end_user(
        &self,
        contact_center_id: &str,
        user_name: &str,
        at: Timestamp,
    ) -> Result<(), tollgate_store::StoreError> {
        let subject = crate::tokens::user_subject(contact_center_id, user_name);
        // A token issued this second after an earlier cut-off carries iat = cut-off + 1
        // (see `issue_time`); cutting at that value ends it too.
        let issued_before = self.revocations.issue_time(&subject, at);
        // Kept as long as anything it cuts off may live: a token or a session.
        let longest = self
            .settings
            .max_token_lifetime
            .max(self.settings.browser.session_max_age);
        self.revocations
            .revoke(
                &self.db,
                tollgate_store::model::Revocation::Subject {
                    subject,
                    issued_before,
                    expires_at: at + longest,
                },
            )
            .await?;
        self.db
            .revoke_user_refresh_families(contact_center_id, user_name, at)
            .await?;
        let subject = crate::tokens::user_subject(contact_center_id, user_name);
        match backchannel::targets::take_all(&self.ephemeral, &subject).await {
            Ok(targets) => self.tell_relying_parties(&subject, targets, at),
            Err(e) => tracing::warn!(error = %e, "relying parties not told of a sign-out"),
        }
        Ok(())
    }

    /// A browser session of `subject` ended: the relying parties signed in
    /// through it are told.
    pub async fn session_ended(&self, subject: &str, sid: &str, at: Timestamp) {
        let ttl = self.backchannel_ttl();
        match backchannel::targets::take_session(&self.ephemeral, subject, sid, ttl).await {
            Ok(targets) => self.tell_relying_parties(subject, targets, at),
            Err(e) => tracing::warn!(error = %e, "relying parties not told of a sign-out"),
        }
    }

    /// How long a relying party is remembered: as long as a session or a
    /// refresh family it signed in with can live.
    pub fn backchannel_ttl(&self) -> std::time::Duration {
        let s = &self.settings;
        let secs = s
            .browser
            .session_max_age
            .max(s.refresh_family_lifetime)
            .max(1);
        std::time::Duration::from_secs(secs as u64)
    }

    /// Queues a logout token for each target still registered for it.
    fn tell_relying_parties(&self, subject: &str, targets: Vec<Target>, at: Timestamp) {
        for t in targets {
            let Some(uri) = self
                .catalog
                .client(&t.client_id)
                .and_then(|c| c.backchannel_logout.as_ref().map(|b| b.uri.clone()))
            else {
                continue;
            };
            let token = backchannel::token::logout_token(
                &self.keys,
                &self.settings.issuer,
                &t.client_id,
                subject,
                t.sid.as_deref(),
                at,
            );
            match token {
                Ok(token) => self.backchannel.send(Delivery {
                    client_id: t.client_id,
                    uri,
                    token,
                }),
                Err(e) => tracing::error!(error = %e, "cannot sign a logout token"),
            }
        }
    }

    /// Pulls changes made elsewhere (other replicas, the Environment API, the operator).
    pub async fn sync(&self, at: Timestamp) -> Result<(), tollgate_store::StoreError> {
        // Revocations first: they are what another replica's answer may
        // already have promised (RFC 7009 §2 asks to keep that window short).
        self.revocations.refresh(&self.db, at).await?;
        let changes = self.catalog.refresh(&self.db).await?;
        for change in &changes {
            // A contact center's auth or its LDAP settings changed (or it is gone).
            if change.entity == "ldap_directory" || change.entity == "contact_center" {
                self.directories.forget(&change.id);
            }
            if change.entity == "user" {
                self.directories.builtin.forget_user(&change.id);
            }
            // Its Configuration Servers, timeouts or service account changed.
            if change.entity == "environment" {
                self.directories.forget_environment(&change.id);
            }
        }
        if changes.iter().any(|c| c.entity == "signing_key") {
            self.keys
                .reload(&self.db)
                .await
                .map_err(|e| tollgate_store::StoreError::Corrupt(e.to_string()))?;
        }
        Ok(())
    }
}
