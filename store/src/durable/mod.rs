//! The durable store: one repository API over PostgreSQL or SQLite.
//!
//! SKELETON: signatures are the contract; bodies are being written.

use crate::cipher::Cipher;
use crate::error::{Result, StoreError};
use crate::model::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Handle to the durable store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    cipher: Cipher,
    backend: Backend,
}

fn pending<T>() -> Result<T> {
    Err(StoreError::Config("durable store skeleton".into()))
}

impl Db {
    /// `postgres://…` or `sqlite:PATH` / `sqlite::memory:`. Creates the SQLite file if missing.
    pub async fn connect(url: &str, cipher: Cipher) -> Result<Db> {
        let _ = (url, cipher);
        pending()
    }
    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        pending()
    }
    pub fn backend(&self) -> Backend {
        self.backend
    }
    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }
    pub async fn ping(&self) -> Result<()> {
        pending()
    }

    // Environments
    pub async fn create_environment(&self, env: &Environment) -> Result<Environment> {
        let _ = env;
        pending()
    }
    pub async fn get_environment(&self, id: &str) -> Result<Option<Environment>> {
        let _ = id;
        pending()
    }
    pub async fn list_environments(&self) -> Result<Vec<Environment>> {
        pending()
    }
    /// Fails with `VersionConflict` unless the stored version equals `env.version`; bumps it.
    pub async fn update_environment(&self, env: &Environment) -> Result<Environment> {
        let _ = env;
        pending()
    }
    /// `InUse` when contact centers still point at it and `cascade` is false.
    pub async fn delete_environment(&self, id: &str, cascade: bool) -> Result<()> {
        let _ = (id, cascade);
        pending()
    }

    // Contact centers
    pub async fn create_contact_center(&self, cc: &ContactCenter) -> Result<ContactCenter> {
        let _ = cc;
        pending()
    }
    pub async fn get_contact_center(&self, id: &str) -> Result<Option<ContactCenter>> {
        let _ = id;
        pending()
    }
    pub async fn list_contact_centers(&self) -> Result<Vec<ContactCenter>> {
        pending()
    }
    pub async fn find_contact_center_by_domain(
        &self,
        domain: &str,
    ) -> Result<Option<ContactCenter>> {
        let _ = domain;
        pending()
    }
    pub async fn update_contact_center(&self, cc: &ContactCenter) -> Result<ContactCenter> {
        let _ = cc;
        pending()
    }
    pub async fn delete_contact_center(&self, id: &str) -> Result<()> {
        let _ = id;
        pending()
    }

    // Settings
    pub async fn list_settings(&self, contact_center_id: &str) -> Result<Vec<Setting>> {
        let _ = contact_center_id;
        pending()
    }
    pub async fn upsert_setting(&self, setting: &Setting) -> Result<Setting> {
        let _ = setting;
        pending()
    }
    pub async fn delete_setting(&self, contact_center_id: &str, name: &str) -> Result<()> {
        let _ = (contact_center_id, name);
        pending()
    }

    // OAuth clients
    pub async fn create_client(&self, client: &Client) -> Result<Client> {
        let _ = client;
        pending()
    }
    pub async fn get_client(&self, client_id: &str) -> Result<Option<Client>> {
        let _ = client_id;
        pending()
    }
    pub async fn list_clients(&self) -> Result<Vec<Client>> {
        pending()
    }
    pub async fn update_client(&self, client: &Client) -> Result<Client> {
        let _ = client;
        pending()
    }
    pub async fn delete_client(&self, client_id: &str) -> Result<()> {
        let _ = client_id;
        pending()
    }

    // Built-in users
    pub async fn create_user(&self, user: &User) -> Result<User> {
        let _ = user;
        pending()
    }
    pub async fn get_user(&self, contact_center_id: &str, id: &str) -> Result<Option<User>> {
        let _ = (contact_center_id, id);
        pending()
    }
    pub async fn find_user_by_name(
        &self,
        contact_center_id: &str,
        username: &str,
    ) -> Result<Option<User>> {
        let _ = (contact_center_id, username);
        pending()
    }
    /// Returns one page and the total count matching the search.
    pub async fn list_users(
        &self,
        contact_center_id: &str,
        query: &UserQuery,
    ) -> Result<(Vec<User>, i64)> {
        let _ = (contact_center_id, query);
        pending()
    }
    pub async fn update_user(&self, user: &User) -> Result<User> {
        let _ = user;
        pending()
    }
    pub async fn delete_user(&self, contact_center_id: &str, id: &str) -> Result<()> {
        let _ = (contact_center_id, id);
        pending()
    }

    // Signing keys
    pub async fn insert_signing_key(&self, key: &SigningKey) -> Result<()> {
        let _ = key;
        pending()
    }
    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKey>> {
        pending()
    }
    pub async fn delete_signing_key(&self, kid: &str) -> Result<()> {
        let _ = kid;
        pending()
    }

    // Refresh tokens
    pub async fn create_refresh_family(
        &self,
        family: &RefreshFamily,
        first: &RefreshToken,
    ) -> Result<()> {
        let _ = (family, first);
        pending()
    }
    /// Atomically marks `old_hash` used and stores `new` in its family; on reuse revokes the family.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshToken,
        now: Timestamp,
    ) -> Result<RotateOutcome> {
        let _ = (old_hash, new, now);
        pending()
    }
    pub async fn find_refresh_token(
        &self,
        hash: &str,
    ) -> Result<Option<(RefreshToken, RefreshFamily)>> {
        let _ = hash;
        pending()
    }
    pub async fn revoke_refresh_family(&self, family_id: &str, now: Timestamp) -> Result<()> {
        let _ = (family_id, now);
        pending()
    }
    pub async fn revoke_user_refresh_families(
        &self,
        contact_center_id: &str,
        username: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let _ = (contact_center_id, username, now);
        pending()
    }
    pub async fn revoke_client_refresh_families(
        &self,
        client_id: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let _ = (client_id, now);
        pending()
    }
    pub async fn purge_expired_refresh_tokens(&self, now: Timestamp) -> Result<u64> {
        let _ = now;
        pending()
    }

    // Access-token revocations
    pub async fn insert_revocation(&self, revocation: &Revocation) -> Result<i64> {
        let _ = revocation;
        pending()
    }
    pub async fn revocations_since(
        &self,
        seq: i64,
        now: Timestamp,
    ) -> Result<Vec<(i64, Revocation)>> {
        let _ = (seq, now);
        pending()
    }

    // Change feed for caches
    pub async fn changes_since(&self, seq: i64) -> Result<Vec<Change>> {
        let _ = seq;
        pending()
    }
    pub async fn latest_change_seq(&self) -> Result<i64> {
        pending()
    }

    // Audit
    pub async fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<()> {
        let _ = events;
        pending()
    }
    pub async fn list_audit_events(
        &self,
        kind: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        let _ = (kind, limit);
        pending()
    }
}
