//! Password sign-in, written once for both ways in: the password grant and
//! the sign-in page. It resolves the tenant, admits the attempt past the
//! lockout, asks the contact center's directory and audits what went wrong;
//! each edge turns the [`SignIn`] outcome into its own answer.
//!
//! Rules both ways share:
//! - an unknown or disabled tenant gets the same work (a decoy hash), the
//!   same lockout counting and the same refusal as a wrong password, so
//!   neither the answer nor its timing tells which tenants exist;
//! - every admitted attempt counts toward the lockout until a right password
//!   (an expired one included) forgives it; refusals of the password itself
//!   also wait the progressive delay.

use std::sync::Arc;

use serde_json::{json, Value};
use tollgate_store::model::{Client, ContactCenter};
use tollgate_store::StoreError;

use crate::directory::{names, DirectoryError, DirectoryUser};
use crate::federation::users::signs_in_elsewhere;
use crate::protection::lockout::{self, Admission, Attempt};
use crate::second_factor;
use crate::secrets::{decoy_hash, run_slow, verify_hash};
use crate::services::Services;

/// Splits `tenant\user`; a name without a backslash has no tenant.
pub fn split_login(login: &str) -> (Option<&str>, &str) {
    match login.split_once('\\') {
        Some((tenant, user)) => (Some(tenant), user),
        None => (None, login),
    }
}

/// Who asks for the sign-in: it decides what the audit events name.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    /// The password grant of this client.
    Grant(&'a Client),
    /// The sign-in page, continuing the authorization request of this
    /// client, if any; `second_factor_asked`: its `acr_values` named the
    /// second-factor level.
    Page {
        client_id: Option<&'a str>,
        second_factor_asked: bool,
    },
}

/// What the user typed.
#[derive(Debug, Clone)]
pub struct Credentials<'a> {
    /// The tenant (a contact center domain); `None` means the default one.
    pub tenant: Option<&'a str>,
    /// The user name, normalized ([`names::normalize`]).
    pub username: String,
    pub password: &'a str,
}

impl<'a> Credentials<'a> {
    /// From a login as typed: `tenant\user`, or a user of `tenant` (a field
    /// of its own, if the form has one) or else of the default tenant.
    pub fn parse(login: &'a str, tenant: Option<&'a str>, password: &'a str) -> Self {
        let (typed_tenant, user) = split_login(login);
        Credentials {
            tenant: typed_tenant.or(tenant),
            username: names::normalize(user),
            password,
        }
    }
}

#[derive(Debug)]
pub enum SignIn {
    /// The password is right; `factor` says what it still owes.
    SignedIn {
        contact_center: Arc<ContactCenter>,
        user: DirectoryUser,
        factor: second_factor::Step,
    },
    /// A single-sign-on contact center: its users sign in at its identity
    /// provider, not with a password here.
    Elsewhere(Arc<ContactCenter>),
    Refused(Refusal),
}

