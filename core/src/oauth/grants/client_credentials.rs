//! Client credentials (RFC 6749 §4.4): the client acts for itself. No refresh
//! token (§4.4.3) and no ID token (there is no user).

use std::sync::Arc;

use tollgate_store::model::{Client, Timestamp};

use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::oauth::issue::{grant_scope, issue, Issue, TokenResponse};
use crate::services::Services;
use crate::tokens::Confirmation;

pub async fn grant(
    state: &Services,
    client: &Arc<Client>,
    form: &OAuthForm,
    now: Timestamp,
    cnf: &Confirmation,
) -> Result<TokenResponse, OAuthError> {
    let scope = grant_scope(client, form.get("scope"))?;
    issue(state, Issue::new(client, scope, cnf), now).await
}
