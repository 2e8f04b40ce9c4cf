//! Single sign-on: contact centers whose users prove who they are at their
//! own identity provider (`auth: saml` or `auth: oidc`). A protocol module
//! verifies the provider's answer and hands a [`FederatedIdentity`] to
//! [`finish_sign_in`], which finds (or creates) the user and starts the
//! browser session exactly as a password sign-in does.

pub mod flight;
pub mod oidc;
pub mod saml;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use tollgate_store::model::{now, AuthScheme, ContactCenter, User};

use crate::auth::authorize;
use crate::auth::issue::UserPrincipal;
use crate::directory::{DirectoryError, DirectoryUser};
use crate::sessions::SamlSession;
use crate::state::Services;
use crate::ui::{self, Lang, Tr};

/// Whether the contact center's users sign in at an identity provider.
pub fn signs_in_elsewhere(cc: &ContactCenter) -> bool {
    matches!(cc.auth, AuthScheme::Saml | AuthScheme::Oidc)
}

/// Sends the browser to the contact center's identity provider. `login_hint`
/// is the user name typed on the sign-in page (may be empty); `request` the
/// pending authorization request to continue after the round trip.
pub async fn start(
    state: &Services,
    lang: Lang,
    cc: &ContactCenter,
    login_hint: &str,
    request: Option<&str>,
) -> Response {
    match cc.auth {
        AuthScheme::Oidc => oidc::start(state, lang, cc, login_hint, request).await,
        // SAML has no standard login hint the IdPs agree on.
        AuthScheme::Saml => saml::start(state, lang, cc, request).await,
        _ => ui::error_page(
            state,
            lang,
            StatusCode::BAD_REQUEST,
            "not a single-sign-on contact center",
        ),
    }
}

/// A user as the identity provider vouched for them, after the protocol
/// module's attribute or claim mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    /// The login name in the contact center (from NameID or a mapped claim).
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Authorities from the provider's group mapping; added to the directory's.
    pub authorities: Vec<String>,
    /// Who vouched (SAML entity id, OIDC issuer), for the audit trail.
    pub provider: String,
}

/// What to do with a user the contact center's directory does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownUsers {
    Refuse,
    /// Create a built-in user (without a password) from the identity.
    CreateJustInTime,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResolveError {
    #[error("the user is not known in this contact center")]
    UnknownUser,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Finds the Tollgate user for an identity: in the contact center's LDAP
/// directory when one is stored, else among its built-in users, which may be
/// created just in time. The directory's record wins for dbid and names.
pub async fn resolve_user(
    state: &Services,
    cc: &ContactCenter,
    identity: &FederatedIdentity,
    unknown: UnknownUsers,
) -> Result<DirectoryUser, ResolveError> {
    let (directory, builtin) = match state.directories.for_federated_users(cc).await? {
        Some(ldap) => (ldap, false),
        None => (state.directories.builtin.clone() as _, true),
    };
    let found = directory.lookup(cc, &identity.username).await?;
    let mut user = match (found, unknown) {
        (Some(u), _) => u,
        (None, UnknownUsers::CreateJustInTime) if builtin => {
            create_just_in_time(state, cc, identity).await?
        }
        (None, _) => return Err(ResolveError::UnknownUser),
    };
    for a in &identity.authorities {
        if !user.authorities.contains(a) {
            user.authorities.push(a.clone());
        }
    }
    Ok(user)
}

/// A password that no hash check accepts: these users sign in only
/// through their identity provider.
const NO_PASSWORD: &str = "!sso";

async fn create_just_in_time(
    state: &Services,
    cc: &ContactCenter,
    identity: &FederatedIdentity,
) -> Result<DirectoryUser, ResolveError> {
    let t = now();
    let user = User {
        id: crate::environment::new_id(),
        contact_center_id: cc.id.clone(),
        username: identity.username.clone(),
        password_hash: NO_PASSWORD.to_string(),
        dbid: 0,
        first_name: identity.first_name.clone().unwrap_or_default(),
        last_name: identity.last_name.clone().unwrap_or_default(),
        email: identity.email.clone().unwrap_or_default(),
        authorities: vec![],
        properties: serde_json::Map::new(),
        enabled: true,
        must_change_password: false,
        version: 1,
        created_at: t,
        updated_at: t,
    };
    match state.db.create_user(&user).await {
        Ok(u) => {
            state.audit(
                "user.created_just_in_time",
                None,
                Some(&cc.id),
                Some(&u.username),
                None,
                json!({"provider": identity.provider}),
            );
            Ok(DirectoryUser {
                username: u.username,
                dbid: u.dbid,
                first_name: u.first_name,
                last_name: u.last_name,
                email: u.email,
                authorities: u.authorities,
                properties: u.properties,
            })
        }
        // The name exists but lookup did not return it: a disabled user.
        Err(tollgate_store::StoreError::Duplicate { .. }) => {
            Err(ResolveError::Directory(DirectoryError::Locked))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot create a just-in-time user");
            Err(ResolveError::Directory(DirectoryError::Unavailable {
                retry_after: std::time::Duration::from_secs(5),
            }))
        }
    }
}

/// Ends a verified single sign-on: resolves the user, starts the session
/// and continues the authorization request `request` (the id the sign-in
/// page carried through the provider round trip), or shows the signed-in
/// page. `saml` names the session for the IdP's single logout.
#[allow(clippy::too_many_arguments)]
pub async fn finish_sign_in(
    state: &Services,
    lang: Lang,
    ip: Option<&str>,
    cc: &ContactCenter,
    identity: &FederatedIdentity,
    unknown: UnknownUsers,
    request: Option<&str>,
    saml: Option<SamlSession>,
) -> Response {
    let t = Tr::new(lang);
    let pending = match request {
        Some(id) => match authorize::load_pending(state, id).await {
            Ok(Some(p)) => Some(p),
            Ok(None) => {
                return ui::error_page(
                    state,
                    lang,
                    StatusCode::BAD_REQUEST,
                    t.get("request_expired"),
                )
            }
            Err(_) => return ui::unavailable(state, lang),
        },
        None => None,
    };
    let fail = |reason: &str| {
        state.audit(
            "user.auth_failed",
            pending.as_ref().map(|p| p.client_id.as_str()),
            Some(&cc.id),
            Some(&identity.username),
            ip,
            json!({"reason": reason, "provider": identity.provider}),
        )
    };
    let user = match resolve_user(state, cc, identity, unknown).await {
        Ok(u) => u,
        Err(ResolveError::UnknownUser) => {
            fail("unknown user");
            return ui::error_page(
                state,
                lang,
                StatusCode::FORBIDDEN,
                t.get("sso_unknown_user"),
            );
        }
        Err(ResolveError::Directory(DirectoryError::Locked)) => {
            fail("disabled");
            return ui::error_page(state, lang, StatusCode::FORBIDDEN, t.get("disabled"));
        }
        Err(ResolveError::Directory(DirectoryError::Unavailable { retry_after })) => {
            fail("directory unavailable");
            let res = ui::unavailable(state, lang);
            return ui::with_retry_after(res, retry_after.as_secs().max(1));
        }
        Err(ResolveError::Directory(e)) => {
            fail(&e.to_string());
            return ui::error_page(
                state,
                lang,
                StatusCode::FORBIDDEN,
                t.get("sso_unknown_user"),
            );
        }
    };
    let mut principal = UserPrincipal::new(cc, &user, now());
    principal.provider_authorities = identity.authorities.clone();
    ui::sign_in::signed_in(state, lang, ip, principal, request, pending.as_ref(), saml).await
}
