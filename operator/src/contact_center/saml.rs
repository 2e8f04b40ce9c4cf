//! `spec.saml` → the contact center's SAML service provider settings in the
//! store, checked by the same rules as the Environment API's. The IdP
//! metadata comes inline, from a ConfigMap key, or from a URL (fetched
//! when the URL is new here; the dataplane refreshes it on its schedule).
//! The SP key pairs are the store's: generated when the settings are first
//! written and never replaced by a spec change. The resource owns the
//! settings: without `spec.saml` any stored ones are removed.

use tollgate_core::federation::saml::fetch::{fetch_idp_metadata, metadata_http_client};
use tollgate_store::model::{now, SamlAccessGroup, SamlBinding, SamlProviderConfig};
use tollgate_store::saml::generate_sp_key;
use tollgate_store::validate::check_saml_provider;
use tollgate_store::StoreError;

use super::part::Part;
use crate::context::{namespace, Context, Error, Result, Step, Stop};
use crate::crd::{ContactCenter, SamlSpec};

/// Where the metadata came from, and when it was fetched (URLs only).
pub struct Metadata {
    pub xml: String,
    pub url: Option<String>,
    pub fetched_at: Option<i64>,
}

/// The record `spec` asks for, given its metadata; the key pairs are
/// `stored`'s (empty when there are none yet).
pub fn desired(
    id: &str,
    spec: &SamlSpec,
    metadata: Metadata,
    stored: Option<&SamlProviderConfig>,
) -> Result<SamlProviderConfig, String> {
    let binding = match spec.binding.as_str() {
        "post" => SamlBinding::Post,
        "redirect" => SamlBinding::Redirect,
        other => return Err(format!("'binding' must be post or redirect, not {other}")),
    };
    let record = SamlProviderConfig {
        contact_center_id: id.into(),
        idp_metadata: metadata.xml,
        idp_metadata_url: metadata.url,
        idp_metadata_fetched_at: metadata.fetched_at,
        username_attribute: spec.username_attribute.clone(),
        use_external_user_id: spec.use_external_user_id,
        access_group: spec.access_group.as_ref().map(|g| SamlAccessGroup {
            attribute: g.attribute.clone(),
            value: g.value.clone(),
        }),
        binding,
        just_in_time_users: spec.just_in_time_users,
        allow_idp_initiated: spec.allow_idp_initiated,
        sp_keys: stored.map(|s| s.sp_keys.clone()).unwrap_or_default(),
        version: 0,
        created_at: 0,
        updated_at: 0,
    };
    check_saml_provider(&record)?;
    Ok(record)
}

/// The metadata `spec` names, or why it cannot be had.
async fn metadata(
    cc: &ContactCenter,
    spec: &SamlSpec,
    stored: Option<&SamlProviderConfig>,
    ctx: &Context,
) -> Step<Metadata> {
    let given = |xml| Metadata {
        xml,
        url: None,
        fetched_at: None,
    };
    if let Some(xml) = &spec.idp_metadata {
        return Ok(given(xml.clone()));
    }
    if let Some(r) = &spec.idp_metadata_config_map_ref {
        let xml = ctx
            .required_config_map(&namespace(cc)?, r, "IdpMetadataNotFound")
            .await?;
        return Ok(given(xml));
    }
    let Some(url) = &spec.idp_metadata_url else {
        return Err(Stop::stalled(
            "InvalidSaml",
            "saml needs idpMetadata, idpMetadataConfigMapRef or idpMetadataUrl".into(),
        ));
    };
    // The same URL: what is stored stays (the dataplane keeps it fresh).
    if let Some(s) = stored.filter(|s| s.idp_metadata_url.as_deref() == Some(url.as_str())) {
        return Ok(Metadata {
            xml: s.idp_metadata.clone(),
            url: Some(url.clone()),
            fetched_at: s.idp_metadata_fetched_at,
        });
    }
    match async { fetch_idp_metadata(&metadata_http_client(None)?, url).await }.await {
        Ok(xml) => Ok(Metadata {
            xml,
            url: Some(url.clone()),
            fetched_at: Some(now()),
        }),
        Err(message) => Err(Stop::stalled("IdpMetadataUnreachable", message)),
    }
}

