//! The same directory contract against the built-in directory, a real
//! OpenLDAP slapd (scripts/provision/ldap.sh: direct bind and
//! search-then-bind, StartTLS and LDAPS with the test CA) and the
//! Configuration Server simulator (a real process, plain TCP and TLS), and an
//! LDAP directory that does not answer.

use crate::common;

use std::time::{Duration, Instant};

use common::cs_sim::{environment, Sim};
use common::*;
use serde_json::json;
use tollgate_core::directory::config_server::metrics::ConfigServerMetrics;
use tollgate_core::directory::config_server::{ConfigServerDirectory, ConfigServerSettings};
use tollgate_core::directory::ldap::{AttributeMap, BindMode, LdapConfig, LdapDirectory};
use tollgate_core::directory::{Directory, DirectoryError};
use tollgate_store::model::{AuthScheme, ContactCenter};

/// What every directory must answer for its seeded users: `alice` (in the
/// supervisors group), `bob`, `locked` and `expired` (must change), each with
/// the password `<name>-password`.
/// `lookup`: whether the directory can find users without their password.
async fn contract(name: &str, dir: &dyn Directory, cc: &ContactCenter, lookup: bool) {
    let alice = dir
        .authenticate(cc, "alice", "alice-password")
        .await
        .unwrap_or_else(|e| panic!("{name}: alice: {e}"));
    assert_eq!(alice.username, "alice", "{name}");
    assert_eq!(alice.first_name, "Alice", "{name}");
    assert_eq!(alice.last_name, "Liddell", "{name}");
    assert_eq!(alice.email, "alice@example.org", "{name}");
    assert_eq!(alice.dbid, 1001, "{name}");
    assert!(
        alice.authorities.contains(&"ROLE_SUPERVISOR".to_string()),
        "{name}: {:?}",
        alice.authorities
    );

    // A wrong password and an unknown user are the same answer.
    for (user, password) in [
        ("alice", "wrong-password"),
        ("nobody", "alice-password"),
        ("alice", ""),
        ("*", "alice-password"),
    ] {
        assert_eq!(
            dir.authenticate(cc, user, password).await,
            Err(DirectoryError::BadCredentials),
            "{name}: {user}/{password}"
        );
    }
    assert_eq!(
        dir.authenticate(cc, "locked", "locked-password").await,
        Err(DirectoryError::Locked),
        "{name}"
    );
    assert_eq!(
        dir.authenticate(cc, "expired", "expired-password").await,
        Err(DirectoryError::PasswordExpired),
        "{name}"
    );

    if lookup {
        let found = dir.lookup(cc, "alice").await.unwrap();
        assert_eq!(found.as_ref(), Some(&alice), "{name}: lookup");
        assert_eq!(dir.lookup(cc, "nobody").await.unwrap(), None, "{name}");
    } else {
        assert_eq!(
            dir.lookup(cc, "alice").await,
            Err(DirectoryError::Unsupported),
            "{name}: nobody to ask without a password"
        );
    }

    // Change, use, and change back (the fixture is shared by the variants).
    assert_eq!(
        dir.change_password(cc, "bob", "wrong-password", "bob-new-password")
            .await,
        Err(DirectoryError::BadCredentials),
        "{name}"
    );
    dir.change_password(cc, "bob", "bob-password", "bob-new-password")
        .await
        .unwrap_or_else(|e| panic!("{name}: change: {e}"));
    assert_eq!(
        dir.authenticate(cc, "bob", "bob-password").await,
        Err(DirectoryError::BadCredentials),
        "{name}: the old password is gone"
    );
    dir.authenticate(cc, "bob", "bob-new-password")
        .await
        .unwrap_or_else(|e| panic!("{name}: new password: {e}"));
    dir.change_password(cc, "bob", "bob-new-password", "bob-password")
        .await
        .unwrap_or_else(|e| panic!("{name}: change back: {e}"));
}

