//! Resource owner password credentials (RFC 6749 §4.3), as the original uses
//! it: `username` is `tenant\user`, or a plain user of the default tenant.

use std::sync::Arc;

use serde_json::json;
use tollgate_store::model::{Client, ContactCenter, Timestamp};

use crate::core::directory::{names, DirectoryError};
use crate::core::oauth::error::OAuthError;
use crate::core::oauth::form::OAuthForm;
use crate::core::oauth::grants::REFRESH_TOKEN;
use crate::core::oauth::issue::{grant_scope, issue, Issue, TokenResponse, UserPrincipal};
use crate::core::protection::lockout::{self, Admission};
use crate::core::services::Services;

/// Splits `tenant\user`; a name without a backslash has no tenant.
pub fn split_login(login: &str) -> (Option<&str>, &str) {
    match login.split_once('\\') {
        Some((tenant, user)) => (Some(tenant), user),
        None => (None, login),
    }
}

/// Finds the contact center a login names.
pub fn resolve_tenant(
    state: &Services,
    tenant: Option<&str>,
) -> Result<Arc<ContactCenter>, OAuthError> {
    let cc = match tenant {
        Some(t) => state
            .catalog
            .contact_center_by_domain(t)
            .ok_or_else(|| OAuthError::invalid_grant(format!("unknown tenant '{t}'")))?,
        None => {
            let id = state
                .settings
                .default_contact_center
                .as_deref()
                .ok_or_else(|| {
                    OAuthError::invalid_grant("the user name must be given as tenant\\username")
                })?;
            state
                .catalog
                .contact_center(id)
                .ok_or_else(|| OAuthError::invalid_grant("the default tenant does not exist"))?
        }
    };
    if !cc.enabled {
        return Err(OAuthError::invalid_grant("this tenant is disabled"));
    }
    Ok(cc)
}

pub async fn grant(
    state: &Services,
    client: &Arc<Client>,
    form: &OAuthForm,
    ip: Option<&str>,
    now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let login = form.require("username")?;
    let password = form.require("password")?;
    let scope = grant_scope(client, form.get("scope"))?;
    let (tenant, typed) = split_login(login);
    let username = &names::normalize(typed);
    if username.is_empty() {
        return Err(OAuthError::invalid_request(
            "parameter 'username' names no user",
        ));
    }
    let cc = resolve_tenant(state, tenant)?;
    if !client.contact_center_ids.is_empty()
        && !client.contact_center_ids.iter().any(|id| id == &cc.id)
    {
        return Err(OAuthError::invalid_grant(
            "this client may not sign in users of this tenant",
        ));
    }
    let directory = state
        .directories
        .for_contact_center(&cc)
        .await
        .ok_or_else(|| {
            OAuthError::invalid_grant(format!(
                "password sign-in is not available for this tenant's directory ({})",
                cc.auth.as_str()
            ))
        })?;
    let attempt = match lockout::admit(state, &cc.id, username, ip).await? {
        Admission::Admitted(a) => a,
        Admission::Locked(_) => {
            state.audit_positional(
                "user.locked_out",
                Some(&client.client_id),
                Some(&cc.id),
                Some(username),
                ip,
                json!({"grant_type": "password"}),
            );
            return Err(OAuthError::invalid_grant(
                "too many failed attempts; try again later",
            ));
        }
    };
    let user = match directory.authenticate(&cc, username, password).await {
        Ok(u) => {
            lockout::succeeded(state, &attempt).await?;
            u
        }
        Err(e) => {
            if e == DirectoryError::BadCredentials {
                lockout::failed(&attempt).await;
            }
            state.audit_positional(
                "user.auth_failed",
                Some(&client.client_id),
                Some(&cc.id),
                Some(username),
                ip,
                json!({"reason": e.to_string()}),
            );
            return Err(match e {
                DirectoryError::BadCredentials | DirectoryError::PasswordRejected(_) => {
                    OAuthError::invalid_grant("bad user name or password")
                }
                DirectoryError::Locked => {
                    OAuthError::invalid_grant("the account is locked or disabled")
                }
                DirectoryError::PasswordExpired => {
                    OAuthError::invalid_grant("the password has expired and must be changed")
                }
                DirectoryError::Unavailable { retry_after } => {
                    OAuthError::temporarily_unavailable(retry_after.as_secs().max(1))
                }
                DirectoryError::Unsupported => {
                    OAuthError::invalid_grant("password sign-in is not available for this tenant")
                }
            });
        }
    };
    let principal = UserPrincipal::new(&cc, &user, now);
    let with_refresh = client
        .authorized_grant_types
        .iter()
        .any(|g| g == REFRESH_TOKEN);
    let nonce = form.get("nonce").map(str::to_string);
    issue(
        state,
        Issue {
            client,
            scope,
            user: Some(principal),
            family: None,
            with_refresh,
            nonce,
            exchange: None,
        },
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins() {
        assert_eq!(split_login("demo\\agent"), (Some("demo"), "agent"));
        assert_eq!(split_login("agent"), (None, "agent"));
        assert_eq!(split_login("a\\b\\c"), (Some("a"), "b\\c"));
    }
}
