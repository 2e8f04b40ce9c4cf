//! Storage contract of the durable store. Every scenario is an async function
//! taking a fresh, migrated `Db`; `contract!` runs each one unchanged against
//! SQLite (a temp file) and PostgreSQL (a fresh database per test on the
//! server named by `TOLLGATE_TEST_POSTGRES_URL`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use sqlx::{Connection, Executor, Row};
use tollgate_store::model::*;
use tollgate_store::{Cipher, Db, StoreError};

// ---------------------------------------------------------------- harness

fn cipher() -> Cipher {
    Cipher::new(&[7u8; 32]).unwrap()
}

async fn sqlite_db() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
    let db = Db::connect(&url, cipher()).await.unwrap();
    db.migrate().await.unwrap();
    (db, dir)
}

/// A database created for one test on the PostgreSQL server under test.
struct PgDatabase {
    admin_url: String,
    name: String,
}

static PG_COUNTER: AtomicU64 = AtomicU64::new(0);

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// `None` (after a note) when no server is configured, unless
/// `TOLLGATE_REQUIRE_SERVICES=1`, which makes a missing server a failure.
async fn postgres_db(test: &str) -> Option<(Db, PgDatabase)> {
    let admin_url = match std::env::var("TOLLGATE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            if std::env::var("TOLLGATE_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!(
                    "TOLLGATE_TEST_POSTGRES_URL is not set, and TOLLGATE_REQUIRE_SERVICES=1 requires \
                     the PostgreSQL contract tests to run: source scripts/provision/postgres.sh first"
                );
            }
            eprintln!(
                "note: TOLLGATE_TEST_POSTGRES_URL is not set; {test} did not run on PostgreSQL"
            );
            return None;
        }
    };
    // PostgreSQL names are at most 63 bytes.
    let short: String = test.chars().take(32).collect();
    let name = format!(
        "tg_{}_{}_{short}",
        std::process::id(),
        PG_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to TOLLGATE_TEST_POSTGRES_URL: {e}"));
    // Concurrent CREATE DATABASE can trip over the template being in use.
    let mut attempt = 0;
    loop {
        match admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
        {
            Ok(_) => break,
            Err(e) if attempt < 10 => {
                attempt += 1;
                eprintln!("CREATE DATABASE {name} failed ({e}); retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("CREATE DATABASE {name}: {e}"),
        }
    }
    admin.close().await.unwrap();
    let db = Db::connect(&with_database(&admin_url, &name), cipher())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    Some((db, PgDatabase { admin_url, name }))
}

impl PgDatabase {
    async fn drop_database(self, db: Db) {
        db.pool().close().await;
        let mut admin = sqlx::AnyConnection::connect(&self.admin_url).await.unwrap();
        admin
            .execute(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name).as_str())
            .await
            .unwrap();
    }
}

/// Runs each scenario on both backends, as `sqlite::<name>` and `postgres::<name>`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (db, _dir) = super::sqlite_db().await;
                    super::$name(db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some((db, pg)) = super::postgres_db(stringify!($name)).await else {
                        return;
                    };
                    super::$name(db.clone()).await;
                    pg.drop_database(db).await;
                }
            )*
        }
    };
}

contract!(
    connect_migrate_ping,
    environments_crud,
    encryption_at_rest,
    contact_centers_and_domains,
    cascade_rules,
    settings_crud,
    settings_by_name,
    trusted_issuers_crud,
    ldap_directories_crud,
    oidc_providers_crud,
    saml_providers_crud,
    cors_origins_crud,
    disabling_a_user_ends_their_sessions,
    clients_crud,
    client_hmac_secret_sealed,
    users_crud,
    password_history,
    signing_keys_crud,
    refresh_rotation,
    refresh_rotation_at_once,
    refresh_rotations_at_once_together,
    rotations_never_sent_did_not_happen,
    concurrent_rotation,
    revocations_feed,
    change_log_by_triggers,
    audit_events,
    housekeeping_prunes_only_what_expired,
    single_use_values,
    opaque_tokens,
    cancelled_writes_leave_no_open_transaction,
    corrupt_rows,
    row_owners,
);

#[tokio::test]
async fn sqlite_memory_database_persists_across_calls() {
    let db = Db::connect("sqlite::memory:", cipher()).await.unwrap();
    db.migrate().await.unwrap();
    db.create_environment(&environment("mem")).await.unwrap();
    for _ in 0..3 {
        assert!(db.get_environment("mem").await.unwrap().is_some());
    }
    let rotated = setup_family(&db, "f", "t0", now() + 100).await;
    assert!(rotated.is_ok());
}

#[tokio::test]
async fn bad_url_is_a_config_error() {
    let err = Db::connect("mysql://localhost/x", cipher())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
}

#[tokio::test]
async fn sqlite_file_is_created_and_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let db = Db::connect(&format!("sqlite:{}", path.display()), cipher())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    assert!(path.exists());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
}

// ---------------------------------------------------------------- fixtures

fn environment(id: &str) -> Environment {
    Environment {
        id: id.into(),
        username: "svc".into(),
        password: Some("s3cret-Pa55word".into()),
        connection_protocol: "addp".into(),
        local_timeout: 30,
        remote_timeout: 60,
        tenant: "Resources".into(),
        app_name: "Tollgate".into(),
        trace_mode: "CFGTMBoth".into(),
        tls_enabled: true,
        config_servers: vec![ConfigServer {
            primary_address: "cs1.example".into(),
            primary_port: 2020,
            backup_address: Some("cs2.example".into()),
            backup_port: Some(2021),
            read_only: false,
            locations: "/USW1".into(),
        }],
        version: 42,
        created_at: 1,
        updated_at: 2,
    }
}

fn contact_center(id: &str, environment_id: &str, domains: &[&str]) -> ContactCenter {
    ContactCenter {
        id: id.into(),
        name: format!("{id} name"),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        environment_id: environment_id.into(),
        auth: AuthScheme::Builtin,
        second_factor: Default::default(),
        enabled: true,
        version: 0,
        created_at: 0,
        updated_at: 0,
    }
}

fn setting(cc: &str, name: &str, value: &str) -> Setting {
    Setting {
        contact_center_id: cc.into(),
        name: name.into(),
        location: "/".into(),
        shared: true,
        value: value.into(),
        updated_at: 0,
    }
}

fn client(id: &str) -> Client {
    Client {
        client_id: id.into(),
        name: format!("{id} name"),
        description: "a client".into(),
        secret_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        client_type: ClientType::Confidential,
        internal_client: false,
        authorities: vec!["ROLE_AGENT".into()],
        scope: vec!["openid".into(), "profile".into()],
        authorized_grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        redirect_uris: vec!["https://app.example/cb".into()],
        access_token_expiration_timeout: 300,
        refresh_token_expiration_timeout: 86_400,
        contact_center_ids: vec!["cc1".into()],
        token_exchange: None,
        auth_method: ClientAuthMethod::ClientSecret,
        jwks: None,
        jwks_uri: None,
        hmac_secret: None,
        require_pushed_authorization_requests: false,
        backchannel_logout: None,
        require_dpop: false,
        access_token_format: AccessTokenFormat::Jwt,
        tls_client_auth_subject: None,
        tls_client_certificate_bound_access_tokens: false,
        version: 0,
        created_at: 0,
        updated_at: 0,
    }
}

fn user(cc: &str, id: &str, username: &str) -> User {
    let mut properties = serde_json::Map::new();
    properties.insert("team".into(), json!("blue"));
    properties.insert("skills".into(), json!({"sales": 3}));
    User {
        id: id.into(),
        contact_center_id: cc.into(),
        username: username.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        dbid: 0,
        first_name: format!("{username}-first"),
        last_name: "Doe".into(),
        email: format!("{}@example.com", username.to_lowercase()),
        authorities: vec!["ROLE_AGENT".into()],
        properties,
        enabled: true,
        must_change_password: false,
        version: 0,
        created_at: 0,
        updated_at: 0,
    }
}