/// A forced change lets the user in; run once per fixture (it clears the state).
async fn forced_change(name: &str, dir: &dyn Directory, cc: &ContactCenter) {
    dir.change_password(cc, "expired", "expired-password", "expired-new-password")
        .await
        .unwrap_or_else(|e| panic!("{name}: forced change: {e}"));
    dir.authenticate(cc, "expired", "expired-new-password")
        .await
        .unwrap_or_else(|e| panic!("{name}: after the change: {e}"));
}

#[tokio::test]
async fn builtin_directory() {
    let s = TestServer::new().await;
    let users = "/environment/v3/contact-centers/demo/users";
    for (user, first, last, dbid) in [
        ("alice", "Alice", "Liddell", 1001),
        ("bob", "Bob", "Builder", 1002),
        ("locked", "Lock", "Ed", 1003),
        ("expired", "Ex", "Pired", 1004),
    ] {
        s.ops_post(
            users,
            json!({
                "userName": user, "password": format!("{user}-password"), "dbid": dbid,
                "firstName": first, "lastName": last, "email": format!("{user}@example.org"),
                "authorities": if user == "alice" { vec!["ROLE_SUPERVISOR"] } else { vec![] },
                "enabled": user != "locked",
            }),
        )
        .await
        .expect(axum::http::StatusCode::CREATED);
    }
    let expired =
        s.db.find_user_by_name("demo", "expired")
            .await
            .unwrap()
            .unwrap();
    s.ops_post(
        &format!("{users}/{}/reset-password", expired.id),
        json!({"password": "expired-password", "mustChangePassword": true}),
    )
    .await
    .expect(axum::http::StatusCode::OK);
    let cc = s.state.catalog.contact_center("demo").unwrap();
    let dir = &*s.state.directories.builtin;
    contract("builtin", dir, &cc, true).await;
    forced_change("builtin", dir, &cc).await;
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: source scripts/provision/ldap.sh (scripts/test.sh does)")
    })
}

fn ldap_config(url: &str, start_tls: bool, bind: BindMode) -> LdapConfig {
    let base = env("TOLLGATE_TEST_LDAP_BASE");
    let ca = std::fs::read_to_string(env("TOLLGATE_TEST_LDAP_CA")).unwrap();
    LdapConfig {
        urls: vec![url.to_string()],
        start_tls,
        ca_pem: Some(ca),
        bind,
        user_filter: "(&(objectClass=inetOrgPerson)(uid={username}))".into(),
        group_filter: "(&(objectClass=groupOfNames)(member={dn}))".into(),
        attributes: AttributeMap {
            properties: vec![("departmentNumber".into(), "department".into())],
            ..AttributeMap::default()
        },
        group_authorities: vec![
            (
                format!("cn=supervisors,ou=groups,{base}"),
                "ROLE_SUPERVISOR".into(),
            ),
            ("agents".into(), "ROLE_AGENT".into()),
        ],
        base_dn: base,
        timeout: Duration::from_secs(5),
        pool_size: 2,
        active_directory: false,
    }
}

fn ldap_cc() -> ContactCenter {
    ContactCenter {
        id: "ldap".into(),
        name: "LDAP".into(),
        domains: vec!["ldap".into()],
        environment_id: "env".into(),
        auth: AuthScheme::Ldap,
        second_factor: Default::default(),
        enabled: true,
        version: 1,
        created_at: 0,
        updated_at: 0,
    }
}

#[tokio::test]
async fn openldap_directory() {
    let base = env("TOLLGATE_TEST_LDAP_BASE");
    let search = BindMode::SearchThenBind {
        service_dn: format!("cn=tollgate,ou=services,{base}"),
        service_password: env("TOLLGATE_TEST_LDAP_SERVICE_PASSWORD"),
    };
    let direct = BindMode::Direct {
        template: format!("uid={{username}},ou=people,{base}"),
    };
    let cc = ldap_cc();
    let ldap_url = env("TOLLGATE_TEST_LDAP_URL");
    let ldaps_url = env("TOLLGATE_TEST_LDAPS_URL");
    for (name, url, start_tls, bind) in [
        (
            "search-then-bind, StartTLS",
            &ldap_url,
            true,
            search.clone(),
        ),
        ("search-then-bind, LDAPS", &ldaps_url, false, search.clone()),
        ("direct bind, LDAPS", &ldaps_url, false, direct),
    ] {
        let dir = LdapDirectory::new(ldap_config(url, start_tls, bind)).unwrap();
        let direct = name.starts_with("direct");
        contract(name, &dir, &cc, !direct).await;
        if !direct {
            let alice = dir.lookup(&cc, "alice").await.unwrap().unwrap();
            assert_eq!(alice.properties["department"], "41001", "{name}");
            assert_eq!(
                alice.authorities,
                ["ROLE_SUPERVISOR", "ROLE_AGENT"],
                "{name}: every mapped group"
            );
        }
    }
    sign_in_through_the_environment_api().await;
    let dir = LdapDirectory::new(ldap_config(&ldaps_url, false, search)).unwrap();
    forced_change("openldap", &dir, &cc).await;
}

