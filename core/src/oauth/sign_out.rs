//! Signing out: one access token (and its refresh family), or everything a
//! user holds (`global`).

use serde_json::json;
use tollgate_store::model::{now, Revocation};

use crate::oauth::issue::UserPrincipal;
use crate::services::Services;
use crate::tokens::AccessClaims;

/// Ends the token (and its refresh family); `global=true` ends every token of the user.
pub async fn sign_out_token(
    state: &Services,
    c: &AccessClaims,
    global: bool,
    ip: Option<&str>,
) -> Result<(), tollgate_store::StoreError> {
    let now = now();
    let until = now + state.settings.max_token_lifetime;
    if global {
        match (&c.contact_center_id, &c.user_name) {
            (Some(cc), Some(user)) => state.end_user(cc, user, now).await?,
            // A client's own tokens never have refresh tokens or sessions.
            _ => {
                state
                    .revocations
                    .revoke(
                        &state.db,
                        Revocation::Subject {
                            subject: c.sub.clone(),
                            // At or after every `iat` handed out so far, even one bumped
                            // past an earlier cut-off in this same second.
                            issued_before: state.revocations.issue_time(&c.sub, now),
                            expires_at: until,
                        },
                    )
                    .await?
            }
        }
    } else {
        state
            .revocations
            .revoke(
                &state.db,
                Revocation::Jti {
                    jti: c.jti.clone(),
                    expires_at: c.exp,
                },
            )
            .await?;
        if let Some(family) = &c.sid {
            state.revoke_family(family, now).await?;
        }
    }
    state
        .audit("user.signed_out")
        .client(&c.client_id)
        .contact_center(c.contact_center_id.as_deref())
        .subject(&c.sub)
        .ip(ip)
        .detail(json!({"global": global}))
        .record();
    Ok(())
}

/// Ends a browser session's user everywhere (`global=true` without a bearer token).
pub async fn sign_out_user(
    state: &Services,
    user: &UserPrincipal,
) -> Result<(), tollgate_store::StoreError> {
    state
        .end_user(&user.contact_center_id, &user.user_name, now())
        .await
}