fn signing_key(kid: &str, created_at: Timestamp) -> SigningKey {
    SigningKey {
        kid: kid.into(),
        algorithm: KeyAlgorithm::ES256,
        private_pkcs8: format!("PRIVATE-KEY-MATERIAL-{kid}-0123456789").into_bytes(),
        public_jwk: format!(r#"{{"kty":"EC","kid":"{kid}"}}"#),
        created_at,
        activates_at: created_at + 10,
        retires_at: created_at + 20,
        expires_at: created_at + 30,
        publish_only: false,
    }
}

fn family(
    id: &str,
    cc: Option<&str>,
    username: Option<&str>,
    expires_at: Timestamp,
) -> RefreshFamily {
    RefreshFamily {
        id: id.into(),
        client_id: "app".into(),
        contact_center_id: cc.map(str::to_string),
        username: username.map(str::to_string),
        scope: vec!["openid".into()],
        claims: json!({"authorities": ["ROLE_AGENT"], "dbid": 101}),
        created_at: now(),
        expires_at,
        revoked_at: None,
        dpop_jkt: None,
    }
}

fn token(hash: &str, family_id: &str, expires_at: Timestamp) -> RefreshToken {
    RefreshToken {
        hash: hash.into(),
        family_id: family_id.into(),
        created_at: now(),
        expires_at,
        used_at: None,
    }
}

/// A family `id` of user cc1/alice with one fresh token `first`.
async fn setup_family(
    db: &Db,
    id: &str,
    first: &str,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    db.create_refresh_family(
        &family(id, Some("cc1"), Some("alice"), expires_at),
        &token(first, id, expires_at),
    )
    .await
}

async fn raw_bytes(db: &Db, sql: &str, key: &str) -> Vec<u8> {
    sqlx::query(sql)
        .bind(key)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

async fn raw_execute(db: &Db, sql: &str) -> u64 {
    sqlx::query(sql)
        .execute(db.pool())
        .await
        .unwrap()
        .rows_affected()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------- scenarios

async fn connect_migrate_ping(db: Db) {
    db.ping().await.unwrap();
    // Migrations are idempotent: applying them again changes nothing.
    db.migrate().await.unwrap();
    assert_eq!(db.latest_change_seq().await.unwrap(), 0);
    assert!(db.list_environments().await.unwrap().is_empty());
}

async fn environments_crud(db: Db) {
    let before = now();
    let created = db.create_environment(&environment("env-1")).await.unwrap();
    assert_eq!(created.version, 1, "create ignores the caller's version");
    assert!(created.created_at >= before && created.created_at <= now());
    assert_eq!(created.updated_at, created.created_at);
    let expected = Environment {
        version: 1,
        created_at: created.created_at,
        updated_at: created.updated_at,
        ..environment("env-1")
    };
    assert_eq!(created, expected);
    assert_eq!(
        db.get_environment("env-1").await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(db.get_environment("nope").await.unwrap(), None);

    match db.create_environment(&environment("env-1")).await {
        Err(StoreError::Duplicate { entity, detail }) => {
            assert_eq!(entity, "environment");
            assert!(detail.contains("env-1"), "{detail}");
        }
        other => panic!("expected Duplicate, got {other:?}"),
    }

    let mut second = environment("env-0");
    second.password = None;
    second.config_servers = vec![];
    db.create_environment(&second).await.unwrap();
    let ids: Vec<String> = db
        .list_environments()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["env-0", "env-1"]);
    assert_eq!(
        db.get_environment("env-0").await.unwrap().unwrap().password,
        None
    );

    let mut change = expected.clone();
    change.tenant = "Other".into();
    change.password = Some("n3w-password".into());
    change.tls_enabled = false;
    let updated = db.update_environment(&change).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(
        (
            updated.tenant.as_str(),
            updated.password.as_deref(),
            updated.tls_enabled
        ),
        ("Other", Some("n3w-password"), false)
    );
    assert_eq!(
        db.get_environment("env-1").await.unwrap(),
        Some(updated.clone())
    );

    // `change` still carries version 1: someone else's write got in between.
    assert!(matches!(
        db.update_environment(&change).await,
        Err(StoreError::VersionConflict { .. })
    ));
    assert_eq!(
        db.get_environment("env-1").await.unwrap().unwrap().tenant,
        "Other"
    );
    let mut ghost = updated.clone();
    ghost.id = "ghost".into();
    assert!(matches!(
        db.update_environment(&ghost).await,
        Err(StoreError::NotFound { .. })
    ));

    db.delete_environment("env-1", false).await.unwrap();
    assert_eq!(db.get_environment("env-1").await.unwrap(), None);
    assert!(matches!(
        db.delete_environment("env-1", false).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn encryption_at_rest(db: Db) {
    db.create_environment(&environment("env-a")).await.unwrap();
    let sealed = raw_bytes(
        &db,
        "SELECT password_sealed FROM environments WHERE id = $1",
        "env-a",
    )
    .await;
    assert!(!sealed.is_empty());
    assert!(
        !contains(&sealed, b"s3cret-Pa55word"),
        "the password is stored in clear"
    );

    let key = signing_key("kid-1", 1000);
    db.insert_signing_key(&key).await.unwrap();
    let sealed_key = raw_bytes(
        &db,
        "SELECT private_sealed FROM signing_keys WHERE kid = $1",
        "kid-1",
    )
    .await;
    assert!(
        !contains(&sealed_key, &key.private_pkcs8),
        "the private key is stored in clear"
    );
    assert_eq!(db.list_signing_keys().await.unwrap(), vec![key]);

    // Another at-rest key cannot read them.
    let other = db.with_cipher(Cipher::new(&[8u8; 32]).unwrap());
    assert!(matches!(
        other.get_environment("env-a").await,
        Err(StoreError::Crypto)
    ));
    assert!(matches!(
        other.list_signing_keys().await,
        Err(StoreError::Crypto)
    ));

    // A sealed value is bound to its row: copied into another row it does not open.
    db.create_environment(&environment("env-b")).await.unwrap();
    raw_execute(
        &db,
        "UPDATE environments SET password_sealed = \
         (SELECT password_sealed FROM environments WHERE id = 'env-a') WHERE id = 'env-b'",
    )
    .await;
    assert!(matches!(
        db.get_environment("env-b").await,
        Err(StoreError::Crypto)
    ));
    assert!(db.get_environment("env-a").await.unwrap().is_some());
}

async fn contact_centers_and_domains(db: Db) {
    db.create_environment(&environment("env")).await.unwrap();
    let cc1 = db
        .create_contact_center(&contact_center("cc1", "env", &["Acme", "acme.example"]))
        .await
        .unwrap();
    assert_eq!(cc1.version, 1);
    assert_eq!(cc1.domains, ["Acme", "acme.example"]);
    assert_eq!(
        db.get_contact_center("cc1").await.unwrap(),
        Some(cc1.clone())
    );
    assert_eq!(
        db.find_contact_center_by_domain("ACME").await.unwrap(),
        Some(cc1.clone())
    );
    assert_eq!(
        db.find_contact_center_by_domain("Acme.Example")
            .await
            .unwrap(),
        Some(cc1.clone())
    );
    assert_eq!(
        db.find_contact_center_by_domain("unknown").await.unwrap(),
        None
    );

    // Domains are unique across contact centers, ignoring case; the failed
    // create leaves nothing behind.
    match db
        .create_contact_center(&contact_center("cc2", "env", &["Other", "aCmE"]))
        .await
    {
        Err(StoreError::Duplicate { detail, .. }) => assert!(detail.contains("aCmE"), "{detail}"),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert_eq!(db.get_contact_center("cc2").await.unwrap(), None);
    assert_eq!(
        db.find_contact_center_by_domain("other").await.unwrap(),
        None
    );

    let cc2 = db
        .create_contact_center(&contact_center("cc2", "env", &["Other"]))
        .await
        .unwrap();
    match db
        .create_contact_center(&contact_center("cc2", "env", &["third"]))
        .await
    {
        Err(StoreError::Duplicate { detail, .. }) => assert!(detail.contains("cc2"), "{detail}"),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    match db
        .create_contact_center(&contact_center("cc3", "no-such-env", &["third"]))
        .await
    {
        Err(StoreError::MissingReference { entity, detail }) => {
            assert_eq!(entity, "environment");
            assert_eq!(detail, "no-such-env");
        }
        other => panic!("expected MissingReference, got {other:?}"),
    }

    let mut change = cc1.clone();
    change.name = "Acme Corp".into();
    change.domains = vec!["acme.example".into(), "NewAcme".into()];
    change.auth = AuthScheme::Ldap;
    change.enabled = false;
    let updated = db.update_contact_center(&change).await.unwrap();
    assert_eq!(
        (
            updated.version,
            updated.name.as_str(),
            updated.auth,
            updated.enabled
        ),
        (2, "Acme Corp", AuthScheme::Ldap, false)
    );
    assert_eq!(updated.domains, ["acme.example", "NewAcme"]);
    assert_eq!(
        db.find_contact_center_by_domain("acme").await.unwrap(),
        None
    );
    assert_eq!(
        db.find_contact_center_by_domain("newacme").await.unwrap(),
        Some(updated.clone())
    );
    assert_eq!(
        db.list_contact_centers().await.unwrap(),
        vec![updated.clone(), cc2.clone()]
    );

    // Taking a domain another contact center holds fails and changes nothing.
    let mut steal = cc2.clone();
    steal.name = "renamed".into();
    steal.domains = vec!["Other".into(), "NEWACME".into()];
    assert!(matches!(
        db.update_contact_center(&steal).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert_eq!(
        db.get_contact_center("cc2").await.unwrap(),
        Some(cc2.clone())
    );

    assert!(matches!(
        db.update_contact_center(&change).await,
        Err(StoreError::VersionConflict { .. })
    ));
    let mut moved = updated.clone();
    moved.environment_id = "no-such-env".into();
    assert!(matches!(
        db.update_contact_center(&moved).await,
        Err(StoreError::MissingReference { .. })
    ));
    let mut ghost = updated.clone();
    ghost.id = "ghost".into();
    assert!(matches!(
        db.update_contact_center(&ghost).await,
        Err(StoreError::NotFound { .. })
    ));

    // The domain cc1 gave up is free again.
    let mut take = cc2.clone();
    take.domains = vec!["Other".into(), "ACME".into()];
    let taken = db.update_contact_center(&take).await.unwrap();
    assert_eq!(
        db.find_contact_center_by_domain("acme").await.unwrap(),
        Some(taken)
    );
}

async fn cascade_rules(db: Db) {
    let now = now();
    db.create_environment(&environment("env")).await.unwrap();
    db.create_contact_center(&contact_center("cc1", "env", &["acme"]))
        .await
        .unwrap();
    db.upsert_setting(&setting("cc1", "cors-origins", "https://a.example"))
        .await
        .unwrap();
    db.create_user(&user("cc1", "u1", "Alice")).await.unwrap();
    setup_family(&db, "fam", "t0", now + 3600).await.unwrap();

    match db.delete_environment("env", false).await {
        Err(StoreError::InUse { detail, .. }) => assert!(detail.contains("cc1"), "{detail}"),
        other => panic!("expected InUse, got {other:?}"),
    }
    assert!(db.get_environment("env").await.unwrap().is_some());
    assert!(db.get_contact_center("cc1").await.unwrap().is_some());

    // Deleting a contact center takes its domains, settings and users with
    // it and revokes its refresh families.
    db.delete_contact_center("cc1").await.unwrap();
    assert_eq!(db.get_contact_center("cc1").await.unwrap(), None);
    assert_eq!(
        db.find_contact_center_by_domain("acme").await.unwrap(),
        None
    );
    assert!(db.list_settings("cc1").await.unwrap().is_empty());
    assert_eq!(db.get_user("cc1", "u1").await.unwrap(), None);
    let (_, fam) = db.find_refresh_token("t0").await.unwrap().unwrap();
    assert!(fam.revoked_at.is_some());
    let outcome = db
        .rotate_refresh_token("t0", &token("t1", "fam", now + 3600), now)
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Revoked);
    assert!(matches!(
        db.delete_contact_center("cc1").await,
        Err(StoreError::NotFound { .. })
    ));

    // Same domain, new contact center; then the cascading environment delete.
    db.create_contact_center(&contact_center("cc2", "env", &["ACME"]))
        .await
        .unwrap();
    db.create_contact_center(&contact_center("cc3", "env", &["other"]))
        .await
        .unwrap();
    db.upsert_setting(&setting("cc2", "cors-origins", "https://b.example"))
        .await
        .unwrap();
    db.create_user(&user("cc3", "u1", "Bob")).await.unwrap();
    db.delete_environment("env", true).await.unwrap();
    assert_eq!(db.get_environment("env").await.unwrap(), None);
    assert!(db.list_contact_centers().await.unwrap().is_empty());
    assert_eq!(
        db.find_contact_center_by_domain("acme").await.unwrap(),
        None
    );
    assert!(db.list_settings("cc2").await.unwrap().is_empty());
    assert_eq!(db.get_user("cc3", "u1").await.unwrap(), None);
    assert!(matches!(
        db.delete_environment("env", true).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn settings_crud(db: Db) {
    db.create_environment(&environment("env")).await.unwrap();
    db.create_contact_center(&contact_center("cc1", "env", &[]))
        .await
        .unwrap();
    let before = now();
    let stored = db
        .upsert_setting(&setting("cc1", "z-last", "1"))
        .await
        .unwrap();
    assert!(stored.updated_at >= before);
    assert_eq!(
        stored,
        Setting {
            updated_at: stored.updated_at,
            ..setting("cc1", "z-last", "1")
        }
    );
    db.upsert_setting(&setting("cc1", "cors-origins", "https://a.example"))
        .await
        .unwrap();
    let mut replaced = setting("cc1", "cors-origins", "https://b.example");
    replaced.shared = false;
    replaced.location = "/tenant".into();
    db.upsert_setting(&replaced).await.unwrap();

    let listed = db.list_settings("cc1").await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["cors-origins", "z-last"]
    );
    assert_eq!(
        (
            listed[0].value.as_str(),
            listed[0].shared,
            listed[0].location.as_str()
        ),
        ("https://b.example", false, "/tenant")
    );

    db.delete_setting("cc1", "z-last").await.unwrap();
    assert_eq!(db.list_settings("cc1").await.unwrap().len(), 1);
    assert!(matches!(
        db.delete_setting("cc1", "z-last").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        db.upsert_setting(&setting("no-cc", "x", "y")).await,
        Err(StoreError::MissingReference {
            entity: "contact center",
            ..
        })
    ));
}

async fn trusted_issuers_crud(db: Db) {
    db.create_environment(&environment("env")).await.unwrap();
    for cc in ["cc1", "cc2"] {
        db.create_contact_center(&contact_center(cc, "env", &[]))
            .await
            .unwrap();
    }
    let idp = TrustedIssuer {
        issuer: "https://idp.example".into(),
        contact_center_id: "cc1".into(),
        jwks: Some(json!({"keys": [{"kty": "EC", "kid": "k1"}]})),
        jwks_uri: None,
        algorithms: vec!["ES256".into()],
        max_lifetime: 300,
        updated_at: 0,
    };
    let stored = db.upsert_trusted_issuer(&idp).await.unwrap();
    assert_eq!(
        stored,
        TrustedIssuer {
            updated_at: stored.updated_at,
            ..idp.clone()
        }
    );
    // Replaced whole by the same contact center.
    let replaced = db
        .upsert_trusted_issuer(&TrustedIssuer {
            jwks: None,
            jwks_uri: Some("https://idp.example/jwks".into()),
            ..idp.clone()
        })
        .await
        .unwrap();
    assert_eq!(replaced.jwks, None);
    assert_eq!(
        db.get_trusted_issuer("https://idp.example").await.unwrap(),
        Some(replaced.clone())
    );
    // Another contact center cannot take it over.
    assert!(matches!(
        db.upsert_trusted_issuer(&TrustedIssuer {
            contact_center_id: "cc2".into(),
            ..idp.clone()
        })
        .await,
        Err(StoreError::Duplicate { .. })
    ));
    assert!(matches!(
        db.upsert_trusted_issuer(&TrustedIssuer {
            contact_center_id: "nope".into(),
            issuer: "https://other.example".into(),
            ..idp.clone()
        })
        .await,
        Err(StoreError::MissingReference { .. })
    ));
    assert_eq!(
        db.list_trusted_issuers("cc1").await.unwrap(),
        vec![replaced]
    );
    assert!(db.list_trusted_issuers("cc2").await.unwrap().is_empty());
    assert!(matches!(
        db.delete_trusted_issuer("cc2", "https://idp.example").await,
        Err(StoreError::NotFound { .. })
    ));
    db.delete_trusted_issuer("cc1", "https://idp.example")
        .await
        .unwrap();
    assert_eq!(
        db.get_trusted_issuer("https://idp.example").await.unwrap(),
        None
    );
    // A contact center's deletion takes its issuers with it.
    db.upsert_trusted_issuer(&idp).await.unwrap();
    db.delete_contact_center("cc1").await.unwrap();
    assert_eq!(
        db.get_trusted_issuer("https://idp.example").await.unwrap(),
        None
    );
}

fn saml_provider(cc: &str) -> SamlProviderConfig {
    SamlProviderConfig {
        contact_center_id: cc.into(),
        idp_metadata: "<md:EntityDescriptor entityID=\"https://idp.example\"/>".into(),
        idp_metadata_url: None,
        idp_metadata_fetched_at: None,
        username_attribute: None,
        use_external_user_id: false,
        access_group: Some(SamlAccessGroup {
            attribute: "groups".into(),
            value: "agents".into(),
        }),
        binding: SamlBinding::Post,
        just_in_time_users: true,
        allow_idp_initiated: false,
        sp_keys: vec![SamlSpKey {
            id: "k1".into(),
            private_key_pem: "-----BEGIN PRIVATE KEY-----\nS3cret-k3y\n-----END PRIVATE KEY-----\n"
                .into(),
            certificate_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                .into(),
            created_at: 1_700_000_000,
        }],
        version: 0,
        created_at: 0,
        updated_at: 0,
    }
}

async fn saml_providers_crud(db: Db) {
    db.create_environment(&environment("env")).await.unwrap();
    for cc in ["cc1", "cc2"] {
        db.create_contact_center(&contact_center(cc, "env", &[]))
            .await
            .unwrap();
    }
    assert_eq!(db.get_saml_provider("cc1").await.unwrap(), None);
    let config = saml_provider("cc1");
    let stored = db.put_saml_provider(&config).await.unwrap();
    assert_eq!(stored.version, 1);
    assert!(stored.created_at > 0 && stored.updated_at >= stored.created_at);
    assert_eq!(
        stored,
        SamlProviderConfig {
            version: 1,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
            ..config.clone()
        }
    );
    assert_eq!(
        db.get_saml_provider("cc1").await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(db.get_saml_provider("cc2").await.unwrap(), None);

    // The SP's private keys are sealed at rest, bound to their contact center.
    let sealed = raw_bytes(
        &db,
        "SELECT sp_keys_sealed FROM saml_providers WHERE contact_center_id = $1",
        "cc1",
    )
    .await;
    assert!(!sealed.is_empty());
    assert!(
        !contains(&sealed, b"S3cret-k3y"),
        "the key is stored in clear"
    );
    let other = db.with_cipher(Cipher::new(&[8u8; 32]).unwrap());
    assert!(matches!(
        other.get_saml_provider("cc1").await,
        Err(StoreError::Crypto)
    ));

    // Creating again, or updating from a stale version, conflicts.
    assert!(matches!(
        db.put_saml_provider(&config).await,
        Err(StoreError::VersionConflict { .. })
    ));
    let mut rotated = stored.sp_keys.clone();
    rotated.insert(
        0,
        SamlSpKey {
            id: "k2".into(),
            created_at: 1_700_000_100,
            ..stored.sp_keys[0].clone()
        },
    );
    let changed = SamlProviderConfig {
        idp_metadata_url: Some("https://idp.example/metadata".into()),
        idp_metadata_fetched_at: Some(1_700_000_050),
        username_attribute: Some("uid".into()),
        use_external_user_id: true,
        access_group: None,
        binding: SamlBinding::Redirect,
        just_in_time_users: false,
        allow_idp_initiated: true,
        sp_keys: rotated,
        version: 1,
        ..stored.clone()
    };
    let updated = db.put_saml_provider(&changed).await.unwrap();
    assert_eq!(
        updated,
        SamlProviderConfig {
            version: 2,
            updated_at: updated.updated_at,
            ..changed.clone()
        }
    );
    assert!(matches!(
        db.put_saml_provider(&changed).await,
        Err(StoreError::VersionConflict { .. })
    ));

    // The metadata URLs the scheduled refresh walks: only fetched ones.
    db.put_saml_provider(&saml_provider("cc2")).await.unwrap();
    assert_eq!(
        db.list_saml_metadata_urls().await.unwrap(),
        vec![(
            "cc1".to_string(),
            "https://idp.example/metadata".to_string()
        )]
    );
    db.delete_saml_provider("cc2").await.unwrap();

    // Unknown contact center; updating settings that are not there.
    assert!(matches!(
        db.put_saml_provider(&saml_provider("nope")).await,
        Err(StoreError::MissingReference { .. })
    ));
    assert!(matches!(
        db.put_saml_provider(&SamlProviderConfig {
            version: 3,
            ..saml_provider("cc2")
        })
        .await,
        Err(StoreError::NotFound { .. })
    ));

    // Changes reach the change feed under the contact center's id.
    let seq = db.latest_change_seq().await.unwrap();
    db.delete_saml_provider("cc1").await.unwrap();
    let changes = db.changes_since(seq).await.unwrap();
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.entity.as_str(), c.id.as_str()))
            .collect::<Vec<_>>(),
        vec![("saml_provider", "cc1")]
    );
    assert_eq!(db.get_saml_provider("cc1").await.unwrap(), None);
    assert!(matches!(
        db.delete_saml_provider("cc1").await,
        Err(StoreError::NotFound { .. })
    ));

    // A deleted contact center takes its settings along.
    db.put_saml_provider(&saml_provider("cc2")).await.unwrap();
    db.delete_contact_center("cc2").await.unwrap();
    assert_eq!(db.get_saml_provider("cc2").await.unwrap(), None);
}

fn ldap_directory(cc: &str, bind: LdapBind) -> LdapDirectoryConfig {
    LdapDirectoryConfig {
        contact_center_id: cc.into(),
        urls: vec![
            "ldap://ldap1.example:389".into(),
            "ldaps://ldap2.example".into(),
        ],
        start_tls: true,
        ca_pem: Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into()),
        bind,
        base_dn: "dc=example,dc=org".into(),
        user_filter: "(uid={username})".into(),
        group_filter: "(member={dn})".into(),
        attributes: LdapAttributes {
            dbid: "employeeNumber".into(),
            first_name: "givenName".into(),
            last_name: "sn".into(),
            email: "mail".into(),
            properties: vec![LdapProperty {
                attribute: "telephoneNumber".into(),
                property: "phone".into(),
            }],
        },
        group_authorities: vec![LdapGroupAuthority {
            group: "cn=agents,ou=groups,dc=example,dc=org".into(),
            authority: "ROLE_AGENT".into(),
        }],
        timeout_ms: 3000,
        pool_size: 4,
        active_directory: false,
        version: 0,
        created_at: 0,
        updated_at: 0,
    }
}

async fn ldap_directories_crud(db: Db) {
    db.create_environment(&environment("env")).await.unwrap();
    for cc in ["cc1", "cc2"] {
        db.create_contact_center(&contact_center(cc, "env", &[]))
            .await
            .unwrap();
    }
    assert_eq!(db.get_ldap_directory("cc1").await.unwrap(), None);
    let search = LdapBind::SearchThenBind {
        service_dn: "cn=reader,dc=example,dc=org".into(),
        service_password: "Read3r-s3cret".into(),
    };
    let config = ldap_directory("cc1", search.clone());
    let stored = db.put_ldap_directory(&config).await.unwrap();
    assert_eq!(stored.version, 1);
    assert!(stored.created_at > 0 && stored.updated_at >= stored.created_at);
    assert_eq!(
        stored,
        LdapDirectoryConfig {
            version: 1,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
            ..config.clone()
        }
    );
    assert_eq!(
        db.get_ldap_directory("cc1").await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(db.get_ldap_directory("cc2").await.unwrap(), None);

    // The service password is sealed at rest, bound to its contact center.
    let sealed = raw_bytes(
        &db,
        "SELECT service_password_sealed FROM ldap_directories WHERE contact_center_id = $1",
        "cc1",
    )
    .await;
    assert!(!sealed.is_empty());
    assert!(
        !contains(&sealed, b"Read3r-s3cret"),
        "the password is stored in clear"
    );
    let other = db.with_cipher(Cipher::new(&[8u8; 32]).unwrap());
    assert!(matches!(
        other.get_ldap_directory("cc1").await,
        Err(StoreError::Crypto)
    ));

    // Creating again, or updating from a stale version, conflicts.
    assert!(matches!(
        db.put_ldap_directory(&config).await,
        Err(StoreError::VersionConflict { .. })
    ));
    let direct = LdapDirectoryConfig {
        bind: LdapBind::Direct {
            template: "uid={username},ou=people,dc=example,dc=org".into(),
        },
        urls: vec!["ldaps://ad.example:636".into()],
        start_tls: false,
        ca_pem: None,
        active_directory: true,
        group_authorities: Vec::new(),
        version: 1,
        ..stored.clone()
    };
    let updated = db.put_ldap_directory(&direct).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(
        updated,
        LdapDirectoryConfig {
            version: 2,
            updated_at: updated.updated_at,
            ..direct.clone()
        }
    );
    // Switching to direct binding drops the sealed password.
    let sealed: Option<Vec<u8>> = sqlx::query(
        "SELECT service_password_sealed FROM ldap_directories WHERE contact_center_id = $1",
    )
    .bind("cc1")
    .fetch_one(db.pool())
    .await
    .unwrap()
    .try_get(0)
    .unwrap();
    assert_eq!(sealed, None);
    assert!(matches!(
        db.put_ldap_directory(&direct).await,
        Err(StoreError::VersionConflict { .. })
    ));

    // Unknown contact center; updating a directory that is not there.
    assert!(matches!(
        db.put_ldap_directory(&ldap_directory("nope", search.clone()))
            .await,
        Err(StoreError::MissingReference { .. })
    ));
    assert!(matches!(
        db.put_ldap_directory(&LdapDirectoryConfig {
            version: 3,
            ..ldap_directory("cc2", search.clone())
        })
        .await,
        Err(StoreError::NotFound { .. })
    ));

    // Changes reach the change feed under the contact center's id.
    let seq = db.latest_change_seq().await.unwrap();
    db.delete_ldap_directory("cc1").await.unwrap();
    let changes = db.changes_since(seq).await.unwrap();
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.entity.as_str(), c.id.as_str()))
            .collect::<Vec<_>>(),
        vec![("ldap_directory", "cc1")]
    );
    assert_eq!(db.get_ldap_directory("cc1").await.unwrap(), None);
    assert!(matches!(
        db.delete_ldap_directory("cc1").await,
        Err(StoreError::NotFound { .. })
    ));

    // A deleted contact center takes its directory along.
    db.put_ldap_directory(&ldap_directory("cc2", search))
        .await
        .unwrap();
    db.delete_contact_center("cc2").await.unwrap();
    assert_eq!(db.get_ldap_directory("cc2").await.unwrap(), None);
}

fn oidc_provider(cc: &str) -> OidcProviderConfig {
    OidcProviderConfig {
        contact_center_id: cc.into(),
        issuer: "https://idp.example/realms/acme".into(),
        client_id: "tollgate".into(),
        client_auth: OidcClientAuth::ClientSecretBasic,
        client_secret: "Cl13nt-s3cret".into(),
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        claims: OidcClaims {
            username: "preferred_username".into(),
            first_name: "given_name".into(),
            last_name: "family_name".into(),
            email: "email".into(),
        },
        groups_claim: Some("groups".into()),
        group_authorities: vec![OidcGroupAuthority {
            group: "agents".into(),
            authority: "ROLE_AGENT".into(),
        }],
        just_in_time: true,
        authorize_params: [("prompt".to_string(), "login".to_string())].into(),
        version: 0,
        created_at: 0,
        updated_at: 0,
    }
}

async fn oidc_providers_crud(db: Db) {
    db.create_environment(&environment("env")).await.unwrap();
    for cc in ["cc1", "cc2"] {
        db.create_contact_center(&contact_center(cc, "env", &[]))
            .await
            .unwrap();
    }
    assert_eq!(db.get_oidc_provider("cc1").await.unwrap(), None);
    let config = oidc_provider("cc1");
    let stored = db.put_oidc_provider(&config).await.unwrap();
    assert_eq!(stored.version, 1);
    assert!(stored.created_at > 0 && stored.updated_at >= stored.created_at);
    assert_eq!(
        stored,
        OidcProviderConfig {
            version: 1,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
            ..config.clone()
        }
    );
    assert_eq!(
        db.get_oidc_provider("cc1").await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(db.get_oidc_provider("cc2").await.unwrap(), None);

    // The secret is sealed at rest, under this contact center only.
    let sealed = raw_bytes(
        &db,
        "SELECT client_secret_sealed FROM oidc_providers WHERE contact_center_id = $1",
        "cc1",
    )
    .await;
    assert!(!sealed.is_empty());
    assert!(
        !contains(&sealed, b"Cl13nt-s3cret"),
        "the secret is stored in clear"
    );
    let other = db.with_cipher(Cipher::new(&[8u8; 32]).unwrap());
    assert!(matches!(
        other.get_oidc_provider("cc1").await,
        Err(StoreError::Crypto)
    ));

    // A second create is a conflict; an update needs the current version.
    assert!(matches!(
        db.put_oidc_provider(&config).await,
        Err(StoreError::VersionConflict { .. })
    ));
    let changed = OidcProviderConfig {
        client_auth: OidcClientAuth::ClientSecretPost,
        client_secret: "n3w-s3cret".into(),
        groups_claim: None,
        group_authorities: vec![],
        just_in_time: false,
        authorize_params: Default::default(),
        ..stored.clone()
    };
    let updated = db.put_oidc_provider(&changed).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.client_secret, "n3w-s3cret");
    assert_eq!(updated.client_auth, OidcClientAuth::ClientSecretPost);
    assert_eq!(updated.groups_claim, None);
    assert!(!updated.just_in_time);
    assert!(matches!(
        db.put_oidc_provider(&changed).await,
        Err(StoreError::VersionConflict { .. })
    ));

    // Unknown contact center; updating a provider that is not there.
    assert!(matches!(
        db.put_oidc_provider(&oidc_provider("nope")).await,
        Err(StoreError::MissingReference { .. })
    ));
    assert!(matches!(
        db.put_oidc_provider(&OidcProviderConfig {
            version: 3,
            ..oidc_provider("cc2")
        })
        .await,
        Err(StoreError::NotFound { .. })
    ));

    db.delete_oidc_provider("cc1").await.unwrap();
    assert_eq!(db.get_oidc_provider("cc1").await.unwrap(), None);
    assert!(matches!(
        db.delete_oidc_provider("cc1").await,
        Err(StoreError::NotFound { .. })
    ));

    // A deleted contact center takes its provider along.
    db.put_oidc_provider(&oidc_provider("cc2")).await.unwrap();
    db.delete_contact_center("cc2").await.unwrap();
    assert_eq!(db.get_oidc_provider("cc2").await.unwrap(), None);
}

async fn settings_by_name(db: Db) {
    db.create_environment(&environment("env")).await.unwrap();
    for cc in ["cc2", "cc1", "cc3"] {
        db.create_contact_center(&contact_center(cc, "env", &[]))
            .await
            .unwrap();
    }
    db.upsert_setting(&setting("cc2", "cors-origins", "https://b.example"))
        .await
        .unwrap();
    db.upsert_setting(&setting("cc1", "cors-origins", "https://a.example"))
        .await
        .unwrap();
    db.upsert_setting(&setting("cc3", "other", "x"))
        .await
        .unwrap();
    let named = db.list_settings_named("cors-origins").await.unwrap();
    assert_eq!(
        named
            .iter()
            .map(|s| (s.contact_center_id.as_str(), s.value.as_str()))
            .collect::<Vec<_>>(),
        [("cc1", "https://a.example"), ("cc2", "https://b.example")]
    );
    assert!(db.list_settings_named("missing").await.unwrap().is_empty());
}

async fn cors_origins_crud(db: Db) {
    db.create_environment(&environment("env")).await.unwrap();
    db.create_contact_center(&contact_center("cc1", "env", &["one"]))
        .await
        .unwrap();
    db.create_contact_center(&contact_center("cc2", "env", &["two"]))
        .await
        .unwrap();
    let mark = db.latest_change_seq().await.unwrap();
    let before = now();
    assert!(db
        .add_cors_origin("cc1", "https://b.example")
        .await
        .unwrap());
    assert!(db
        .add_cors_origin("cc1", "https://a.example:8443")
        .await
        .unwrap());
    assert!(db
        .add_cors_origin("cc2", "https://a.example:8443")
        .await
        .unwrap());
    // Adding again is idempotent and reports that nothing was new.
    assert!(!db
        .add_cors_origin("cc1", "https://b.example")
        .await
        .unwrap());

    let all = db.list_cors_origins(None).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|o| (o.contact_center_id.as_str(), o.origin.as_str()))
            .collect::<Vec<_>>(),
        [
            ("cc1", "https://a.example:8443"),
            ("cc1", "https://b.example"),
            ("cc2", "https://a.example:8443"),
        ]
    );
    assert!(all
        .iter()
        .all(|o| o.created_at >= before && o.created_at <= now()));
    let cc2 = db.list_cors_origins(Some("cc2")).await.unwrap();
    assert_eq!(cc2.len(), 1);
    assert_eq!(cc2[0].origin, "https://a.example:8443");
    assert!(db.list_cors_origins(Some("nope")).await.unwrap().is_empty());

    // The change feed names the contact center under the entity "cors".
    let changes = db.changes_since(mark).await.unwrap();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(changes.iter().all(|c| c.entity == "cors"));
    assert_eq!(
        changes
            .iter()
            .map(|c| c.id.as_str())
            .collect::<HashSet<_>>(),
        ["cc1", "cc2"].into()
    );

    match db.add_cors_origin("no-cc", "https://a.example").await {
        Err(StoreError::MissingReference { entity, detail }) => {
            assert_eq!(entity, "contact center");
            assert_eq!(detail, "no-cc");
        }
        other => panic!("expected MissingReference, got {other:?}"),
    }

    let mark = db.latest_change_seq().await.unwrap();
    db.delete_cors_origin("cc1", "https://b.example")
        .await
        .unwrap();
    assert!(matches!(
        db.delete_cors_origin("cc1", "https://b.example").await,
        Err(StoreError::NotFound {
            entity: "cors origin"
        })
    ));
    // Only that contact center's row went.
    assert!(matches!(
        db.delete_cors_origin("cc2", "https://b.example").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(db.list_cors_origins(None).await.unwrap().len(), 2);
    let changes = db.changes_since(mark).await.unwrap();
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.entity.as_str(), c.id.as_str()))
            .collect::<Vec<_>>(),
        [("cors", "cc1")]
    );

    // Deleting a contact center takes its origins with it, logged for caches.
    let mark = db.latest_change_seq().await.unwrap();
    db.delete_contact_center("cc1").await.unwrap();
    assert_eq!(
        db.list_cors_origins(None)
            .await
            .unwrap()
            .iter()
            .map(|o| o.contact_center_id.as_str())
            .collect::<Vec<_>>(),
        ["cc2"]
    );
    assert!(db
        .changes_since(mark)
        .await
        .unwrap()
        .iter()
        .any(|c| c.entity == "cors" && c.id == "cc1"));
}

async fn disabling_a_user_ends_their_sessions(db: Db) {
    db.create_environment(&environment("env")).await.unwrap();
    db.create_contact_center(&contact_center("cc1", "env", &["one"]))
        .await
        .unwrap();
    let alice = db.create_user(&user("cc1", "u1", "alice")).await.unwrap();
    db.create_user(&user("cc1", "u2", "bob")).await.unwrap();
    setup_family(&db, "fam-alice", "t-alice", now() + 100)
        .await
        .unwrap();
    db.create_refresh_family(
        &family("fam-bob", Some("cc1"), Some("bob"), now() + 100),
        &token("t-bob", "fam-bob", now() + 100),
    )
    .await
    .unwrap();
    let revoked = |id: &'static str| {
        let db = db.clone();
        async move {
            let (_, fam) = db.find_refresh_token(id).await.unwrap().unwrap();
            fam.revoked_at.is_some()
        }
    };

    // A change that keeps the user enabled leaves their sessions alone.
    let renamed = db
        .update_user(&User {
            first_name: "Alicia".into(),
            ..alice
        })
        .await
        .unwrap();
    assert!(!revoked("t-alice").await);

    let disabled = db
        .update_user(&User {
            enabled: false,
            ..renamed
        })
        .await
        .unwrap();
    assert!(!disabled.enabled);
    assert!(revoked("t-alice").await);
    assert!(!revoked("t-bob").await, "other users keep their sessions");
}

async fn clients_crud(db: Db) {
    let created = db.create_client(&client("app")).await.unwrap();
    assert_eq!(created.version, 1);
    let expected = Client {
        version: 1,
        created_at: created.created_at,
        updated_at: created.updated_at,
        ..client("app")
    };
    assert_eq!(created, expected);
    assert_eq!(db.get_client("app").await.unwrap(), Some(expected.clone()));
    assert_eq!(db.get_client("none").await.unwrap(), None);
    match db.create_client(&client("app")).await {
        Err(StoreError::Duplicate { detail, .. }) => assert!(detail.contains("app"), "{detail}"),
        other => panic!("expected Duplicate, got {other:?}"),
    }

    let mut public = client("spa");
    public.client_type = ClientType::Public;
    public.secret_hash = None;
    public.internal_client = true;
    public.redirect_uris = vec![];
    public.auth_method = ClientAuthMethod::None;
    public.require_pushed_authorization_requests = true;
    public.access_token_format = AccessTokenFormat::Opaque;
    public.backchannel_logout = Some(BackchannelLogout {
        uri: "https://spa.example/bcl".into(),
        session_required: true,
    });
    let public = db.create_client(&public).await.unwrap();
    assert!(public.require_pushed_authorization_requests);
    assert_eq!(public.access_token_format, AccessTokenFormat::Opaque);
    assert_eq!(
        public
            .backchannel_logout
            .as_ref()
            .map(|b| (b.uri.as_str(), b.session_required)),
        Some(("https://spa.example/bcl", true))
    );
    assert_eq!(
        (
            public.client_type,
            public.secret_hash.clone(),
            public.internal_client,
            public.auth_method
        ),
        (ClientType::Public, None, true, ClientAuthMethod::None)
    );
    assert_eq!(
        db.list_clients().await.unwrap(),
        vec![expected.clone(), public]
    );

    let mut change = expected.clone();
    change.scope = vec!["openid".into()];
    change.redirect_uris.push("https://app.example/cb2".into());
    change.access_token_expiration_timeout = 60;
    // The exchange policy is stored whole and read back the same.
    change.token_exchange = Some(ExchangePolicy {
        subject_clients: vec!["*".into()],
        subject_issuers: vec!["https://idp.example".into()],
        audiences: vec!["https://api.example".into()],
        delegation: true,
        impersonation: false,
    });
    // A private_key_jwt client: no secret, its keys stored whole.
    change.auth_method = ClientAuthMethod::PrivateKeyJwt;
    change.secret_hash = None;
    change.jwks = Some(json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}));
    change.jwks_uri = Some("https://app.example/jwks".into());
    change.require_pushed_authorization_requests = true;
    change.backchannel_logout = Some(BackchannelLogout {
        uri: "http://app.internal:8080/logout".into(),
        session_required: false,
    });
    // RFC 8705: the certificate name and the binding flag are read back as written.
    change.tls_client_auth_subject = Some(CertSubject::SanUri("spiffe://example/app".into()));
    change.tls_client_certificate_bound_access_tokens = true;
    let updated = db.update_client(&change).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(
        updated,
        Client {
            version: 2,
            updated_at: updated.updated_at,
            ..change.clone()
        }
    );
    assert!(matches!(
        db.update_client(&change).await,
        Err(StoreError::VersionConflict { .. })
    ));
    assert_eq!(db.get_client("app").await.unwrap(), Some(updated.clone()));
    let mut ghost = updated.clone();
    ghost.client_id = "ghost".into();
    assert!(matches!(
        db.update_client(&ghost).await,
        Err(StoreError::NotFound { .. })
    ));

    // Deleting a client revokes the refresh families it holds.
    setup_family(&db, "fam", "t0", now() + 100).await.unwrap();
    db.delete_client("app").await.unwrap();
    assert_eq!(db.get_client("app").await.unwrap(), None);
    assert!(db
        .find_refresh_token("t0")
        .await
        .unwrap()
        .unwrap()
        .1
        .revoked_at
        .is_some());
    assert!(matches!(
        db.delete_client("app").await,
        Err(StoreError::NotFound { .. })
    ));
}

