//! The two ends of a single sign-on: sending the browser to the contact
//! center's identity provider, and signing the vouched-for user in.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use tollgate_store::model::{now, AuthScheme, ContactCenter};

use super::{oidc, saml};
use crate::web::browser::page::{self, Lang, Tr};
use tollgate_core::directory::DirectoryError;
use tollgate_core::federation::users::{
    resolve_user, FederatedIdentity, ResolveError, UnknownUsers,
};
use tollgate_core::oauth::issue::UserPrincipal;
use tollgate_core::services::Services;
use tollgate_core::sessions::SamlSession;

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
        Some(id) => match tollgate_core::oauth::authorize::load_pending(state, id).await {
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

/// Single sign-on is not set up for the contact center (yet): 503, retry
/// in a minute.
pub fn not_configured(state: &Services, lang: Lang) -> Response {
    let res = page::error_page(
        state,
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        Tr::new(lang).get("sso_not_configured"),
    );
    page::with_retry_after(res, 60)
}