#[tokio::test]
async fn config_server_directory() {
    // The simulator serves TLS with the certificate the LDAP provisioning
    // made for 127.0.0.1 and localhost; the connector trusts its CA.
    let ca = env("TOLLGATE_TEST_LDAP_CA");
    let certs = std::path::Path::new(&ca).parent().unwrap();
    let (cert, key) = (certs.join("server.pem"), certs.join("server.key"));
    let cc = ContactCenter {
        auth: AuthScheme::ConfigServer,
        second_factor: Default::default(),
        ..ldap_cc()
    };
    for tls in [false, true] {
        let name = if tls {
            "config server, TLS"
        } else {
            "config server, TCP"
        };
        let tls_args = [
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ];
        let sim = Sim::start(if tls { &tls_args[..] } else { &[] }).await;
        let mut env = environment("contract", sim.addr, None, 5);
        env.tls_enabled = tls;
        if tls {
            env.config_servers[0].primary_address = "localhost".into();
        }
        let settings = ConfigServerSettings::new(
            Some(std::fs::read_to_string(&ca).unwrap()),
            ConfigServerMetrics::default(),
        );
        let dir = ConfigServerDirectory::from_environment(&env, &settings).unwrap();
        contract(name, &dir, &cc, true).await;
        let alice = dir.lookup(&cc, "alice").await.unwrap().unwrap();
        assert_eq!(alice.properties["department"], "41001", "{name}");
        forced_change(name, &dir, &cc).await;
    }
}

