//! The page templates (askama, compiled into the binary from `dataplane/templates`).

use askama::Template;

use crate::web::browser::i18n::Tr;

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignIn {
    pub t: Tr,
    pub title: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub csrf: String,
    pub request: Option<String>,
    pub username: String,
    pub show_tenant: bool,
    pub tenant: String,
}

#[derive(Template)]
#[template(path = "change_password.html")]
pub struct ChangePassword {
    pub t: Tr,
    pub title: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub csrf: String,
    pub change: Option<String>,
    pub show_form: bool,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct Consent {
    pub t: Tr,
    pub title: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub csrf: String,
    pub request: String,
    pub client_name: String,
    pub scopes: Vec<String>,
}

/// The confirmation of a sign-out that does not prove it comes from the
/// user's application (logout CSRF): a form, no script needed.
#[derive(Template)]
#[template(path = "sign_out.html")]
pub struct SignOut {
    pub t: Tr,
    pub title: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub csrf: String,
    pub global: bool,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct Message {
    pub t: Tr,
    pub title: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub message_id: &'static str,
    pub message: Option<String>,
}

/// The hand-off to a single-sign-on provider: a refresh to `location` and a link.
#[derive(Template)]
#[template(path = "sso_redirect.html")]
pub struct SsoRedirect {
    pub t: Tr,
    pub title: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub location: String,
}

/// A form that a script from `/ui/auth/static/auto-post.js` submits (the
/// button, without script): the SAML HTTP-POST binding's hand-off, and the
/// `form_post` response mode's answer to a client.
#[derive(Template)]
#[template(path = "auto_post.html")]
pub struct AutoPost {
    pub t: Tr,
    pub title: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The message and button keys.
    pub message: &'static str,
    pub button: &'static str,
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// The second-factor step of a sign-in: enrolment (the key to add to an
/// authenticator app), a code, or the recovery codes shown once.
#[derive(Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactor {
    pub t: Tr,
    pub title: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub csrf: String,
    pub factor: String,
    pub secret: Option<String>,
    pub uri: Option<String>,
    pub recovery_codes: Vec<String>,
    /// The factor was given while enrolling: the recovery codes (if any) and
    /// a form to continue, instead of the code field.
    pub verified: bool,
    /// A passkey ceremony the page's script can run instead of a code.
    pub passkey: Option<PasskeyCeremony>,
}

/// Options for `navigator.credentials.create` (`ceremony` "create") or
/// `.get` ("get"), as JSON.
pub struct PasskeyCeremony {
    pub ceremony: &'static str,
    pub options: String,
}
