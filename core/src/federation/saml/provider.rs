//! A contact center's SAML service provider: its stored settings with the
//! IdP's parsed metadata, the assertion check every endpoint applies, and
//! the replay record.

use samael::metadata::EntityDescriptor;
use tollgate_store::model::{ContactCenter, SamlProviderConfig};

use crate::federation::saml::verify::{verify, Expected, Refusal, VerifiedAssertion};
use crate::federation::saml::{keys, metadata};
use crate::services::Services;

/// The contact center's SP settings with its IdP's parsed metadata.
pub struct Provider {
    pub config: SamlProviderConfig,
    pub idp: EntityDescriptor,
}

/// The stored settings; `Ok(None)` when none are stored or the stored
/// metadata no longer parses (both: single sign-on not set up).
pub async fn provider(
    state: &Services,
    cc: &str,
) -> Result<Option<Provider>, tollgate_store::StoreError> {
    let Some(config) = state.db.get_saml_provider(cc).await? else {
        return Ok(None);
    };
    match config.idp_metadata.parse::<EntityDescriptor>() {
        Ok(idp) => Ok(Some(Provider { config, idp })),
        Err(e) => {
            tracing::error!(error = %e, contact_center = cc, "stored IdP metadata does not parse");
            Ok(None)
        }
    }
}

/// [`verify`] as this contact center's SP expects, for the endpoint
/// `recipient` (the ACS, or the token endpoint for the bearer grant):
/// decrypting with each kept SP key, newest first (the IdP may not have
/// the new one yet).
pub fn check(
    state: &Services,
    provider: &Provider,
    cc: &ContactCenter,
    xml: &str,
    recipient: &str,
    in_response_to: Option<&str>,
) -> Result<VerifiedAssertion, Refusal> {
    let audience = metadata::entity_id(&state.settings.issuer, &cc.id);
    let keys: Vec<_> = provider
        .config
        .sp_keys
        .iter()
        .filter_map(|k| keys::private_key(k).ok())
        .collect();
    let mut result = Err(Refusal::Decryption);
    for key in keys.iter().map(Some).chain(keys.is_empty().then_some(None)) {
        result = verify(
            xml,
            &Expected {
                idp: &provider.idp,
                audience: &audience,
                recipient,
                in_response_to,
                decryption_key: key,
            },
        );
        if result != Err(Refusal::Decryption) {
            break;
        }
    }
    result
}

/// Records the assertion id until the assertion expires; false when it
/// was seen before (a replay, solicited or not, at the ACS or the token
/// endpoint: one key space).
pub async fn first_use(
    state: &Services,
    assertion: &VerifiedAssertion,
) -> Result<bool, tollgate_store::StoreError> {
    let key = format!("saml:assertion:{}\n{}", assertion.issuer, assertion.id);
    // Durable: a replay stays refused after the ephemeral store lost its data.
    let expires_at = assertion
        .expires_at
        .timestamp()
        .max(tollgate_store::model::now() + 1);
    state.db.first_use(&key, expires_at).await
}