#[tokio::test]
async fn a_server_with_an_unknown_ca_is_unavailable_not_a_wrong_password() {
    let base = env("TOLLGATE_TEST_LDAP_BASE");
    let mut config = ldap_config(
        &env("TOLLGATE_TEST_LDAPS_URL"),
        false,
        BindMode::Direct {
            template: format!("uid={{username}},ou=people,{base}"),
        },
    );
    config.ca_pem = None;
    let dir = LdapDirectory::new(config).unwrap();
    assert!(matches!(
        dir.authenticate(&ldap_cc(), "alice", "alice-password")
            .await,
        Err(DirectoryError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn a_silent_or_absent_server_is_unavailable_within_the_timeout() {
    // A listener that accepts and never answers, and a port nobody listens on.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("ldap://{}", silent.local_addr().unwrap());
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("ldap://{}", closed.local_addr().unwrap());
    drop(closed);
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let cc = ldap_cc();
    for url in [silent_url, closed_url] {
        let mut config = ldap_config(
            &url,
            false,
            BindMode::SearchThenBind {
                service_dn: "cn=tollgate".into(),
                service_password: "x".into(),
            },
        );
        config.timeout = Duration::from_millis(500);
        let dir = LdapDirectory::new(config).unwrap();
        let started = Instant::now();
        assert!(
            matches!(
                dir.authenticate(&cc, "alice", "alice-password").await,
                Err(DirectoryError::Unavailable { .. })
            ),
            "{url}"
        );
        assert!(matches!(
            dir.lookup(&cc, "alice").await,
            Err(DirectoryError::Unavailable { .. })
        ));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{url}: {:?}",
            started.elapsed()
        );
    }
}

/// The whole path on the real slapd: the Environment API switches the demo
/// contact center to LDAP and stores its directory; the password grant then
/// signs its users in through it. Run by `openldap_directory` before its
/// forced change, which clears the expired user's state.
async fn sign_in_through_the_environment_api() {
    let s = TestServer::new().await;
    let base = env("TOLLGATE_TEST_LDAP_BASE");
    let ca = std::fs::read_to_string(env("TOLLGATE_TEST_LDAP_CA")).unwrap();
    s.ops_put(
        "/environment/v3/contact-centers/demo",
        json!({"auth": "ldap"}),
    )
    .await
    .expect(axum::http::StatusCode::OK);
    s.ops_put(
        "/environment/v3/contact-centers/demo/directory",
        json!({
            "urls": [env("TOLLGATE_TEST_LDAP_URL")], "startTls": true, "caCertificate": ca,
            "bindMode": "searchThenBind",
            "serviceDn": format!("cn=tollgate,ou=services,{base}"),
            "bindPassword": env("TOLLGATE_TEST_LDAP_SERVICE_PASSWORD"),
            "baseDn": base,
            "userFilter": "(&(objectClass=inetOrgPerson)(uid={username}))",
            "groupFilter": "(&(objectClass=groupOfNames)(member={dn}))",
            "groupAuthorities": [
                {"group": format!("cn=supervisors,ou=groups,{base}"), "authority": "ROLE_SUPERVISOR"},
                {"group": "agents", "authority": "ROLE_AGENT"}
            ]
        }),
    )
    .await
    .expect(axum::http::StatusCode::OK);
    let grant = |user: &'static str, password: &'static str| {
        let s = &s;
        async move {
            let login = format!("demo\\{user}");
            s.token(
                DEMO,
                &[
                    ("grant_type", "password"),
                    ("username", &login),
                    ("password", password),
                ],
            )
            .await
        }
    };
    let body = grant("alice", "alice-password").await.tokens();
    let claims = s.verify_jwt(str_of(&body, "access_token"), ISSUER).await;
    assert_eq!(claims["sub"], "demo:alice");
    assert_eq!(claims["user_name"], "alice");
    assert_eq!(claims["contact_center_id"], "demo");
    let mut authorities: Vec<String> =
        serde_json::from_value(claims["authorities"].clone()).unwrap();
    authorities.sort();
    assert_eq!(authorities, ["ROLE_AGENT", "ROLE_SUPERVISOR"]);

    // slapd matches names leniently; every variant is the directory's one
    // name: one subject (so sign-out and revocation reach it) ...
    for variant in [" alice", "alice  ", "ａｌｉｃｅ", "ALICE"] {
        let body = grant(variant, "alice-password").await.tokens();
        let claims = s.verify_jwt(str_of(&body, "access_token"), ISSUER).await;
        assert_eq!(claims["sub"], "demo:alice", "{variant:?}");
        assert_eq!(claims["user_name"], "alice", "{variant:?}");
    }
    // ... and one lockout: five wrong passwords over the variants lock `alice`.
    for variant in [" alice", "alice  ", "ａｌｉｃｅ", "ALICE", "\u{3000}alice"] {
        let e = grant(variant, "wrong-password")
            .await
            .expect_oauth_error(axum::http::StatusCode::BAD_REQUEST, "invalid_grant");
        assert_eq!(
            e["error_description"], "bad user name or password",
            "{variant:?}"
        );
    }
    let e = grant("alice", "alice-password")
        .await
        .expect_oauth_error(axum::http::StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("too many"),
        "{e}"
    );

    grant("alice", "wrong-password")
        .await
        .expect_oauth_error(axum::http::StatusCode::BAD_REQUEST, "invalid_grant");
    let locked = grant("locked", "locked-password")
        .await
        .expect_oauth_error(axum::http::StatusCode::BAD_REQUEST, "invalid_grant");
    let expired = grant("expired", "expired-password")
        .await
        .expect_oauth_error(axum::http::StatusCode::BAD_REQUEST, "invalid_grant");
    assert_ne!(
        locked["error_description"], expired["error_description"],
        "locked and expired are told apart"
    );
    assert!(
        expired["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{expired}"
    );
}
