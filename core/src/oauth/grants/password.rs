//! Resource owner password credentials (RFC 6749 §4.3), as the original uses
//! it: `username` is `tenant\user`, or a plain user of the default tenant.

use std::sync::Arc;

use tollgate_store::model::{Client, ContactCenter, Timestamp};

use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::oauth::grants::REFRESH_TOKEN;
use crate::oauth::issue::{grant_scope, issue, Issue, TokenResponse, UserPrincipal};
use crate::services::Services;
use crate::sign_in::{sign_in, Credentials, NoTenant, Refusal, SignIn, Via};
use crate::tokens::Confirmation;

// Where the change-password API finds it.

pub async fn grant(
    state: &Services,
    client: &Arc<Client>,
    form: &OAuthForm,
    ip: Option<&str>,
    now: Timestamp,
    cnf: &Confirmation,
) -> Result<TokenResponse, OAuthError> {
    let login = form.require("username")?;
    let password = form.require("password")?;
    let scope = grant_scope(client, form.get("scope"))?;
    let creds = Credentials::parse(login, None, password);
    if creds.username.is_empty() {
        return Err(OAuthError::invalid_request(
            "parameter 'username' names no user",
        ));
    }
    let (cc, user) = match sign_in(state, Via::Grant(client), &creds, ip).await? {
        SignIn::SignedIn {
            contact_center,
            user,
            factor,
        } => {
            // The password grant has no step for a code: a user who owes one
            // signs in through the browser, never around the factor.
            if !factor.is_none() {
                return Err(OAuthError::invalid_grant(
                    "a second factor is required for this user; sign in through the browser (authorization code flow)",
                ));
            }
            (contact_center, user)
        }
        SignIn::Elsewhere(cc) => return Err(signs_in_elsewhere(&cc)),
        SignIn::Refused(r) => return Err(refused(r)),
    };
    // Only after the password, so a restricted client learns no more about
    // other tenants than anyone else.
    if !client.contact_center_ids.is_empty()
        && !client.contact_center_ids.iter().any(|id| id == &cc.id)
    {
        return Err(OAuthError::invalid_grant(
            "this client may not sign in users of this tenant",
        ));
    }
    let principal = UserPrincipal::new(&cc, &user, now);
    let with_refresh = client
        .authorized_grant_types
        .iter()
        .any(|g| g == REFRESH_TOKEN);
    let nonce = form.get("nonce").map(str::to_string);
    issue(
        state,
        Issue {
            user: Some(principal),
            with_refresh,
            nonce,
            acr_requested: form.get("acr_values").is_some(),
            ..Issue::new(client, scope, cnf)
        },
        now,
    )
    .await
}

fn signs_in_elsewhere(cc: &ContactCenter) -> OAuthError {
    OAuthError::invalid_grant(format!(
        "password sign-in is not available for this tenant's directory ({})",
        cc.auth.as_str()
    ))
}

fn refused(r: Refusal) -> OAuthError {
    match r {
        Refusal::NoTenant(NoTenant::NotGiven) => {
            OAuthError::invalid_grant("the user name must be given as tenant\\username")
        }
        Refusal::NoTenant(NoTenant::DefaultMissing) => {
            OAuthError::invalid_grant("the default tenant does not exist")
        }
        // Unknown tenants answer like wrong passwords: tenants are not enumerable.
        Refusal::NoTenant(NoTenant::Unknown) | Refusal::BadCredentials => {
            OAuthError::invalid_grant("bad user name or password")
        }
        Refusal::MissingFields => {
            OAuthError::invalid_request("parameters 'username' and 'password' are required")
        }
        Refusal::LockedOut { .. } => {
            OAuthError::invalid_grant("too many failed attempts; try again later")
        }
        Refusal::Disabled => OAuthError::invalid_grant("the account is locked or disabled"),
        Refusal::PasswordExpired(_) => {
            OAuthError::invalid_grant("the password has expired and must be changed")
        }
        Refusal::DirectoryUnavailable { retry_after } => {
            OAuthError::temporarily_unavailable(retry_after)
        }
        Refusal::Unsupported => {
            OAuthError::invalid_grant("password sign-in is not available for this tenant")
        }
    }
}
