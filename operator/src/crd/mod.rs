//! The custom resources of group `tollgate.dev`, version `v1alpha1`. The CRD
//! YAML under `crds/` is generated from these types by the `crdgen` binary.

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

pub use contact_center::{
    CaCertificateSource, ContactCenter, ContactCenterSpec, CorsSettings, DirectoryAttributes,
    DirectorySpec, GroupAuthority, OidcClaimsSpec, OidcProviderSpec, PropertyMapping,
    SamlAccessGroupSpec, SamlSpec, TrustedIssuerSpec,
};
pub use environment::{ConfigServerSpec, Environment, EnvironmentSpec};
pub use oauth_client::{OAuthClient, OAuthClientSpec, OAuthClientStatus, TokenExchangeSpec};
pub use tollgate::{
    DatabaseSpec, IngressSpec, RedisMode, RedisSpec, ServiceSpec, SigningKeySpec, Tollgate,
    TollgateSpec, TollgateStatus,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::core::CustomResourceExt;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "tollgate.dev";

/// A key of a Secret in the resource's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace as the resource.
    pub name: String,
    /// Key within the Secret's data.
    pub key: String,
}

/// A key of a ConfigMap in the resource's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// Name of the ConfigMap, in the same namespace as the resource.
    pub name: String,
    /// Key within the ConfigMap's data.
    pub key: String,
}

/// The schema of an inline JWK Set: `{"keys": [JWK, …]}`, each JWK kept as
/// written (its members depend on the key type). The operator checks the
/// keys themselves with the rules the Environment API uses.
pub fn jwk_set_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "A JWK Set of public keys: {\"keys\": [JWK, …]}, a kid on each when several.",
        "required": ["keys"],
        "properties": {
            "keys": {
                "type": "array",
                "maxItems": 32,
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        }
    })
}

/// What every kind reports: the generation last acted on and the
/// `Ready`/`Reconciling`/`Stalled` conditions (a list-map keyed by `type`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The `metadata.generation` the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The row's id in Tollgate's database (Environment, ContactCenter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

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
