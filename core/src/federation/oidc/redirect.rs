//! Where providers send their answers: one redirect URI per contact center.

use crate::services::Services;

/// The route of the callbacks; `{contact_center_id}` names the provider.
pub const CALLBACK_ROUTE: &str = "/auth/v3/sso/oidc/{contact_center_id}/callback";

/// The redirect URI to register at the contact center's provider: its own,
/// so that an answer arriving at it can only be that provider's.
pub fn redirect_uri(state: &Services, contact_center_id: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(contact_center_id.as_bytes()).collect();
    format!("{}/auth/v3/sso/oidc/{id}/callback", state.settings.issuer)
}