/// A `client_secret_jwt` client's secret reads back in clear, is sealed in
/// its row (bound to it), unreadable with another at-rest key, and dropped
/// when the client changes method.
async fn client_hmac_secret_sealed(db: Db) {
    const SECRET: &str = "an-hmac-secret-of-at-least-32-bytes!";
    let mut c = client("mac");
    c.auth_method = ClientAuthMethod::ClientSecretJwt;
    c.secret_hash = None;
    c.hmac_secret = Some(HmacSecret::new(SECRET.into()));
    let created = db.create_client(&c).await.unwrap();
    assert_eq!(created.hmac_secret, Some(HmacSecret::new(SECRET.into())));
    assert_eq!(created.auth_method, ClientAuthMethod::ClientSecretJwt);
    assert!(
        !format!("{created:?}").contains(SECRET),
        "Debug shows the secret"
    );
    let sealed = raw_bytes(
        &db,
        "SELECT hmac_secret_sealed FROM clients WHERE client_id = $1",
        "mac",
    )
    .await;
    assert!(!sealed.is_empty());
    assert!(!contains(&sealed, SECRET.as_bytes()), "stored in clear");
    assert_eq!(db.get_client("mac").await.unwrap(), Some(created.clone()));

    let other = db.with_cipher(Cipher::new(&[8u8; 32]).unwrap());
    assert!(matches!(
        other.get_client("mac").await,
        Err(StoreError::Crypto)
    ));

    // Bound to its row: copied to another client it does not open.
    db.create_client(&client("plain")).await.unwrap();
    raw_execute(
        &db,
        "UPDATE clients SET hmac_secret_sealed = \
         (SELECT hmac_secret_sealed FROM clients WHERE client_id = 'mac') \
         WHERE client_id = 'plain'",
    )
    .await;
    assert!(matches!(
        db.get_client("plain").await,
        Err(StoreError::Crypto)
    ));

    // A new secret replaces the old; another method keeps none.
    let mut change = created.clone();
    change.hmac_secret = Some(HmacSecret::new(format!("{SECRET}-2")));
    let updated = db.update_client(&change).await.unwrap();
    assert_eq!(
        db.get_client("mac").await.unwrap().unwrap().hmac_secret,
        Some(HmacSecret::new(format!("{SECRET}-2")))
    );
    let mut change = updated;
    change.auth_method = ClientAuthMethod::ClientSecret;
    change.hmac_secret = None;
    change.secret_hash = client("x").secret_hash;
    db.update_client(&change).await.unwrap();
    let sealed: Option<Vec<u8>> =
        sqlx::query("SELECT hmac_secret_sealed FROM clients WHERE client_id = $1")
            .bind("mac")
            .fetch_one(db.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
    assert_eq!(sealed, None);
}

async fn users_crud(db: Db) {
    db.create_environment(&environment("env")).await.unwrap();
    db.create_contact_center(&contact_center("cc1", "env", &[]))
        .await
        .unwrap();
    db.create_contact_center(&contact_center("cc2", "env", &[]))
        .await
        .unwrap();

    let alice = db.create_user(&user("cc1", "u1", "Alice")).await.unwrap();
    assert_eq!(alice.version, 1);
    assert!(alice.dbid > 0, "a dbid of 0 asks the store for one");
    assert_eq!(
        alice,
        User {
            dbid: alice.dbid,
            version: 1,
            created_at: alice.created_at,
            updated_at: alice.updated_at,
            ..user("cc1", "u1", "Alice")
        }
    );
    let bob = db.create_user(&user("cc1", "u2", "bob")).await.unwrap();
    assert!(bob.dbid > alice.dbid);
    let mut explicit = user("cc1", "u3", "carol");
    explicit.dbid = 5000;
    assert_eq!(db.create_user(&explicit).await.unwrap().dbid, 5000);
    let dave = db
        .create_user(&user("cc1", "u4", "Dave_100%"))
        .await
        .unwrap();
    assert!(dave.dbid > 5000, "generated dbids move past explicit ones");

    match db.create_user(&user("cc1", "u9", "ALICE")).await {
        Err(StoreError::Duplicate { detail, .. }) => {
            assert!(detail.contains("username"), "{detail}")
        }
        other => panic!("expected Duplicate username, got {other:?}"),
    }
    match db.create_user(&user("cc1", "u1", "someone")).await {
        Err(StoreError::Duplicate { detail, .. }) => assert!(detail.contains("id u1"), "{detail}"),
        other => panic!("expected Duplicate id, got {other:?}"),
    }
    let other_cc = db.create_user(&user("cc2", "u1", "alice")).await.unwrap();
    assert_eq!(other_cc.contact_center_id, "cc2");
    // Case folding beyond ASCII agrees on both backends.
    let emile = db.create_user(&user("cc2", "u2", "Émile")).await.unwrap();
    assert!(matches!(
        db.create_user(&user("cc2", "u3", "éMILE")).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert_eq!(
        db.find_user_by_name("cc2", "ÉMILE").await.unwrap(),
        Some(emile)
    );
    assert!(matches!(
        db.create_user(&user("no-cc", "u1", "x")).await,
        Err(StoreError::MissingReference {
            entity: "contact center",
            ..
        })
    ));

    assert_eq!(
        db.find_user_by_name("cc1", "aLiCe").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(db.find_user_by_name("cc1", "nobody").await.unwrap(), None);
    assert_eq!(db.get_user("cc1", "u2").await.unwrap(), Some(bob.clone()));

    let names = |users: Vec<User>| users.into_iter().map(|u| u.username).collect::<Vec<_>>();
    let all = UserQuery {
        search: None,
        offset: 0,
        limit: 10,
    };
    let (page, total) = db.list_users("cc1", &all).await.unwrap();
    assert_eq!(
        (names(page), total),
        (
            vec![
                "Alice".to_string(),
                "bob".into(),
                "carol".into(),
                "Dave_100%".into()
            ],
            4
        )
    );
    let (page, total) = db
        .list_users(
            "cc1",
            &UserQuery {
                search: None,
                offset: 1,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (names(page), total),
        (vec!["bob".to_string(), "carol".into()], 4)
    );
    let (page, total) = db
        .list_users(
            "cc1",
            &UserQuery {
                search: Some("AL".into()),
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!((names(page), total), (vec!["Alice".to_string()], 1));
    let (page, _) = db
        .list_users(
            "cc1",
            &UserQuery {
                search: Some("bob@EXAMPLE".into()),
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(names(page), ["bob"]);
    // LIKE wildcards in the search are literal.
    let (page, total) = db
        .list_users(
            "cc1",
            &UserQuery {
                search: Some("%".into()),
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!((names(page), total), (vec!["Dave_100%".to_string()], 1));
    let (page, _) = db
        .list_users(
            "cc1",
            &UserQuery {
                search: Some("e_1".into()),
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(names(page), ["Dave_100%"]);
    let (page, _) = db.list_users("cc1", &UserQuery::default()).await.unwrap();
    assert_eq!(page.len(), 4, "a default query lists a default-sized page");

    let mut change = alice.clone();
    change.username = "Alicia".into();
    change.must_change_password = true;
    change.enabled = false;
    change.properties.insert("level".into(), json!(2));
    change.dbid = 999_999;
    let updated = db.update_user(&change).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.dbid, alice.dbid, "dbid is fixed at creation");
    assert_eq!(
        updated,
        User {
            version: 2,
            dbid: alice.dbid,
            updated_at: updated.updated_at,
            ..change.clone()
        }
    );
    assert_eq!(
        db.find_user_by_name("cc1", "ALICIA").await.unwrap(),
        Some(updated.clone())
    );
    assert_eq!(db.find_user_by_name("cc1", "alice").await.unwrap(), None);
    assert!(matches!(
        db.update_user(&change).await,
        Err(StoreError::VersionConflict { .. })
    ));
    let mut clash = updated.clone();
    clash.username = "BOB".into();
    assert!(matches!(
        db.update_user(&clash).await,
        Err(StoreError::Duplicate { .. })
    ));
    let mut ghost = updated.clone();
    ghost.id = "ghost".into();
    assert!(matches!(
        db.update_user(&ghost).await,
        Err(StoreError::NotFound { .. })
    ));

    // Deleting a user revokes their refresh families.
    db.create_refresh_family(
        &family("fam", Some("cc1"), Some("ALICIA"), now() + 100),
        &token("t0", "fam", now() + 100),
    )
    .await
    .unwrap();
    db.delete_user("cc1", "u1").await.unwrap();
    assert_eq!(db.get_user("cc1", "u1").await.unwrap(), None);
    assert!(db
        .find_refresh_token("t0")
        .await
        .unwrap()
        .unwrap()
        .1
        .revoked_at
        .is_some());
    assert!(matches!(
        db.delete_user("cc1", "u1").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(db.get_user("cc2", "u1").await.unwrap().is_some());
}

async fn password_history(db: Db) {
    db.create_environment(&environment("env")).await.unwrap();
    db.create_contact_center(&contact_center("cc1", "env", &[]))
        .await
        .unwrap();
    let mut u = db.create_user(&user("cc1", "u1", "alice")).await.unwrap();
    assert!(db
        .password_history("cc1", "u1", 5)
        .await
        .unwrap()
        .is_empty());
    let first = u.password_hash.clone();

    // Saving without a new hash records nothing.
    u.first_name = "Alicia".into();
    u = db.update_user(&u).await.unwrap();
    assert!(db
        .password_history("cc1", "u1", 5)
        .await
        .unwrap()
        .is_empty());

    u.password_hash = "h2".into();
    u = db.update_user(&u).await.unwrap();
    u.password_hash = "h3".into();
    u = db.update_user(&u).await.unwrap();
    assert_eq!(
        db.password_history("cc1", "u1", 5).await.unwrap(),
        vec!["h2".to_string(), first.clone()],
        "newest first, the current hash not included"
    );
    assert_eq!(
        db.password_history("cc1", "u1", 1).await.unwrap(),
        vec!["h2"]
    );

    // A stale write records nothing either.
    let mut stale = u.clone();
    stale.version -= 1;
    stale.password_hash = "h-stale".into();
    assert!(db.update_user(&stale).await.is_err());
    assert_eq!(db.password_history("cc1", "u1", 5).await.unwrap().len(), 2);

    // Only the newest MAX_PASSWORD_HISTORY are kept.
    for i in 0..tollgate_store::durable::MAX_PASSWORD_HISTORY + 3 {
        u.password_hash = format!("x{i}");
        u = db.update_user(&u).await.unwrap();
    }
    let kept = db.password_history("cc1", "u1", 100).await.unwrap();
    assert_eq!(
        kept.len() as i64,
        tollgate_store::durable::MAX_PASSWORD_HISTORY
    );
    let last = tollgate_store::durable::MAX_PASSWORD_HISTORY + 1;
    assert_eq!(kept[0], format!("x{last}"));

    // The history goes with the user.
    db.delete_user("cc1", "u1").await.unwrap();
    db.create_user(&user("cc1", "u1", "alice")).await.unwrap();
    assert!(db
        .password_history("cc1", "u1", 5)
        .await
        .unwrap()
        .is_empty());
}

async fn signing_keys_crud(db: Db) {
    let newer = signing_key("k2", 2000);
    let mut older = signing_key("k1", 1000);
    older.algorithm = KeyAlgorithm::EdDSA;
    db.insert_signing_key(&newer).await.unwrap();
    db.insert_signing_key(&older).await.unwrap();
    assert_eq!(
        db.list_signing_keys().await.unwrap(),
        vec![older.clone(), newer.clone()]
    );
    match db.insert_signing_key(&newer).await {
        Err(StoreError::Duplicate { detail, .. }) => assert!(detail.contains("k2"), "{detail}"),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    db.delete_signing_key("k1").await.unwrap();
    assert_eq!(db.list_signing_keys().await.unwrap(), vec![newer]);
    assert!(matches!(
        db.delete_signing_key("k1").await,
        Err(StoreError::NotFound { .. })
    ));
}

/// The one-step rotation of the common case: a live, unused token of the
/// presenting client (and of its DPoP key, if bound) rotates; anything else
/// writes nothing and is left to `rotate_refresh_token`.
async fn refresh_rotation_at_once(db: Db) {
    let now = now();
    let later = now + 3600;
    let mut bound = family("bound", Some("cc1"), Some("alice"), later);
    bound.dpop_jkt = Some("jkt-1".into());
    db.create_refresh_family(&bound, &token("b1", "bound", later))
        .await
        .unwrap();
    let fam = family("f1", Some("cc1"), Some("alice"), now + 600);
    db.create_refresh_family(&fam, &token("a1", "f1", later))
        .await
        .unwrap();
    let at_once = |old: &'static str, client: &'static str, jkt: Option<&'static str>, new| {
        let db = db.clone();
        async move {
            db.rotate_refresh_token_at_once(old, client, jkt, &token(new, "", later), now)
                .await
                .unwrap()
        }
    };
    let untouched = |hash: &'static str| {
        let db = db.clone();
        async move {
            let (t, _) = db.find_refresh_token(hash).await.unwrap().unwrap();
            assert_eq!(t.used_at, None, "{hash} was not used");
        }
    };

    // Another client's token, or a bound one without its key: nothing happens.
    assert_eq!(at_once("a1", "other-app", None, "x1").await, None);
    assert_eq!(at_once("b1", "app", None, "x2").await, None);
    assert_eq!(at_once("b1", "app", Some("jkt-2"), "x3").await, None);
    untouched("a1").await;
    untouched("b1").await;
    for hash in ["x1", "x2", "x3"] {
        assert!(db.find_refresh_token(hash).await.unwrap().is_none());
    }

    // Rotated: the successor joins the family, never outliving it.
    assert_eq!(at_once("a1", "app", None, "a2").await, Some(fam.clone()));
    let (a1, _) = db.find_refresh_token("a1").await.unwrap().unwrap();
    assert_eq!(a1.used_at, Some(now));
    let (a2, _) = db.find_refresh_token("a2").await.unwrap().unwrap();
    assert_eq!(
        (a2.family_id.as_str(), a2.expires_at),
        ("f1", fam.expires_at)
    );
    assert_eq!(at_once("b1", "app", Some("jkt-1"), "b2").await, Some(bound));

    // Used once: a second rotation does nothing (reuse is decided elsewhere).
    assert_eq!(at_once("a1", "app", None, "a3").await, None);
    assert!(db.find_refresh_token("a3").await.unwrap().is_none());

    // A revoked family's token does not rotate.
    db.revoke_refresh_family("f1", now).await.unwrap();
    assert_eq!(at_once("a2", "app", None, "a4").await, None);
    untouched("a2").await;
}

/// Rotations asked at the same time are committed together: each one still
/// answers for its own token and family, and a token presented several
/// times at once rotates once.
async fn refresh_rotations_at_once_together(db: Db) {
    let now = now();
    let later = now + 3600;
    for i in 0..40 {
        let fam = family(&format!("f{i}"), Some("cc1"), Some("alice"), later);
        db.create_refresh_family(&fam, &token(&format!("t{i}"), "", later))
            .await
            .unwrap();
    }
    let rotate = |old: String, new: String| {
        let db = db.clone();
        tokio::spawn(async move {
            let next = token(&new, "", later);
            let family = db.rotate_refresh_token_at_once(&old, "app", None, &next, now);
            let family = family.await.unwrap();
            (old, new, family)
        })
    };
    let mut asked: Vec<_> = (0..40)
        .map(|i| rotate(format!("t{i}"), format!("n{i}")))
        .collect();
    asked.extend((0..10).map(|k| rotate("t0".into(), format!("dup{k}"))));
    let mut t0_rotations = 0;
    for answer in asked {
        let (old, new, family) = answer.await.unwrap();
        let stored = db.find_refresh_token(&new).await.unwrap();
        if old == "t0" && family.is_none() {
            assert!(
                stored.is_none(),
                "{new} was stored though t0 did not rotate"
            );
            continue;
        }
        let family = family.unwrap_or_else(|| panic!("{old} did not rotate"));
        assert_eq!(
            family.id,
            old.replace('t', "f"),
            "{old} answered another family"
        );
        let (next, _) = stored.unwrap_or_else(|| panic!("{new} was not stored"));
        assert_eq!(next.family_id, family.id);
        t0_rotations += usize::from(old == "t0");
    }
    assert_eq!(t0_rotations, 1, "t0 rotated once");
}

/// A rotation refused while the database is out of reach must not land
/// when it comes back: its client was told it failed. Every connection is
/// held past both callers' deadlines, the second caller queued behind the
/// first batch, and released before that batch could give up waiting.
async fn rotations_never_sent_did_not_happen(db: Db) {
    let now = now();
    let later = now + 3600;
    for i in 1..=3 {
        let fam = family(&format!("f{i}"), Some("cc1"), Some("alice"), later);
        db.create_refresh_family(&fam, &token(&format!("t{i}"), "", later))
            .await
            .unwrap();
    }
    let connections = db.pool().options().get_max_connections();
    let mut held = Vec::new();
    for _ in 0..connections {
        held.push(db.pool().acquire().await.unwrap());
    }
    let rotate = |old: &str, new: &str| {
        let (db, old, next) = (db.clone(), old.to_string(), token(new, "", later));
        tokio::spawn(async move {
            db.rotate_refresh_token_at_once(&old, "app", None, &next, now)
                .await
        })
    };
    // The default acquire timeout is 2 s: the first caller's deadline.
    let first = rotate("t1", "n1");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let second = rotate("t2", "n2");
    tokio::time::sleep(std::time::Duration::from_millis(2400)).await;
    drop(held);
    for (answer, old) in [(first, "t1"), (second, "t2")] {
        let answer = answer.await.unwrap();
        assert!(
            matches!(answer, Err(StoreError::Unavailable(_))),
            "{old}: {answer:?}"
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for old in ["t1", "t2"] {
        let (stored, _) = db.find_refresh_token(old).await.unwrap().unwrap();
        assert_eq!(
            stored.used_at, None,
            "{old} rotated after its caller was refused"
        );
    }
    // The queue serves again once the database does.
    let family = rotate("t3", "n3").await.unwrap().unwrap();
    assert_eq!(family.map(|f| f.id).as_deref(), Some("f3"));
}

async fn refresh_rotation(db: Db) {
    let now = now();
    let later = now + 3600;
    let fam = family("f1", Some("cc1"), Some("Alice"), later);
    db.create_refresh_family(&fam, &token("t1", "f1", later))
        .await
        .unwrap();
    let (t1, stored) = db.find_refresh_token("t1").await.unwrap().unwrap();
    assert_eq!(stored, fam);
    assert_eq!((t1.family_id.as_str(), t1.used_at), ("f1", None));
    assert!(matches!(
        db.create_refresh_family(&fam, &token("t-other", "f1", later))
            .await,
        Err(StoreError::Duplicate { .. })
    ));

    // Fresh token: rotated; the new token joins the family.
    let outcome = db
        .rotate_refresh_token("t1", &token("t2", "ignored", later), now)
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Rotated(fam.clone()));
    assert_eq!(
        db.find_refresh_token("t1")
            .await
            .unwrap()
            .unwrap()
            .0
            .used_at,
        Some(now)
    );
    let (t2, _) = db.find_refresh_token("t2").await.unwrap().unwrap();
    assert_eq!((t2.family_id.as_str(), t2.used_at), ("f1", None));

    // Reuse: the family is revoked, and its still-fresh token is refused.
    let outcome = db
        .rotate_refresh_token("t1", &token("t3", "f1", later), now + 1)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        RotateOutcome::Reused {
            family_id: "f1".into()
        }
    );
    assert_eq!(db.find_refresh_token("t3").await.unwrap(), None);
    assert_eq!(
        db.find_refresh_token("t2")
            .await
            .unwrap()
            .unwrap()
            .1
            .revoked_at,
        Some(now + 1)
    );
    let outcome = db
        .rotate_refresh_token("t2", &token("t4", "f1", later), now + 2)
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Revoked);
    assert_eq!(
        db.find_refresh_token("t2")
            .await
            .unwrap()
            .unwrap()
            .0
            .used_at,
        None,
        "a refused token stays unused"
    );

    assert_eq!(
        db.rotate_refresh_token("nope", &token("t5", "f1", later), now)
            .await
            .unwrap(),
        RotateOutcome::NotFound
    );

    // Expired token, and a live token in an expired family.
    db.create_refresh_family(
        &family("f2", None, None, later),
        &token("old", "f2", now - 1),
    )
    .await
    .unwrap();
    assert_eq!(
        db.rotate_refresh_token("old", &token("t6", "f2", later), now)
            .await
            .unwrap(),
        RotateOutcome::Expired
    );
    assert_eq!(
        db.find_refresh_token("old")
            .await
            .unwrap()
            .unwrap()
            .0
            .used_at,
        None
    );
    assert_eq!(db.find_refresh_token("t6").await.unwrap(), None);
    db.create_refresh_family(
        &family("f3", None, None, now - 1),
        &token("live", "f3", later),
    )
    .await
    .unwrap();
    assert_eq!(
        db.rotate_refresh_token("live", &token("t7", "f3", later), now)
            .await
            .unwrap(),
        RotateOutcome::Expired
    );

    // Revocation by user (username ignores case) and by client.
    db.create_refresh_family(
        &family("f4", Some("cc1"), Some("alice"), later),
        &token("a4", "f4", later),
    )
    .await
    .unwrap();
    db.create_refresh_family(
        &family("f5", Some("cc1"), Some("ALICE"), later),
        &token("a5", "f5", later),
    )
    .await
    .unwrap();
    db.create_refresh_family(
        &family("f6", Some("cc1"), Some("bob"), later),
        &token("a6", "f6", later),
    )
    .await
    .unwrap();
    db.create_refresh_family(
        &family("f7", Some("cc2"), Some("alice"), later),
        &token("a7", "f7", later),
    )
    .await
    .unwrap();
    assert_eq!(
        db.revoke_user_refresh_families("CC1", "Alice", now)
            .await
            .unwrap(),
        2,
        "f1 was already revoked"
    );
    for (hash, revoked) in [("a4", true), ("a5", true), ("a6", false), ("a7", false)] {
        assert_eq!(
            db.find_refresh_token(hash)
                .await
                .unwrap()
                .unwrap()
                .1
                .revoked_at
                .is_some(),
            revoked,
            "{hash}"
        );
    }
    assert_eq!(
        db.rotate_refresh_token("a4", &token("t8", "f4", later), now)
            .await
            .unwrap(),
        RotateOutcome::Revoked
    );

    let mut other_client = family("f8", None, None, later);
    other_client.client_id = "other".into();
    db.create_refresh_family(&other_client, &token("a8", "f8", later))
        .await
        .unwrap();
    assert_eq!(
        db.revoke_client_refresh_families("app", now).await.unwrap(),
        4,
        "f2, f3, f6, f7 are app's unrevoked families"
    );
    assert!(db
        .find_refresh_token("a8")
        .await
        .unwrap()
        .unwrap()
        .1
        .revoked_at
        .is_none());

    db.revoke_refresh_family("f8", now).await.unwrap();
    db.revoke_refresh_family("f8", now + 5).await.unwrap();
    assert_eq!(
        db.find_refresh_token("a8")
            .await
            .unwrap()
            .unwrap()
            .1
            .revoked_at,
        Some(now),
        "revoking twice keeps the first time"
    );
    assert!(matches!(
        db.revoke_refresh_family("nope", now).await,
        Err(StoreError::NotFound { .. })
    ));

    // Housekeeping: the expired token "old" and the expired family f3 (with its token) go.
    let pruned = db.prune(now, KEEP).await.unwrap().expect("the only pruner");
    assert_eq!((pruned.refresh_tokens, pruned.refresh_families), (1, 1));
    assert_eq!(db.find_refresh_token("old").await.unwrap(), None);
    assert_eq!(db.find_refresh_token("live").await.unwrap(), None);
    assert!(
        db.find_refresh_token("t1").await.unwrap().is_some(),
        "used tokens of live families stay"
    );
    assert!(db.find_refresh_token("a6").await.unwrap().is_some());
    let again = db.prune(now, KEEP).await.unwrap().expect("the only pruner");
    assert_eq!((again.refresh_tokens, again.refresh_families), (0, 0));
}

const KEEP: tollgate_store::durable::housekeeping::Retention =
    tollgate_store::durable::housekeeping::Retention {
        audit: 1_000,
        change_log: 100,
    };

/// A single-use value is accepted once, also by concurrent callers, until
/// housekeeping removes it after it expired.
async fn single_use_values(db: Db) {
    let now = now();
    assert!(db.first_use("client:jti:a", now + 60).await.unwrap());
    assert!(!db.first_use("client:jti:a", now + 60).await.unwrap());
    assert!(db.first_use("client:jti:b", now + 60).await.unwrap());
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.first_use("client:jti:race", now + 60).await })
        })
        .collect();
    let mut firsts = 0;
    for r in racers {
        firsts += usize::from(r.await.unwrap().unwrap());
    }
    assert_eq!(firsts, 1, "exactly one caller uses it first");
    assert!(db.first_use("client:jti:old", now - 1).await.unwrap());
    let pruned = db.prune(now, KEEP).await.unwrap().expect("the only pruner");
    assert_eq!(pruned.used_once, 1, "only the expired value");
    assert!(!db.first_use("client:jti:a", now + 60).await.unwrap());
}

/// An opaque token's claims are found by digest until they expire or are
/// forgotten; housekeeping deletes only the expired ones.
async fn opaque_tokens(db: Db) {
    let now = now();
    db.insert_opaque_token("h-live", r#"{"sub":"a"}"#, now + 60)
        .await
        .unwrap();
    db.insert_opaque_token("h-old", r#"{"sub":"b"}"#, now - 1)
        .await
        .unwrap();
    db.insert_opaque_token("h-gone", r#"{"sub":"c"}"#, now + 60)
        .await
        .unwrap();
    assert_eq!(
        db.opaque_token("h-live", now).await.unwrap(),
        Some((r#"{"sub":"a"}"#.to_string(), now + 60))
    );
    assert_eq!(db.opaque_token("h-old", now).await.unwrap(), None);
    assert_eq!(db.opaque_token("h-none", now).await.unwrap(), None);
    db.delete_opaque_token("h-gone").await.unwrap();
    assert_eq!(db.opaque_token("h-gone", now).await.unwrap(), None);
    let pruned = db.prune(now, KEEP).await.unwrap().expect("the only pruner");
    assert_eq!(pruned.opaque_tokens, 1, "only the expired token");
    assert!(db.opaque_token("h-live", now).await.unwrap().is_some());
}

/// Housekeeping deletes what expired or passed its retention, and nothing else.
async fn housekeeping_prunes_only_what_expired(db: Db) {
    let now = now();
    for (jti, expires_at) in [("hk-live", now + 100), ("hk-gone", now - 1)] {
        let jti = jti.to_string();
        db.insert_revocation(&Revocation::Jti { jti, expires_at })
            .await
            .unwrap();
    }
    let event = |at: Timestamp| AuditEvent {
        at,
        kind: "hk".into(),
        client_id: None,
        contact_center_id: None,
        subject: None,
        ip: None,
        detail: json!({}),
    };
    db.insert_audit_events(&[event(now - 2_000), event(now - 999), event(now)])
        .await
        .unwrap();
    db.create_environment(&environment("hk-env")).await.unwrap();
    raw_execute(
        &db,
        &format!("UPDATE change_log SET changed_at = {}", now - 500),
    )
    .await;
    db.create_environment(&environment("hk-env-2"))
        .await
        .unwrap();
    let latest = db.latest_change_seq().await.unwrap();

    let pruned = db.prune(now, KEEP).await.unwrap().expect("the only pruner");
    assert_eq!(pruned.revocations, 1, "the expired revocation");
    assert_eq!(pruned.audit_events, 1, "the event past retention");
    assert!(pruned.change_log >= 1, "{pruned:?}");
    let kept: Vec<Timestamp> = db
        .list_audit_events(Some("hk"), 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.at)
        .collect();
    assert_eq!(kept, vec![now, now - 999]);
    assert_eq!(
        db.revocations_since(0, now).await.unwrap().len(),
        1,
        "the live revocation stays"
    );
    let recent = db.changes_since(0).await.unwrap();
    assert!(
        !recent.is_empty() && recent.iter().all(|c| c.id == "hk-env-2"),
        "{recent:?}"
    );
    assert_eq!(db.latest_change_seq().await.unwrap(), latest);
    assert_eq!(db.prune(now, KEEP).await.unwrap(), Some(Default::default()));

    // While another replica holds the lock (PostgreSQL), this one skips its run.
    if db.backend() == tollgate_store::durable::Backend::Postgres {
        let mut other = db.pool().acquire().await.unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(tollgate_store::durable::housekeeping::HOUSEKEEPING_LOCK)
            .execute(&mut *other)
            .await
            .unwrap();
        assert_eq!(db.prune(now, KEEP).await.unwrap(), None);
        sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut *other)
            .await
            .unwrap();
        assert!(db.prune(now, KEEP).await.unwrap().is_some());
    }
}

async fn concurrent_rotation(db: Db) {
    let now = now();
    for round in 0..5 {
        let fam = format!("fam{round}");
        let first = format!("r{round}");
        setup_family(&db, &fam, &first, now + 3600).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let db = db.clone();
                let first = first.clone();
                let fam = fam.clone();
                tokio::spawn(async move {
                    let new = token(&format!("{first}-next{i}"), &fam, now + 3600);
                    db.rotate_refresh_token(&first, &new, now).await.unwrap()
                })
            })
            .collect();
        let mut rotated = 0;
        for task in tasks {
            match task.await.unwrap() {
                RotateOutcome::Rotated(family) => {
                    assert_eq!(family.id, fam);
                    rotated += 1;
                }
                RotateOutcome::Reused { family_id } => assert_eq!(family_id, fam),
                // A loser that looks after another loser revoked the family.
                RotateOutcome::Revoked => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!(
            rotated, 1,
            "round {round}: exactly one concurrent rotation must win"
        );
        let mut stored = 0;
        for i in 0..8 {
            if db
                .find_refresh_token(&format!("{first}-next{i}"))
                .await
                .unwrap()
                .is_some()
            {
                stored += 1;
            }
        }
        assert_eq!(stored, 1, "round {round}: exactly one successor token");
        let (_, family) = db.find_refresh_token(&first).await.unwrap().unwrap();
        assert!(
            family.revoked_at.is_some(),
            "the losers' reuse revoked the family"
        );
    }
}

async fn revocations_feed(db: Db) {
    let now = now();
    let jti = Revocation::Jti {
        jti: "jti-1".into(),
        expires_at: now + 100,
    };
    let subject = Revocation::Subject {
        subject: "cc1:alice".into(),
        issued_before: now,
        expires_at: now + 200,
    };
    let s1 = db.insert_revocation(&jti).await.unwrap();
    let s2 = db.insert_revocation(&subject).await.unwrap();
    let s3 = db
        .insert_revocation(&Revocation::Jti {
            jti: "gone".into(),
            expires_at: now - 1,
        })
        .await
        .unwrap();
    assert!(s1 < s2 && s2 < s3);
    assert_eq!(
        db.revocations_since(0, now).await.unwrap(),
        vec![(s1, jti.clone()), (s2, subject.clone())]
    );
    assert_eq!(
        db.revocations_since(s1, now).await.unwrap(),
        vec![(s2, subject)]
    );
    assert!(db.revocations_since(s3, now).await.unwrap().is_empty());
    assert_eq!(
        db.revocations_since(0, now + 150).await.unwrap().len(),
        1,
        "expired ones are left out"
    );
}

async fn change_log_by_triggers(db: Db) {
    let start = db.latest_change_seq().await.unwrap();
    let since = |seq: i64| {
        let db = db.clone();
        async move {
            db.changes_since(seq)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.entity, c.id))
                .collect::<HashSet<_>>()
        }
    };
    let pair = |entity: &str, id: &str| (entity.to_string(), id.to_string());

    db.create_environment(&environment("env")).await.unwrap();
    db.create_contact_center(&contact_center("cc1", "env", &["acme", "acme2"]))
        .await
        .unwrap();
    db.upsert_setting(&setting("cc1", "cors-origins", "x"))
        .await
        .unwrap();
    db.create_client(&client("app")).await.unwrap();
    db.create_user(&user("cc1", "u1", "alice")).await.unwrap();
    db.insert_signing_key(&signing_key("k1", 1)).await.unwrap();
    let created = since(start).await;
    let expected: HashSet<_> = [
        pair("environment", "env"),
        pair("contact_center", "cc1"),
        pair("setting", "cc1"),
        pair("client", "app"),
        pair("user", "cc1:u1"),
        pair("signing_key", "k1"),
    ]
    .into();
    assert_eq!(created, expected);

    // Feed order: strictly increasing seq, and latest is the last one.
    let all = db.changes_since(start).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(
        db.latest_change_seq().await.unwrap(),
        all.last().unwrap().seq
    );
    assert_eq!(
        db.changes_since(all[2].seq).await.unwrap(),
        all[3..].to_vec()
    );

    // Refresh tokens, revocations and audit are not configuration: no entries.
    let mark = db.latest_change_seq().await.unwrap();
    setup_family(&db, "fam", "t0", now() + 100).await.unwrap();
    db.insert_revocation(&Revocation::Jti {
        jti: "j".into(),
        expires_at: now() + 100,
    })
    .await
    .unwrap();
    assert!(db.changes_since(mark).await.unwrap().is_empty());

    // A change made by hand, outside the store, shows up too.
    assert_eq!(
        raw_execute(
            &db,
            "UPDATE clients SET description = 'edited by hand' WHERE client_id = 'app'"
        )
        .await,
        1
    );
    assert_eq!(since(mark).await, [pair("client", "app")].into());

    let mark = db.latest_change_seq().await.unwrap();
    let mut cc = db.get_contact_center("cc1").await.unwrap().unwrap();
    cc.name = "renamed".into();
    db.update_contact_center(&cc).await.unwrap();
    assert_eq!(since(mark).await, [pair("contact_center", "cc1")].into());

    let mark = db.latest_change_seq().await.unwrap();
    db.delete_user("cc1", "u1").await.unwrap();
    db.delete_signing_key("k1").await.unwrap();
    assert_eq!(
        since(mark).await,
        [pair("user", "cc1:u1"), pair("signing_key", "k1")].into()
    );

    // Cascaded deletes are logged for every row they remove.
    db.create_user(&user("cc1", "u2", "bob")).await.unwrap();
    let mark = db.latest_change_seq().await.unwrap();
    db.delete_environment("env", true).await.unwrap();
    let expected: HashSet<_> = [
        pair("environment", "env"),
        pair("contact_center", "cc1"),
        pair("setting", "cc1"),
        pair("user", "cc1:u2"),
    ]
    .into();
    assert_eq!(since(mark).await, expected);
}

async fn audit_events(db: Db) {
    let event = |at: Timestamp, kind: &str| AuditEvent {
        at,
        kind: kind.into(),
        client_id: Some("app".into()),
        contact_center_id: None,
        subject: Some("cc1:alice".into()),
        ip: Some("203.0.113.7".into()),
        detail: json!({"grant": "password", "n": at}),
    };
    db.insert_audit_events(&[]).await.unwrap();
    let batch = vec![
        event(100, "token.issued"),
        event(300, "token.issued"),
        event(200, "user.auth_failed"),
    ];
    db.insert_audit_events(&batch).await.unwrap();
    let newest_first = db.list_audit_events(None, 10).await.unwrap();
    assert_eq!(
        newest_first,
        vec![batch[1].clone(), batch[2].clone(), batch[0].clone()]
    );
    assert_eq!(
        db.list_audit_events(Some("token.issued"), 10)
            .await
            .unwrap(),
        vec![batch[1].clone(), batch[0].clone()]
    );
    assert_eq!(
        db.list_audit_events(None, 1).await.unwrap(),
        vec![batch[1].clone()]
    );
    assert!(db
        .list_audit_events(Some("nothing"), 10)
        .await
        .unwrap()
        .is_empty());

    // A long batch: every event, in order.
    let long: Vec<AuditEvent> = (1_000..1_250).map(|at| event(at, "long")).collect();
    db.insert_audit_events(&long).await.unwrap();
    let mut stored = db.list_audit_events(Some("long"), 1000).await.unwrap();
    stored.reverse();
    assert_eq!(stored, long);
}

/// Writes cancelled at any point (a client hanging up mid-request) leave no
/// connection stuck in a transaction: every later write works. Before the fix,
/// SQLite connections came back from a cancelled `BEGIN IMMEDIATE` inside a
/// transaction and later writes on them failed with "begin_with at non-zero
/// transaction depth".
async fn cancelled_writes_leave_no_open_transaction(db: Db) {
    fn event(n: u64) -> AuditEvent {
        AuditEvent {
            at: n as Timestamp,
            kind: "cancel.test".into(),
            client_id: None,
            contact_center_id: None,
            subject: None,
            ip: None,
            detail: json!({"n": n}),
        }
    }
    // Eight writers at once, so begins wait on each other; deadlines from 0 to
    // ~2 ms hit every await of begin, insert and commit.
    let writers: Vec<_> = (0..8u64)
        .map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                for n in 0..150u64 {
                    let deadline = std::time::Duration::from_micros((n * 37 + w * 101) % 2100);
                    let batch = [event(n)];
                    let _ = tokio::time::timeout(deadline, db.insert_audit_events(&batch)).await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    // More writes than the pool has connections, so every connection is used.
    for n in 1000..1040u64 {
        db.insert_audit_events(&[event(n)])
            .await
            .unwrap_or_else(|e| panic!("write {n} after cancelled ones: {e}"));
    }
}

async fn corrupt_rows(db: Db) {
    db.create_client(&client("app")).await.unwrap();
    raw_execute(
        &db,
        "UPDATE clients SET scope = 'not json' WHERE client_id = 'app'",
    )
    .await;
    assert!(matches!(
        db.get_client("app").await,
        Err(StoreError::Corrupt(_))
    ));

    db.create_environment(&environment("env")).await.unwrap();
    db.create_contact_center(&contact_center("cc1", "env", &[]))
        .await
        .unwrap();
    raw_execute(
        &db,
        "UPDATE contact_centers SET auth_scheme = 'bogus' WHERE id = 'cc1'",
    )
    .await;
    assert!(matches!(
        db.get_contact_center("cc1").await,
        Err(StoreError::Corrupt(_))
    ));
}

fn resource(namespace: &str, name: &str, uid: &str) -> RowOwner {
    RowOwner::Resource(ResourceRef {
        namespace: namespace.into(),
        name: name.into(),
        uid: uid.into(),
    })
}

/// Rows record who manages them: the API, a custom resource, or nobody
/// known; an owner changes only from the one the caller read.
async fn row_owners(db: Db) {
    let a = resource("tenant-a", "prod", "uid-a");
    let b = resource("tenant-b", "prod", "uid-b");
    db.create_environment(&environment("by-api")).await.unwrap();
    db.create_environment_as(&environment("env-a"), &a)
        .await
        .unwrap();
    let owner = |kind, id: &'static str| {
        let db = db.clone();
        async move { db.row_owner(kind, id).await.unwrap() }
    };
    assert_eq!(
        owner(ManagedRow::Environment, "by-api").await,
        Some(RowOwner::Api)
    );
    assert_eq!(
        owner(ManagedRow::Environment, "env-a").await,
        Some(a.clone())
    );
    assert_eq!(owner(ManagedRow::Environment, "missing").await, None);

    db.create_contact_center_as(&contact_center("cc-a", "env-a", &["a"]), &a)
        .await
        .unwrap();
    db.create_contact_center(&contact_center("cc-api", "by-api", &["api"]))
        .await
        .unwrap();
    db.create_client_as(&client("client-a"), &a).await.unwrap();
    db.create_client(&client("client-api")).await.unwrap();
    assert_eq!(
        owner(ManagedRow::ContactCenter, "cc-a").await,
        Some(a.clone())
    );
    assert_eq!(
        owner(ManagedRow::ContactCenter, "cc-api").await,
        Some(RowOwner::Api)
    );
    assert_eq!(owner(ManagedRow::Client, "client-a").await, Some(a.clone()));
    assert_eq!(
        owner(ManagedRow::Client, "client-api").await,
        Some(RowOwner::Api)
    );

    // An update through the API keeps the owner.
    let stored = db.get_environment("env-a").await.unwrap().unwrap();
    db.update_environment(&Environment {
        tenant: "changed".into(),
        ..stored
    })
    .await
    .unwrap();
    let stored = db.get_client("client-a").await.unwrap().unwrap();
    db.update_client(&Client {
        name: "renamed".into(),
        ..stored
    })
    .await
    .unwrap();
    let stored = db.get_contact_center("cc-a").await.unwrap().unwrap();
    db.update_contact_center(&ContactCenter {
        enabled: false,
        ..stored
    })
    .await
    .unwrap();
    assert_eq!(
        owner(ManagedRow::Environment, "env-a").await,
        Some(a.clone())
    );
    assert_eq!(owner(ManagedRow::Client, "client-a").await, Some(a.clone()));
    assert_eq!(
        owner(ManagedRow::ContactCenter, "cc-a").await,
        Some(a.clone())
    );

    // Compare-and-set: only from the owner read.
    for kind in [
        ManagedRow::Environment,
        ManagedRow::ContactCenter,
        ManagedRow::Client,
    ] {
        let id = match kind {
            ManagedRow::Environment => "env-a",
            ManagedRow::ContactCenter => "cc-a",
            ManagedRow::Client => "client-a",
        };
        assert!(!db
            .set_row_owner(kind, id, &RowOwner::Api, &b)
            .await
            .unwrap());
        assert!(!db
            .set_row_owner(kind, id, &resource("tenant-a", "prod", "other"), &b)
            .await
            .unwrap());
        assert_eq!(owner(kind, id).await, Some(a.clone()), "{kind:?} unchanged");
        assert!(db.set_row_owner(kind, id, &a, &b).await.unwrap());
        assert_eq!(owner(kind, id).await, Some(b.clone()), "{kind:?} moved");
        assert!(db
            .set_row_owner(kind, id, &b, &RowOwner::Unknown)
            .await
            .unwrap());
        assert!(db
            .set_row_owner(kind, id, &RowOwner::Unknown, &a)
            .await
            .unwrap());
        assert_eq!(owner(kind, id).await, Some(a.clone()));
    }
    assert!(!db
        .set_row_owner(ManagedRow::Client, "missing", &RowOwner::Api, &a)
        .await
        .unwrap());
    assert!(!db
        .set_row_owner(ManagedRow::Environment, "by-api", &RowOwner::Unknown, &a)
        .await
        .unwrap());
    assert_eq!(
        owner(ManagedRow::Environment, "by-api").await,
        Some(RowOwner::Api)
    );

    // A resource row with its owner columns missing is corrupt, not anyone's.
    raw_execute(
        &db,
        "UPDATE clients SET owner_uid = NULL WHERE client_id = 'client-a'",
    )
    .await;
    assert!(matches!(
        db.row_owner(ManagedRow::Client, "client-a").await,
        Err(StoreError::Corrupt(_))
    ));
}

/// With a CA file, the connection verifies PostgreSQL's certificate and
/// host name: the test server's CA connects, an unrelated CA is refused.
#[tokio::test]
async fn postgres_tls_is_verified_against_the_given_ca() {
    let (Ok(url), Ok(ca)) = (
        std::env::var("TOLLGATE_TEST_POSTGRES_URL"),
        std::env::var("TOLLGATE_TEST_POSTGRES_CA"),
    ) else {
        assert!(
            std::env::var("TOLLGATE_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "TOLLGATE_TEST_POSTGRES_URL and TOLLGATE_TEST_POSTGRES_CA are required"
        );
        return;
    };
    let verified = tollgate_store::durable::postgres_url_with_ca(&url, std::path::Path::new(&ca))
        .expect("url");
    let db = Db::connect(&verified, cipher())
        .await
        .expect("verified TLS");
    db.ping().await.expect("ping over verified TLS");
    let unrelated = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/unrelated-ca.pem"
    );
    let wrong =
        tollgate_store::durable::postgres_url_with_ca(&url, std::path::Path::new(unrelated))
            .expect("url");
    let err = Db::connect(&wrong, cipher())
        .await
        .expect_err("a server certificate the CA did not sign");
    assert!(
        !err.to_string().contains(&url),
        "the URL (with its password) is not echoed"
    );
}

/// A TCP proxy to PostgreSQL that can be cut (every connection dropped, new
/// ones refused) and restored, as a database outage looks to a client.
struct CuttableProxy {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CuttableProxy {
    async fn start(target: (String, u16)) -> CuttableProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, links2) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().unwrap().push(link);
            }
        });
        CuttableProxy { port, up, links }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// While the database is down, a query waits at most the acquire timeout
/// until the probe notices, then fails at once (it used to wait the pool's
/// 10 s every time and queue); the first probe that gets an answer ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_outage_fails_fast_and_recovers_without_restart() {
    let Some((setup, pg)) = postgres_db("outage_fails_fast").await else {
        return;
    };
    let url = url::Url::parse(&with_database(&pg.admin_url, &pg.name)).unwrap();
    let target = (
        url.host_str().unwrap().to_string(),
        url.port().unwrap_or(5432),
    );
    let proxy = CuttableProxy::start(target).await;
    let mut via_proxy = url.clone();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.port)).unwrap();
    let acquire = std::time::Duration::from_secs(1);
    let db = Db::connect_with(via_proxy.as_str(), cipher(), 4, acquire)
        .await
        .unwrap();
    db.list_signing_keys().await.expect("up");

    proxy.cut();
    let started = std::time::Instant::now();
    assert!(db.ping().await.is_err(), "the probe sees the outage");
    assert!(started.elapsed() < acquire * 3, "{:?}", started.elapsed());
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let refused = db.list_signing_keys().await.expect_err("down");
        assert!(
            matches!(refused, StoreError::Unavailable("database")),
            "{refused}"
        );
    }
    let fast = started.elapsed();
    assert!(
        fast < std::time::Duration::from_millis(100),
        "20 queries took {fast:?}"
    );

    proxy.restore();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.ping().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "no recovery");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    db.list_signing_keys()
        .await
        .expect("back without a restart");
    pg.drop_database(setup).await;
}

/// A statement that writes and returns rows, outside a transaction, whose
/// commit PostgreSQL refuses after it sent the rows (a deferred constraint
/// trigger here; a WAL that cannot grow in production): the write did not
/// happen, so it must be an error, not an acknowledged revocation or client.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_whose_commit_fails_is_an_error() {
    let Some((db, pg)) = postgres_db("commit_fails").await else {
        return;
    };
    let pool = db.pool();
    pool.execute(
        "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'commit refused'; END $$",
    )
    .await
    .unwrap();
    for table in ["revocations", "clients"] {
        pool.execute(
            format!(
                "CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON {table} \
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()"
            )
            .as_str(),
        )
        .await
        .unwrap();
    }
    let jti = Revocation::Jti {
        jti: "commit-refused".into(),
        expires_at: now() + 100,
    };
    assert!(db.insert_revocation(&jti).await.is_err());
    assert!(db.create_client(&client("commit-refused")).await.is_err());
    assert!(db.revocations_since(0, now()).await.unwrap().is_empty());
    assert!(db.get_client("commit-refused").await.unwrap().is_none());
    pg.drop_database(db).await;
}
