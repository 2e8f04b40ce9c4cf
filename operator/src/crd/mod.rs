//! The custom resources of group `tollgate.dev`, version `v1alpha1`. The CRD
//! YAML under `crds/` is generated from these types by the `crdgen` binary.

mod common;
// Several `printcolumn(type_ = "string", …)` in one `#[kube]` attribute are
// separate columns, not duplicates.
#[allow(clippy::duplicated_attributes)]
mod contact_center;
#[allow(clippy::duplicated_attributes)]
mod environment;
#[allow(clippy::duplicated_attributes)]
mod oauth_client;
#[allow(clippy::duplicated_attributes)]
mod tollgate;

pub use common::{jwk_set_schema, CommonStatus, ConfigMapKeyRef, SecretKeyRef};
pub use contact_center::{
    CaCertificateSource, ContactCenter, ContactCenterSpec, CorsSettings, DirectoryAttributes,
    DirectorySpec, GroupAuthority, OidcClaimsSpec, OidcProviderSpec, PropertyMapping,
    SamlAccessGroupSpec, SamlSpec, TrustedIssuerSpec,
};
pub use environment::{ConfigServerSpec, Environment, EnvironmentSpec};
pub use oauth_client::{
    OAuthClient, OAuthClientSpec, OAuthClientStatus, TlsClientAuthSpec, TokenExchangeSpec,
};
pub use tollgate::{
    DatabaseSpec, IngressSpec, RedisMode, RedisSpec, ServiceSpec, ServiceTlsSpec, SigningKeySpec,
    Tollgate, TollgateSpec, TollgateStatus,
};

use kube::core::CustomResourceExt;

pub const GROUP: &str = "tollgate.dev";

/// Every CRD, in a stable order, with the file name it is written to.
pub fn all() -> Vec<(
    String,
    k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
)> {
    [
        Tollgate::crd(),
        Environment::crd(),
        ContactCenter::crd(),
        OAuthClient::crd(),
    ]
    .into_iter()
    .map(|crd| {
        (
            format!("{}.yaml", crd.metadata.name.clone().unwrap_or_default()),
            crd,
        )
    })
    .collect()
}