#[derive(Debug)]
pub enum Refusal {
    /// No contact center to sign in to; checked like a wrong password.
    NoTenant(NoTenant),
    /// The user name or the password is empty.
    MissingFields,
    /// Too many failed attempts; retry after this many seconds.
    LockedOut { retry_after: u64 },
    /// Unknown user or wrong password.
    BadCredentials,
    /// The directory has the account locked or disabled.
    Disabled,
    /// The password is right but must be changed first.
    PasswordExpired(Arc<ContactCenter>),
    /// The directory did not answer; retry after this many seconds.
    DirectoryUnavailable { retry_after: u64 },
    /// The contact center's directory cannot check passwords in this server.
    Unsupported,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoTenant {
    /// No tenant was typed and no default one is configured.
    NotGiven,
    /// The configured default tenant does not exist.
    DefaultMissing,
    /// The tenant typed is unknown or disabled (deliberately alike).
    Unknown,
}

/// Signs `creds` in from `ip`. `Err` only when the lockout counters cannot
/// be reached at all.
pub async fn sign_in(
    state: &Services,
    via: Via<'_>,
    creds: &Credentials<'_>,
    ip: Option<&str>,
) -> Result<SignIn, StoreError> {
    let cc = resolve_tenant(state, creds.tenant);
    // Users of a single-sign-on contact center sign in at its identity
    // provider; the password field is not theirs to fill.
    if let Some(cc) = cc.as_ref().ok().filter(|cc| signs_in_elsewhere(cc)) {
        return Ok(SignIn::Elsewhere(cc.clone()));
    }
    if creds.username.is_empty() || creds.password.is_empty() {
        return Ok(SignIn::Refused(Refusal::MissingFields));
    }
    // Unknown tenants are counted under the name typed, so guessing them
    // locks out like guessing passwords.
    let lock_tenant = match &cc {
        Ok(cc) => cc.id.clone(),
        Err(_) => creds.tenant.unwrap_or("").to_lowercase(),
    };
    let attempt = match lockout::admit(state, &lock_tenant, &creds.username, ip).await? {
        Admission::Admitted(a) => a,
        Admission::Locked(retry_after) => {
            let cc = cc.as_ref().ok().map(|c| c.id.as_str());
            audit_locked_out(state, via, cc, &creds.username, ip);
            return Ok(SignIn::Refused(Refusal::LockedOut { retry_after }));
        }
    };
    let out = match cc {
        Ok(cc) => check(state, via, &attempt, cc, creds, ip).await,
        Err(why) => {
            // Same work as a real check, so timing does not reveal tenants.
            let p = creds.password.to_string();
            let _ = run_slow(&state.secrets.slow_work(), move || {
                verify_hash(decoy_hash(), &p)
            })
            .await;
            let bad = DirectoryError::BadCredentials;
            audit_failed(state, via, None, &creds.username, ip, &bad);
            lockout::failed(state, &attempt).await;
            SignIn::Refused(Refusal::NoTenant(why))
        }
    };
    Ok(out)
}

/// The contact center a login names; a disabled one reads as unknown.
fn resolve_tenant(state: &Services, tenant: Option<&str>) -> Result<Arc<ContactCenter>, NoTenant> {
    let cc = match tenant {
        Some(t) => state
            .catalog
            .contact_center_by_domain(t)
            .ok_or(NoTenant::Unknown)?,
        None => {
            let id = state
                .settings
                .default_contact_center
                .as_deref()
                .ok_or(NoTenant::NotGiven)?;
            state
                .catalog
                .contact_center(id)
                .ok_or(NoTenant::DefaultMissing)?
        }
    };
    if !cc.enabled {
        return Err(NoTenant::Unknown);
    }
    Ok(cc)
}

/// Asks the contact center's directory about an admitted attempt.
async fn check(
    state: &Services,
    via: Via<'_>,
    attempt: &Attempt,
    cc: Arc<ContactCenter>,
    creds: &Credentials<'_>,
    ip: Option<&str>,
) -> SignIn {
    let result = match state.directories.for_contact_center(&cc).await {
        Some(d) => d.authenticate(&cc, &creds.username, creds.password).await,
        None => Err(DirectoryError::Unsupported),
    };
    let e = match result {
        Ok(user) => return password_right(state, via, attempt, cc, user).await,
        Err(e) => e,
    };
    audit_failed(state, via, Some(&cc.id), &creds.username, ip, &e);
    let refusal = match e {
        DirectoryError::BadCredentials | DirectoryError::PasswordRejected(_) => {
            Refusal::BadCredentials
        }
        DirectoryError::Unsupported => Refusal::Unsupported,
        DirectoryError::Locked => return SignIn::Refused(Refusal::Disabled),
        DirectoryError::PasswordExpired => {
            forgive(state, attempt).await;
            return SignIn::Refused(Refusal::PasswordExpired(cc));
        }
        DirectoryError::Unavailable { retry_after } => {
            if let Err(e) = lockout::unanswered(state, attempt).await {
                tracing::warn!(error = %e, "could not give back the lockout slot of an unanswered sign-in");
            }
            let retry_after = retry_after.as_secs().max(1);
            return SignIn::Refused(Refusal::DirectoryUnavailable { retry_after });
        }
    };
    lockout::failed(state, attempt).await;
    SignIn::Refused(refusal)
}

/// The password was right: what the second factor still asks. Its earlier
/// failures are forgiven, unless a code of an enrolled factor is still owed
/// (then the code's success forgives them; the attempt's slot is given back).
async fn password_right(
    state: &Services,
    via: Via<'_>,
    attempt: &Attempt,
    cc: Arc<ContactCenter>,
    user: DirectoryUser,
) -> SignIn {
    let asked = matches!(
        via,
        Via::Page {
            second_factor_asked: true,
            ..
        }
    );
    let factor = match second_factor::step_for(state, &cc, &user, asked).await {
        Ok(step) => step,
        Err(e) => {
            tracing::warn!(error = %e, "second factor unreadable; sign-in refused");
            if let Err(e) = lockout::unanswered(state, attempt).await {
                tracing::warn!(error = %e, "could not give back the lockout slot of an unanswered sign-in");
            }
            return SignIn::Refused(Refusal::DirectoryUnavailable { retry_after: 1 });
        }
    };
    if matches!(factor, second_factor::Step::Verify { .. }) {
        if let Err(e) = lockout::unanswered(state, attempt).await {
            tracing::warn!(error = %e, "could not give back the lockout slot of a sign-in owing a code");
        }
    } else {
        forgive(state, attempt).await;
    }
    SignIn::SignedIn {
        contact_center: cc,
        user,
        factor,
    }
}

/// The password was right: its earlier failures are forgiven. Should that
/// fail, the sign-in still stands; the counters only stay stricter.
async fn forgive(state: &Services, attempt: &Attempt) {
    if let Err(e) = lockout::succeeded(state, attempt).await {
        tracing::warn!(error = %e, "could not reset the lockout counters after a right password");
    }
}

fn audit_locked_out(
    state: &Services,
    via: Via<'_>,
    cc: Option<&str>,
    username: &str,
    ip: Option<&str>,
) {
    let (client, detail) = match via {
        Via::Grant(c) => (
            Some(c.client_id.as_str()),
            json!({"grant_type": "password"}),
        ),
        // The page's lockout events have never named the pending client.
        Via::Page { .. } => (None, json!({"form": "sign-in"})),
    };
    state
        .audit("user.locked_out")
        .client(client)
        .contact_center(cc)
        .subject(username)
        .ip(ip)
        .detail(detail)
        .record();
}

fn audit_failed(
    state: &Services,
    via: Via<'_>,
    cc: Option<&str>,
    username: &str,
    ip: Option<&str>,
    e: &DirectoryError,
) {
    let (client, detail) = match via {
        Via::Grant(c) => (Some(c.client_id.as_str()), json!({"reason": e.to_string()})),
        Via::Page { client_id, .. } => (client_id, page_failure(e)),
    };
    state
        .audit("user.auth_failed")
        .client(client)
        .contact_center(cc)
        .subject(username)
        .ip(ip)
        .detail(detail)
        .record();
}

/// The page's audit reasons: the refusal as the page shows it.
fn page_failure(e: &DirectoryError) -> Value {
    let reason = match e {
        DirectoryError::PasswordExpired => "password expired",
        DirectoryError::Locked => "disabled",
        DirectoryError::Unavailable { .. } => "directory unavailable",
        _ => "bad credentials",
    };
    json!({"reason": reason, "form": "sign-in"})
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

    #[test]
    fn credentials_prefer_the_tenant_in_the_login() {
        let c = Credentials::parse("demo\\ ａgent ", Some("other"), "pw");
        assert_eq!((c.tenant, c.username.as_str()), (Some("demo"), "agent"));
        let c = Credentials::parse("agent", Some("other"), "pw");
        assert_eq!(c.tenant, Some("other"));
        let c = Credentials::parse("agent", None, "pw");
        assert_eq!(c.tenant, None);
    }
}