/// The contact center's SAML settings, for [`sync_optional`](super::part::sync_optional).
pub struct Saml;

impl Part for Saml {
    type Spec = SamlSpec;
    type Record = SamlProviderConfig;
    const NAME: &'static str = "SAML settings";
    const REASON: &'static str = "Saml";
    const AUTH: &'static str = "saml";
    const FIELD: &'static str = "spec.saml";

    fn spec(cc: &ContactCenter) -> Option<&SamlSpec> {
        cc.spec.saml.as_ref()
    }

    async fn read(ctx: &Context, id: &str) -> Result<Option<SamlProviderConfig>> {
        Ok(ctx.db.get_saml_provider(id).await?)
    }

    async fn wanted(
        cc: &ContactCenter,
        id: &str,
        spec: &SamlSpec,
        stored: Option<&SamlProviderConfig>,
        ctx: &Context,
    ) -> Step<SamlProviderConfig> {
        let metadata = metadata(cc, spec, stored, ctx).await?;
        desired(id, spec, metadata, stored).map_err(|m| Stop::stalled("InvalidSaml", m))
    }

    /// The key pair is generated when the settings are first written.
    fn complete(record: &mut SamlProviderConfig, id: &str) -> Result<()> {
        if record.sp_keys.is_empty() {
            let key = generate_sp_key(id)
                .map_err(|e| Error::Invalid(format!("cannot generate a SAML key pair: {e}")))?;
            record.sp_keys = vec![key];
        }
        Ok(())
    }

    async fn put(ctx: &Context, record: &SamlProviderConfig) -> Result<(), StoreError> {
        ctx.db.put_saml_provider(record).await.map(drop)
    }

    async fn delete(ctx: &Context, id: &str) -> Result<(), StoreError> {
        ctx.db.delete_saml_provider(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::matches;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> SamlSpec {
        serde_json::from_value(v).unwrap()
    }

    fn inline(xml: &str) -> Metadata {
        Metadata {
            xml: xml.into(),
            url: None,
            fetched_at: None,
        }
    }

    /// IdP metadata with a fresh signing certificate (a PEM body is the
    /// certificate's base64 DER).
    fn idp_metadata() -> String {
        let pem = generate_sp_key("idp").unwrap().certificate_pem;
        let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/saml"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        )
    }

    #[test]
    fn the_spec_takes_the_store_rules_and_keeps_stored_keys() {
        let s = spec(json!({
            "idpMetadata": "x",
            "binding": "redirect",
            "usernameAttribute": "uid",
            "accessGroup": {"attribute": "groups", "value": "agents"},
            "justInTimeUsers": true
        }));
        let err = desired("cc", &s, inline("no XML <"), None).unwrap_err();
        assert!(err.contains("'idpMetadata' is not SAML metadata"), "{err}");

        let xml = idp_metadata();
        let first = desired("cc", &s, inline(&xml), None).unwrap();
        assert!(first.sp_keys.is_empty(), "keys are generated by sync, once");
        assert_eq!(first.binding, SamlBinding::Redirect);
        assert_eq!(first.username_attribute.as_deref(), Some("uid"));
        assert_eq!(first.access_group.as_ref().unwrap().value, "agents");
        assert!(first.just_in_time_users);

        let mut stored = first.clone();
        stored.sp_keys = vec![generate_sp_key("cc").unwrap()];
        stored.version = 3;
        let again = desired("cc", &s, inline(&xml), Some(&stored)).unwrap();
        assert_eq!(again.sp_keys, stored.sp_keys);
        assert!(matches(&stored, &again));
        let changed = spec(json!({"idpMetadata": "x"}));
        let other = desired("cc", &changed, inline(&xml), Some(&stored)).unwrap();
        assert_eq!(
            other.sp_keys, stored.sp_keys,
            "a spec change keeps the keys"
        );
        assert_eq!(other.binding, SamlBinding::Post, "the default binding");
        assert!(!matches(&stored, &other));
    }
}
