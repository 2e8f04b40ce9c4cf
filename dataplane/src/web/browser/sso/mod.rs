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
use tollgate_store::model::{now, AuthScheme, ContactCenter};

use crate::core::directory::DirectoryError;
use crate::core::federation::users::{resolve_user, FederatedIdentity, ResolveError, UnknownUsers};
use crate::core::oauth::issue::UserPrincipal;
use crate::core::services::Services;
use crate::core::sessions::SamlSession;
use crate::web::browser::page::{self, Lang, Tr};

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
        _ => page::error_page(
            state,
            lang,
            StatusCode::BAD_REQUEST,
            "not a single-sign-on contact center",
        ),
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
        Some(id) => match crate::core::oauth::authorize::load_pending(state, id).await {
            Ok(Some(p)) => Some(p),
            Ok(None) => {
                return page::error_page(
                    state,
                    lang,
                    StatusCode::BAD_REQUEST,
                    t.get("request_expired"),
                )
            }
            Err(_) => return page::unavailable(state, lang),
        },
        None => None,
    };
    let fail = |reason: &str| {
        state
            .audit("user.auth_failed")
            .client(pending.as_ref().map(|p| p.client_id.as_str()))
            .contact_center(&cc.id)
            .subject(&identity.username)
            .ip(ip)
            .detail(json!({"reason": reason, "provider": identity.provider}))
            .record()
    };
    let user = match resolve_user(state, cc, identity, unknown).await {
        Ok(u) => u,
        Err(ResolveError::UnknownUser) => {
            fail("unknown user");
            return page::error_page(
                state,
                lang,
                StatusCode::FORBIDDEN,
                t.get("sso_unknown_user"),
            );
        }
        Err(ResolveError::Directory(DirectoryError::Locked)) => {
            fail("disabled");
            return page::error_page(state, lang, StatusCode::FORBIDDEN, t.get("disabled"));
        }
        Err(ResolveError::Directory(DirectoryError::Unavailable { retry_after })) => {
            fail("directory unavailable");
            let res = page::unavailable(state, lang);
            return page::with_retry_after(res, retry_after.as_secs().max(1));
        }
        Err(ResolveError::Directory(e)) => {
            fail(&e.to_string());
            return page::error_page(
                state,
                lang,
                StatusCode::FORBIDDEN,
                t.get("sso_unknown_user"),
            );
        }
    };
    let mut principal = UserPrincipal::new(cc, &user, now());
    principal.provider_authorities = identity.authorities.clone();
    crate::web::browser::sign_in::signed_in(
        state,
        lang,
        ip,
        principal,
        request,
        pending.as_ref(),
        saml,
    )
    .await
}
