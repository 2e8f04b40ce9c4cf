//! `tollgate dev`: everything in one process on SQLite and the in-process
//! store, with a demo tenant, client and user.

use std::path::Path;

use anyhow::Context;
use tollgate_store::model::{
    now, AuthScheme, Client, ClientType, ContactCenter, Environment, Timestamp, User,
};
use tollgate_store::{Db, StoreError};

use tollgate_core::oauth::grants;
use tollgate_core::secrets::hash_secret;

pub const DEMO_ENVIRONMENT: &str = "demo-environment";
pub const DEMO_CONTACT_CENTER: &str = "demo";

/// Demo credentials: from the environment when set, else fresh random ones.
pub struct DemoCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    pub password: String,
    pub ops_password: String,
}

fn env_or(var: &str, default: impl FnOnce() -> String) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(default)
}

impl DemoCredentials {
    pub fn from_env() -> Self {
        let random = || tollgate_core::tokens::random_token()[..20].to_string();
        DemoCredentials {
            client_id: env_or("TOLLGATE_DEMO_CLIENT_ID", || "demo-client".into()),
            client_secret: env_or("TOLLGATE_DEMO_CLIENT_SECRET", random),
            username: env_or("TOLLGATE_DEMO_USERNAME", || "agent".into()),
            password: env_or("TOLLGATE_DEMO_PASSWORD", random),
            ops_password: env_or("TOLLGATE_OPS_PASSWORD", random),
        }
    }
}

/// The encryption key of a dev data directory, created on first use.
pub fn dev_encryption_key(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("encryption.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return Ok(k.trim().to_string());
    }
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let hex = hex::encode(key);
    std::fs::write(&path, &hex).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(hex)
}

fn ignore_duplicate<T>(r: Result<T, StoreError>) -> Result<(), StoreError> {
    match r {
        Ok(_) | Err(StoreError::Duplicate { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the demo records, or resets their secrets to `creds` if they exist.
pub async fn seed(db: &Db, creds: &DemoCredentials, redirect_base: &str) -> anyhow::Result<()> {
    let t = now();
    ignore_duplicate(db.create_environment(&demo_environment(t)).await)?;
    ignore_duplicate(db.create_contact_center(&demo_contact_center(t)).await)?;
    upsert_client(db, demo_client(creds, redirect_base, t)?).await?;
    upsert_user(db, creds, t).await
}

/// The demo environment (no Configuration Server behind it).
fn demo_environment(t: Timestamp) -> Environment {
    Environment {
        username: "default".into(),
        ..Environment::defaults(DEMO_ENVIRONMENT.into(), t)
    }
}

/// The demo contact center, on the built-in directory.
fn demo_contact_center(t: Timestamp) -> ContactCenter {
    ContactCenter {
        id: DEMO_CONTACT_CENTER.into(),
        name: "Demo contact center".into(),
        domains: vec!["demo".into()],
        environment_id: DEMO_ENVIRONMENT.into(),
        auth: AuthScheme::Builtin,
        second_factor: Default::default(),
        enabled: true,
        version: 1,
        created_at: t,
        updated_at: t,
    }
}

/// A confidential internal client allowed every grant, with `creds`' secret.
fn demo_client(
    creds: &DemoCredentials,
    redirect_base: &str,
    t: Timestamp,
) -> anyhow::Result<Client> {
    let secret_hash = hash_secret(&creds.client_secret)
        .map_err(|_| anyhow::anyhow!("cannot hash the demo client secret"))?;
    Ok(Client {
        client_id: creds.client_id.clone(),
        name: "Demo client".into(),
        description: "Created by tollgate dev".into(),
        secret_hash: Some(secret_hash),
        client_type: ClientType::Confidential,
        internal_client: true,
        authorities: vec![
            "ROLE_INTERNAL_CLIENT".into(),
            "ROLE_MANAGEMENT_APPLICATION".into(),
        ],
        scope: vec!["*".into()],
        authorized_grant_types: grants::KNOWN.iter().map(|g| g.to_string()).collect(),
        redirect_uris: vec![format!("{redirect_base}/callback")],
        access_token_expiration_timeout: 43_200,
        refresh_token_expiration_timeout: 2_592_000,
        contact_center_ids: vec![],
        token_exchange: None,
        auth_method: tollgate_store::model::ClientAuthMethod::ClientSecret,
        jwks: None,
        jwks_uri: None,
        hmac_secret: None,
        require_pushed_authorization_requests: false,
        backchannel_logout: None,
        require_dpop: false,
        access_token_format: tollgate_store::model::AccessTokenFormat::Jwt,
        tls_client_auth_subject: None,
        tls_client_certificate_bound_access_tokens: false,
        version: 1,
        created_at: t,
        updated_at: t,
    })
}

/// Creates the client, or replaces an existing one's settings and secret.
async fn upsert_client(db: &Db, client: Client) -> anyhow::Result<()> {
    match db.get_client(&client.client_id).await? {
        None => {
            db.create_client(&client).await?;
        }
        Some(existing) => {
            db.update_client(&Client {
                version: existing.version,
                created_at: existing.created_at,
                ..client
            })
            .await?;
        }
    }
    Ok(())
}

/// Creates the demo user, or resets an existing one's password and enables them.
async fn upsert_user(db: &Db, creds: &DemoCredentials, t: Timestamp) -> anyhow::Result<()> {
    let password_hash = hash_secret(&creds.password)
        .map_err(|_| anyhow::anyhow!("cannot hash the demo password"))?;
    match db
        .find_user_by_name(DEMO_CONTACT_CENTER, &creds.username)
        .await?
    {
        Some(existing) => {
            db.update_user(&User {
                password_hash,
                must_change_password: false,
                enabled: true,
                ..existing
            })
            .await?;
        }
        None => {
            db.create_user(&User {
                id: uuid::Uuid::new_v4().to_string(),
                contact_center_id: DEMO_CONTACT_CENTER.into(),
                username: creds.username.clone(),
                password_hash,
                dbid: 0,
                first_name: "Demo".into(),
                last_name: "Agent".into(),
                email: format!("{}@demo.example", creds.username),
                authorities: vec!["ROLE_AGENT".into()],
                properties: Default::default(),
                enabled: true,
                must_change_password: false,
                version: 1,
                created_at: t,
                updated_at: t,
            })
            .await?;
        }
    }
    Ok(())
}
